//! Cross-request batching of plain creates on PostgreSQL.
//!
//! A create without a concurrency group is a read (the database clock and
//! the run, if the id exists) and, for a new id, one `INSERT … ON CONFLICT
//! DO NOTHING` of the run row and its events. Callers that create at the
//! same time hand their creates to one [`CreateBatcher`], which does both
//! for up to [`BATCH_ITEMS_MAX`] of them in **one statement each**
//! (`unnest` arrays): two round trips and one commit (one WAL flush) for
//! the whole batch instead of two round trips and a commit each. Nothing is
//! waited for to fill a batch: a batch is whatever queued while the
//! previous ones were in flight, so a lone caller is written at once.
//!
//! Each caller gets exactly the answer its own create would have got: a
//! repeat is answered from the read and writes nothing; a new run is
//! inserted; an id that appeared between the read and the insert (another
//! process, or a second create of one id in the same batch, which is not
//! sent) is read again and compared. Rows are sorted by `(tenant, id)` so
//! that concurrent batches take their unique-index entries in one order and
//! cannot deadlock each other. When the batch insert fails as a whole (a
//! child whose parent does not exist fails its foreign key, and with it the
//! statement), every row is written again on its own, so only the caller at
//! fault gets the error.

use super::read;
use super::rows::signed;
use super::write::{finish_create, insert_run_with_events};
use crate::requests::{Created, ResolvedCreate};
use runledger_core::transition::{self, Transition};
use runledger_core::{ConcurrencyKey, Error, OnFull, RunState, Tenant, Timestamp};
use sqlx::{PgConnection, PgPool, Row};
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Most creates (or appends) written by one statement.
pub(super) const BATCH_ITEMS_MAX: usize = 256;
/// Batches in flight at once (each on its own pooled connection). Fewer
/// make bigger batches but wait longer; measured with 16 callers on 2
/// cores: 2 → 3,400 creates/s, 4 → 5,000/s, 8 → 3,400/s, 16 → 2,500/s.
const BATCHES_IN_FLIGHT_MAX: usize = 4;
/// Creates (or appends) waiting for a batch before callers wait to queue.
pub(super) const QUEUE_ITEMS_MAX: usize = 4096;

/// One caller's create, waiting for its batch.
struct Pending {
    tenant: Tenant,
    request: ResolvedCreate,
    answer: oneshot::Sender<Result<Created, Error>>,
}

/// A new run of the batch, built at its clock reading, to be inserted.
struct Insert {
    pending: Pending,
    created: Transition,
}

/// The queue of creates waiting to be written; dropped with the store,
/// which ends its task once the queue is empty.
pub(crate) struct CreateBatcher {
    queue: mpsc::Sender<Pending>,
}

impl CreateBatcher {
    /// Starts the batcher's task on `pool`.
    pub(crate) fn spawn(pool: PgPool) -> CreateBatcher {
        let (queue, waiting) = mpsc::channel(QUEUE_ITEMS_MAX);
        tokio::spawn(write_batches(
            pool,
            waiting,
            BATCHES_IN_FLIGHT_MAX,
            |pool, batch| async move { write_batch(&pool, batch).await },
        ));
        CreateBatcher { queue }
    }

    /// Creates the run of `request` (which has no concurrency group) in the
    /// next batch, or answers the existing one.
    pub(crate) async fn create(
        &self,
        tenant: &Tenant,
        request: &ResolvedCreate,
    ) -> Result<Created, Error> {
        debug_assert!(request.params.concurrency.is_none());
        let pending = |answer| Pending {
            tenant: tenant.clone(),
            request: request.clone(),
            answer,
        };
        submit(&self.queue, pending, "the create").await
    }
}

/// Queues one caller's item, built around the channel of its answer, and
/// waits for the answer. `what` names the operation in errors.
pub(super) async fn submit<T, R>(
    queue: &mpsc::Sender<T>,
    item: impl FnOnce(oneshot::Sender<Result<R, Error>>) -> T,
    what: &str,
) -> Result<R, Error> {
    let (answer, answered) = oneshot::channel();
    queue
        .send(item(answer))
        .await
        .map_err(|_| Error::storage("the ledger is closing"))?;
    answered.await.map_err(|_| {
        Error::storage(format!(
            "{what} was abandoned in its batch; whether it was written is unknown"
        ))
    })?
}

/// Takes whatever queued as one batch whenever one of `in_flight` slots is
/// free, and writes it with `write` (the
/// loop of every batcher of this backend: creates here, appends in
/// append_batch.rs).
pub(super) async fn write_batches<T, F, Fut>(
    pool: PgPool,
    mut waiting: mpsc::Receiver<T>,
    in_flight: usize,
    write: F,
) where
    T: Send + 'static,
    F: Fn(PgPool, Vec<T>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(in_flight));
    while let Some(first) = waiting.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < BATCH_ITEMS_MAX {
            match waiting.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let written = write(pool.clone(), batch);
        tokio::spawn(async move {
            written.await;
            drop(slot);
        });
    }
}

