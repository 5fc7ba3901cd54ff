//! `claim` on PostgreSQL (SPEC `POST /v1/runs/claim`), batched: concurrent
//! claims are handed to one [`ClaimBatcher`], which takes whatever queued
//! and claims for each group of claims with the same filters in one
//! transaction:
//!
//! 1. one statement takes the oldest queued runs matching the filters, as
//!    many as there are claims, with `FOR NO KEY UPDATE SKIP LOCKED` — a run
//!    another transaction is taking is skipped, not waited for — and reads
//!    them as locked, with the database clock;
//! 2. the core's state machine starts each run for its claim, exactly as
//!    `start` does (claims in arrival order get runs oldest first);
//! 3. one statement updates the run rows (conditional on the versions
//!    read), inserts their `started` events — stamped from the tenant's
//!    counter when no event of the tenant is waiting for the sequencer,
//!    else unstamped for it — and marks the `Idempotency-Key` of each claim
//!    carrying one with the run and epoch it took;
//! 4. commit (the children of the claimed runs were counted by the first
//!    statement: a claim changes none).
//!
//! Two claims never get one run: the row locks are held to the commit, and
//! each start is decided on the row as locked. A claim left without a run
//! (fewer queued than claims) is answered `None`.

use super::batcher::{spawn_batches, submit};
use super::error::storage;
use super::held::Held;
use super::locks;
use super::lookup;
use super::positions::{CHANNEL, Sequencer, counter_cte};
use super::rows::{self, NOW_MS, column, signed};
use crate::access::IdempotencyMark;
use crate::failpoints;
use crate::store::schema::RUN_COLUMNS;
use runledger_core::requests::ClaimRun;
use runledger_core::transition::{self, Decision, Record, Transition};
use runledger_core::{ConcurrencyKey, Error, Kind, Operation, Run, Tenant, Timestamp};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Row};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Claim batches in flight at once: a batch takes the next runs (`SKIP
/// LOCKED`) while the others decide and commit.
const BATCHES_IN_FLIGHT_MAX: usize = 4;

/// One caller's claim, waiting for its batch.
struct Pending {
    tenant: Tenant,
    request: ClaimRun,
    answer: oneshot::Sender<Result<Option<Run>, Error>>,
}

impl Pending {
    /// What claims share a transaction: the same tenant and filters.
    fn filters(&self) -> (&Tenant, &[Kind], Option<&ConcurrencyKey>) {
        (
            &self.tenant,
            &self.request.kinds,
            self.request.concurrency_key.as_ref(),
        )
    }
}

/// The queue of claims waiting to be written.
pub(crate) struct ClaimBatcher {
    queue: mpsc::Sender<Pending>,
}

impl ClaimBatcher {
    /// Starts the batcher's task on `pool`; `sequencer` is asked to stamp
    /// the `started` events its batches write.
    pub(crate) fn spawn(pool: PgPool, sequencer: Arc<Sequencer>) -> ClaimBatcher {
        let queue = spawn_batches(
            pool,
            sequencer,
            BATCHES_IN_FLIGHT_MAX,
            |pool, held, sequencer, batch| async move {
                write_batch(&pool, &held, &sequencer, batch).await;
            },
        );
        ClaimBatcher { queue }
    }

    /// Claims the oldest queued run matching `request` in the next batch;
    /// `None` when none is queued (or every matching one is being taken).
    pub(crate) async fn claim(
        &self,
        tenant: &Tenant,
        request: &ClaimRun,
    ) -> Result<Option<Run>, Error> {
        let pending = |answer| Pending {
            tenant: tenant.clone(),
            request: request.clone(),
            answer,
        };
        submit(&self.queue, pending, "the claim").await
    }
}

/// Claims for each group of `batch` with the same filters, one transaction
/// per group, and answers every caller.
async fn write_batch(pool: &PgPool, held: &Held, sequencer: &Sequencer, mut batch: Vec<Pending>) {
    while !batch.is_empty() {
        let (group, rest): (Vec<Pending>, Vec<Pending>) = {
            let first = &batch[0];
            let filters = (
                first.tenant.clone(),
                first.request.kinds.clone(),
                first.request.concurrency_key.clone(),
            );
            batch.into_iter().partition(|pending| {
                pending.filters() == (&filters.0, &filters.1[..], filters.2.as_ref())
            })
        };
        batch = rest;
        let tenant = group[0].tenant.clone();
        let mut connection = match held.take(pool).await {
            Ok(connection) => connection,
            Err(error) => {
                answer_all(group, &error);
                continue;
            }
        };
        let mut attempt = 0;
        let outcome = loop {
            match claim_group(&mut connection, &group).await {
                Err(Error::Storage {
                    kind: runledger_core::StorageKind::Retryable,
                    ..
                }) if attempt < CLAIM_RETRIES_MAX => attempt += 1,
                outcome => break outcome,
            }
        };
        match outcome {
            Ok((runs, stamped)) => {
                // Stamped in the claim's own statement, or left to the
                // sequencer (nothing to do when no run was claimed).
                match (runs.is_empty(), stamped) {
                    (true, _) => {}
                    (false, true) => sequencer.signal_local(),
                    (false, false) => sequencer.request(&tenant),
                }
                let mut runs = runs.into_iter();
                for pending in group {
                    connection.answer(pending.answer, Ok(runs.next()));
                }
                connection.keep();
            }
            Err(error) => {
                for pending in group {
                    connection.answer(pending.answer, Err(error.clone()));
                }
            }
        }
    }
}

