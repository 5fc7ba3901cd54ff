//! Tenants, tokens and idempotency records on SQLite.

use super::error::storage;
use crate::access::{
    IdempotencyBegin, IdempotencyMark, TOKEN_LAST_USED_PRECISION_MS, TokenInfo, token_info,
};
use runledger_core::limits::{IDEMPOTENCY_IN_FLIGHT_STALE_MS, IDEMPOTENCY_KEY_KEPT_MS};
use runledger_core::{Error, IdempotencyKey, Tenant, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

/// Records the tenant (if new) and a token for it.
pub(crate) fn add_token(
    connection: &Connection,
    tenant: &Tenant,
    token_sha256: &str,
    prefix: &str,
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
            "INSERT INTO api_tokens (token_sha256, tenant, created_at, prefix) VALUES (?1, ?2, ?3, ?4)",
            params![token_sha256, tenant.as_str(), now.unix_ms(), prefix],
        )
        .map_err(storage)?;
    Ok(())
}

/// The tenant a token hash belongs to, unless it was revoked, and whether
/// its `last_used_at` is due an update at `now`.
pub(crate) fn tenant_for_token(
    connection: &Connection,
    token_sha256: &str,
    now: Timestamp,
) -> Result<Option<(Tenant, bool)>, Error> {
    let mut statement = connection
        .prepare_cached(
            "SELECT tenant, last_used_at IS NULL OR last_used_at < ?2 FROM api_tokens \
             WHERE token_sha256 = ?1 AND revoked_at IS NULL",
        )
        .map_err(storage)?;
    let found: Option<(String, bool)> = statement
        .query_row(
            params![token_sha256, now.unix_ms() - TOKEN_LAST_USED_PRECISION_MS],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(storage)?;
    found
        .map(|(name, due)| Ok((Tenant::parse(&name)?, due)))
        .transpose()
}

/// Records that the token was used at `now`.
pub(crate) fn touch_token(
    connection: &Connection,
    token_sha256: &str,
    now: Timestamp,
) -> Result<(), Error> {
    connection
        .execute(
            "UPDATE api_tokens SET last_used_at = ?2 WHERE token_sha256 = ?1",
            params![token_sha256, now.unix_ms()],
        )
        .map_err(storage)?;
    Ok(())
}

/// Every token, oldest first (`runledger tenant list`).
pub(crate) fn tokens(connection: &Connection) -> Result<Vec<TokenInfo>, Error> {
    let mut statement = connection
        .prepare_cached(
            "SELECT token_sha256, tenant, prefix, created_at, last_used_at, revoked_at \
             FROM api_tokens ORDER BY created_at, token_sha256",
        )
        .map_err(storage)?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, Option<i64>>(4)?,
                row.get::<_, Option<i64>>(5)?,
            ))
        })
        .map_err(storage)?;
    rows.map(|row| {
        let (sha, tenant, prefix, created, used, revoked) = row.map_err(storage)?;
        token_info(&sha, &tenant, prefix, created, used, revoked)
    })
    .collect()
}

/// Revokes the token whose id is `id` (at `now`); answers how many tokens
/// have that id (0: none, more than 1: ambiguous, nothing revoked).
pub(crate) fn revoke_token(
    connection: &Connection,
    id: &str,
    now: Timestamp,
) -> Result<usize, Error> {
    let pattern = format!("{id}%");
    let matching: i64 = connection
        .query_row(
            "SELECT COUNT(*) FROM api_tokens WHERE token_sha256 LIKE ?1",
            [&pattern],
            |row| row.get(0),
        )
        .map_err(storage)?;
    if matching == 1 {
        connection
            .execute(
                "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE token_sha256 LIKE ?1",
                params![pattern, now.unix_ms()],
            )
            .map_err(storage)?;
    }
    Ok(matching as usize)
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
            "SELECT fingerprint, state, status, body, created_at, updated_at, mark_run, mark_seq \
             FROM idempotency_keys WHERE tenant = ?1 AND key = ?2",
        )
        .map_err(storage)?;
    let existing: Option<Stored> = statement
        .query_row(params![tenant.as_str(), key.as_str()], |row| {
            Ok(Stored {
                fingerprint: row.get(0)?,
                state: row.get(1)?,
                status: row.get(2)?,
                body: row.get(3)?,
                created_at: row.get(4)?,
                updated_at: row.get(5)?,
                mark_run: row.get(6)?,
                mark_seq: row.get(7)?,
            })
        })
        .optional()
        .map_err(storage)?;
    let fresh = || Some((now.unix_ms(), None));
    // `Some((since, committed))`: the key may be claimed, its record dating
    // from `since`, with what an earlier attempt committed.
    let claimable = match existing {
        None => fresh(),
        Some(ref stored) if stored.created_at < now.unix_ms() - IDEMPOTENCY_KEY_KEPT_MS => fresh(),
        Some(ref stored) if stored.fingerprint == fingerprint && stored.state == "in_flight" => {
            // The request holding it died or failed: the retry runs, under
            // the record's first date (so with the same planned run id), and
            // learns what the dead attempt committed, if anything.
            (stored.updated_at < now.unix_ms() - IDEMPOTENCY_IN_FLIGHT_STALE_MS)
                .then(|| {
                    IdempotencyMark::from_columns(stored.mark_run.clone(), stored.mark_seq)
                        .map(|committed| (stored.created_at, committed))
                })
                .transpose()?
        }
        Some(_) => None,
    };
    if let Some((since, committed)) = claimable {
        connection
            .execute(
                "INSERT INTO idempotency_keys (tenant, key, fingerprint, state, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, 'in_flight', ?4, ?5) \
                 ON CONFLICT (tenant, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
                 state = 'in_flight', status = NULL, body = NULL, \
                 mark_run = CASE WHEN created_at = excluded.created_at THEN mark_run END, \
                 mark_seq = CASE WHEN created_at = excluded.created_at THEN mark_seq END, \
                 created_at = excluded.created_at, updated_at = excluded.updated_at",
                params![tenant.as_str(), key.as_str(), fingerprint, since, now.unix_ms()],
            )
            .map_err(storage)?;
        return Ok(IdempotencyBegin::Started {
            since: Timestamp::from_unix_ms(since),
            committed,
        });
    }
    let Stored {
        fingerprint: stored,
        state,
        status,
        body,
        ..
    } = existing.expect("an unclaimable key exists");
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

/// An `idempotency_keys` row.
struct Stored {
    fingerprint: String,
    state: String,
    status: Option<i64>,
    body: Option<String>,
    created_at: i64,
    updated_at: i64,
    mark_run: Option<String>,
    mark_seq: Option<i64>,
}

/// Marks `key` with what the write holding it committed, in the write's
/// own transaction (an append's event, a claim's lease).
pub(crate) fn mark(
    connection: &Connection,
    tenant: &Tenant,
    key: &IdempotencyKey,
    mark: &IdempotencyMark,
) -> Result<(), Error> {
    connection
        .prepare_cached(
            "UPDATE idempotency_keys SET mark_run = ?3, mark_seq = ?4 \
             WHERE tenant = ?1 AND key = ?2 AND state = 'in_flight'",
        )
        .map_err(storage)?
        .execute(params![
            tenant.as_str(),
            key.as_str(),
            mark.run_id.as_str(),
            i64::try_from(mark.seq).map_err(Error::storage)?
        ])
        .map_err(storage)?;
    Ok(())
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
