-- The message-broker relay: which relay may publish (a fenced lease), and
-- how far it has published each tenant's log (advanced only after the
-- broker's ack, only by the lease holder).

CREATE TABLE relay_lease (
    name       TEXT    NOT NULL CONSTRAINT relay_lease_one_per_name PRIMARY KEY,
    owner      TEXT    NOT NULL,
    epoch      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE relay_cursors (
    tenant   TEXT    NOT NULL CONSTRAINT relay_cursors_one_per_tenant PRIMARY KEY,
    position INTEGER NOT NULL
);
