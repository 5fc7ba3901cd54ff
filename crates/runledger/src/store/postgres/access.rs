//! Tenants, tokens and idempotency records on PostgreSQL. Claiming a key is
//! one conditional upsert, so two server processes racing one key cannot
//! both start.

use super::error::storage;
use super::rows::NOW_MS;
use crate::access::{
    IdempotencyBegin, IdempotencyMark, TOKEN_LAST_USED_PRECISION_MS, TokenInfo, token_info,
};
use runledger_core::limits::{IDEMPOTENCY_IN_FLIGHT_STALE_MS, IDEMPOTENCY_KEY_KEPT_MS};
use runledger_core::{Error, IdempotencyKey, Tenant, Timestamp};
use sqlx::{Acquire, AssertSqlSafe, PgPool, Row};

/// Records the tenant (if new) and a token for it.
pub(crate) async fn add_token(
    pool: &PgPool,
    tenant: &Tenant,
    token_sha256: &str,
    prefix: &str,
) -> Result<(), Error> {
    let mut connection = pool.acquire().await.map_err(storage)?;
    let mut transaction = connection.begin().await.map_err(storage)?;
    let sql = format!(
        "INSERT INTO tenants (name, created_at) VALUES ($1, {NOW_MS}) ON CONFLICT (name) DO NOTHING"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .execute(&mut *transaction)
        .await
        .map_err(storage)?;
    let sql = format!(
        "INSERT INTO api_tokens (token_sha256, tenant, created_at, prefix) VALUES ($1, $2, {NOW_MS}, $3)"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(token_sha256)
        .bind(tenant.as_str())
        .bind(prefix)
        .execute(&mut *transaction)
        .await
        .map_err(storage)?;
    transaction.commit().await.map_err(storage)
}

/// The tenant a token hash belongs to, unless it was revoked; updates its
/// `last_used_at` in the same statement when that is more than
/// [`TOKEN_LAST_USED_PRECISION_MS`] old.
pub(crate) async fn tenant_for_token(
    pool: &PgPool,
    token_sha256: &str,
) -> Result<Option<Tenant>, Error> {
    let sql = format!(
        "WITH found AS (SELECT tenant FROM api_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL), \
         touched AS (UPDATE api_tokens SET last_used_at = {NOW_MS} WHERE token_sha256 = $1 \
             AND revoked_at IS NULL AND (last_used_at IS NULL OR last_used_at < {NOW_MS} - $2) RETURNING 1) \
         SELECT tenant FROM found"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(token_sha256)
        .bind(TOKEN_LAST_USED_PRECISION_MS)
        .fetch_optional(pool)
        .await
        .map_err(storage)?;
    row.map(|row| Tenant::parse(&row.try_get::<String, _>(0).map_err(storage)?))
        .transpose()
}

/// Every token, oldest first.
pub(crate) async fn tokens(pool: &PgPool) -> Result<Vec<TokenInfo>, Error> {
    let rows = sqlx::query(
        "SELECT token_sha256, tenant, prefix, created_at, last_used_at, revoked_at \
         FROM api_tokens ORDER BY created_at, token_sha256",
    )
    .fetch_all(pool)
    .await
    .map_err(storage)?;
    rows.iter()
        .map(|row| {
            token_info(
                &row.try_get::<String, _>(0).map_err(storage)?,
                &row.try_get::<String, _>(1).map_err(storage)?,
                row.try_get(2).map_err(storage)?,
                row.try_get(3).map_err(storage)?,
                row.try_get(4).map_err(storage)?,
                row.try_get(5).map_err(storage)?,
            )
        })
        .collect()
}

/// Revokes the token whose id is `id`; answers how many tokens have that
/// id (0: none, more than 1: ambiguous, nothing revoked).
pub(crate) async fn revoke_token(pool: &PgPool, id: &str) -> Result<usize, Error> {
    let sql = format!(
        "WITH matching AS (SELECT token_sha256 FROM api_tokens WHERE token_sha256 LIKE $1 FOR UPDATE), \
         revoked AS (UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, {NOW_MS}) \
             WHERE token_sha256 IN (SELECT token_sha256 FROM matching) \
             AND (SELECT COUNT(*) FROM matching) = 1 RETURNING 1) \
         SELECT COUNT(*) FROM matching"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(format!("{id}%"))
        .fetch_one(pool)
        .await
        .map_err(storage)?;
    let matching: i64 = row.try_get(0).map_err(storage)?;
    Ok(matching as usize)
}

/// Whether any token exists.
pub(crate) async fn any_token(pool: &PgPool) -> Result<bool, Error> {
    let row = sqlx::query("SELECT EXISTS (SELECT 1 FROM api_tokens)")
        .fetch_one(pool)
        .await
        .map_err(storage)?;
    row.try_get(0).map_err(storage)
}

/// Claims `key`: inserts it, or takes over an expired or abandoned record,
/// in one statement; otherwise reports what holds it.
pub(crate) async fn begin(
    pool: &PgPool,
    tenant: &Tenant,
    key: &IdempotencyKey,
    fingerprint: &str,
) -> Result<IdempotencyBegin, Error> {
    let sql = format!(
        "INSERT INTO idempotency_keys AS k (tenant, key, fingerprint, state, created_at, updated_at)
         VALUES ($1, $2, $3, 'in_flight', {NOW_MS}, {NOW_MS})
         ON CONFLICT (tenant, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, state = 'in_flight',
             status = NULL, body = NULL, updated_at = EXCLUDED.updated_at,
             created_at = CASE WHEN k.created_at < EXCLUDED.created_at - $4 THEN EXCLUDED.created_at ELSE k.created_at END,
             mark_run = CASE WHEN k.created_at < EXCLUDED.created_at - $4 THEN NULL ELSE k.mark_run END,
             mark_seq = CASE WHEN k.created_at < EXCLUDED.created_at - $4 THEN NULL ELSE k.mark_seq END
         WHERE k.created_at < EXCLUDED.created_at - $4
            OR (k.fingerprint = EXCLUDED.fingerprint AND k.state = 'in_flight' AND k.updated_at < EXCLUDED.updated_at - $5)
         RETURNING created_at, mark_run, mark_seq"
    );
    let claimed = sqlx::query(AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(key.as_str())
        .bind(fingerprint)
        .bind(IDEMPOTENCY_KEY_KEPT_MS)
        .bind(IDEMPOTENCY_IN_FLIGHT_STALE_MS)
        .fetch_optional(pool)
        .await
        .map_err(storage)?;
    if let Some(claimed) = claimed {
        let since: i64 = claimed.try_get(0).map_err(storage)?;
        let committed = IdempotencyMark::from_columns(
            claimed.try_get(1).map_err(storage)?,
            claimed.try_get(2).map_err(storage)?,
        )?;
        return Ok(IdempotencyBegin::Started {
            since: Timestamp::from_unix_ms(since),
            committed,
        });
    }
    let row = sqlx::query("SELECT fingerprint, state, status, body FROM idempotency_keys WHERE tenant = $1 AND key = $2")
        .bind(tenant.as_str())
        .bind(key.as_str())
        .fetch_optional(pool)
        .await
        .map_err(storage)?;
    let Some(row) = row else {
        // Released between the two statements: the caller may simply retry.
        return Ok(IdempotencyBegin::InFlight);
    };
    let stored: String = row.try_get(0).map_err(storage)?;
    let state: String = row.try_get(1).map_err(storage)?;
    let status: Option<i64> = row.try_get(2).map_err(storage)?;
    let body: Option<String> = row.try_get(3).map_err(storage)?;
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

/// Stores the response of the request holding `key`.
pub(crate) async fn complete(
    pool: &PgPool,
    tenant: &Tenant,
    key: &IdempotencyKey,
    status: u16,
    body: &str,
) -> Result<(), Error> {
    let sql = format!(
        "UPDATE idempotency_keys SET state = 'done', status = $3, body = $4, updated_at = {NOW_MS} \
         WHERE tenant = $1 AND key = $2 AND state = 'in_flight'"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(key.as_str())
        .bind(i64::from(status))
        .bind(body)
        .execute(pool)
        .await
        .map_err(storage)?;
    Ok(())
}

/// Lets a retry take an in-flight key over at once (its request failed on
/// the server's side), keeping its `created_at` and so its planned run id.
pub(crate) async fn release(
    pool: &PgPool,
    tenant: &Tenant,
    key: &IdempotencyKey,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET updated_at = 0 WHERE tenant = $1 AND key = $2 AND state = 'in_flight'",
    )
    .bind(tenant.as_str())
    .bind(key.as_str())
    .execute(pool)
    .await
    .map_err(storage)?;
    Ok(())
}

/// Shows the request holding `key` is alive, so no retry takes it over.
pub(crate) async fn touch(
    pool: &PgPool,
    tenant: &Tenant,
    key: &IdempotencyKey,
) -> Result<(), Error> {
    let sql = format!(
        "UPDATE idempotency_keys SET updated_at = {NOW_MS} WHERE tenant = $1 AND key = $2 AND state = 'in_flight'"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(key.as_str())
        .execute(pool)
        .await
        .map_err(storage)?;
    Ok(())
}

/// Forgets every key older than `retention_ms` (by the database clock).
pub(crate) async fn purge(pool: &PgPool, retention_ms: i64) -> Result<u64, Error> {
    let sql = format!("DELETE FROM idempotency_keys WHERE created_at < {NOW_MS} - $1");
    let deleted = sqlx::query(AssertSqlSafe(sql))
        .bind(retention_ms)
        .execute(pool)
        .await
        .map_err(storage)?;
    Ok(deleted.rows_affected())
}