/// Answers every create of `batch`.
fn answer_all(batch: Vec<Pending>, error: &Error) {
    for pending in batch {
        let _ = pending.answer.send(Err(error.clone()));
    }
}

/// Reads, writes and answers one batch.
async fn write_batch(pool: &PgPool, batch: Vec<Pending>) {
    let mut connection = match pool.acquire().await {
        Ok(connection) => connection,
        Err(error) => return answer_all(batch, &super::write::storage(error)),
    };
    let found = {
        let keys: Vec<(&str, &str)> = batch.iter().map(pending_key).collect();
        read::now_and_runs(&mut connection, &keys).await
    };
    let found = match found {
        Ok(found) => found,
        Err(error) => return answer_all(batch, &error),
    };
    let mut inserts = Vec::new();
    for (pending, (now, existing)) in batch.into_iter().zip(found) {
        match existing {
            // A repeat: answered from the read, nothing written.
            Some(run) => {
                let _ = pending.answer.send(pending.request.match_existing(run));
            }
            None => {
                let request = &pending.request;
                let created = transition::create(
                    pending.tenant.clone(),
                    request.id.clone(),
                    request.params.clone(),
                    RunState::Queued,
                    request.start.as_ref(),
                    now,
                );
                inserts.push(Insert { pending, created });
            }
        }
    }
    if !inserts.is_empty() {
        write_inserts(&mut connection, inserts).await;
    }
}

/// Inserts the new runs of a batch in one statement and answers them.
async fn write_inserts(connection: &mut PgConnection, mut inserts: Vec<Insert>) {
    inserts.sort_by(|a, b| key(&a.created).cmp(&key(&b.created)));
    let (firsts, seconds): (Vec<Insert>, Vec<Insert>) = {
        let mut seen = HashSet::new();
        inserts.into_iter().partition(|insert| {
            let (tenant, id) = key(&insert.created);
            seen.insert((tenant.to_owned(), id.to_owned()))
        })
    };
    let written = match insert_batch(connection, &firsts).await {
        Ok(written) => written,
        Err(_) => {
            // One row spoilt the statement: each is written on its own, in
            // the same order, so each caller gets its own statement's answer.
            for insert in firsts.into_iter().chain(seconds) {
                let inserted = insert_run_with_events(connection, &insert.created).await;
                let answer = finish_create(
                    connection,
                    &insert.pending.request,
                    insert.created,
                    inserted,
                )
                .await;
                let _ = insert.pending.answer.send(answer);
            }
            return;
        }
    };
    let mut existing = Vec::new();
    for insert in firsts {
        let (tenant, id) = key(&insert.created);
        if written.contains(&(tenant.to_owned(), id.to_owned())) {
            let answer = Ok(Created {
                run: insert.created.after.run,
                created: true,
            });
            let _ = insert.pending.answer.send(answer);
        } else {
            existing.push(insert.pending);
        }
    }
    existing.extend(seconds.into_iter().map(|insert| insert.pending));
    if existing.is_empty() {
        return;
    }
    // Created by someone else since the read: compare with theirs.
    let found = {
        let keys: Vec<(&str, &str)> = existing.iter().map(pending_key).collect();
        read::now_and_runs(connection, &keys).await
    };
    match found {
        Ok(found) => {
            for (pending, (_, run)) in existing.into_iter().zip(found) {
                let answer = match run {
                    Some(run) => pending.request.match_existing(run),
                    None => Err(Error::storage("a conflicting run vanished")),
                };
                let _ = pending.answer.send(answer);
            }
        }
        Err(error) => answer_all(existing, &error),
    }
}

/// The `(tenant, id)` a pending create reads.
fn pending_key(pending: &Pending) -> (&str, &str) {
    (pending.tenant.as_str(), pending.request.id.as_str())
}

/// The identity a batch sorts and deduplicates by.
fn key(created: &Transition) -> (&str, &str) {
    let run = &created.after.run;
    (run.tenant.as_str(), run.id.as_str())
}

