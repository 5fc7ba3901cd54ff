//! What a write reads on PostgreSQL before it decides: the database clock
//! with the runs a batch names (and their children counted), a run locked
//! for its change, a group's active and pending runs. The batch reads
//! fetch each run by index lookup, whatever plan is cached
//! ([`run_and_children`]).

use super::error::storage;
use super::rows::{self, NOW_MS};
use crate::store::schema::RUN_COLUMNS;
use runledger_core::transition::Record;
use runledger_core::{Children, ConcurrencyKey, Error, Run, RunId, RunState, Tenant, Timestamp};
use sqlx::{AssertSqlSafe, PgConnection, Row};

/// The database clock and, for each `(tenant, id)` that exists, its run with
/// its children counted: one statement for a batch of creates, one answer
/// per key, in order, each with the clock read for it.
pub(crate) async fn now_and_runs(
    connection: &mut PgConnection,
    keys: &[(&str, &str)],
) -> Result<Vec<(Timestamp, Option<Run>)>, Error> {
    let sql = format!(
        "SELECT {NOW_MS}, r.*, k.states, k.counts \
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS q(tenant, id, n) \
         {run_and_children} ORDER BY q.n",
        run_and_children = run_and_children("q.tenant", "q.id")
    );
    let found = fetch_by_keys(connection, sql, keys).await?;
    found.iter().map(|row| now_and_run_row(row, 0)).collect()
}

/// Runs `sql` with the tenants of `keys` as `$1` and their ids as `$2`
/// (two `text[]`), answering every row.
async fn fetch_by_keys(
    connection: &mut PgConnection,
    sql: String,
    keys: &[(&str, &str)],
) -> Result<Vec<sqlx::postgres::PgRow>, Error> {
    let tenants: Vec<&str> = keys.iter().map(|(tenant, _)| *tenant).collect();
    let ids: Vec<&str> = keys.iter().map(|(_, id)| *id).collect();
    sqlx::query(AssertSqlSafe(sql))
        .bind(tenants)
        .bind(ids)
        .fetch_all(&mut *connection)
        .await
        .map_err(storage)
}

/// The joins that add, to each row naming a run by `tenant` and `id` (SQL
/// expressions), the run's columns as `r.*` (NULL when it does not exist)
/// and its children's states and counts as `k.states`, `k.counts`.
///
/// The run is fetched by a scalar subquery, which the planner always runs
/// once per row through `runs_one_per_id`: a join could be planned as a hash
/// join over a scan of every run, which a statement's cached generic plan,
/// made while the table was new and unanalyzed, then keeps doing as the
/// table grows. `OFFSET 0` keeps the subquery from being evaluated once per
/// column.
pub(super) fn run_and_children(tenant: &str, id: &str) -> String {
    format!(
        "LEFT JOIN LATERAL (SELECT {columns} FROM ({one_run}) AS f) AS r ON true \
         {children} ON r.id IS NOT NULL",
        columns = run_columns_of("f.run"),
        one_run = one_run(tenant, id),
        children = children_of(tenant, id),
    )
}

/// A join adding the children's states and counts of the run named by
/// `tenant` and `id` (SQL expressions) as `k.states`, `k.counts`; the
/// caller adds its `ON` condition.
pub(super) fn children_of(tenant: &str, id: &str) -> String {
    format!(
        "LEFT JOIN LATERAL (SELECT array_agg(state) AS states, array_agg(c) AS counts FROM \
             (SELECT state, COUNT(*) AS c FROM runs WHERE runs.tenant = {tenant} AND parent_id = {id} \
              GROUP BY state) AS by_state) AS k"
    )
}

/// A subquery answering the run named by `tenant` and `id` (SQL
/// expressions) as one composite column `run`, NULL when it does not exist:
/// a scalar subquery (always an index lookup, see [`run_and_children`]),
/// kept from being pulled up (and evaluated once per column) by `OFFSET 0`.
fn one_run(tenant: &str, id: &str) -> String {
    format!(
        "SELECT (SELECT runs FROM runs WHERE runs.tenant = {tenant} AND runs.id = {id}) AS run \
         OFFSET 0"
    )
}

/// [`RUN_COLUMNS`] taken from the composite `run`.
fn run_columns_of(run: &str) -> String {
    let columns: Vec<String> = RUN_COLUMNS
        .split(',')
        .map(|column| format!("({run}).{}", column.trim()))
        .collect();
    columns.join(", ")
}

/// One row of [`now_and_runs`] and [`now_runs_and_active`]: the clock, then the run's columns (all NULL
/// when it does not exist), then its children's states and counts, then
/// `after` more columns.
pub(super) fn now_and_run_row(
    row: &sqlx::postgres::PgRow,
    after: usize,
) -> Result<(Timestamp, Option<Run>), Error> {
    let now = Timestamp::from_unix_ms(row.try_get(0).map_err(storage)?);
    let exists: Option<String> = row.try_get(2).map_err(storage)?;
    let Some(_) = exists else {
        return Ok((now, None));
    };
    let mut run = rows::record_at(row, 1)?.run;
    run.children = children_before(row, row.len() - after)?;
    Ok((now, Some(run)))
}

