//! `import_run` on PostgreSQL: one transaction writes the run row and its
//! events; the events are inserted unstamped and the sequencer gives them
//! their positions after the commit (positions/), as for any create it
//! stamps, so positions stay gap-free and in commit order.

use super::error::{retrying, storage};
use super::read;
use super::rows::signed;
use super::store::Store;
use crate::import::{History, ImportRun};
use crate::requests::Created;
use runledger_core::{Error, RunId, Segment, Tenant, Timestamp};
use sqlx::Connection;

impl Store {
    /// Writes the imported run with its history, or answers the existing
    /// one when it is the same run.
    pub(crate) async fn import_run(
        &self,
        tenant: &Tenant,
        request: ImportRun,
    ) -> Result<Created, Error> {
        let created = retrying(|| self.import_once(tenant, &request)).await?;
        if created.created {
            self.sequencer.request(tenant);
        }
        Ok(created)
    }

    async fn import_once(&self, tenant: &Tenant, request: &ImportRun) -> Result<Created, Error> {
        let mut connection = self.pool.acquire().await.map_err(storage)?;
        let now: i64 =
            sqlx::query_scalar("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint")
                .fetch_one(&mut *connection)
                .await
                .map_err(storage)?;
        let history = request.history(tenant, Timestamp::from_unix_ms(now))?;
        if let Some(existing) = read::run(&mut connection, tenant, &request.id).await? {
            return request.match_existing(existing, &history);
        }
        if let Some(parent_id) = &request.parent_id
            && read::record(&mut connection, tenant, parent_id)
                .await?
                .is_none()
        {
            return Err(Error::ParentNotFound {
                parent_id: parent_id.clone(),
            });
        }
        let mut transaction = connection.begin().await.map_err(storage)?;
        // History is recorded, not decided: the trigger that refuses a new
        // child of an ended parent lets this transaction through.
        sqlx::query("SET LOCAL runledger.importing = 'on'")
            .execute(&mut *transaction)
            .await
            .map_err(storage)?;
        let inserted = insert(&mut transaction, &history).await?;
        if !inserted {
            drop(transaction);
            // Another import of the same id committed first.
            return match read::run(&mut connection, tenant, &request.id).await? {
                Some(existing) => request.match_existing(existing, &history),
                None => Err(Error::storage("an imported run vanished")),
            };
        }
        transaction.commit().await.map_err(storage)?;
        Ok(Created {
            run: history.record.run,
            created: true,
        })
    }
}

/// Inserts the run row and its unstamped events; `false` when the id exists.
async fn insert(connection: &mut sqlx::PgConnection, history: &History) -> Result<bool, Error> {
    let record = &history.record;
    let run = &record.run;
    let inserted = sqlx::query(
        "INSERT INTO runs (tenant, id, kind, parent_id, key, state, attributes, result, error, \
         version, last_seq, lease_owner, lease_epoch, lease_expires_at, lease_ttl_ms, created_at, \
         updated_at, started_at, finished_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
         ON CONFLICT DO NOTHING",
    )
    .bind(run.tenant.as_str())
    .bind(run.id.as_str())
    .bind(run.kind.as_str())
    .bind(run.parent_id.as_ref().map(RunId::as_str))
    .bind(run.key.as_ref().map(Segment::as_str))
    .bind(run.state.as_str())
    .bind(run.attributes.to_string())
    .bind(run.result.as_ref().map(serde_json::Value::to_string))
    .bind(run.error.as_deref())
    .bind(signed(run.version))
    .bind(signed(run.last_seq))
    .bind(run.lease.as_ref().map(|lease| lease.owner.as_str()))
    .bind(signed(record.epoch))
    .bind(run.lease.as_ref().map(|lease| lease.expires_at.unix_ms()))
    .bind(signed(record.lease_ttl_ms))
    .bind(run.created_at.unix_ms())
    .bind(run.updated_at.unix_ms())
    .bind(run.started_at.map(Timestamp::unix_ms))
    .bind(run.finished_at.map(Timestamp::unix_ms))
    .execute(&mut *connection)
    .await
    .map_err(storage)?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    for (event, at) in &history.events {
        sqlx::query(
            "INSERT INTO events (tenant, run_id, seq, type, data, at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(run.tenant.as_str())
        .bind(run.id.as_str())
        .bind(signed(event.seq))
        .bind(&event.event_type)
        .bind(event.data.to_string())
        .bind(at.unix_ms())
        .execute(&mut *connection)
        .await
        .map_err(storage)?;
    }
    Ok(true)
}