/// One statement: every run row of `batch` and their events; answers the
/// `(tenant, id)` of the rows written (the others exist already).
async fn insert_batch(
    connection: &mut PgConnection,
    batch: &[Insert],
) -> Result<HashSet<(String, String)>, sqlx::Error> {
    let sql = "WITH input AS (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::text[], $8::bigint[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[],
                $14::bigint[], $15::text[], $16::bigint[], $17::bigint[], $18::bigint[], $19::bigint[],
                $20::bigint[], $21::bigint[], $22::bigint[])
            WITH ORDINALITY AS i(tenant, id, kind, parent_id, key, state, concurrency_key, concurrency_limit,
                concurrency_on_full, attributes, result, error, version, last_seq, lease_owner, lease_epoch,
                lease_expires_at, lease_ttl_ms, created_at, updated_at, started_at, finished_at, n)),
        inserted AS (
            INSERT INTO runs (tenant, id, kind, parent_id, key, state, concurrency_key, concurrency_limit,
                concurrency_on_full, attributes, result, error, version, last_seq, lease_owner, lease_epoch,
                lease_expires_at, lease_ttl_ms, created_at, updated_at, started_at, finished_at)
            SELECT tenant, id, kind, parent_id, key, state, concurrency_key, concurrency_limit,
                concurrency_on_full, attributes, result, error, version, last_seq, lease_owner, lease_epoch,
                lease_expires_at, lease_ttl_ms, created_at, updated_at, started_at, finished_at
            FROM input ORDER BY n
            ON CONFLICT DO NOTHING
            RETURNING tenant, id, created_at),
        inserted_events AS (
            INSERT INTO events (tenant, run_id, seq, type, data, at)
            SELECT inserted.tenant, inserted.id, e.seq, e.type, e.data, inserted.created_at
            FROM unnest($23::bigint[], $24::bigint[], $25::text[], $26::text[]) AS e(n, seq, type, data)
            JOIN input ON input.n = e.n
            JOIN inserted ON inserted.tenant = input.tenant AND inserted.id = input.id)
        SELECT tenant, id FROM inserted";
    let runs: Vec<_> = batch.iter().map(|insert| &insert.created.after).collect();
    let column = |f: &dyn Fn(&runledger_core::transition::Record) -> Option<String>| {
        runs.iter().map(|record| f(record)).collect::<Vec<_>>()
    };
    let number = |f: &dyn Fn(&runledger_core::transition::Record) -> Option<i64>| {
        runs.iter().map(|record| f(record)).collect::<Vec<_>>()
    };
    let mut event_runs = Vec::new();
    let mut seqs = Vec::new();
    let mut types = Vec::new();
    let mut datas = Vec::new();
    for (index, insert) in batch.iter().enumerate() {
        for event in &insert.created.events {
            event_runs.push(signed(index as u64 + 1));
            seqs.push(signed(event.seq));
            types.push(event.event_type.clone());
            datas.push(event.data.to_string());
        }
    }
    let rows = sqlx::query(sql)
        .bind(column(&|r| Some(r.run.tenant.as_str().to_owned())))
        .bind(column(&|r| Some(r.run.id.as_str().to_owned())))
        .bind(column(&|r| Some(r.run.kind.as_str().to_owned())))
        .bind(column(&|r| {
            r.run.parent_id.as_ref().map(|id| id.as_str().to_owned())
        }))
        .bind(column(&|r| {
            r.run.key.as_ref().map(|key| key.as_str().to_owned())
        }))
        .bind(column(&|r| Some(r.run.state.as_str().to_owned())))
        .bind(column(&|r| {
            r.run
                .concurrency_key
                .as_ref()
                .map(|key| ConcurrencyKey::as_str(key).to_owned())
        }))
        .bind(number(&|r| r.run.concurrency_limit.map(i64::from)))
        .bind(column(&|r| {
            r.run
                .concurrency_on_full
                .map(|on_full| OnFull::as_str(on_full).to_owned())
        }))
        .bind(column(&|r| Some(r.run.attributes.to_string())))
        .bind(column(&|r| {
            r.run.result.as_ref().map(serde_json::Value::to_string)
        }))
        .bind(column(&|r| r.run.error.clone()))
        .bind(number(&|r| Some(signed(r.run.version))))
        .bind(number(&|r| Some(signed(r.run.last_seq))))
        .bind(column(&|r| {
            r.run
                .lease
                .as_ref()
                .map(|lease| lease.owner.as_str().to_owned())
        }))
        .bind(number(&|r| Some(signed(r.epoch))))
        .bind(number(&|r| {
            r.run.lease.as_ref().map(|lease| lease.expires_at.unix_ms())
        }))
        .bind(number(&|r| Some(signed(r.lease_ttl_ms))))
        .bind(number(&|r| Some(r.run.created_at.unix_ms())))
        .bind(number(&|r| Some(r.run.updated_at.unix_ms())))
        .bind(number(&|r| r.run.started_at.map(Timestamp::unix_ms)))
        .bind(number(&|r| r.run.finished_at.map(Timestamp::unix_ms)))
        .bind(event_runs)
        .bind(seqs)
        .bind(types)
        .bind(datas)
        .fetch_all(&mut *connection)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}
