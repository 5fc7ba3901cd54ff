-- Tenants, their API tokens (stored hashed), and Idempotency-Key records.

CREATE TABLE tenants (
    name       TEXT   NOT NULL CONSTRAINT tenants_one_per_name PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    token_sha256 TEXT   NOT NULL CONSTRAINT api_tokens_one_per_hash PRIMARY KEY,
    tenant       TEXT   NOT NULL CONSTRAINT api_tokens_belong_to_a_tenant REFERENCES tenants (name),
    created_at   BIGINT NOT NULL
);

CREATE TABLE idempotency_keys (
    tenant      TEXT   NOT NULL,
    key         TEXT   NOT NULL,
    fingerprint TEXT   NOT NULL,
    state       TEXT   NOT NULL CONSTRAINT idempotency_keys_state_known CHECK (state IN ('in_flight', 'done')),
    status      BIGINT,
    body        TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    CONSTRAINT idempotency_keys_one_per_key PRIMARY KEY (tenant, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
