//! Batches of appends on PostgreSQL.
//!
//! Appends from concurrent callers are handed to one [`AppendBatcher`],
//! which writes a batch in rounds, each one read and one statement, no
//! transaction around them:
//!
//! 1. read the batch's runs as committed, without locks, with the clock;
//! 2. decide each append in arrival order against its run as the batch's
//!    earlier appends left it (two appends to one run get consecutive
//!    seqs); an append the state machine refuses is answered at once and
//!    writes nothing, the others are unaffected;
//! 3. one autocommit statement ([`write_changes`]) locks the changed run
//!    rows in `(tenant, id)` order (`FOR NO KEY UPDATE`, which a create's
//!    foreign-key check on a parent does not wait for), updates each once,
//!    conditional on the version read, and inserts the events of the runs
//!    it updated, stamped from their tenants' counters
//!    (positions/stamping.rs). The answer carries the position; nothing is
//!    left for the sequencer.
//!
//! A run that changed since the read, or whose tenant has an event still
//! unstamped in the statement's snapshot, is not written: its appends stay
//! for the next round, after the sequencer has stamped their tenants. After
//! [`ROUNDS_MAX`] rounds they are answered with an error. The failpoints of
//! a single append (`append.after_run_row`, `append.after_events`) sit
//! before the write statement, which writes all or nothing.

use crate::failpoints;
use crate::store::postgres::batcher::{spawn_batches, submit};
use crate::store::postgres::error::storage;
use crate::store::postgres::held::Held;
use crate::store::postgres::lookup;
use crate::store::postgres::positions::{self, CHANNEL, Sequencer, counter_cte};
use crate::store::postgres::rows::{column, signed};
use runledger_core::requests::AppendEvent;
use runledger_core::transition::{self, Record, Transition};
use runledger_core::{Error, Operation, RunId, Tenant, Timestamp};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Append batches in flight at once. One: batches of a tenant take turns on
/// its position counter through their commit anyway, so a second batch in
/// flight only waits and splits the queue.
const BATCHES_IN_FLIGHT_MAX: usize = 1;

/// What an append answers: its seq and the position its event was stamped
/// with.
pub(crate) type Written = (u64, u64);

/// One caller's append, waiting for its batch.
struct Pending {
    tenant: Tenant,
    id: RunId,
    request: AppendEvent,
    answer: oneshot::Sender<Result<Written, Error>>,
}

/// The queue of appends waiting to be written.
pub(crate) struct AppendBatcher {
    queue: mpsc::Sender<Pending>,
}

impl AppendBatcher {
    /// Starts the batcher's task on `pool`; `sequencer` is told of the
    /// positions its batches stamp.
    pub(crate) fn spawn(pool: PgPool, sequencer: Arc<Sequencer>) -> AppendBatcher {
        let queue = spawn_batches(
            pool,
            sequencer,
            BATCHES_IN_FLIGHT_MAX,
            |pool, held, sequencer, batch| async move {
                write_batch(&pool, &held, &sequencer, batch).await
            },
        );
        AppendBatcher { queue }
    }

    /// Appends `request` to the run `id` in the next batch.
    pub(crate) async fn append(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: &AppendEvent,
    ) -> Result<Written, Error> {
        let pending = |answer| Pending {
            tenant: tenant.clone(),
            id: id.clone(),
            request: request.clone(),
            answer,
        };
        submit(&self.queue, pending, "the append").await
    }
}

/// An append the state machine accepted, waiting for its write.
struct Accepted {
    pending: Pending,
    seq: u64,
}

/// Rounds a batch gets before its appends whose runs kept changing under
/// them are answered with an error.
const ROUNDS_MAX: usize = 16;

/// Writes one batch and answers each of its callers: rounds of read, decide
/// and conditional write, until every append is answered.
async fn write_batch(pool: &PgPool, held: &Held, sequencer: &Sequencer, mut batch: Vec<Pending>) {
    for _ in 0..ROUNDS_MAX {
        match write_round(pool, held, &mut batch).await {
            Ok(stamped) => {
                if stamped {
                    sequencer.signal_local();
                }
            }
            Err(error) => return answer_all(batch, &error),
        }
        if batch.is_empty() {
            return;
        }
        // Left: runs that changed since the read, or of a tenant with events
        // the sequencer has yet to stamp. Those are stamped first: an event
        // committed before ours gets the lower position (positions/stamping.rs).
        let mut tenants: Vec<Tenant> = batch.iter().map(|p| p.tenant.clone()).collect();
        tenants.sort_unstable();
        tenants.dedup();
        for tenant in tenants {
            match positions::stamp(pool, &tenant).await {
                Ok(0) => {}
                Ok(_) => sequencer.signal_local(),
                Err(error) => return answer_all(batch, &error),
            }
        }
    }
    let error = Error::storage("the run kept changing under the append; try again");
    answer_all(batch, &error);
}

