//! Tenants, tokens and idempotency records on SQLite.

use super::error::storage;
use crate::access::IdempotencyBegin;
use runledger_core::limits::{IDEMPOTENCY_IN_FLIGHT_STALE_MS, IDEMPOTENCY_KEY_KEPT_MS};
use runledger_core::{Error, IdempotencyKey, Tenant, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

/// Records the tenant (if new) and a token for it.
pub(crate) fn add_token(
    connection: &Connection,
    tenant: &Tenant,
    token_sha256: &str,
    now: Timestamp,
) -> Result<(), Error> {
    connection
        .execute(
            "INSERT INTO tenants (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![tenant.as_str(), now.unix_ms()],
        )
        .map_err(storage)?;
    connection
        .execute(
            "INSERT INTO api_tokens (token_sha256, tenant, created_at) VALUES (?1, ?2, ?3)",
            params![token_sha256, tenant.as_str(), now.unix_ms()],
        )
        .map_err(storage)?;
    Ok(())
}

/// The tenant a token hash belongs to.
pub(crate) fn tenant_for_token(
    connection: &Connection,
    token_sha256: &str,
) -> Result<Option<Tenant>, Error> {
    let mut statement = connection
        .prepare_cached("SELECT tenant FROM api_tokens WHERE token_sha256 = ?1")
        .map_err(storage)?;
    let tenant: Option<String> = statement
        .query_row([token_sha256], |row| row.get(0))
        .optional()
        .map_err(storage)?;
    tenant.map(|name| Tenant::parse(&name)).transpose()
}

/// Whether any token exists (then every request needs one).
pub(crate) fn any_token(connection: &Connection) -> Result<bool, Error> {
    let mut statement = connection
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM api_tokens)")
        .map_err(storage)?;
    statement.query_row([], |row| row.get(0)).map_err(storage)
}

/// Claims `key` for a request with `fingerprint`, or says why not.
pub(crate) fn begin(
    connection: &Connection,
    tenant: &Tenant,
    key: &IdempotencyKey,
    fingerprint: &str,
    now: Timestamp,
) -> Result<IdempotencyBegin, Error> {
    let mut statement = connection
        .prepare_cached(
            "SELECT fingerprint, state, status, body, created_at, updated_at FROM idempotency_keys \
             WHERE tenant = ?1 AND key = ?2",
        )
        .map_err(storage)?;
    type Row = (String, String, Option<i64>, Option<String>, i64, i64);
    let existing: Option<Row> = statement
        .query_row(params![tenant.as_str(), key.as_str()], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
            ))
        })
        .optional()
        .map_err(storage)?;
    // `Some(since)`: the key may be claimed, its record dating from `since`.
    let claimable = match &existing {
        None => Some(now.unix_ms()),
        Some((_, _, _, _, created_at, _))
            if *created_at < now.unix_ms() - IDEMPOTENCY_KEY_KEPT_MS =>
        {
            Some(now.unix_ms())
        }
        Some((stored, state, _, _, created_at, updated_at))
            if stored == fingerprint && state == "in_flight" =>
        {
            // The request holding it died or failed: the retry runs, under
            // the record's first date (so with the same planned run id).
            (*updated_at < now.unix_ms() - IDEMPOTENCY_IN_FLIGHT_STALE_MS).then_some(*created_at)
        }
        Some(_) => None,
    };
    if let Some(since) = claimable {
        connection
            .execute(
                "INSERT INTO idempotency_keys (tenant, key, fingerprint, state, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, 'in_flight', ?4, ?5) \
                 ON CONFLICT (tenant, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
                 state = 'in_flight', status = NULL, body = NULL, created_at = excluded.created_at, \
                 updated_at = excluded.updated_at",
                params![tenant.as_str(), key.as_str(), fingerprint, since, now.unix_ms()],
            )
            .map_err(storage)?;
        return Ok(IdempotencyBegin::Started {
            since: Timestamp::from_unix_ms(since),
        });
    }
    let (stored, state, status, body, _, _) = existing.expect("an unclaimable key exists");
    Ok(
        match (stored == fingerprint, state.as_str(), status, body) {
            (false, _, _, _) => IdempotencyBegin::Reused,
            (true, "done", Some(status), Some(body)) => IdempotencyBegin::Replay {
                status: u16::try_from(status).map_err(Error::storage)?,
                body,
            },
            (true, _, _, _) => IdempotencyBegin::InFlight,
        },
    )
}

/// Stores the response of the request that holds `key`.
pub(crate) fn complete(
    connection: &Connection,
    tenant: &Tenant,
    key: &IdempotencyKey,
    status: u16,
    body: &str,
    now: Timestamp,
) -> Result<(), Error> {
    connection
        .execute(
            "UPDATE idempotency_keys SET state = 'done', status = ?3, body = ?4, updated_at = ?5 \
             WHERE tenant = ?1 AND key = ?2 AND state = 'in_flight'",
            params![
                tenant.as_str(),
                key.as_str(),
                i64::from(status),
                body,
                now.unix_ms()
            ],
        )
        .map_err(storage)?;
    Ok(())
}

/// Lets a retry take an in-flight key over at once (its request failed on
/// the server's side), keeping its `created_at` and so its planned run id.
pub(crate) fn release(
    connection: &Connection,
    tenant: &Tenant,
    key: &IdempotencyKey,
) -> Result<(), Error> {
    connection
        .execute(
            "UPDATE idempotency_keys SET updated_at = 0 WHERE tenant = ?1 AND key = ?2 AND state = 'in_flight'",
            params![tenant.as_str(), key.as_str()],
        )
        .map_err(storage)?;
    Ok(())
}

/// Shows the request holding `key` is alive, so no retry takes it over.
pub(crate) fn touch(
    connection: &Connection,
    tenant: &Tenant,
    key: &IdempotencyKey,
    now: Timestamp,
) -> Result<(), Error> {
    connection
        .execute(
            "UPDATE idempotency_keys SET updated_at = ?3 WHERE tenant = ?1 AND key = ?2 AND state = 'in_flight'",
            params![tenant.as_str(), key.as_str(), now.unix_ms()],
        )
        .map_err(storage)?;
    Ok(())
}

/// Forgets every key created before `now - retention_ms`.
pub(crate) fn purge(
    connection: &Connection,
    now: Timestamp,
    retention_ms: i64,
) -> Result<u64, Error> {
    let deleted = connection
        .execute(
            "DELETE FROM idempotency_keys WHERE created_at < ?1",
            params![now.unix_ms() - retention_ms],
        )
        .map_err(storage)?;
    Ok(deleted as u64)
}
