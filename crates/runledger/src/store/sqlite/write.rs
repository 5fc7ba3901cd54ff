//! The write operations, each run by the writer inside its own savepoint of
//! a group-commit transaction. Each reads the rows it needs, asks the core's
//! state machine what to do, and writes the answer: a run row changed only
//! `WHERE version = <the version read>`, plus its events, together.

use super::error::storage;
use super::{access, read, rows};
use crate::access::IdempotencyMark;
use crate::failpoints;
use crate::requests::{Appended, Created, ResolvedCreate};
use runledger_core::Operation;
use runledger_core::requests::{AppendEvent, Cancel, ClaimRun};
use runledger_core::transition::{self, Admission, Decision, Record, Transition};
use runledger_core::{ConcurrencyKey, Error, Run, RunId, RunState, Tenant, Timestamp};
use rusqlite::Connection;
use std::collections::HashMap;

/// Creates a run, or answers the existing one (guarantees 1–4).
pub(crate) fn create(
    connection: &Connection,
    tenant: &Tenant,
    request: &ResolvedCreate,
    now: Timestamp,
) -> Result<Created, Error> {
    // Under the write lock nobody else can insert this id between this read
    // and the insert; the unique index runs_one_per_id stays the referee.
    if let Some(existing) = read::run(connection, tenant, &request.id)? {
        return request.match_existing(existing);
    }
    if let Some(parent_id) = &request.params.parent_id {
        // Under the write lock the parent cannot end before this create
        // commits (SPEC §2.9).
        match read::state(connection, tenant, parent_id)? {
            None => {
                return Err(Error::ParentNotFound {
                    parent_id: parent_id.clone(),
                });
            }
            Some(state) if state.is_terminal() => {
                return Err(Error::ParentEnded {
                    id: request.id.clone(),
                    parent_id: parent_id.clone(),
                    state,
                });
            }
            Some(_) => {}
        }
    }
    let state = match &request.params.concurrency {
        None => RunState::Queued,
        Some(group) => {
            let active = read::active_ids(connection, tenant, &group.key)?;
            match transition::admit(group, &active)? {
                Admission::Admit => RunState::Queued,
                Admission::Enqueue => RunState::Pending,
                Admission::CancelOldest(victims) => {
                    for victim in victims {
                        cancel_for_room(connection, tenant, &victim, &request.id, now)?;
                    }
                    RunState::Queued
                }
                Admission::ReplacePending => {
                    replace_pending(connection, tenant, &group.key, &request.id, now)?;
                    RunState::Pending
                }
            }
        }
    };
    let created = transition::create(
        tenant.clone(),
        request.id.clone(),
        request.params.clone(),
        state,
        request.start.as_ref(),
        now,
    );
    let position = rows::next_position(connection, tenant).map_err(storage)?;
    rows::insert_run(connection, &created.after, position).map_err(storage)?;
    failpoints::hit("create_run", "after_run_row")?;
    insert_events(connection, &created, position, now)?;
    failpoints::hit("create_run", "after_events")?;
    Ok(Created {
        run: created.after.run,
        created: true,
    })
}

/// Whether `request` may go through [`create_many`]: no parent to check and
/// no concurrency group to admit into.
pub(crate) fn creates_together(request: &ResolvedCreate) -> bool {
    request.params.parent_id.is_none() && request.params.concurrency.is_none()
}

/// Why [`create_many`] failed; the caller rolls its savepoint back.
pub(crate) enum CreateManyFailed {
    /// Request `index` failed between its own writes (a failpoint): it is
    /// answered `error`, the others run again one by one.
    One { index: usize, error: Error },
    /// A statement failed: every request runs again one by one, so the one
    /// at fault (if any) fails alone.
    All(Error),
}

