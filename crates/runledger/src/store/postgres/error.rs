//! PostgreSQL's errors as the ledger's, classified by SQLSTATE: a full disk
//! is `StorageFull`; a deadlock or serialization failure, which rolls its
//! transaction back whole, is retried by [`retrying`].

use runledger_core::Error;
use std::future::Future;

/// How many times an operation rolled back by a deadlock is run again.
const RETRIES_MAX: usize = 5;

/// The detail of a storage error, with PostgreSQL's SQLSTATE when it has one.
pub(crate) fn storage(error: sqlx::Error) -> Error {
    match &error {
        sqlx::Error::Database(database) => match database.code() {
            // disk_full: nothing was written (the statement failed whole).
            Some(code) if code == "53100" => Error::StorageFull {
                detail: format!("{} (SQLSTATE {code})", database.message()),
            },
            Some(code) => Error::storage(format!("{} (SQLSTATE {code})", database.message())),
            None => Error::storage(error),
        },
        _ => Error::storage(error),
    }
}

/// Deadlocks and serialization failures roll the transaction back whole,
/// so the operation may simply run again.
fn is_retryable(error: &Error) -> bool {
    matches!(error, Error::Storage { detail } if detail.ends_with("(SQLSTATE 40001)") || detail.ends_with("(SQLSTATE 40P01)"))
}

/// The constraint a database error names, if any.
pub(crate) fn constraint(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(database) => database.constraint(),
        _ => None,
    }
}

/// Runs `operation`, and again (up to [`RETRIES_MAX`] times) while it fails
/// with a retryable error.
pub(crate) async fn retrying<T, F, Fut>(mut operation: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut attempt = 0;
    loop {
        match operation().await {
            Err(error) if is_retryable(&error) && attempt < RETRIES_MAX => attempt += 1,
            outcome => return outcome,
        }
    }
}

/// A storage error without its SQLSTATE classified, as the queries of
/// read.rs and lookup.rs report theirs.
pub(crate) fn unclassified(error: sqlx::Error) -> Error {
    Error::storage(error)
}
