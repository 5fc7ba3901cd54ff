//! What the API reads on PostgreSQL: runs, pages of runs, events, counts,
//! expired leases. Each takes a connection, so transactions and plain
//! pooled reads share them.

use super::error::storage;
use super::rows::{self, NOW_MS};
use crate::requests::RunPage;
use crate::store::schema::{EVENT_COLUMNS, RUN_COLUMNS};
use runledger_core::requests::ListRuns;
use runledger_core::transition::Record;
use runledger_core::{
    Children, ConcurrencyKey, Error, Event, Run, RunId, RunState, Tenant, Timestamp,
};
use sqlx::{AssertSqlSafe, PgConnection, Row};

/// The stored record of `id`, children not counted.
pub(crate) async fn record(
    connection: &mut PgConnection,
    tenant: &Tenant,
    id: &RunId,
) -> Result<Option<Record>, Error> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE tenant = $1 AND id = $2");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(&mut *connection)
        .await
        .map_err(storage)?;
    row.map(|row| rows::record(&row)).transpose()
}

/// Counts of `parent`'s direct children per state.
pub(crate) async fn children(
    connection: &mut PgConnection,
    tenant: &Tenant,
    parent: &RunId,
) -> Result<Children, Error> {
    let found = sqlx::query(
        "SELECT state, COUNT(*) FROM runs WHERE tenant = $1 AND parent_id = $2 GROUP BY state",
    )
    .bind(tenant.as_str())
    .bind(parent.as_str())
    .fetch_all(&mut *connection)
    .await
    .map_err(storage)?;
    let mut counts = Vec::with_capacity(found.len());
    for row in found {
        let state: String = row.try_get(0).map_err(storage)?;
        let count: i64 = row.try_get(1).map_err(storage)?;
        counts.push((RunState::parse(&state)?, count as u64));
    }
    Ok(Children::from_counts(counts))
}

/// `record` with its children counted.
pub(crate) async fn with_children(
    connection: &mut PgConnection,
    record: Record,
) -> Result<Run, Error> {
    let mut run = record.run;
    run.children = children(connection, &run.tenant, &run.id).await?;
    Ok(run)
}

/// The run `id` as the API shows it.
pub(crate) async fn run(
    connection: &mut PgConnection,
    tenant: &Tenant,
    id: &RunId,
) -> Result<Option<Run>, Error> {
    match record(connection, tenant, id).await? {
        Some(record) => Ok(Some(with_children(connection, record).await?)),
        None => Ok(None),
    }
}

/// Ids of running runs whose lease expired by the database clock.
pub(crate) async fn expired(
    connection: &mut PgConnection,
    limit: i64,
) -> Result<Vec<(Tenant, RunId)>, Error> {
    let sql = format!(
        "SELECT tenant, id FROM runs WHERE state = 'running' AND lease_expires_at <= {NOW_MS} \
         ORDER BY lease_expires_at LIMIT $1"
    );
    let found = sqlx::query(AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(&mut *connection)
        .await
        .map_err(storage)?;
    found
        .iter()
        .map(|row| {
            Ok((
                Tenant::parse(&row.try_get::<String, _>(0).map_err(storage)?)?,
                RunId::parse(&row.try_get::<String, _>(1).map_err(storage)?)?,
            ))
        })
        .collect()
}

/// Whether any lease has expired (the reaper's cheap check).
pub(crate) async fn has_expired_leases(connection: &mut PgConnection) -> Result<bool, Error> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM runs WHERE state = 'running' AND lease_expires_at <= {NOW_MS})"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .fetch_one(&mut *connection)
        .await
        .map_err(storage)?;
    row.try_get(0).map_err(storage)
}

