//! The relay's lease and cursors on PostgreSQL: each a single conditional
//! statement, so two relays can never both hold the lease.

use super::error::storage;
use super::rows::{self, NOW_MS};
use runledger_core::{Error, Event, Kind, Tenant};
use sqlx::{AssertSqlSafe, PgPool, Row};

/// Takes the lease if it is free, expired, or already ours; answers the epoch held.
pub(crate) async fn acquire(pool: &PgPool, owner: &str, ttl_ms: i64) -> Result<Option<u64>, Error> {
    let sql = format!(
        "INSERT INTO relay_lease AS l (name, owner, epoch, expires_at) VALUES ('relay', $1, 1, {NOW_MS} + $2)
         ON CONFLICT (name) DO UPDATE SET
             epoch = CASE WHEN l.owner = EXCLUDED.owner THEN l.epoch ELSE l.epoch + 1 END,
             owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
         WHERE l.owner = EXCLUDED.owner OR l.expires_at < {NOW_MS}
         RETURNING epoch"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(owner)
        .bind(ttl_ms)
        .fetch_optional(pool)
        .await
        .map_err(storage)?;
    row.map(|row| Ok(row.try_get::<i64, _>(0).map_err(storage)? as u64))
        .transpose()
}

/// Moves `tenant`'s cursor to `position` if `(owner, epoch)` still holds the lease.
pub(crate) async fn advance(
    pool: &PgPool,
    owner: &str,
    epoch: u64,
    tenant: &Tenant,
    position: u64,
) -> Result<bool, Error> {
    let sql = format!(
        "INSERT INTO relay_cursors (tenant, position)
         SELECT $3, $4 WHERE EXISTS (SELECT 1 FROM relay_lease WHERE name = 'relay' AND owner = $1 AND epoch = $2
                                     AND expires_at >= {NOW_MS})
         ON CONFLICT (tenant) DO UPDATE SET position = GREATEST(relay_cursors.position, EXCLUDED.position)
         RETURNING 1"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(owner)
        .bind(epoch as i64)
        .bind(tenant.as_str())
        .bind(position as i64)
        .fetch_optional(pool)
        .await
        .map_err(storage)?;
    Ok(row.is_some())
}

/// Tenants with events, and how far each has been published.
pub(crate) async fn cursors(pool: &PgPool) -> Result<Vec<(Tenant, u64)>, Error> {
    let rows = sqlx::query(
        "SELECT t.tenant, COALESCE(c.position, 0) FROM tenant_positions t
         LEFT JOIN relay_cursors c ON c.tenant = t.tenant ORDER BY t.tenant",
    )
    .fetch_all(pool)
    .await
    .map_err(storage)?;
    rows.iter()
        .map(|row| {
            let tenant: String = row.try_get(0).map_err(storage)?;
            let position: i64 = row.try_get(1).map_err(storage)?;
            Ok((Tenant::parse(&tenant)?, position as u64))
        })
        .collect()
}

/// `tenant`'s stamped events after `after`, each with its run's kind.
pub(crate) async fn events(
    pool: &PgPool,
    tenant: &Tenant,
    after: u64,
    limit: u32,
) -> Result<Vec<(Event, Kind)>, Error> {
    let rows = sqlx::query(
        "SELECT e.run_id, e.seq, e.position, e.type, e.data, e.at, r.kind FROM events e
         JOIN runs r ON r.tenant = e.tenant AND r.id = e.run_id
         WHERE e.tenant = $1 AND e.position > $2 ORDER BY e.position LIMIT $3",
    )
    .bind(tenant.as_str())
    .bind(after as i64)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(storage)?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get(6).map_err(storage)?;
            Ok((rows::event(row)?, Kind::parse(&kind)?))
        })
        .collect()
}
