-- The index that orders a tenant's runs for lists is declared with the "C"
-- collation on `tenant`, so only a query that asks for that collation
-- (`tenant COLLATE "C" = $1`, the list query) can use it. Before, a lookup by
-- `tenant = $1 AND id = $2` on a table without statistics (a new database,
-- before autovacuum's first ANALYZE) could pick it over `runs_one_per_id` —
-- both look like one row — and then read every run of the tenant to find
-- one: creates slowed as the table grew. Equality under "C" is byte
-- equality, which is what `=` on the default collation means here too.
DROP INDEX runs_created_order;
CREATE UNIQUE INDEX runs_created_order ON runs (tenant COLLATE "C", created_order);
