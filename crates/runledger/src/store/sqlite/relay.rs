//! The relay's lease and cursors on SQLite. Writes run on the writer, under
//! the write lock, so a conditional statement decides who holds the lease.

use super::error::storage;
use super::rows;
use runledger_core::{Error, Event, Kind, Tenant, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

/// Takes the lease if it is free, expired, or already ours; answers the epoch held.
pub(crate) fn acquire(
    connection: &Connection,
    owner: &str,
    ttl_ms: i64,
    now: Timestamp,
) -> Result<Option<u64>, Error> {
    let epoch: Option<i64> = connection
        .query_row(
            "INSERT INTO relay_lease (name, owner, epoch, expires_at) VALUES ('relay', ?1, 1, ?2 + ?3)
             ON CONFLICT (name) DO UPDATE SET
                 epoch = CASE WHEN relay_lease.owner = excluded.owner THEN relay_lease.epoch ELSE relay_lease.epoch + 1 END,
                 owner = excluded.owner, expires_at = excluded.expires_at
             WHERE relay_lease.owner = excluded.owner OR relay_lease.expires_at < ?2
             RETURNING epoch",
            params![owner, now.unix_ms(), ttl_ms],
            |row| row.get(0),
        )
        .optional()
        .map_err(storage)?;
    Ok(epoch.map(|epoch| epoch as u64))
}

/// Moves `tenant`'s cursor to `position` if `(owner, epoch)` still holds the lease.
pub(crate) fn advance(
    connection: &Connection,
    owner: &str,
    epoch: u64,
    tenant: &Tenant,
    position: u64,
    now: Timestamp,
) -> Result<bool, Error> {
    let holds: bool = connection
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM relay_lease WHERE name = 'relay' AND owner = ?1 AND epoch = ?2 AND expires_at >= ?3)",
            params![owner, epoch as i64, now.unix_ms()],
            |row| row.get(0),
        )
        .map_err(storage)?;
    if !holds {
        return Ok(false);
    }
    connection
        .execute(
            "INSERT INTO relay_cursors (tenant, position) VALUES (?1, ?2)
             ON CONFLICT (tenant) DO UPDATE SET position = MAX(relay_cursors.position, excluded.position)",
            params![tenant.as_str(), position as i64],
        )
        .map_err(storage)?;
    Ok(true)
}

/// Tenants with events, and how far each has been published.
pub(crate) fn cursors(connection: &Connection) -> Result<Vec<(Tenant, u64)>, Error> {
    let mut statement = connection
        .prepare_cached(
            "SELECT t.tenant, COALESCE(c.position, 0) FROM (SELECT DISTINCT tenant FROM events) AS t
             LEFT JOIN relay_cursors c ON c.tenant = t.tenant ORDER BY t.tenant",
        )
        .map_err(storage)?;
    let rows = statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .map_err(storage)?;
    rows.map(|row| {
        let (tenant, position) = row.map_err(storage)?;
        Ok((Tenant::parse(&tenant)?, position as u64))
    })
    .collect()
}

/// `tenant`'s events after `after`, each with its run's kind.
pub(crate) fn events(
    connection: &Connection,
    tenant: &Tenant,
    after: u64,
    limit: u32,
) -> Result<Vec<(Event, Kind)>, Error> {
    let mut statement = connection
        .prepare_cached(
            "SELECT e.run_id, e.seq, e.position, e.type, e.data, e.at, r.kind FROM events e
             JOIN runs r ON r.tenant = e.tenant AND r.id = e.run_id
             WHERE e.tenant = ?1 AND e.position > ?2 ORDER BY e.position LIMIT ?3",
        )
        .map_err(storage)?;
    let rows = statement
        .query_map(params![tenant.as_str(), after as i64, limit], |row| {
            Ok((rows::event(row)?, row.get::<_, String>(6)?))
        })
        .map_err(storage)?;
    rows.map(|row| {
        let (event, kind) = row.map_err(storage)?;
        Ok((event, Kind::parse(&kind)?))
    })
    .collect()
}
