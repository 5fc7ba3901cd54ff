-- Runs and their event logs. Every guarantee that can be a constraint is one;
-- names are stable because the store maps errors by constraint name.

CREATE TABLE runs (
    tenant            TEXT    NOT NULL,
    id                TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    parent_id         TEXT,
    key               TEXT,
    state             TEXT    NOT NULL
        CONSTRAINT runs_state_known CHECK (state IN ('pending', 'queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
    concurrency_key   TEXT,
    concurrency_limit INTEGER,
    concurrency_on_full TEXT,
    attributes        TEXT    NOT NULL,
    result            TEXT,
    error             TEXT,
    version           INTEGER NOT NULL CONSTRAINT runs_version_positive CHECK (version >= 1),
    last_seq          INTEGER NOT NULL,
    lease_owner       TEXT,
    lease_epoch       INTEGER NOT NULL DEFAULT 0,
    lease_expires_at  INTEGER,
    lease_ttl_ms      INTEGER NOT NULL DEFAULT 0,
    -- Creation order within the tenant: the position of the run's `created` event.
    created_order     INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    started_at        INTEGER,
    finished_at       INTEGER,
    CONSTRAINT runs_child_has_parent_and_key CHECK ((parent_id IS NULL) = (key IS NULL)),
    CONSTRAINT runs_group_has_limit CHECK ((concurrency_key IS NULL) = (concurrency_limit IS NULL)),
    CONSTRAINT runs_lease_only_while_running CHECK ((state = 'running') = (lease_owner IS NOT NULL)),
    CONSTRAINT runs_parent_exists FOREIGN KEY (tenant, parent_id) REFERENCES runs (tenant, id)
);

-- Guarantee 1: one record per run, and per (parent, key).
CREATE UNIQUE INDEX runs_one_per_id ON runs (tenant, id);
CREATE UNIQUE INDEX runs_one_per_child_key ON runs (tenant, parent_id, key) WHERE parent_id IS NOT NULL;
CREATE UNIQUE INDEX runs_created_order ON runs (tenant, created_order);
-- Admission and FIFO promotion read these.
CREATE INDEX runs_active_by_group ON runs (tenant, concurrency_key, created_order)
    WHERE concurrency_key IS NOT NULL AND state IN ('queued', 'running');
CREATE INDEX runs_pending_by_group ON runs (tenant, concurrency_key, created_order)
    WHERE state = 'pending';
-- The reaper reads this.
CREATE INDEX runs_lease_expiry ON runs (lease_expires_at) WHERE state = 'running';

-- Guarantee 4 in the database: a run may only become active while its group
-- has fewer active runs than the limit its own request applied.
CREATE TRIGGER runs_concurrency_limit_on_insert AFTER INSERT ON runs
WHEN NEW.concurrency_key IS NOT NULL AND NEW.state IN ('queued', 'running')
BEGIN
    SELECT RAISE(ABORT, 'runs_concurrency_limit')
    WHERE (SELECT COUNT(*) FROM runs
           WHERE tenant = NEW.tenant AND concurrency_key = NEW.concurrency_key
             AND state IN ('queued', 'running')) > NEW.concurrency_limit;
END;

CREATE TRIGGER runs_concurrency_limit_on_promote AFTER UPDATE OF state ON runs
WHEN NEW.concurrency_key IS NOT NULL AND OLD.state = 'pending' AND NEW.state = 'queued'
BEGIN
    SELECT RAISE(ABORT, 'runs_concurrency_limit')
    WHERE (SELECT COUNT(*) FROM runs
           WHERE tenant = NEW.tenant AND concurrency_key = NEW.concurrency_key
             AND state IN ('queued', 'running')) > NEW.concurrency_limit;
END;

-- Guarantee 6 in the database: terminal states are final.
CREATE TRIGGER runs_terminal_is_final BEFORE UPDATE OF state ON runs
WHEN OLD.state IN ('succeeded', 'failed', 'cancelled', 'timed_out') AND NEW.state <> OLD.state
BEGIN
    SELECT RAISE(ABORT, 'runs_terminal_is_final');
END;

CREATE TABLE events (
    tenant   TEXT    NOT NULL,
    run_id   TEXT    NOT NULL,
    seq      INTEGER NOT NULL CONSTRAINT events_seq_positive CHECK (seq >= 1),
    position INTEGER NOT NULL CONSTRAINT events_position_positive CHECK (position >= 1),
    type     TEXT    NOT NULL,
    data     TEXT    NOT NULL,
    at       INTEGER NOT NULL,
    CONSTRAINT events_belong_to_a_run FOREIGN KEY (tenant, run_id) REFERENCES runs (tenant, id)
);

-- Guarantee 3/7: one event per (run, seq) and per (tenant, position).
CREATE UNIQUE INDEX events_one_per_seq ON events (tenant, run_id, seq);
CREATE UNIQUE INDEX events_one_per_position ON events (tenant, position);
