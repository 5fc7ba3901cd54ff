-- `on_full: replace_pending` (SPEC §3): a group keeps at most one pending
-- run created with that policy. The create cancels the pending run it
-- replaces before inserting its own, in one transaction; this index refuses
-- any second one.
CREATE UNIQUE INDEX runs_one_pending_per_replace_group ON runs (tenant, concurrency_key)
    WHERE state = 'pending' AND concurrency_on_full = 'replace_pending';
