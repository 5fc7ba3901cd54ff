//! `claim` on PostgreSQL (SPEC `POST /v1/runs/claim`): one transaction finds
//! the oldest queued run matching the filters with `FOR NO KEY UPDATE SKIP
//! LOCKED` — a run another claimer is taking is skipped, not waited for —
//! and starts it exactly as `start` does. Two claims never get one run: the
//! row lock is held to commit, and the start is decided on the row as locked.

use super::access;
use super::changes;
use super::error::storage;
use super::locks;
use super::lookup;
use super::read;
use super::rows::NOW_MS;
use crate::access::IdempotencyMark;
use crate::requests::ClaimRun;
use runledger_core::transition::{self, Decision};
use runledger_core::{Error, Operation, Run, RunId, Tenant};
use sqlx::{AssertSqlSafe, Connection, PgPool};

/// Starts the oldest queued run matching `request`; `None` when none is
/// queued (or every matching one is being taken by another claim).
pub(crate) async fn claim(
    pool: &PgPool,
    tenant: &Tenant,
    request: &ClaimRun,
) -> Result<Option<Run>, Error> {
    let mut connection = pool.acquire().await.map_err(storage)?;
    let mut transaction = connection.begin().await.map_err(storage)?;
    let kinds: Option<Vec<&str>> = (!request.kinds.is_empty())
        .then(|| request.kinds.iter().map(|kind| kind.as_str()).collect());
    let sql = format!(
        "SELECT id, {NOW_MS} FROM runs WHERE tenant COLLATE \"C\" = $1 AND state = 'queued' \
         AND ($2::text[] IS NULL OR kind = ANY($2)) \
         AND ($3::text IS NULL OR concurrency_key = $3) \
         ORDER BY created_order LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED"
    );
    let found: Option<(String, i64)> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(kinds)
        .bind(request.concurrency_key.as_ref().map(|key| key.as_str()))
        .fetch_optional(&mut *transaction)
        .await
        .map_err(storage)?;
    let Some((id, _)) = found else {
        return Ok(None);
    };
    let id = RunId::parse(&id)?;
    let (now, stored) = lookup::locked_record(&mut transaction, tenant, &id)
        .await?
        .ok_or_else(|| Error::storage(format!("claimed run {id} vanished")))?;
    let Decision::Apply(started) = transition::start(&stored, &request.lease, now)? else {
        return Err(Error::storage(format!("claimed run {id} was not queued")));
    };
    changes::apply(&mut transaction, &stored, &started, Operation::Start).await?;
    if let Some(key) = &request.idempotency_key {
        let epoch = started
            .after
            .run
            .lease
            .as_ref()
            .map_or(0, |lease| lease.epoch);
        let claimed = IdempotencyMark {
            run_id: id.clone(),
            seq: epoch,
        };
        access::mark(&mut transaction, tenant, key, &claimed).await?;
    }
    locks::commit(transaction).await?;
    read::with_children(&mut connection, started.after)
        .await
        .map(Some)
}
