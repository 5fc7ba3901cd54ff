//! Batches of creates in concurrency groups on PostgreSQL.
//!
//! Callers that create runs in concurrency groups (`on_full: reject` or
//! `enqueue`) at the same time hand their creates to one batcher ([`spawn`]),
//! which writes a batch in as few round trips as its creates allow, and
//! decides each create as [`create_in_group`] would decide it alone, in
//! arrival order, each run the batch admits counting against the creates
//! after it:
//!
//! 1. **One statement** (group_statement.rs) for the creates without a
//!    lease to start, one per id and one limit per group: it reads, admits
//!    from its snapshot, takes the admitted groups' advisory locks, inserts
//!    and stamps. A refusal (group full, parent missing) or a repeat is
//!    answered from a snapshot: the ledger as committed at one moment
//!    during the call.
//! 2. **An unlocked read, then one statement** for the other creates:
//!    decided in Rust from the read, inserted by insert.rs, which takes
//!    the groups' locks first.
//!
//! In both, the `runs_concurrency_limit` trigger counts each group again
//! with a fresh snapshot under its lock, so if a group filled up after the
//! snapshot the statement is refused as a whole and nothing is written.
//!
//! What a snapshot cannot decide goes to a **locked batch**, one
//! transaction of four round trips that decides under every group's lock
//! (`BEGIN` with the locks, the same read, the insert, `COMMIT`): a create
//! that would be enqueued (a pending run must not miss the promotion of a
//! slot freed after the snapshot), and every create of a refused statement.
//! Two cases are sent again alone (alone.rs) after the batch, so that
//! they see it committed: a second create of an id already in the batch,
//! and a create whose group was given another limit by an earlier create of
//! the batch (each row's trigger checks its own limit against the whole
//! statement's count, which creates made one by one would not have met).
//! So is every create of a locked batch that failed as a whole, so that
//! only a caller at fault gets an error. `on_full: cancel_active` creates,
//! which cancel other runs, are never batched; neither is a
//! `replace_pending` create that finds its group full (sent alone).
//!
//! New events are stamped by the statement that inserts them when its
//! snapshot shows no unstamped event of their tenants (the rule of
//! positions/stamping.rs); otherwise the sequencer stamps them after commit.

use super::alone::create_in_group;
use super::group_statement::{self, Outcome};
use super::insert::{Inserted, Stamp, insert_runs_with_events};
use super::queue::{CreateBatcher, Pending, answer_all};
use crate::failpoints;
use crate::requests::{Created, ResolvedCreate};
use crate::store::postgres::error::storage;
use crate::store::postgres::held::{Held, Lease};
use crate::store::postgres::locks::{begin_in_groups, begin_or_return, commit};
use crate::store::postgres::lookup::{self, GroupRead};
use crate::store::postgres::positions::Sequencer;
use crate::store::postgres::read;
use runledger_core::transition::{self, Admission, Transition};
use runledger_core::{ConcurrencyKey, Error, RunId, RunState, Tenant};
use sqlx::{PgConnection, PgPool};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Batches of group creates in flight at once, each on its own pooled
/// connection. One makes the biggest batches.
const BATCHES_IN_FLIGHT_MAX: usize = 1;

/// Starts the batcher of creates in groups (not `cancel_active`) on
/// `pool`; `sequencer` stamps the events its statements leave unstamped.
pub(crate) fn spawn(pool: PgPool, sequencer: Arc<Sequencer>) -> CreateBatcher {
    CreateBatcher::writing_with(
        pool,
        sequencer,
        BATCHES_IN_FLIGHT_MAX,
        |pool, held, sequencer, batch| async move { write_batch(&pool, &held, &sequencer, batch).await },
    )
}

/// What the batch decided for one create.
enum Decided {
    /// Answered from the read; nothing to write.
    Answer(Result<Created, Error>),
    /// To be inserted.
    Insert(Transition),
    /// To be decided again in a locked batch.
    Locked,
    /// To be sent again alone once the batch is committed.
    Alone,
}

/// How a batch's read was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// Without the groups' locks: only refusals, repeats and admissions
    /// (checked again by the insert) may be decided from it.
    Unlocked,
    /// Under every group's lock: exact.
    Locked,
}

