//! Batches of plain creates (no concurrency group) on PostgreSQL.
//!
//! Callers that create runs without a group at the same time hand their
//! creates to one batcher ([`spawn`]), which writes up to
//! `BATCH_ITEMS_MAX` (batcher.rs) of them with **one statement** (`unnest` arrays, one
//! transaction, one WAL flush): it reads the clock and the runs that exist,
//! inserts the new ones (`ON CONFLICT DO NOTHING`) and their `created`
//! events, stamped (positions/stamping.rs). When its snapshot shows an
//! unstamped event of its tenants it writes nothing, has the sequencer
//! stamp those tenants, and is sent again.
//!
//! Each caller gets exactly the answer its own create would have got: a
//! repeat is answered from the statement's read and writes nothing; a new
//! run is inserted; an id that appeared between the read and the insert
//! (another process, or a second create of one id in the same batch, which
//! is not sent) is read again and compared. Rows are sorted by `(tenant,
//! id)` so that concurrent batches take their unique-index entries in one
//! order and cannot deadlock each other. When the statement fails as a
//! whole (a child whose parent does not exist fails its foreign key, and
//! with it the statement), every create is sent again on its own, so only
//! the caller at fault gets the error. A create that also starts its run
//! (its `started` event holds the lease's expiry, a time) is written alone
//! (alone.rs) and stamped by the sequencer.

use super::alone::create_starting;
use super::queue::{CreateBatcher, Pending, answer_all};
use crate::requests::Created;
use crate::store::postgres::error::{constraint, storage};
use crate::store::postgres::held::{Held, Lease};
use crate::store::postgres::lookup;
use crate::store::postgres::positions::{self, CHANNEL, Sequencer, created_events_ctes};
use crate::store::postgres::rows::NOW_MS;
use runledger_core::transition::{self, Transition};
use runledger_core::{Error, Run, RunState, Tenant, Timestamp};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row};
use std::collections::HashSet;
use std::sync::Arc;

/// Batches in flight at once (each on its own pooled connection). Batches
/// of one tenant take turns on its position counter anyway, so one in
/// flight makes the biggest batches.
const BATCHES_IN_FLIGHT_MAX: usize = 1;

/// Starts the plain creates' batcher on `pool`; `sequencer` stamps the
/// events of creates written alone and is told of the positions batches
/// stamp.
pub(crate) fn spawn(pool: PgPool, sequencer: Arc<Sequencer>) -> CreateBatcher {
    CreateBatcher::writing_with(
        pool,
        sequencer,
        BATCHES_IN_FLIGHT_MAX,
        |pool, held, sequencer, batch| async move { write_batch(&pool, &held, &sequencer, batch).await },
    )
}

/// What the batch statement found for one create.
enum Outcome {
    /// The run existed already (a repeat, or a conflict).
    Existing(Box<Run>),
    /// The run was inserted, stamped, at this clock reading.
    Inserted(Timestamp),
    /// Neither: another transaction inserted it after the statement's
    /// snapshot; read again.
    Raced,
}

/// Writes and answers one batch.
async fn write_batch(pool: &PgPool, held: &Held, sequencer: &Sequencer, batch: Vec<Pending>) {
    let mut connection = match held.take(pool).await {
        Ok(connection) => connection,
        Err(error) => return answer_all(batch, &error),
    };
    let (starting, mut plain): (Vec<Pending>, Vec<Pending>) = batch
        .into_iter()
        .partition(|pending| pending.request.start.is_some());
    for pending in starting {
        let answer = create_starting(&mut connection, &pending).await;
        if matches!(answer, Ok(Created { created: true, .. })) {
            sequencer.request(&pending.tenant);
        }
        connection.answer(pending.answer, answer);
    }
    if plain.is_empty() {
        return connection.keep();
    }
    plain.sort_by(|a, b| a.key().cmp(&b.key()));
    let (firsts, seconds): (Vec<Pending>, Vec<Pending>) = {
        let mut seen = HashSet::new();
        plain.into_iter().partition(|pending| {
            let (tenant, id) = pending.key();
            seen.insert((tenant.to_owned(), id.to_owned()))
        })
    };
    let mut read_again = seconds;
    let mut stamped = false;
    for (pending, outcome) in write_plain(&mut connection, pool, sequencer, firsts).await {
        let answer = match outcome {
            Ok(Outcome::Existing(run)) => pending.request.match_existing(*run),
            Ok(Outcome::Inserted(now)) => {
                stamped = true;
                Ok(Created {
                    run: new_run(&pending, now).after.run,
                    created: true,
                })
            }
            Ok(Outcome::Raced) => {
                read_again.push(pending);
                continue;
            }
            Err(error) => Err(error),
        };
        connection.answer(pending.answer, answer);
    }
    if stamped {
        sequencer.signal_local();
    }
    if !read_again.is_empty() {
        compare_with_stored(&mut connection, read_again).await;
    }
    connection.keep();
}

