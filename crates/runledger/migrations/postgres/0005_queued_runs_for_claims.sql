-- Claims take the oldest queued run of a tenant: this index holds exactly
-- the queued runs in creation order, so a claim reads one entry however many
-- runs have ended. `tenant` in the "C" collation, as the claim query asks.
CREATE INDEX runs_queued_by_age ON runs (tenant COLLATE "C", created_order) WHERE state = 'queued';
