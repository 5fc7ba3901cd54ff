-- An append or a claim carrying an Idempotency-Key marks the key's record in
-- its own transaction with what it wrote (the run, and the event's seq or
-- the lease's epoch), so a retry after a crash answers from the mark
-- instead of writing a second event or claiming a second run.
ALTER TABLE idempotency_keys ADD COLUMN mark_run TEXT;
ALTER TABLE idempotency_keys ADD COLUMN mark_seq BIGINT;