/// Times a group's transaction is run again after a deadlock or a
/// serialization failure.
const CLAIM_RETRIES_MAX: usize = 3;

fn answer_all(batch: Vec<Pending>, error: &Error) {
    for pending in batch {
        let _ = pending.answer.send(Err(error.clone()));
    }
}

/// One transaction: takes and starts up to `group.len()` runs matching the
/// group's filters, in the group's order; answers the runs started and
/// whether their events were stamped (nothing to stamp counts as stamped).
async fn claim_group(
    connection: &mut PgConnection,
    group: &[Pending],
) -> Result<(Vec<Run>, bool), Error> {
    let first = &group[0];
    let mut transaction = connection.begin().await.map_err(storage)?;
    let kinds: Option<Vec<&str>> = (!first.request.kinds.is_empty()).then(|| {
        first
            .request
            .kinds
            .iter()
            .map(|kind| kind.as_str())
            .collect()
    });
    let sql = format!(
        "WITH picked AS (SELECT {RUN_COLUMNS}, created_order, {NOW_MS} AS now FROM runs \
             WHERE tenant COLLATE \"C\" = $1 AND state = 'queued' \
             AND ($2::text[] IS NULL OR kind = ANY($2)) \
             AND ($3::text IS NULL OR concurrency_key = $3) \
             ORDER BY created_order LIMIT $4 FOR NO KEY UPDATE SKIP LOCKED) \
         SELECT picked.now, {RUN_COLUMNS}, k.states, k.counts FROM picked {children} ON true \
         ORDER BY picked.created_order",
        children = lookup::children_of("picked.tenant", "picked.id"),
    );
    let found = sqlx::query(AssertSqlSafe(sql))
        .bind(first.tenant.as_str())
        .bind(kinds)
        .bind(
            first
                .request
                .concurrency_key
                .as_ref()
                .map(|key| key.as_str()),
        )
        .bind(i64::try_from(group.len()).map_err(Error::storage)?)
        .fetch_all(&mut *transaction)
        .await
        .map_err(storage)?;
    let mut started = Vec::with_capacity(found.len());
    for (pending, row) in group.iter().zip(&found) {
        let now = Timestamp::from_unix_ms(row.try_get(0).map_err(storage)?);
        let mut stored = rows::record_at(row, 1)?;
        stored.run.children = lookup::children_before(row, row.len())?;
        let Decision::Apply(change) = transition::start(&stored, &pending.request.lease, now)?
        else {
            return Err(Error::storage(format!(
                "claimed run {} was not queued",
                stored.run.id
            )));
        };
        started.push((pending, stored, change));
    }
    if started.is_empty() {
        drop(transaction);
        return Ok((Vec::new(), true));
    }
    failpoints::hit(Operation::Start.as_str(), "after_run_row")?;
    failpoints::hit(Operation::Start.as_str(), "after_events")?;
    let stamped = write_starts(&mut transaction, &started).await?;
    locks::commit(transaction).await?;
    let runs = started
        .into_iter()
        .map(|(_, stored, change)| {
            let mut run = change.after.run;
            // A claim changes no child: the counts read with the run hold.
            run.children = stored.run.children;
            run
        })
        .collect();
    Ok((runs, stamped))
}

