-- Token lifecycle (`runledger tenant token add|revoke`, `tenant list`): the
-- visible start of each token (NULL for tokens made before it was kept),
-- when it was last used (to within a minute), and when it was revoked. A
-- revoked token stays in the table, refused, so "some token exists" (auth
-- required) never turns back to false.
ALTER TABLE api_tokens ADD COLUMN prefix TEXT;
ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN revoked_at BIGINT;