/// Sends `creates` (sorted, one per id) as one statement; when it fails as
/// a whole, sends each alone, so that each gets its own statement's answer.
async fn write_plain(
    connection: &mut PgConnection,
    pool: &PgPool,
    sequencer: &Sequencer,
    creates: Vec<Pending>,
) -> Vec<(Pending, Result<Outcome, Error>)> {
    match create_settled(connection, pool, sequencer, &creates).await {
        Ok(outcomes) => creates
            .into_iter()
            .zip(outcomes.into_iter().map(Ok))
            .collect(),
        Err(error) if creates.len() == 1 => {
            let error = refusal(&creates[0], error);
            creates
                .into_iter()
                .map(|pending| (pending, Err(error.clone())))
                .collect()
        }
        Err(_) => {
            let mut answers = Vec::new();
            for pending in creates {
                let alone = std::slice::from_ref(&pending);
                let outcome = create_settled(connection, pool, sequencer, alone)
                    .await
                    .map(|mut outcomes| outcomes.remove(0))
                    .map_err(|error| refusal(&pending, error));
                answers.push((pending, outcome));
            }
            answers
        }
    }
}

/// Rounds a batch gets to find its tenants without unstamped events.
const ROUNDS_MAX: usize = 64;
/// Rounds tried back to back before waiting between rounds: a tenant whose
/// other writers keep committing unstamped events (a finish that waited for
/// a parent's `FOR SHARE` lock, say) gets time to settle instead of the
/// create giving up after a burst.
const ROUNDS_AT_ONCE: usize = 8;
/// The longest wait between two rounds.
const ROUND_WAIT_MS_MAX: u64 = 50;

/// [`create_plain`] until it finds its tenants' earlier events stamped,
/// having the sequencer stamp them between tries.
async fn create_settled(
    connection: &mut PgConnection,
    pool: &PgPool,
    sequencer: &Sequencer,
    creates: &[Pending],
) -> Result<Vec<Outcome>, Error> {
    for round in 0..ROUNDS_MAX {
        if let Some(outcomes) = create_plain(connection, creates).await? {
            return Ok(outcomes);
        }
        if round >= ROUNDS_AT_ONCE {
            let doubled = 1u64 << (round - ROUNDS_AT_ONCE).min(6);
            let wait = doubled.min(ROUND_WAIT_MS_MAX);
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
        }
        let mut tenants: Vec<&Tenant> = creates.iter().map(|pending| &pending.tenant).collect();
        tenants.dedup();
        for tenant in tenants {
            let stamped = positions::stamp(pool, tenant).await?;
            if stamped > 0 {
                sequencer.signal_local();
            }
        }
    }
    Err(Error::storage(
        "other writes kept leaving events to stamp; try again",
    ))
}

/// The caller's error for a statement that wrote only its create and failed.
fn refusal(pending: &Pending, error: Error) -> Error {
    let parent_missing = constraint(&error) == Some("runs_parent_exists");
    match (&pending.request.params.parent_id, parent_missing) {
        (Some(parent_id), true) => Error::ParentNotFound {
            parent_id: parent_id.clone(),
        },
        _ => error,
    }
}

/// Reads the runs of creates whose id was taken by someone else and
/// answers each by comparing with it.
async fn compare_with_stored(connection: &mut Lease, creates: Vec<Pending>) {
    let found = {
        let keys: Vec<(&str, &str)> = creates.iter().map(Pending::key).collect();
        lookup::now_and_runs(connection, &keys).await
    };
    match found {
        Ok(found) => {
            for (pending, (_, run)) in creates.into_iter().zip(found) {
                let answer = match run {
                    Some(run) => pending.request.match_existing(run),
                    None => Err(Error::storage("a conflicting run vanished")),
                };
                connection.answer(pending.answer, answer);
            }
        }
        Err(error) => {
            for pending in creates {
                connection.answer(pending.answer, Err(error.clone()));
            }
        }
    }
}