/// One statement: each started run's row (conditional on the version
/// read, which the row lock keeps current), its events — stamped from the
/// tenant's counter when the statement's snapshot shows none of the
/// tenant's events unstamped (positions/stamping.rs; the counter row is
/// then held to the commit), else unstamped for the sequencer — and the
/// `Idempotency-Key` marks of the claims that carry one. Answers whether
/// the events were stamped.
async fn write_starts(
    connection: &mut PgConnection,
    started: &[(&Pending, Record, Transition)],
) -> Result<bool, Error> {
    let runs = || {
        started
            .iter()
            .map(|(_, stored, change)| (stored, &change.after))
    };
    let events = || {
        started
            .iter()
            .flat_map(|(_, _, change)| change.events.iter().map(move |event| (change, event)))
    };
    let marks = || {
        started.iter().filter_map(|(pending, _, change)| {
            let key = pending.request.idempotency_key.as_ref()?;
            let lease = IdempotencyMark {
                run_id: change.after.run.id.clone(),
                seq: change.after.epoch,
            };
            Some((key, lease))
        })
    };
    let sql = format!(
        "WITH u AS MATERIALIZED (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
                $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],
                $12::bigint[])
            AS u(tenant, id, state, version, last_seq, lease_owner, lease_epoch, lease_expires_at,
                lease_ttl_ms, started_at, updated_at, from_version)),
        changed AS (
            UPDATE runs SET state = u.state, version = u.version, last_seq = u.last_seq,
                lease_owner = u.lease_owner, lease_epoch = u.lease_epoch,
                lease_expires_at = u.lease_expires_at, lease_ttl_ms = u.lease_ttl_ms,
                started_at = u.started_at, updated_at = u.updated_at
            FROM u WHERE runs.tenant = u.tenant AND runs.id = u.id AND runs.version = u.from_version
            RETURNING runs.id),
        input AS MATERIALIZED (
            SELECT e.*, row_number() OVER (PARTITION BY e.tenant ORDER BY e.n) AS k
            FROM unnest($13::text[], $14::text[], $15::bigint[], $16::text[], $17::text[],
                $18::bigint[]) WITH ORDINALITY AS e(tenant, run_id, seq, type, data, at, n)),
        settled AS (
            SELECT NOT EXISTS (SELECT 1 FROM events WHERE events.tenant = ANY($1::text[])
                AND events.position IS NULL) AS ok),
        stampable AS (SELECT input.* FROM input WHERE (SELECT ok FROM settled)),
        {counter},
        inserted AS (
            INSERT INTO events (tenant, run_id, seq, type, data, at, position)
            SELECT input.tenant, input.run_id, input.seq, input.type, input.data, input.at,
                counter.base + input.k
            FROM input LEFT JOIN counter ON counter.tenant = input.tenant
            ORDER BY input.n
            RETURNING position),
        marked AS (
            UPDATE idempotency_keys AS k SET mark_run = m.run_id, mark_seq = m.seq
            FROM unnest($19::text[], $20::text[], $21::text[], $22::bigint[]) AS m(tenant, key, run_id, seq)
            WHERE k.tenant = m.tenant AND k.key = m.key AND k.state = 'in_flight')
        SELECT (SELECT COUNT(*) FROM changed),
            (SELECT bool_and(position IS NOT NULL) FROM inserted)",
        counter = counter_cte("stampable", "$23"),
    );
    let updated = sqlx::query(AssertSqlSafe(sql))
        .bind(column(runs(), |(_, after)| after.run.tenant.as_str()))
        .bind(column(runs(), |(_, after)| after.run.id.as_str()))
        .bind(column(runs(), |(_, after)| after.run.state.as_str()))
        .bind(column(runs(), |(_, after)| signed(after.run.version)))
        .bind(column(runs(), |(_, after)| signed(after.run.last_seq)))
        .bind(column(runs(), |(_, after)| {
            after.run.lease.as_ref().map(|lease| lease.owner.as_str())
        }))
        .bind(column(runs(), |(_, after)| signed(after.epoch)))
        .bind(column(runs(), |(_, after)| {
            after
                .run
                .lease
                .as_ref()
                .map(|lease| lease.expires_at.unix_ms())
        }))
        .bind(column(runs(), |(_, after)| signed(after.lease_ttl_ms)))
        .bind(column(runs(), |(_, after)| {
            after.run.started_at.map(Timestamp::unix_ms)
        }))
        .bind(column(runs(), |(_, after)| after.run.updated_at.unix_ms()))
        .bind(column(runs(), |(stored, _)| signed(stored.run.version)))
        .bind(column(events(), |(change, _)| {
            change.after.run.tenant.as_str()
        }))
        .bind(column(events(), |(change, _)| change.after.run.id.as_str()))
        .bind(column(events(), |(_, event)| signed(event.seq)))
        .bind(column(events(), |(_, event)| event.event_type.as_str()))
        .bind(column(events(), |(_, event)| event.data.to_string()))
        .bind(column(events(), |(change, _)| {
            change.after.run.updated_at.unix_ms()
        }))
        .bind(column(marks(), |_| started[0].0.tenant.as_str()))
        .bind(column(marks(), |(key, _)| key.as_str()))
        .bind(column(marks(), |(_, lease)| {
            lease.run_id.as_str().to_owned()
        }))
        .bind(column(marks(), |(_, lease)| signed(lease.seq)))
        .bind(CHANNEL)
        .fetch_one(&mut *connection)
        .await
        .map_err(storage)?;
    let changed: i64 = updated.try_get(0).map_err(storage)?;
    assert_eq!(
        usize::try_from(changed).ok(),
        Some(started.len()),
        "the row locks keep the versions read current"
    );
    let stamped: Option<bool> = updated.try_get(1).map_err(storage)?;
    Ok(stamped.unwrap_or(false))
}