/// The children counts of a row whose columns `end - 2` and `end - 1` are
/// their states and counts, as [`run_and_children`] adds them.
pub(super) fn children_before(row: &sqlx::postgres::PgRow, end: usize) -> Result<Children, Error> {
    let states: Option<Vec<String>> = row.try_get(end - 2).map_err(storage)?;
    let counts: Option<Vec<i64>> = row.try_get(end - 1).map_err(storage)?;
    let mut by_state = Vec::new();
    for (state, count) in states
        .unwrap_or_default()
        .iter()
        .zip(counts.unwrap_or_default())
    {
        by_state.push((RunState::parse(state)?, count as u64));
    }
    Ok(Children::from_counts(by_state))
}

/// The record of `id`, locked for update (`FOR NO KEY UPDATE`: a child's
/// foreign-key check, `FOR KEY SHARE`, does not wait for it), with the
/// database clock.
pub(crate) async fn locked_record(
    connection: &mut PgConnection,
    tenant: &Tenant,
    id: &RunId,
) -> Result<Option<(Timestamp, Record)>, Error> {
    let sql = format!(
        "SELECT {RUN_COLUMNS}, {NOW_MS} FROM runs WHERE tenant = $1 AND id = $2 FOR NO KEY UPDATE"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(&mut *connection)
        .await
        .map_err(storage)?;
    row.as_ref().map(clock_and_record).transpose()
}

/// The records of every `(tenant, id)` of `keys` that exists, as committed
/// now, each with the database clock. Not locked: the write that follows is
/// conditional on the versions read (appends.rs).
pub(crate) async fn current_records(
    connection: &mut PgConnection,
    keys: &[(&str, &str)],
) -> Result<Vec<(Timestamp, Record)>, Error> {
    let sql = format!(
        "SELECT {columns}, {NOW_MS} FROM unnest($1::text[], $2::text[]) AS q(t, i), \
         LATERAL ({one_run}) AS f WHERE (f.run).id IS NOT NULL",
        columns = run_columns_of("f.run"),
        one_run = one_run("q.t", "q.i"),
    );
    let found = fetch_by_keys(connection, sql, keys).await?;
    found.iter().map(clock_and_record).collect()
}

/// A row of [`RUN_COLUMNS`] then the clock.
fn clock_and_record(row: &sqlx::postgres::PgRow) -> Result<(Timestamp, Record), Error> {
    let now = row.try_get(22).map_err(storage)?;
    Ok((Timestamp::from_unix_ms(now), rows::record(row)?))
}

/// The group a run was created in (immutable, so read without a lock).
pub(crate) async fn group_of(
    connection: &mut PgConnection,
    tenant: &Tenant,
    id: &RunId,
) -> Result<Option<String>, Error> {
    let row = sqlx::query("SELECT concurrency_key FROM runs WHERE tenant = $1 AND id = $2")
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(&mut *connection)
        .await
        .map_err(storage)?;
    Ok(row.and_then(|row| row.try_get::<Option<String>, _>(0).ok().flatten()))
}

/// What a create in a concurrency group reads before it decides (inside
/// the group's lock, so the active runs are exact).
pub(crate) struct GroupRead {
    /// The database clock.
    pub(crate) now: Timestamp,
    /// The run of the create's id, with its children counted, if it exists.
    pub(crate) existing: Option<Run>,
    /// The group's active runs, oldest first.
    pub(crate) active: Vec<RunId>,
    /// Whether the create's parent exists (true for a run without one).
    pub(crate) parent_found: bool,
}

/// For each create of `creates` (in a concurrency group): the database
/// clock, its run if it exists, its group's active runs and whether its
/// parent exists — one round trip for a batch, one answer per create, in
/// order.
pub(crate) async fn now_runs_and_active(
    connection: &mut PgConnection,
    creates: &[(&Tenant, &RunId, &ConcurrencyKey, Option<&RunId>)],
) -> Result<Vec<GroupRead>, Error> {
    let sql = format!(
        "SELECT {NOW_MS}, r.*, k.states, k.counts, \
             (SELECT array_agg(a.id ORDER BY a.created_order) FROM runs AS a \
              WHERE a.tenant = q.tenant AND a.concurrency_key = q.key \
              AND a.state IN ('queued', 'running')) AS active, \
             (q.parent IS NULL OR EXISTS (SELECT 1 FROM runs AS p \
              WHERE p.tenant = q.tenant AND p.id = q.parent)) AS parent_found \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) \
             WITH ORDINALITY AS q(tenant, id, key, parent, n) \
         {run_and_children} ORDER BY q.n",
        run_and_children = run_and_children("q.tenant", "q.id")
    );
    let tenants: Vec<&str> = creates.iter().map(|create| create.0.as_str()).collect();
    let ids: Vec<&str> = creates.iter().map(|create| create.1.as_str()).collect();
    let keys: Vec<&str> = creates.iter().map(|create| create.2.as_str()).collect();
    let parents: Vec<Option<&str>> = creates
        .iter()
        .map(|create| create.3.map(RunId::as_str))
        .collect();
    let found = sqlx::query(AssertSqlSafe(sql))
        .bind(tenants)
        .bind(ids)
        .bind(keys)
        .bind(parents)
        .fetch_all(&mut *connection)
        .await
        .map_err(storage)?;
    found
        .iter()
        .map(|row| {
            let active: Option<Vec<String>> = row.try_get(row.len() - 2).map_err(storage)?;
            let active = active
                .unwrap_or_default()
                .iter()
                .map(|id| RunId::parse(id))
                .collect::<Result<_, _>>()?;
            let parent_found = row.try_get(row.len() - 1).map_err(storage)?;
            let (now, existing) = now_and_run_row(row, 2)?;
            Ok(GroupRead {
                now,
                existing,
                active,
                parent_found,
            })
        })
        .collect()
}

/// The active runs of a group, oldest first.
pub(crate) async fn active_ids(
    connection: &mut PgConnection,
    tenant: &Tenant,
    key: &ConcurrencyKey,
) -> Result<Vec<RunId>, Error> {
    let found = sqlx::query(
        "SELECT id FROM runs WHERE tenant = $1 AND concurrency_key = $2 \
         AND state IN ('queued', 'running') ORDER BY created_order",
    )
    .bind(tenant.as_str())
    .bind(key.as_str())
    .fetch_all(&mut *connection)
    .await
    .map_err(storage)?;
    found
        .iter()
        .map(|row| RunId::parse(&row.try_get::<String, _>(0).map_err(storage)?))
        .collect()
}

/// The oldest pending run of a group, locked.
pub(crate) async fn pending_head(
    connection: &mut PgConnection,
    tenant: &Tenant,
    key: &ConcurrencyKey,
) -> Result<Option<Record>, Error> {
    Ok(pending_locked(connection, tenant, key, Some(1))
        .await?
        .pop())
}

/// Every pending run of a group, oldest first, locked.
pub(crate) async fn pending(
    connection: &mut PgConnection,
    tenant: &Tenant,
    key: &ConcurrencyKey,
) -> Result<Vec<Record>, Error> {
    pending_locked(connection, tenant, key, None).await
}

/// The oldest `limit` pending runs of a group (all of them for `None`,
/// which PostgreSQL reads as `LIMIT ALL`), oldest first, locked.
async fn pending_locked(
    connection: &mut PgConnection,
    tenant: &Tenant,
    key: &ConcurrencyKey,
    limit: Option<i64>,
) -> Result<Vec<Record>, Error> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE tenant = $1 AND concurrency_key = $2 \
         AND state = 'pending' ORDER BY created_order LIMIT $3 FOR NO KEY UPDATE"
    );
    let found = sqlx::query(AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(key.as_str())
        .bind(limit)
        .fetch_all(&mut *connection)
        .await
        .map_err(storage)?;
    found.iter().map(rows::record).collect()
}