/// Creates many runs that [`creates_together`] admits with a few statements
/// in all instead of a few per run: one lookup of every id (existing runs
/// are answered as repeats and written nothing), then multi-row INSERTs of
/// the new run rows and of their `created` (and `started`) events, up to 32
/// rows a statement. Positions are
/// `MAX(position) + 1` onwards per tenant, read under the write lock and
/// handed out in request order, so they stay gap-free; `created_order` is
/// each run's `created` position, as in [`create`]. Requests must name
/// distinct runs. Answers each request's outcome, in order.
pub(crate) fn create_many(
    connection: &Connection,
    requests: &[(&Tenant, &ResolvedCreate)],
    now: Timestamp,
) -> Result<Vec<Result<Created, Error>>, CreateManyFailed> {
    use CreateManyFailed::All;
    assert!(
        requests
            .iter()
            .all(|(_, request)| creates_together(request)),
        "only creates without parent and group go together"
    );
    let keys: Vec<(&Tenant, &RunId)> = requests
        .iter()
        .map(|(tenant, request)| (*tenant, &request.id))
        .collect();
    let existing = read::records(connection, &keys).map_err(All)?;
    let mut outcomes: Vec<Option<Result<Created, Error>>> = Vec::with_capacity(requests.len());
    // (request index, the new run, its first position)
    let mut created: Vec<NewRun> = Vec::new();
    let mut next_positions: HashMap<&str, u64> = HashMap::new();
    for (index, ((tenant, request), existing)) in requests.iter().zip(existing).enumerate() {
        if let Some(record) = existing {
            let run = read::with_children(connection, record).map_err(All)?;
            outcomes.push(Some(request.match_existing(run)));
            continue;
        }
        let next = match next_positions.get_mut(tenant.as_str()) {
            Some(next) => next,
            None => {
                let first =
                    rows::next_position(connection, tenant).map_err(|error| All(storage(error)))?;
                next_positions.entry(tenant.as_str()).or_insert(first)
            }
        };
        let transition = transition::create(
            (*tenant).clone(),
            request.id.clone(),
            request.params.clone(),
            RunState::Queued,
            request.start.as_ref(),
            now,
        );
        let first_position = *next;
        *next += transition.events.len() as u64;
        created.push((index, transition, first_position));
        outcomes.push(None);
    }
    insert_new(connection, &created, now)?;
    for (index, transition, _) in created {
        outcomes[index] = Some(Ok(Created {
            run: transition.after.run,
            created: true,
        }));
    }
    Ok(outcomes
        .into_iter()
        .map(|outcome| outcome.expect("every request is answered"))
        .collect())
}

/// A new run of [`create_many`] or of a batch: the index of the request it
/// answers, its creation, and the position of its first event.
pub(crate) type NewRun = (usize, Transition, u64);

/// Inserts new runs and their events with multi-row statements (up to 32
/// rows each). The caller has settled that none exists, handed out their
/// positions, and checked their parents and groups.
pub(crate) fn insert_new(
    connection: &Connection,
    created: &[NewRun],
    now: Timestamp,
) -> Result<(), CreateManyFailed> {
    use CreateManyFailed::All;
    if created.is_empty() {
        return Ok(());
    }
    let runs: Vec<(&Record, u64)> = created
        .iter()
        .map(|(_, transition, position)| (&transition.after, *position))
        .collect();
    let inserted =
        rows::insert_many_runs(connection, &runs).map_err(|error| All(storage(error)))?;
    assert_eq!(inserted, runs.len(), "every new run row is inserted");
    for (index, _, _) in created {
        failpoints::hit("create_run", "after_run_row").map_err(|error| CreateManyFailed::One {
            index: *index,
            error,
        })?;
    }
    let events: Vec<rows::EventRow> = created
        .iter()
        .flat_map(|(_, transition, first_position)| {
            let run = &transition.after.run;
            transition
                .events
                .iter()
                .enumerate()
                .map(move |(offset, event)| rows::EventRow {
                    tenant: &run.tenant,
                    run_id: &run.id,
                    event,
                    position: first_position + offset as u64,
                })
        })
        .collect();
    let inserted =
        rows::insert_many_events(connection, &events, now).map_err(|error| All(storage(error)))?;
    assert_eq!(inserted, events.len(), "every new event is inserted");
    for (index, _, _) in created {
        failpoints::hit("create_run", "after_events").map_err(|error| CreateManyFailed::One {
            index: *index,
            error,
        })?;
    }
    Ok(())
}

