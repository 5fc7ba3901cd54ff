//! PostgreSQL's errors as the ledger's, classified by SQLSTATE, never by
//! message text: a full disk is `StorageFull`; a deadlock or serialization
//! failure, which rolls its transaction back whole, is retryable and
//! retried by [`retrying`]; a constraint violation keeps the constraint's
//! name, which callers map to the ledger's own errors.

use runledger_core::{Error, RunId, RunState, StorageKind};
use std::future::Future;

/// How many times an operation rolled back by a deadlock is run again.
const RETRIES_MAX: usize = 5;

/// SQLSTATE `disk_full`: nothing was written (the statement failed whole).
const DISK_FULL: &str = "53100";
/// SQLSTATE `serialization_failure`.
const SERIALIZATION_FAILURE: &str = "40001";
/// SQLSTATE `deadlock_detected`.
const DEADLOCK_DETECTED: &str = "40P01";
/// The SQLSTATE class of integrity constraint violations.
const INTEGRITY_CONSTRAINT_VIOLATION_CLASS: &str = "23";
/// The constraint (a trigger, migration 0008) refusing a new child of a
/// parent that has ended; its detail is `<child>\n<parent>\n<state>`.
const PARENT_ACTIVE: &str = "runs_parent_active";

/// The ledger's error for a sqlx error, classified by its SQLSTATE; the
/// detail keeps PostgreSQL's words and code, for logs.
pub(crate) fn storage(error: sqlx::Error) -> Error {
    let sqlx::Error::Database(database) = &error else {
        return Error::storage(error);
    };
    let Some(code) = database.code() else {
        return Error::storage(error);
    };
    if database.constraint() == Some(PARENT_ACTIVE)
        && let Some(ended) = parent_ended(&error)
    {
        return ended;
    }
    let detail = format!("{} (SQLSTATE {code})", database.message());
    let kind = match code.as_ref() {
        DISK_FULL => return Error::StorageFull { detail },
        SERIALIZATION_FAILURE | DEADLOCK_DETECTED => StorageKind::Retryable,
        code if code.starts_with(INTEGRITY_CONSTRAINT_VIOLATION_CLASS) => StorageKind::Constraint {
            name: database.constraint().map(str::to_owned),
        },
        _ => StorageKind::Other,
    };
    Error::Storage { kind, detail }
}

/// The refusal the `runs_parent_active` trigger raised, from its detail.
fn parent_ended(error: &sqlx::Error) -> Option<Error> {
    let sqlx::Error::Database(database) = error else {
        return None;
    };
    let postgres = database.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?;
    let mut parts = postgres.detail()?.split('\n');
    let id = RunId::parse(parts.next()?).ok()?;
    let parent_id = RunId::parse(parts.next()?).ok()?;
    let state = RunState::parse(parts.next()?).ok()?;
    Some(Error::ParentEnded {
        id,
        parent_id,
        state,
    })
}

/// The constraint a storage error says was violated, if any.
pub(crate) fn constraint(error: &Error) -> Option<&str> {
    match error {
        Error::Storage {
            kind: StorageKind::Constraint { name },
            ..
        } => name.as_deref(),
        _ => None,
    }
}

/// Runs `operation`, and again (up to [`RETRIES_MAX`] times) while it fails
/// with a retryable error: one a deadlock or serialization failure rolled
/// back whole.
pub(crate) async fn retrying<T, F, Fut>(mut operation: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut attempt = 0;
    loop {
        match operation().await {
            Err(Error::Storage {
                kind: StorageKind::Retryable,
                ..
            }) if attempt < RETRIES_MAX => attempt += 1,
            outcome => return outcome,
        }
    }
}
