//! SQLite's errors as the ledger's, classified by SQLite's result code,
//! never by message text: a full disk (`SQLITE_FULL`, also what `PRAGMA
//! max_page_count` answers) is `StorageFull` (HTTP 507); a constraint
//! violation is `Storage` of kind `Constraint`; anything else is `Storage`
//! of kind `Other`.

use runledger_core::{Error, StorageKind};

/// The ledger's error for a rusqlite error.
pub(crate) fn storage(error: rusqlite::Error) -> Error {
    let kind = match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => {
            return Error::StorageFull {
                detail: error.to_string(),
            };
        }
        Some(rusqlite::ErrorCode::ConstraintViolation) => StorageKind::Constraint { name: None },
        _ => StorageKind::Other,
    };
    Error::Storage {
        kind,
        detail: error.to_string(),
    }
}
