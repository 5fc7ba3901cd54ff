-- Runs and their event logs (PostgreSQL). The same constraints, by the same
-- names, as the SQLite schema; times are BIGINT milliseconds since the Unix
-- epoch from the database clock.

CREATE TABLE runs (
    tenant              TEXT    NOT NULL,
    id                  TEXT    NOT NULL,
    kind                TEXT    NOT NULL,
    parent_id           TEXT,
    key                 TEXT,
    state               TEXT    NOT NULL
        CONSTRAINT runs_state_known CHECK (state IN ('pending', 'queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
    concurrency_key     TEXT,
    concurrency_limit   BIGINT,
    concurrency_on_full TEXT,
    attributes          TEXT    NOT NULL,
    result              TEXT,
    error               TEXT,
    version             BIGINT  NOT NULL CONSTRAINT runs_version_positive CHECK (version >= 1),
    last_seq            BIGINT  NOT NULL,
    lease_owner         TEXT,
    lease_epoch         BIGINT  NOT NULL DEFAULT 0,
    lease_expires_at    BIGINT,
    lease_ttl_ms        BIGINT  NOT NULL DEFAULT 0,
    -- Creation order: a sequence. Creates that compete for a group's slots
    -- hold the group's lock, so within a group it is also commit order.
    created_order       BIGSERIAL NOT NULL,
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL,
    started_at          BIGINT,
    finished_at         BIGINT,
    CONSTRAINT runs_one_per_id UNIQUE (tenant, id),
    CONSTRAINT runs_child_has_parent_and_key CHECK ((parent_id IS NULL) = (key IS NULL)),
    CONSTRAINT runs_group_has_limit CHECK ((concurrency_key IS NULL) = (concurrency_limit IS NULL)),
    CONSTRAINT runs_lease_only_while_running CHECK ((state = 'running') = (lease_owner IS NOT NULL)),
    CONSTRAINT runs_parent_exists FOREIGN KEY (tenant, parent_id) REFERENCES runs (tenant, id)
);

CREATE UNIQUE INDEX runs_one_per_child_key ON runs (tenant, parent_id, key) WHERE parent_id IS NOT NULL;
CREATE UNIQUE INDEX runs_created_order ON runs (tenant, created_order);
CREATE INDEX runs_active_by_group ON runs (tenant, concurrency_key, created_order)
    WHERE concurrency_key IS NOT NULL AND state IN ('queued', 'running');
CREATE INDEX runs_pending_by_group ON runs (tenant, concurrency_key, created_order)
    WHERE state = 'pending';
CREATE INDEX runs_lease_expiry ON runs (lease_expires_at) WHERE state = 'running';

-- Guarantee 4 in the database. Every change that can make a run active
-- holds the group's advisory lock, so the count below is exact.
CREATE FUNCTION runs_concurrency_limit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT COUNT(*) FROM runs
        WHERE tenant = NEW.tenant AND concurrency_key = NEW.concurrency_key
          AND state IN ('queued', 'running')) > NEW.concurrency_limit THEN
        RAISE EXCEPTION 'concurrency group % is over its limit', NEW.concurrency_key
            USING ERRCODE = 'check_violation', CONSTRAINT = 'runs_concurrency_limit';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER runs_concurrency_limit_on_insert AFTER INSERT ON runs
FOR EACH ROW WHEN (NEW.concurrency_key IS NOT NULL AND NEW.state IN ('queued', 'running'))
EXECUTE FUNCTION runs_concurrency_limit();

CREATE TRIGGER runs_concurrency_limit_on_promote AFTER UPDATE OF state ON runs
FOR EACH ROW WHEN (NEW.concurrency_key IS NOT NULL AND OLD.state = 'pending' AND NEW.state = 'queued')
EXECUTE FUNCTION runs_concurrency_limit();

CREATE FUNCTION runs_terminal_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'run % is % and cannot become %', OLD.id, OLD.state, NEW.state
        USING ERRCODE = 'check_violation', CONSTRAINT = 'runs_terminal_is_final';
END $$;

CREATE TRIGGER runs_terminal_is_final BEFORE UPDATE OF state ON runs
FOR EACH ROW WHEN (OLD.state IN ('succeeded', 'failed', 'cancelled', 'timed_out') AND NEW.state <> OLD.state)
EXECUTE FUNCTION runs_terminal_is_final();

-- Events get their position after commit from the sequencer (see
-- docs/ARCHITECTURE.md): `position` is NULL until then, and readers read only
-- stamped events.
CREATE TABLE events (
    event_id BIGSERIAL PRIMARY KEY,
    tenant   TEXT    NOT NULL,
    run_id   TEXT    NOT NULL,
    seq      BIGINT  NOT NULL CONSTRAINT events_seq_positive CHECK (seq >= 1),
    position BIGINT           CONSTRAINT events_position_positive CHECK (position >= 1),
    type     TEXT    NOT NULL,
    data     TEXT    NOT NULL,
    at       BIGINT  NOT NULL,
    CONSTRAINT events_belong_to_a_run FOREIGN KEY (tenant, run_id) REFERENCES runs (tenant, id)
);

CREATE UNIQUE INDEX events_one_per_seq ON events (tenant, run_id, seq);
CREATE UNIQUE INDEX events_one_per_position ON events (tenant, position);
CREATE INDEX events_unstamped ON events (tenant, event_id) WHERE position IS NULL;

-- The sequencer's counter: the last position handed out per tenant. Only a
-- sequencer holding the tenant's advisory lock writes it.
CREATE TABLE tenant_positions (
    tenant        TEXT   NOT NULL CONSTRAINT tenant_positions_one_per_tenant PRIMARY KEY,
    last_position BIGINT NOT NULL
);