/// Writes and answers one batch.
async fn write_batch(pool: &PgPool, held: &Held, sequencer: &Sequencer, batch: Vec<Pending>) {
    let mut connection = match held.take(pool).await {
        Ok(connection) => connection,
        Err(error) => return answer_all(batch, &error),
    };
    let (one_statement, rest) = split(batch);
    let mut locked = Vec::new();
    if !one_statement.is_empty() {
        locked = write_one_statement(&mut connection, sequencer, one_statement).await;
    }
    let mut alone = Vec::new();
    if !rest.is_empty() {
        match decide_and_write(&mut connection, &rest, Read::Unlocked).await {
            Ok(decided) => {
                let (again, by_itself) = deliver(&connection, sequencer, rest, decided);
                locked.extend(again);
                alone = by_itself;
            }
            // Refused as a whole (a group filled up since the read, say):
            // decided again under the locks.
            Err(_) => locked.extend(rest),
        }
    }
    if !locked.is_empty() {
        match decide_and_write(&mut connection, &locked, Read::Locked).await {
            Ok(decided) => alone.extend(deliver(&connection, sequencer, locked, decided).1),
            // Failed as a whole: the connection goes back to the pool (it
            // may be what failed, and the failed transaction's rollback is
            // only queued on it), and each create is sent alone, so only a
            // caller at fault fails.
            Err(error) => {
                drop(connection);
                if locked.len() == 1 {
                    answer_all(locked, &error);
                } else {
                    alone.extend(locked);
                }
                return write_alone(pool, sequencer, alone).await;
            }
        }
    }
    connection.keep();
    write_alone(pool, sequencer, alone).await;
}

/// Writes each of `creates` on its own (alone.rs) and answers it.
async fn write_alone(pool: &PgPool, sequencer: &Sequencer, creates: Vec<Pending>) {
    for pending in creates {
        let answer = create_in_group(pool, &pending.tenant, &pending.request).await;
        if matches!(answer, Ok(Created { created: true, .. })) {
            sequencer.request(&pending.tenant);
        }
        let _ = pending.answer.send(answer);
    }
}

/// Splits a batch into the creates one statement may decide and write
/// (group_statement.rs: no lease to start, the first create of its id, the
/// limit the batch's first create of its group gave) and the rest.
fn split(batch: Vec<Pending>) -> (Vec<Pending>, Vec<Pending>) {
    let mut seen = HashSet::new();
    let mut limits = HashMap::new();
    batch.into_iter().partition(|pending| {
        let group = pending.group();
        let limit = *limits
            .entry((pending.tenant.clone(), group.key.clone()))
            .or_insert(group.limit);
        pending.request.start.is_none()
            && limit == group.limit
            && seen.insert((pending.tenant.clone(), pending.request.id.clone()))
    })
}

