//! The one error type of the core and the library, and the stable machine
//! names (`code`) the HTTP API and the CLI report. Variants carry data, not
//! preformatted strings; `Display` says what was expected, in lowercase.

use crate::{ConcurrencyKey, Epoch, Operation, RunId, RunState};

/// The stable machine name of an error (SPEC §4 "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A run id, parent id or key breaks the id grammar.
    InvalidRunId,
    /// Any other malformed input.
    InvalidRequest,
    /// The run (or parent) does not exist in this tenant.
    NotFound,
    /// A create named an existing run with different creation parameters.
    RunConflict,
    /// The concurrency group is full and `on_full` is `reject`.
    ConcurrencyLimit,
    /// The run's state does not allow the operation.
    InvalidTransition,
    /// The lease epoch is not the current one, or the run is no longer running.
    StaleLease,
    /// `If-Match` named another version than the current one.
    VersionConflict,
    /// The request's content type is not JSON.
    UnsupportedMediaType,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// An `Idempotency-Key` was reused with a different body.
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` is still running.
    IdempotencyKeyInFlight,
    /// No valid token.
    Unauthorized,
    /// The token's rate limit is exhausted.
    RateLimited,
    /// The request body is too large.
    PayloadTooLarge,
    /// The request's target (path and query) is too long.
    UriTooLong,
    /// The request has too many header fields.
    HeadersTooLarge,
    /// A browser request from a page of another origin (SPEC §4 "Browsers").
    ForbiddenOrigin,
    /// While no token exists, a `Host` that is not loopback nor a
    /// `--public-host` (DNS rebinding).
    MisdirectedRequest,
    /// A write was refused because the disk is full.
    InsufficientStorage,
    /// The caller already has as many open event streams as it may.
    TooManyStreams,
    /// The database failed or is unreachable; never caused by client input.
    Internal,
}

impl ErrorCode {
    /// Every code, for exhaustive tables and tests.
    pub const ALL: [ErrorCode; 22] = [
        ErrorCode::InvalidRunId,
        ErrorCode::InvalidRequest,
        ErrorCode::NotFound,
        ErrorCode::RunConflict,
        ErrorCode::ConcurrencyLimit,
        ErrorCode::InvalidTransition,
        ErrorCode::StaleLease,
        ErrorCode::VersionConflict,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::MethodNotAllowed,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::IdempotencyKeyInFlight,
        ErrorCode::Unauthorized,
        ErrorCode::RateLimited,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UriTooLong,
        ErrorCode::HeadersTooLarge,
        ErrorCode::ForbiddenOrigin,
        ErrorCode::MisdirectedRequest,
        ErrorCode::InsufficientStorage,
        ErrorCode::TooManyStreams,
        ErrorCode::Internal,
    ];

    /// The SPEC's name for this code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRunId => "invalid_run_id",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::NotFound => "not_found",
            ErrorCode::RunConflict => "run_conflict",
            ErrorCode::ConcurrencyLimit => "concurrency_limit",
            ErrorCode::InvalidTransition => "invalid_transition",
            ErrorCode::StaleLease => "stale_lease",
            ErrorCode::VersionConflict => "version_conflict",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::IdempotencyKeyInFlight => "idempotency_key_in_flight",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UriTooLong => "uri_too_long",
            ErrorCode::HeadersTooLarge => "headers_too_large",
            ErrorCode::ForbiddenOrigin => "forbidden_origin",
            ErrorCode::MisdirectedRequest => "misdirected_request",
            ErrorCode::InsufficientStorage => "insufficient_storage",
            ErrorCode::TooManyStreams => "too_many_streams",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong, from bad input to a failed disk.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A run id, parent id or key breaks the grammar; `detail` names the rule.
    #[error("invalid run id: {detail}")]
    InvalidRunId {
        /// Which character or rule failed.
        detail: String,
    },
    /// A field other than an id is malformed; `detail` names the field and rule.
    #[error("invalid {field}: {detail}")]
    InvalidRequest {
        /// The offending field, as named in the JSON API.
        field: &'static str,
        /// What was expected.
        detail: String,
    },
    /// No such run in this tenant.
    #[error("run {id} not found")]
    RunNotFound {
        /// The id asked for.
        id: RunId,
    },
    /// A child's parent does not exist in this tenant.
    #[error("parent run {parent_id} not found")]
    ParentNotFound {
        /// The parent id given.
        parent_id: RunId,
    },
    /// A create named an existing run with other creation parameters.
    #[error("run {id} already exists with different {}", fields.join(", "))]
    RunConflict {
        /// The existing run's id.
        id: RunId,
        /// The creation parameters that differ, by JSON name.
        fields: Vec<&'static str>,
    },
    /// The group is full and the request's `on_full` is `reject`.
    #[error(
        "concurrency group {key} is full ({limit} active): active runs {}",
        join_ids(active_run_ids)
    )]
    ConcurrencyLimit {
        /// The group.
        key: ConcurrencyKey,
        /// The limit applied (the request's).
        limit: u32,
        /// The active runs, oldest first.
        active_run_ids: Vec<RunId>,
    },
    /// The run's state does not allow the operation.
    #[error(
        "cannot {operation} run {id}: it is {state}{}",
        expected_hint(operation)
    )]
    InvalidTransition {
        /// The run.
        id: RunId,
        /// Its current state.
        state: RunState,
        /// The refused operation.
        operation: Operation,
    },
    /// A new child's parent has ended (SPEC §2.9).
    #[error(
        "cannot create run {id}: its parent {parent_id} is {state} (only a pending, queued or \
         running run can take new children)"
    )]
    ParentEnded {
        /// The child asked for.
        id: RunId,
        /// Its parent.
        parent_id: RunId,
        /// The parent's (terminal) state.
        state: RunState,
    },
    /// The lease epoch given is not the current one, or the run stopped running.
    #[error("stale lease on run {id}: {}", stale_detail(*given, *current, *state))]
    StaleLease {
        /// The run.
        id: RunId,
        /// The epoch the caller sent, if any.
        given: Option<Epoch>,
        /// The run's current epoch.
        current: Epoch,
        /// The run's current state.
        state: RunState,
    },
    /// `If-Match` named another version.
    #[error("run {id} is at version {current}, not {expected}")]
    VersionConflict {
        /// The run.
        id: RunId,
        /// The version the caller expected.
        expected: u64,
        /// The current version.
        current: u64,
    },
    /// The database refused a write because its disk is full (SQLite
    /// `SQLITE_FULL`, PostgreSQL SQLSTATE 53100). Nothing was written.
    #[error("the database's disk is full: {detail}")]
    StorageFull {
        /// What the database said (for logs).
        detail: String,
    },
    /// The database failed. The detail is for logs, never for clients.
    #[error("storage error: {detail}")]
    Storage {
        /// What kind of failure, from the database's code.
        kind: StorageKind,
        /// What the database said.
        detail: String,
    },
}

/// What kind of failure an [`Error::Storage`] is, decided from the
/// database's own code (PostgreSQL's SQLSTATE, SQLite's result code), never
/// from its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageKind {
    /// A deadlock or a serialization failure rolled the transaction back
    /// whole (SQLSTATE 40P01, 40001): running it again may succeed.
    Retryable,
    /// A constraint refused the statement (SQLSTATE class 23, SQLite's
    /// `SQLITE_CONSTRAINT`), with the constraint's name when the database
    /// gives it.
    Constraint {
        /// The constraint's name.
        name: Option<String>,
    },
    /// Anything else: a lost connection, a timeout, a bug.
    Other,
}

fn join_ids(ids: &[RunId]) -> String {
    ids.iter().map(RunId::as_str).collect::<Vec<_>>().join(", ")
}

fn expected_hint(operation: &Operation) -> &'static str {
    match operation {
        Operation::Start => " (only a queued run can start)",
        Operation::Heartbeat | Operation::Finish => " (only a running run holds a lease)",
        Operation::Cancel => " (only a pending, queued or running run can be cancelled)",
        Operation::Create | Operation::Append | Operation::Reap | Operation::Promote => "",
    }
}

fn stale_detail(given: Option<Epoch>, current: Epoch, state: RunState) -> String {
    match (state, given) {
        (RunState::Running, Some(given)) => {
            format!("lease epoch {given} is not the current epoch {current}")
        }
        (RunState::Running, None) => {
            format!("the run is running under lease epoch {current}; send lease_epoch")
        }
        (state, _) => format!("the run is no longer running (it is {state})"),
    }
}

impl Error {
    /// The stable machine name of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidRunId { .. } => ErrorCode::InvalidRunId,
            Error::InvalidRequest { .. } => ErrorCode::InvalidRequest,
            Error::RunNotFound { .. } | Error::ParentNotFound { .. } => ErrorCode::NotFound,
            Error::RunConflict { .. } => ErrorCode::RunConflict,
            Error::ConcurrencyLimit { .. } => ErrorCode::ConcurrencyLimit,
            Error::InvalidTransition { .. } | Error::ParentEnded { .. } => {
                ErrorCode::InvalidTransition
            }
            Error::StaleLease { .. } => ErrorCode::StaleLease,
            Error::VersionConflict { .. } => ErrorCode::VersionConflict,
            Error::StorageFull { .. } => ErrorCode::InsufficientStorage,
            Error::Storage { .. } => ErrorCode::Internal,
        }
    }

    /// A storage failure of no particular kind ([`StorageKind::Other`]),
    /// with the database's own words (kept for logs).
    pub fn storage(detail: impl std::fmt::Display) -> Error {
        Error::Storage {
            kind: StorageKind::Other,
            detail: detail.to_string(),
        }
    }

    /// An invalid field with a message saying what was expected.
    pub fn invalid(field: &'static str, detail: impl Into<String>) -> Error {
        Error::InvalidRequest {
            field,
            detail: detail.into(),
        }
    }
}