fn answer_all(batch: Vec<Pending>, error: &Error) {
    for pending in batch {
        let _ = pending.answer.send(Err(error.clone()));
    }
}

/// One round: reads the runs of `batch` as committed now, decides each
/// append against its run as the batch's earlier appends left it, and
/// writes the accepted ones in one statement conditional on the versions
/// read. Refused and written appends are answered and leave `batch`; the
/// appends of a run that changed since the read stay for the next round.
/// Answers whether any event was stamped.
async fn write_round(pool: &PgPool, held: &Held, batch: &mut Vec<Pending>) -> Result<bool, Error> {
    let mut connection = held.take(pool).await?;
    let keys: Vec<(&str, &str)> = batch
        .iter()
        .map(|pending| (pending.tenant.as_str(), pending.id.as_str()))
        .collect();
    let found = lookup::current_records(&mut connection, &keys).await?;
    // Each run as the batch's earlier appends left it, and its stored version.
    let mut runs: HashMap<(String, String), (u64, Record)> = HashMap::new();
    let mut now_of: HashMap<(String, String), Timestamp> = HashMap::new();
    for (now, record) in found {
        let key = (
            record.run.tenant.as_str().to_owned(),
            record.run.id.as_str().to_owned(),
        );
        now_of.insert(key.clone(), now);
        runs.insert(key, (record.run.version, record));
    }
    let mut changes: Vec<Transition> = Vec::new();
    let mut accepted = Vec::new();
    for pending in batch.drain(..) {
        let key = (
            pending.tenant.as_str().to_owned(),
            pending.id.as_str().to_owned(),
        );
        let decided = match runs.get_mut(&key) {
            None => Err(Error::RunNotFound {
                id: pending.id.clone(),
            }),
            Some((_, record)) => transition::check_version(record, pending.request.if_version)
                .and_then(|()| {
                    transition::append(
                        record,
                        &pending.request.event_type,
                        pending.request.data.clone(),
                        pending.request.lease_epoch,
                        now_of[&key],
                    )
                })
                .inspect(|change| *record = change.after.clone()),
        };
        match decided {
            Ok(change) => {
                let seq = change.after.run.last_seq;
                changes.push(change);
                accepted.push(Accepted { pending, seq });
            }
            // Refused: nothing of it is written; the others go on.
            Err(refusal) => {
                let _ = pending.answer.send(Err(refusal));
            }
        }
    }
    if changes.is_empty() {
        connection.keep();
        return Ok(false);
    }
    let changed: Vec<&(u64, Record)> = runs
        .values()
        .filter(|(version, record)| record.run.version != *version)
        .collect();
    // The write is one statement: a failure at either site writes nothing.
    let sites = failpoints::hit(Operation::Append.as_str(), "after_run_row")
        .and_then(|()| failpoints::hit(Operation::Append.as_str(), "after_events"));
    if let Err(error) = sites {
        batch.extend(accepted.into_iter().map(|accepted| accepted.pending));
        return Err(error);
    }
    let marks: Vec<Mark<'_>> = accepted
        .iter()
        .filter_map(|accepted| {
            let pending = &accepted.pending;
            let key = pending.request.idempotency_key.as_ref()?;
            Some((
                pending.tenant.as_str(),
                key.as_str(),
                pending.id.as_str(),
                signed(accepted.seq),
            ))
        })
        .collect();
    let written = match write_changes(&mut connection, &changed, &changes, &marks).await {
        Ok(written) => written,
        Err(error) => {
            batch.extend(accepted.into_iter().map(|accepted| accepted.pending));
            return Err(error);
        }
    };
    let stamped = !written.is_empty();
    for accepted in accepted {
        let key = (
            accepted.pending.tenant.as_str().to_owned(),
            accepted.pending.id.as_str().to_owned(),
            signed(accepted.seq),
        );
        match written.get(&key) {
            Some(&position) => {
                let answer = Ok((accepted.seq, position as u64));
                let _ = accepted.pending.answer.send(answer);
            }
            // Its run changed since the read: decided again next round.
            None => batch.push(accepted.pending),
        }
    }
    connection.keep();
    Ok(stamped)
}

/// An append's `Idempotency-Key` to mark with its event: `(tenant, key,
/// run id, seq)`.
type Mark<'a> = (&'a str, &'a str, &'a str, i64);

/// The written events of a round: `(tenant, run id, seq)` → position.
type WrittenEvents = HashMap<(String, String, i64), i64>;