/// Decides and writes `creates` with one statement and answers them;
/// answers the creates to decide again under the locks: those that would
/// be enqueued, or all of them when the statement was refused as a whole
/// (a group filled up since its snapshot, a missing parent).
async fn write_one_statement(
    connection: &mut Lease,
    sequencer: &Sequencer,
    creates: Vec<Pending>,
) -> Vec<Pending> {
    let keys: Vec<(&Tenant, &ResolvedCreate)> = creates
        .iter()
        .map(|pending| (&pending.tenant, &pending.request))
        .collect();
    let Ok(written) = group_statement::create_in_groups(connection, &keys).await else {
        return creates;
    };
    // The statement committed; a failure here answers every caller with
    // an error for runs that do exist (a repeat then answers them).
    if let Err(error) = failpoints::hit("batch", "after_commit") {
        for pending in creates {
            connection.answer(pending.answer, Err(error.clone()));
        }
        return Vec::new();
    }
    // Each group's runs this statement admitted, in order: they come after
    // the committed active runs in a refusal's list.
    let mut admitted: HashMap<(&Tenant, &ConcurrencyKey), Vec<RunId>> = HashMap::new();
    for (pending, outcome) in creates.iter().zip(&written.outcomes) {
        if let Outcome::Inserted(_) = outcome {
            let group = (&pending.tenant, &pending.group().key);
            admitted
                .entry(group)
                .or_default()
                .push(pending.request.id.clone());
        }
    }
    // Each create's answer; none for a create to decide under the locks.
    let mut answers: Vec<Option<Result<Created, Error>>> = Vec::with_capacity(creates.len());
    let mut created_in = HashSet::new();
    for (pending, outcome) in creates.iter().zip(written.outcomes) {
        answers.push(match outcome {
            Outcome::Existing(run) => Some(pending.request.match_existing(*run)),
            Outcome::Inserted(now) => {
                created_in.insert(pending.tenant.clone());
                let created = transition::create(
                    pending.tenant.clone(),
                    pending.request.id.clone(),
                    pending.request.params.clone(),
                    RunState::Queued,
                    None,
                    now,
                );
                Some(Ok(Created {
                    run: created.after.run,
                    created: true,
                }))
            }
            // Inserted by another transaction after the snapshot: theirs
            // is the answer.
            Outcome::Raced => Some(
                match read::run(connection, &pending.tenant, &pending.request.id).await {
                    Ok(Some(existing)) => pending.request.match_existing(existing),
                    Ok(None) => Err(Error::storage("a conflicting run vanished")),
                    Err(error) => Err(error),
                },
            ),
            Outcome::Full(mut active) => {
                let group = pending.group();
                if let Some(ours) = admitted.get(&(&pending.tenant, &group.key)) {
                    active.extend(ours.iter().cloned());
                }
                // Enqueue (`Ok`): decided under the locks.
                transition::admit(group, &active).err().map(Err)
            }
        });
    }
    if written.stamped {
        sequencer.signal_local();
    } else {
        for tenant in &created_in {
            sequencer.request(tenant);
        }
    }
    let mut again = Vec::new();
    for (pending, answer) in creates.into_iter().zip(answers) {
        match answer {
            Some(answer) => connection.answer(pending.answer, answer),
            None => again.push(pending),
        }
    }
    again
}

/// Answers the creates of `batch` that were decided and has their new
/// events stamped; answers the creates to decide again (locked) and to send
/// alone.
fn deliver(
    connection: &Lease,
    sequencer: &Sequencer,
    batch: Vec<Pending>,
    (decided, stamped): (Vec<Decided>, bool),
) -> (Vec<Pending>, Vec<Pending>) {
    let (mut locked, mut alone) = (Vec::new(), Vec::new());
    let mut created_in = HashSet::new();
    for (pending, decided) in batch.into_iter().zip(decided) {
        match decided {
            Decided::Answer(answer) => {
                if matches!(answer, Ok(Created { created: true, .. })) {
                    created_in.insert(pending.tenant.clone());
                }
                connection.answer(pending.answer, answer);
            }
            Decided::Insert(_) => unreachable!("every insert is answered"),
            Decided::Locked => locked.push(pending),
            Decided::Alone => alone.push(pending),
        }
    }
    if stamped {
        sequencer.signal_local();
    } else {
        for tenant in &created_in {
            sequencer.request(tenant);
        }
    }
    (locked, alone)
}