/// Cancels an active run to make room for `new_run` (`on_full: cancel_active`).
/// Its slot goes to the new run, so nothing is promoted.
fn cancel_for_room(
    connection: &Connection,
    tenant: &Tenant,
    victim: &RunId,
    new_run: &RunId,
    now: Timestamp,
) -> Result<(), Error> {
    let stored = read::record(connection, tenant, victim)?
        .ok_or_else(|| Error::storage(format!("active run {victim} vanished")))?;
    match transition::cancel(&stored, None, Some(new_run), now)? {
        Decision::Apply(cancelled) => {
            write_transition(connection, &stored, &cancelled, Operation::Cancel, now).map(drop)
        }
        Decision::Unchanged => Ok(()),
    }
}

/// Cancels every pending run of the group `key`, which `new_run` replaces
/// (`on_full: replace_pending`); a pending run holds no slot, so nothing is
/// promoted. The index `runs_one_pending_per_replace_group` is the referee.
fn replace_pending(
    connection: &Connection,
    tenant: &Tenant,
    key: &ConcurrencyKey,
    new_run: &RunId,
    now: Timestamp,
) -> Result<(), Error> {
    for stored in read::pending(connection, tenant, key)? {
        if let Decision::Apply(cancelled) = transition::replace_pending(&stored, new_run, now)? {
            write_transition(connection, &stored, &cancelled, Operation::Cancel, now)?;
        }
    }
    Ok(())
}

/// Loads a run, checks `If-Match`, lets `decide` choose, and applies the
/// decision; the answer is the run after the change (or unchanged).
pub(crate) fn change(
    connection: &Connection,
    tenant: &Tenant,
    id: &RunId,
    operation: Operation,
    if_version: Option<u64>,
    now: Timestamp,
    decide: impl FnOnce(&Record) -> Result<Decision, Error>,
) -> Result<Run, Error> {
    let stored = read::record(connection, tenant, id)?
        .ok_or_else(|| Error::RunNotFound { id: id.clone() })?;
    transition::check_version(&stored, if_version)?;
    match decide(&stored)? {
        Decision::Unchanged => read::with_children(connection, stored),
        Decision::Apply(transition) => {
            apply(connection, &stored, &transition, operation, now)?;
            read::with_children(connection, transition.after)
        }
    }
}

/// Cancels a run (guarantee 6) and, with `cascade`, every descendant that
/// has not ended, each with its own `cancelled` event; then promotes pending
/// runs into the group slots that freed, once every cancel is written (so
/// no cancelled descendant is promoted on the way).
pub(crate) fn cancel(
    connection: &Connection,
    tenant: &Tenant,
    id: &RunId,
    request: &Cancel,
    now: Timestamp,
) -> Result<Run, Error> {
    let stored = read::record(connection, tenant, id)?
        .ok_or_else(|| Error::RunNotFound { id: id.clone() })?;
    transition::check_version(&stored, request.if_version)?;
    let mut freed: Vec<ConcurrencyKey> = Vec::new();
    let mut cancel_one = |stored: &Record, decision: Decision| -> Result<Record, Error> {
        match decision {
            Decision::Unchanged => Ok(stored.clone()),
            Decision::Apply(cancelled) => {
                write_transition(connection, stored, &cancelled, Operation::Cancel, now)?;
                if let (true, Some(key)) = (cancelled.frees_slot, &stored.run.concurrency_key) {
                    freed.push(key.clone());
                }
                Ok(cancelled.after)
            }
        }
    };
    let decision = transition::cancel(&stored, request.reason.as_deref(), None, now)?;
    let after = cancel_one(&stored, decision)?;
    if request.cascade {
        let reason = transition::cascade_reason(id, request.reason.as_deref());
        for descendant in read::open_descendants(connection, tenant, id)? {
            let decision = transition::cancel(&descendant, Some(&reason), Some(id), now)?;
            cancel_one(&descendant, decision)?;
        }
    }
    freed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    freed.dedup();
    for key in &freed {
        promote_pending(connection, tenant, key, now)?;
    }
    read::with_children(connection, after)
}