/// One statement: each changed run row once, conditional on the version it
/// was read at, and the events of the runs it updated, stamped from their
/// tenants' counters (held to the commit, positions/stamping.rs) in the order of
/// `changes` and announced to the listening ledgers at commit. The run rows
/// are locked in `(tenant, id)` order (`FOR NO KEY UPDATE`), before the
/// counter: two batches cannot deadlock, and a create batch holding the
/// counter never waits for them (a child's foreign-key check takes `FOR KEY
/// SHARE`). Answers the events written; a run that changed since the read
/// is not updated and none of its events is written, nor is a run of a
/// tenant with an event still unstamped in the statement's snapshot (ours
/// would overtake that earlier commit, positions/stamping.rs). The
/// `Idempotency-Key` of each written append carrying one is marked with its
/// event in the same statement (`marks`), so a retry after a crash finds it.
async fn write_changes(
    connection: &mut PgConnection,
    changed: &[&(u64, Record)],
    changes: &[Transition],
    marks: &[Mark<'_>],
) -> Result<WrittenEvents, Error> {
    let runs = || changed.iter().copied();
    let events = || {
        changes
            .iter()
            .flat_map(|change| change.events.iter().map(move |event| (change, event)))
    };
    let sql = format!(
        "WITH u AS MATERIALIZED (
            SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
                $6::bigint[]) AS u(tenant, id, version, last_seq, updated_at, from_version)),
        locked AS (
            SELECT r.row, u.* FROM (SELECT * FROM u ORDER BY tenant, id) AS u,
            LATERAL (SELECT runs.ctid AS row FROM runs WHERE runs.tenant = u.tenant AND runs.id = u.id
                AND runs.version = u.from_version
                AND NOT EXISTS (SELECT 1 FROM events WHERE events.tenant = u.tenant
                    AND events.position IS NULL)
                FOR NO KEY UPDATE) AS r),
        changed AS (
            UPDATE runs SET version = locked.version, last_seq = locked.last_seq,
                updated_at = locked.updated_at
            FROM locked
            WHERE runs.ctid = locked.row AND runs.version = locked.from_version
            RETURNING runs.tenant, runs.id),
        input AS MATERIALIZED (
            SELECT e.*, row_number() OVER (PARTITION BY e.tenant ORDER BY e.n) AS k
            FROM unnest($7::text[], $8::text[], $9::bigint[], $10::text[], $11::text[], $12::bigint[])
                WITH ORDINALITY AS e(tenant, run_id, seq, type, data, at, n)
            JOIN changed ON changed.tenant = e.tenant AND changed.id = e.run_id),
        marked AS (
            UPDATE idempotency_keys AS k SET mark_run = m.run_id, mark_seq = m.seq
            FROM unnest($14::text[], $15::text[], $16::text[], $17::bigint[]) AS m(tenant, key, run_id, seq)
            JOIN changed ON changed.tenant = m.tenant AND changed.id = m.run_id
            WHERE k.tenant = m.tenant AND k.key = m.key AND k.state = 'in_flight'),
        {counter}
        INSERT INTO events (tenant, run_id, seq, type, data, at, position)
        SELECT input.tenant, input.run_id, input.seq, input.type, input.data, input.at, counter.base + input.k
        FROM input JOIN counter ON counter.tenant = input.tenant
        ORDER BY input.n
        RETURNING tenant, run_id, seq, position",
        counter = counter_cte("input", "$13"),
    );
    let written = sqlx::query(AssertSqlSafe(sql))
        .bind(column(runs(), |(_, r)| r.run.tenant.as_str()))
        .bind(column(runs(), |(_, r)| r.run.id.as_str()))
        .bind(column(runs(), |(_, r)| signed(r.run.version)))
        .bind(column(runs(), |(_, r)| signed(r.run.last_seq)))
        .bind(column(runs(), |(_, r)| r.run.updated_at.unix_ms()))
        .bind(column(runs(), |(from, _)| signed(*from)))
        .bind(column(events(), |(c, _)| c.after.run.tenant.as_str()))
        .bind(column(events(), |(c, _)| c.after.run.id.as_str()))
        .bind(column(events(), |(_, e)| signed(e.seq)))
        .bind(column(events(), |(_, e)| e.event_type.as_str()))
        .bind(column(events(), |(_, e)| e.data.to_string()))
        .bind(column(events(), |(c, _)| c.after.run.updated_at.unix_ms()))
        .bind(CHANNEL)
        .bind(column(marks.iter(), |m| m.0))
        .bind(column(marks.iter(), |m| m.1))
        .bind(column(marks.iter(), |m| m.2))
        .bind(column(marks.iter(), |m| m.3))
        .fetch_all(&mut *connection)
        .await
        .map_err(storage)?;
    let mut events = HashMap::new();
    for row in &written {
        let key = (
            row.try_get(0).map_err(storage)?,
            row.try_get(1).map_err(storage)?,
            row.try_get(2).map_err(storage)?,
        );
        events.insert(key, row.try_get(3).map_err(storage)?);
    }
    Ok(events)
}