/// Decides every create of `batch` from one read (under its groups' locks
/// in a transaction when `mode` is [`Read::Locked`]) and inserts the new
/// runs; answers one decision per create, in order (none of them
/// [`Decided::Insert`] any more), and whether the new events were stamped.
async fn decide_and_write(
    connection: &mut PgConnection,
    batch: &[Pending],
    mode: Read,
) -> Result<(Vec<Decided>, bool), Error> {
    let (mut decided, written) = match mode {
        Read::Locked => {
            let groups: Vec<(&str, &str)> = batch
                .iter()
                .map(|pending| (pending.tenant.as_str(), pending.group().key.as_str()))
                .collect();
            let mut transaction =
                begin_or_return!(connection, begin_in_groups(connection, &groups));
            let decided = decide_and_insert(&mut transaction, batch, mode).await?;
            if decided.1.is_some() {
                failpoints::hit("create_run", "after_events")?;
                commit(transaction).await?;
            } else {
                // Now, not when the connection is next used: a batcher
                // keeps its connection, idle, holding the groups' locks
                // until the rollback is sent (held.rs).
                transaction.rollback().await.map_err(storage)?;
            }
            decided
        }
        Read::Unlocked => decide_and_insert(connection, batch, mode).await?,
    };
    let Some(written) = written else {
        return Ok((decided, false));
    };
    let mut inserted = written.inserted.into_iter();
    for (pending, decided) in batch.iter().zip(decided.iter_mut()) {
        let Decided::Insert(created) = decided else {
            continue;
        };
        *decided = if inserted.next() == Some(true) {
            Decided::Answer(Ok(Created {
                run: created.after.run.clone(),
                created: true,
            }))
        } else {
            // Created meanwhile by a create this batch did not see (of the
            // id in another group, or in none): theirs is the answer.
            let existing = read::run(connection, &pending.tenant, &pending.request.id).await?;
            Decided::Answer(match existing {
                Some(existing) => pending.request.match_existing(existing),
                None => Err(Error::storage("a conflicting run vanished")),
            })
        };
    }
    Ok((decided, written.stamped))
}

/// Reads, decides and inserts the runs to insert (none: `None`).
async fn decide_and_insert(
    connection: &mut PgConnection,
    batch: &[Pending],
    mode: Read,
) -> Result<(Vec<Decided>, Option<Inserted>), Error> {
    let keys: Vec<_> = batch
        .iter()
        .map(|pending| {
            (
                &pending.tenant,
                &pending.request.id,
                &pending.group().key,
                pending.request.params.parent_id.as_ref(),
            )
        })
        .collect();
    let reads = lookup::now_runs_and_active(connection, &keys).await?;
    let decided = decide(batch, reads, mode);
    let inserts: Vec<&Transition> = decided
        .iter()
        .filter_map(|decided| match decided {
            Decided::Insert(created) => Some(created),
            _ => None,
        })
        .collect();
    if inserts.is_empty() {
        return Ok((decided, None));
    }
    let written = insert_runs_with_events(connection, &inserts, Stamp::IfSettled).await?;
    Ok((decided, Some(written)))
}

/// Decides each create of `batch` from its read, in order, as if each were
/// written before the next is decided; a create that would be enqueued is
/// left to a locked read.
fn decide(batch: &[Pending], reads: Vec<GroupRead>, mode: Read) -> Vec<Decided> {
    let mut seen = HashSet::new();
    // Each group's active runs and the limit the batch applies to it.
    let mut groups: HashMap<(&str, &str), (Vec<RunId>, u32)> = HashMap::new();
    batch
        .iter()
        .zip(reads)
        .map(|(pending, read)| {
            let request = &pending.request;
            if !seen.insert((pending.tenant.as_str(), request.id.as_str())) {
                return Decided::Alone;
            }
            if let Some(existing) = read.existing {
                return Decided::Answer(request.match_existing(existing));
            }
            if let (false, Some(parent_id)) = (read.parent_found, &request.params.parent_id) {
                return Decided::Answer(Err(Error::ParentNotFound {
                    parent_id: parent_id.clone(),
                }));
            }
            let group = pending.group();
            let (active, limit) = groups
                .entry((pending.tenant.as_str(), group.key.as_str()))
                .or_insert((read.active, group.limit));
            if *limit != group.limit {
                return Decided::Alone;
            }
            let state = match transition::admit(group, active) {
                Ok(Admission::Admit) => {
                    active.push(request.id.clone());
                    RunState::Queued
                }
                Ok(Admission::Enqueue) if mode == Read::Locked => RunState::Pending,
                Ok(Admission::Enqueue) => return Decided::Locked,
                // Both cancel other runs: their own transaction.
                Ok(Admission::CancelOldest(_) | Admission::ReplacePending) => {
                    return Decided::Alone;
                }
                Err(refusal) => return Decided::Answer(Err(refusal)),
            };
            Decided::Insert(transition::create(
                pending.tenant.clone(),
                request.id.clone(),
                request.params.clone(),
                state,
                request.start.as_ref(),
                read.now,
            ))
        })
        .collect()
}
