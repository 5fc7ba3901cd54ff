//! SQLite's errors as the ledger's: a full disk (`SQLITE_FULL`, also what
//! `PRAGMA max_page_count` answers) is `StorageFull` (HTTP 507), decided by
//! SQLite's result code, never by message text; anything else is `Storage`.

use runledger_core::Error;

/// The ledger's error for a rusqlite error.
pub(crate) fn storage(error: rusqlite::Error) -> Error {
    if error.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
        Error::StorageFull {
            detail: error.to_string(),
        }
    } else {
        Error::storage(error)
    }
}
