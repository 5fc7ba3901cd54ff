//! Batch create on SQLite (SPEC §4 `POST /v1/runs/batch`), one operation of
//! the writer: under the write lock, each item is decided and written as a
//! single create ([`write::create`]) in item order, so its events take the
//! next positions and a later item sees an earlier one (as its parent, or
//! as a repeat). An atomic batch runs in one savepoint rolled back at the
//! first refusal; a non-atomic one gives each item its own savepoint, so a
//! refused item leaves nothing and the others stand. Either way the batch
//! commits with the writer's transaction: one `fsync` for all of it.

use super::connection::run_cached;
use super::write;
use crate::batch::{BatchAnswers, BatchRefused};
use crate::failpoints;
use crate::requests::ResolvedCreate;
use runledger_core::{Error, Tenant, Timestamp};
use rusqlite::Connection;

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
    let decided = if atomic {
        all_or_nothing(connection, tenant, creates, now)
    } else {
        one_by_one(connection, tenant, creates, now).map(Ok)
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
