//! Batch create on SQLite (SPEC §4 `POST /v1/runs/batch`), one operation of
//! the writer, under the write lock.
//!
//! The usual batch — new runs, none in a group, each parent an earlier item
//! or an open run — is written set-based ([`all_new`]): one lookup of every
//! id and outside parent, then multi-row INSERTs of the run rows and their
//! events ([`write::insert_new`]), positions handed out in item order.
//! Any other batch (a repeat, a group to admit into, a parent that is
//! missing, ended or a later item) is decided item by item as single
//! creates ([`write::create`]) in item order, so its events take the next
//! positions and a later item sees an earlier one (as its parent, or as a
//! repeat): an atomic batch in one savepoint rolled back at the first
//! refusal; a non-atomic one with each item in its own savepoint, so a
//! refused item leaves nothing and the others stand. Either way the batch
//! commits with the writer's transaction: one `fsync` for all of it.

use super::connection::run_cached;
use super::error::storage;
use super::write::{self, CreateManyFailed, NewRun};
use super::{read, rows};
use crate::batch::{BatchAnswers, BatchRefused};
use crate::failpoints;
use crate::requests::{Created, ResolvedCreate};
use runledger_core::transition;
use runledger_core::{Error, RunId, RunState, Tenant, Timestamp};
use rusqlite::Connection;
use std::collections::HashMap;

/// Decides and writes `creates` in item order; `Ok(Err(..))` is an atomic
/// batch refused (nothing of it written), `Err` a storage failure that
/// fails the writer's operation (its savepoint is rolled back).
pub(crate) fn create_batch(
    connection: &Connection,
    tenant: &Tenant,
    creates: &[ResolvedCreate],
    atomic: bool,
    now: Timestamp,
) -> Result<Result<BatchAnswers, BatchRefused>, Error> {
    run_cached(connection, "SAVEPOINT create_batch")?;
    let decided = match all_new(connection, tenant, creates, now) {
        Ok(Some(answers)) => Ok(Ok(answers)),
        Ok(None) if atomic => all_or_nothing(connection, tenant, creates, now),
        Ok(None) => one_by_one(connection, tenant, creates, now).map(Ok),
        Err(error) => Err(error),
    };
    let decided = decided.and_then(|answers| {
        failpoints::hit("create_batch", "after_writes")?;
        Ok(answers)
    });
    match decided {
        Ok(Ok(answers)) => {
            run_cached(connection, "RELEASE create_batch")?;
            Ok(Ok(answers))
        }
        Ok(Err(refused)) => {
            run_cached(connection, "ROLLBACK TO create_batch")?;
            run_cached(connection, "RELEASE create_batch")?;
            Ok(Err(refused))
        }
        Err(error) => {
            if !connection.is_autocommit() {
                run_cached(connection, "ROLLBACK TO create_batch")?;
                run_cached(connection, "RELEASE create_batch")?;
            }
            Err(error)
        }
    }
}

/// Every item, stopping at the first refusal (the caller rolls back).
fn all_or_nothing(
    connection: &Connection,
    tenant: &Tenant,
    creates: &[ResolvedCreate],
    now: Timestamp,
) -> Result<Result<BatchAnswers, BatchRefused>, Error> {
    let mut answers = Vec::with_capacity(creates.len());
    for (index, create) in creates.iter().enumerate() {
        match write::create(connection, tenant, create, now) {
            Ok(created) => answers.push(Ok(created)),
            Err(error @ (Error::Storage { .. } | Error::StorageFull { .. })) => return Err(error),
            Err(refusal) => return Ok(Err(BatchRefused::item(index, refusal))),
        }
    }
    Ok(Ok(answers))
}

/// Every item in its own savepoint: a refused item leaves nothing.
fn one_by_one(
    connection: &Connection,
    tenant: &Tenant,
    creates: &[ResolvedCreate],
    now: Timestamp,
) -> Result<BatchAnswers, Error> {
    let mut answers = Vec::with_capacity(creates.len());
    for create in creates {
        run_cached(connection, "SAVEPOINT batch_item")?;
        let answer = write::create(connection, tenant, create, now);
        if connection.is_autocommit() {
            // SQLite rolled the whole transaction back (disk full, I/O error).
            return Err(Error::storage("the database rolled the transaction back"));
        }
        if answer.is_err() {
            run_cached(connection, "ROLLBACK TO batch_item")?;
        }
        run_cached(connection, "RELEASE batch_item")?;
        answers.push(answer);
    }
    Ok(answers)
}

/// The set-based path: `Some` answers when every item is a new run in no
/// group whose parent (if any) is an earlier item or a run that has not
/// ended — then every item is created, so atomic or not makes no
/// difference. `None` (nothing written) sends the batch item by item, which
/// gives the exact answer of each repeat or refusal.
fn all_new(
    connection: &Connection,
    tenant: &Tenant,
    creates: &[ResolvedCreate],
    now: Timestamp,
) -> Result<Option<BatchAnswers>, Error> {
    let mut index_of: HashMap<&RunId, usize> = HashMap::with_capacity(creates.len());
    let mut outside_parents: Vec<&RunId> = Vec::new();
    for (index, create) in creates.iter().enumerate() {
        if create.params.concurrency.is_some() || index_of.insert(&create.id, index).is_some() {
            return Ok(None);
        }
        if let Some(parent) = &create.params.parent_id {
            match index_of.get(parent) {
                Some(&earlier) if earlier < index => {}
                Some(_) => return Ok(None),
                None => outside_parents.push(parent),
            }
        }
    }
    let keys: Vec<(&Tenant, &RunId)> = creates
        .iter()
        .map(|create| &create.id)
        .chain(outside_parents.iter().copied())
        .map(|id| (tenant, id))
        .collect();
    let found = read::records(connection, &keys)?;
    let (items, parents) = found.split_at(creates.len());
    if items.iter().any(Option::is_some)
        || !parents
            .iter()
            .all(|parent| parent.as_ref().is_some_and(|p| !p.run.state.is_terminal()))
    {
        return Ok(None);
    }
    let mut next = rows::next_position(connection, tenant).map_err(storage)?;
    let created: Vec<NewRun> = creates
        .iter()
        .enumerate()
        .map(|(index, create)| {
            let transition = transition::create(
                tenant.clone(),
                create.id.clone(),
                create.params.clone(),
                RunState::Queued,
                create.start.as_ref(),
                now,
            );
            let first = next;
            next += transition.events.len() as u64;
            (index, transition, first)
        })
        .collect();
    write::insert_new(connection, &created, now)
        .map_err(|(CreateManyFailed::All(error) | CreateManyFailed::One { error, .. })| error)?;
    Ok(Some(
        created
            .into_iter()
            .map(|(_, transition, _)| {
                Ok(Created {
                    run: transition.after.run,
                    created: true,
                })
            })
            .collect(),
    ))
}