/// One page of a tenant's runs, oldest first, filtered.
pub(crate) async fn list(
    connection: &mut PgConnection,
    tenant: &Tenant,
    filter: &ListRuns,
) -> Result<RunPage, Error> {
    let limit = filter.page_limit()?;
    let after = filter.after_order()?;
    let (beyond, direction) = if filter.newest_first {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let sql = format!(
        "SELECT {RUN_COLUMNS}, created_order FROM runs WHERE tenant COLLATE \"C\" = $1 AND created_order {beyond} $2 \
         AND ($3::text IS NULL OR state = $3) AND ($4::text IS NULL OR kind = $4) \
         AND ($5::text IS NULL OR parent_id = $5) AND ($6::text IS NULL OR concurrency_key = $6) \
         AND ($8::bigint IS NULL OR created_at > $8) AND ($9::bigint IS NULL OR created_at < $9) \
         ORDER BY created_order {direction} LIMIT $7"
    );
    let found = sqlx::query(AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(after)
        .bind(filter.state.map(RunState::as_str))
        .bind(filter.kind.as_ref().map(|kind| kind.as_str()))
        .bind(filter.parent_id.as_ref().map(RunId::as_str))
        .bind(filter.concurrency_key.as_ref().map(ConcurrencyKey::as_str))
        .bind(i64::from(limit) + 1)
        .bind(filter.created_after.map(Timestamp::unix_ms))
        .bind(filter.created_before.map(Timestamp::unix_ms))
        .fetch_all(&mut *connection)
        .await
        .map_err(storage)?;
    let more = found.len() > limit as usize;
    let mut runs = Vec::with_capacity(found.len().min(limit as usize));
    let mut last_order: Option<i64> = None;
    for row in found.iter().take(limit as usize) {
        let record = rows::record(row)?;
        last_order = Some(row.try_get(22).map_err(storage)?);
        runs.push(with_children(connection, record).await?);
    }
    Ok(RunPage {
        runs,
        next_cursor: if more {
            last_order.map(|order| order.to_string())
        } else {
            None
        },
    })
}

/// A run's stamped events after `after_seq`; `not_found` for a missing run.
pub(crate) async fn run_events(
    connection: &mut PgConnection,
    tenant: &Tenant,
    id: &RunId,
    after_seq: u64,
    limit: u32,
) -> Result<Vec<Event>, Error> {
    if record(connection, tenant, id).await?.is_none() {
        return Err(Error::RunNotFound { id: id.clone() });
    }
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE tenant = $1 AND run_id = $2 AND seq > $3 \
         AND position IS NOT NULL ORDER BY seq LIMIT $4"
    );
    let found = sqlx::query(AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .bind(i64::try_from(after_seq).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&mut *connection)
        .await
        .map_err(storage)?;
    found.iter().map(rows::event).collect()
}

/// A tenant's stamped events after `after_position`, in position order.
pub(crate) async fn tenant_events(
    connection: &mut PgConnection,
    tenant: &Tenant,
    after_position: u64,
    limit: u32,
) -> Result<Vec<Event>, Error> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE tenant = $1 AND position > $2 ORDER BY position LIMIT $3"
    );
    let found = sqlx::query(AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(i64::try_from(after_position).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&mut *connection)
        .await
        .map_err(storage)?;
    found.iter().map(rows::event).collect()
}

/// How many of `tenant`'s runs are in each state.
pub(crate) async fn tenant_run_counts(
    connection: &mut PgConnection,
    tenant: &Tenant,
) -> Result<Vec<(RunState, u64)>, Error> {
    let found = sqlx::query("SELECT state, COUNT(*) FROM runs WHERE tenant = $1 GROUP BY state")
        .bind(tenant.as_str())
        .fetch_all(&mut *connection)
        .await
        .map_err(storage)?;
    state_counts(&found)
}

/// How many runs are in each state, over all tenants.
pub(crate) async fn run_counts(
    connection: &mut PgConnection,
) -> Result<Vec<(RunState, u64)>, Error> {
    let found = sqlx::query("SELECT state, COUNT(*) FROM runs GROUP BY state")
        .fetch_all(&mut *connection)
        .await
        .map_err(storage)?;
    state_counts(&found)
}

/// `(state, count)` rows as counts by state.
fn state_counts(rows: &[sqlx::postgres::PgRow]) -> Result<Vec<(RunState, u64)>, Error> {
    rows.iter()
        .map(|row| {
            let state: String = row.try_get(0).map_err(storage)?;
            let count: i64 = row.try_get(1).map_err(storage)?;
            Ok((RunState::parse(&state)?, count as u64))
        })
        .collect()
}