/// The new run of a plain create (queued, no lease) at `now`.
fn new_run(pending: &Pending, now: Timestamp) -> Transition {
    let request = &pending.request;
    debug_assert!(request.start.is_none() && request.params.concurrency.is_none());
    transition::create(
        pending.tenant.clone(),
        request.id.clone(),
        request.params.clone(),
        RunState::Queued,
        None,
        now,
    )
}

/// One statement for `creates` (sorted by `(tenant, id)`, one per id):
/// reads the clock and the runs that exist, inserts the others with their
/// `created` events stamped from the tenants' counters, and tells the
/// listening ledgers (at commit). Answers one outcome per create, in order;
/// or `None`, having written nothing, when the snapshot shows an unstamped
/// event of one of the tenants.
///
/// The columns a plain create's row and event take from the request are
/// bound; the times are the statement's clock reading; every other column
/// is its table default (no group, no lease, no result). A new run's
/// version and last event `seq` are 1: one `created` event.
async fn create_plain(
    connection: &mut PgConnection,
    creates: &[Pending],
) -> Result<Option<Vec<Outcome>>, Error> {
    let sql = format!(
        "WITH clock AS MATERIALIZED (SELECT {NOW_MS} AS now),
        input AS MATERIALIZED (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                $6::text[], $7::text[], $8::text[], $9::text[])
            WITH ORDINALITY AS i(tenant, id, kind, parent_id, key, state, attributes, type, data, n)),
        settled AS MATERIALIZED (
            SELECT NOT EXISTS (SELECT 1 FROM events
                WHERE events.tenant = ANY ($1::text[]) AND events.position IS NULL) AS ok),
        found AS MATERIALIZED (
            SELECT r.*, k.states, k.counts, input.n AS n
            FROM input {run_and_children}),
        inserted AS (
            INSERT INTO runs (tenant, id, kind, parent_id, key, state, attributes, version, last_seq,
                created_at, updated_at)
            SELECT input.tenant, input.id, input.kind, input.parent_id, input.key, input.state,
                input.attributes, 1, 1, clock.now, clock.now
            FROM input JOIN found ON found.n = input.n AND found.id IS NULL CROSS JOIN clock
            WHERE (SELECT ok FROM settled)
            ORDER BY input.n
            ON CONFLICT DO NOTHING
            RETURNING tenant, id),
        {created_events}
        SELECT clock.now, found.*, numbered.id IS NOT NULL AS inserted, settled.ok
        FROM found CROSS JOIN clock CROSS JOIN settled
        JOIN input ON input.n = found.n
        LEFT JOIN numbered ON numbered.tenant = input.tenant AND numbered.id = input.id
        ORDER BY found.n",
        run_and_children = lookup::run_and_children("input.tenant", "input.id"),
        created_events = created_events_ctes("$10"),
    );
    let mut columns: [Vec<Option<String>>; 9] = Default::default();
    for pending in creates {
        let created = new_run(pending, Timestamp::from_unix_ms(0));
        debug_assert!(created.after.run.version == 1 && created.events.len() == 1);
        let (run, event) = (&created.after.run, &created.events[0]);
        let row = [
            Some(run.tenant.as_str().to_owned()),
            Some(run.id.as_str().to_owned()),
            Some(run.kind.as_str().to_owned()),
            run.parent_id.as_ref().map(|id| id.as_str().to_owned()),
            run.key.as_ref().map(|key| key.as_str().to_owned()),
            Some(run.state.as_str().to_owned()),
            Some(run.attributes.to_string()),
            Some(event.event_type.clone()),
            Some(event.data.to_string()),
        ];
        for (column, value) in columns.iter_mut().zip(row) {
            column.push(value);
        }
    }
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for column in columns {
        query = query.bind(column);
    }
    let rows = query
        .bind(CHANNEL)
        .fetch_all(&mut *connection)
        .await
        .map_err(storage)?;
    if let Some(row) = rows.first()
        && !row.try_get::<bool, _>(row.len() - 1).map_err(storage)?
    {
        return Ok(None);
    }
    rows.iter()
        .map(|row| {
            let inserted: bool = row.try_get(row.len() - 2).map_err(storage)?;
            let (now, existing) = lookup::now_and_run_row(row, 3)?;
            Ok(match (existing, inserted) {
                (Some(run), _) => Outcome::Existing(Box::new(run)),
                (None, true) => Outcome::Inserted(now),
                (None, false) => Outcome::Raced,
            })
        })
        .collect::<Result<_, _>>()
        .map(Some)
}