/// `root` and its descendants at any depth, as committed now (not locked):
/// each id with its group and whether it has not ended. The root first if
/// it exists.
pub(crate) async fn tree(
    connection: &mut PgConnection,
    tenant: &Tenant,
    root: &RunId,
) -> Result<Vec<(String, Option<String>, bool)>, Error> {
    let found = sqlx::query(
        "WITH RECURSIVE tree(id, depth) AS ( \
             SELECT id, 0 FROM runs WHERE tenant = $1 AND id = $2 \
             UNION ALL \
             SELECT runs.id, tree.depth + 1 FROM runs JOIN tree ON runs.tenant = $1 AND runs.parent_id = tree.id) \
         SELECT runs.id, runs.concurrency_key, runs.state IN ('pending', 'queued', 'running') \
         FROM tree JOIN runs ON runs.tenant = $1 AND runs.id = tree.id ORDER BY tree.depth, runs.id",
    )
    .bind(tenant.as_str())
    .bind(root.as_str())
    .fetch_all(&mut *connection)
    .await
    .map_err(storage)?;
    found
        .iter()
        .map(|row| {
            Ok((
                row.try_get::<String, _>(0).map_err(storage)?,
                row.try_get::<Option<String>, _>(1).map_err(storage)?,
                row.try_get::<bool, _>(2).map_err(storage)?,
            ))
        })
        .collect()
}

/// The records of `ids` of `tenant`, locked `FOR NO KEY UPDATE` in the
/// order of their ids (the one order every locker of several runs uses),
/// each with the database clock.
pub(crate) async fn locked_records(
    connection: &mut PgConnection,
    tenant: &Tenant,
    ids: &[String],
) -> Result<Vec<(Timestamp, Record)>, Error> {
    let sql = format!(
        "SELECT {RUN_COLUMNS}, {NOW_MS} FROM runs WHERE tenant = $1 AND id = ANY($2::text[]) \
         ORDER BY id FOR NO KEY UPDATE"
    );
    let found = sqlx::query(AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(ids)
        .fetch_all(&mut *connection)
        .await
        .map_err(storage)?;
    found.iter().map(clock_and_record).collect()
}