/// Starts the oldest queued run matching `request` (SPEC `POST
/// /v1/runs/claim`): under the write lock no other claim, in this process or
/// another, can see it queued. `None` when no run matches.
pub(crate) fn claim(
    connection: &Connection,
    tenant: &Tenant,
    request: &ClaimRun,
    now: Timestamp,
) -> Result<Option<Run>, Error> {
    let Some(id) = read::oldest_queued(connection, tenant, request)? else {
        return Ok(None);
    };
    let run = change(
        connection,
        tenant,
        &id,
        Operation::Start,
        None,
        now,
        |stored| transition::start(stored, &request.lease, now),
    )?;
    if let Some(key) = &request.idempotency_key {
        let epoch = run.lease.as_ref().map_or(0, |lease| lease.epoch);
        let claimed = IdempotencyMark {
            run_id: id,
            seq: epoch,
        };
        access::mark(connection, tenant, key, &claimed)?;
    }
    Ok(Some(run))
}

/// Appends a caller event (guarantee 5: fenced by the lease epoch).
pub(crate) fn append(
    connection: &Connection,
    tenant: &Tenant,
    id: &RunId,
    request: &AppendEvent,
    now: Timestamp,
) -> Result<Appended, Error> {
    let stored = read::record(connection, tenant, id)?
        .ok_or_else(|| Error::RunNotFound { id: id.clone() })?;
    transition::check_version(&stored, request.if_version)?;
    let appended = transition::append(
        &stored,
        &request.event_type,
        request.data.clone(),
        request.lease_epoch,
        now,
    )?;
    let position = apply(connection, &stored, &appended, Operation::Append, now)?
        .expect("an append writes one event");
    let seq = appended.after.run.last_seq;
    if let Some(key) = &request.idempotency_key {
        let event = IdempotencyMark {
            run_id: id.clone(),
            seq,
        };
        access::mark(connection, tenant, key, &event)?;
    }
    Ok(Appended { seq, position })
}

/// Writes a transition, then hands a freed slot to the group's oldest
/// pending run(s), all in the caller's transaction. Answers the position of
/// the transition's first event.
pub(super) fn apply(
    connection: &Connection,
    stored: &Record,
    transition: &Transition,
    operation: Operation,
    now: Timestamp,
) -> Result<Option<u64>, Error> {
    let position = write_transition(connection, stored, transition, operation, now)?;
    if let (true, Some(key)) = (transition.frees_slot, &stored.run.concurrency_key) {
        promote_pending(connection, &stored.run.tenant, key, now)?;
    }
    Ok(position)
}

/// Promotes pending runs of the group, oldest first, while slots are free.
fn promote_pending(
    connection: &Connection,
    tenant: &Tenant,
    key: &ConcurrencyKey,
    now: Timestamp,
) -> Result<(), Error> {
    while let Some(head) = read::pending_head(connection, tenant, key)? {
        let limit = head.run.concurrency_limit.unwrap_or(1);
        let active = read::active_ids(connection, tenant, key)?.len();
        if !transition::may_promote(limit, active) {
            break;
        }
        let promoted = transition::promote(&head, now);
        write_transition(connection, &head, &promoted, Operation::Promote, now)?;
    }
    Ok(())
}

/// The row, conditional on the version read, then its events; answers the
/// first event's position.
fn write_transition(
    connection: &Connection,
    stored: &Record,
    transition: &Transition,
    operation: Operation,
    now: Timestamp,
) -> Result<Option<u64>, Error> {
    let changed =
        rows::update_run(connection, &transition.after, stored.run.version).map_err(storage)?;
    assert_eq!(
        changed, 1,
        "the writer holds the write lock, so the version it read is current"
    );
    crate::counters::transition_written(stored.run.state, transition);
    failpoints::hit(operation.as_str(), "after_run_row")?;
    let position = if transition.events.is_empty() {
        None
    } else {
        let position = rows::next_position(connection, &stored.run.tenant).map_err(storage)?;
        insert_events(connection, transition, position, now)?;
        Some(position)
    };
    failpoints::hit(operation.as_str(), "after_events")?;
    Ok(position)
}

/// Inserts a transition's events at consecutive positions from `first_position`.
fn insert_events(
    connection: &Connection,
    transition: &Transition,
    first_position: u64,
    now: Timestamp,
) -> Result<(), Error> {
    let run = &transition.after.run;
    for (offset, event) in transition.events.iter().enumerate() {
        rows::insert_event(
            connection,
            &run.tenant,
            &run.id,
            event,
            first_position + offset as u64,
            now,
        )
        .map_err(storage)?;
    }
    Ok(())
}
