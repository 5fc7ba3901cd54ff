//! Creates written one at a time on PostgreSQL, each its own transaction
//! (or, for a create that also starts its run, its own statement): the
//! paths of the creates no batch statement can take.

use super::insert::insert_run_with_events;
use super::queue::Pending;
use crate::failpoints;
use crate::requests::{Created, ResolvedCreate};
use crate::store::postgres::changes::write_transition;
use crate::store::postgres::error::{constraint, storage};
use crate::store::postgres::locks::{begin_in_group, begin_or_return, commit};
use crate::store::postgres::{lookup, read};
use runledger_core::Operation;
use runledger_core::transition::{self, Admission, Decision, Transition};
use runledger_core::{ConcurrencyKey, Error, RunId, RunState, Tenant, Timestamp};
use sqlx::{PgConnection, PgPool};

/// Creates a run in a concurrency group, or answers the existing one: a
/// transaction under the group's lock, whose first statement reads the
/// clock, the run and the group's active runs together. Used for
/// `on_full: cancel_active` and for the creates a group batch sends again
/// (groups.rs).
pub(crate) async fn create_in_group(
    pool: &PgPool,
    tenant: &Tenant,
    request: &ResolvedCreate,
) -> Result<Created, Error> {
    let group = request
        .params
        .concurrency
        .as_ref()
        .ok_or_else(|| Error::storage("a create without a group is batched"))?;
    let mut connection = pool.acquire().await.map_err(storage)?;
    let mut transaction = begin_or_return!(
        connection,
        begin_in_group(&mut connection, tenant, group.key.as_str())
    );
    let lookup::GroupRead {
        now,
        existing,
        active,
        ..
    } = lookup::now_runs_and_active(
        &mut transaction,
        &[(
            tenant,
            &request.id,
            &group.key,
            request.params.parent_id.as_ref(),
        )],
    )
    .await?
    .remove(0);
    if let Some(run) = existing {
        // A repeat: answered from the read, nothing written.
        drop(transaction);
        return request.match_existing(run);
    }
    let state = match transition::admit(group, &active) {
        Ok(Admission::Admit) => RunState::Queued,
        Ok(Admission::Enqueue) => RunState::Pending,
        Ok(Admission::CancelOldest(victims)) => {
            for victim in victims {
                cancel_for_room(&mut transaction, tenant, &victim, &request.id, now).await?;
            }
            RunState::Queued
        }
        Ok(Admission::ReplacePending) => {
            replace_pending(&mut transaction, tenant, &group.key, &request.id, now).await?;
            RunState::Pending
        }
        Err(refusal) => {
            drop(transaction);
            // Full: but an identical run may have been created meanwhile.
            return match read::run(&mut connection, tenant, &request.id).await? {
                Some(existing) => request.match_existing(existing),
                None => Err(refusal),
            };
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
    let inserted = insert_run_with_events(&mut transaction, &created).await;
    if !matches!(inserted, Ok(true)) {
        drop(transaction);
        return finish_create(&mut connection, request, created, inserted).await;
    }
    failpoints::hit("create_run", "after_events")?;
    commit(transaction).await?;
    Ok(Created {
        run: created.after.run,
        created: true,
    })
}

/// A create that also starts its run, written alone: its `started` event
/// holds the lease's expiry, which needs the clock before the insert.
pub(super) async fn create_starting(
    connection: &mut PgConnection,
    pending: &Pending,
) -> Result<Created, Error> {
    let (now, existing) = lookup::now_and_runs(connection, &[pending.key()])
        .await?
        .remove(0);
    if let Some(run) = existing {
        return pending.request.match_existing(run);
    }
    let request = &pending.request;
    let created = transition::create(
        pending.tenant.clone(),
        request.id.clone(),
        request.params.clone(),
        RunState::Queued,
        request.start.as_ref(),
        now,
    );
    let inserted = insert_run_with_events(connection, &created).await;
    finish_create(connection, request, created, inserted).await
}

/// The answer to a create after its insert: the new run, the parent's
/// absence, or — another caller created it first — theirs (nothing of ours
/// is kept).
async fn finish_create(
    connection: &mut PgConnection,
    request: &ResolvedCreate,
    created: Transition,
    inserted: Result<bool, Error>,
) -> Result<Created, Error> {
    match inserted {
        Ok(true) => Ok(Created {
            run: created.after.run,
            created: true,
        }),
        Ok(false) => {
            let run = &created.after.run;
            let existing = read::run(connection, &run.tenant, &run.id)
                .await?
                .ok_or_else(|| Error::storage("a conflicting run vanished"))?;
            request.match_existing(existing)
        }
        Err(error) if constraint(&error) == Some("runs_parent_exists") => {
            let parent_id = request
                .params
                .parent_id
                .clone()
                .expect("only a child has a parent");
            Err(Error::ParentNotFound { parent_id })
        }
        Err(error) => Err(error),
    }
}

/// Cancels every pending run of the group `key`, which `new_run` replaces
/// (`on_full: replace_pending`), under the group lock; a pending run holds
/// no slot, so nothing is promoted.
pub(super) async fn replace_pending(
    connection: &mut PgConnection,
    tenant: &Tenant,
    key: &ConcurrencyKey,
    new_run: &RunId,
    now: Timestamp,
) -> Result<(), Error> {
    for stored in lookup::pending(connection, tenant, key).await? {
        if let Decision::Apply(cancelled) = transition::replace_pending(&stored, new_run, now)? {
            write_transition(connection, &stored, &cancelled, Operation::Cancel).await?;
        }
    }
    Ok(())
}

/// Cancels an active run to make room (`on_full: cancel_active`), under the group lock.
pub(super) async fn cancel_for_room(
    connection: &mut PgConnection,
    tenant: &Tenant,
    victim: &RunId,
    new_run: &RunId,
    now: Timestamp,
) -> Result<(), Error> {
    let (_, stored) = lookup::locked_record(connection, tenant, victim)
        .await?
        .ok_or_else(|| Error::storage(format!("active run {victim} vanished")))?;
    match transition::cancel(&stored, None, Some(new_run), now)? {
        Decision::Apply(cancelled) => {
            write_transition(connection, &stored, &cancelled, Operation::Cancel).await
        }
        Decision::Unchanged => Ok(()),
    }
}
