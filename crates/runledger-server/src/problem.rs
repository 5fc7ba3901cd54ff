//! RFC 9457 `application/problem+json`: every error this server answers,
//! from a refused transition to an unknown route. [`status`] is the only
//! place an HTTP status is chosen for an error; it matches every
//! [`ErrorCode`] with no wildcard, so a new code cannot ship without one.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use runledger::{Error, ErrorCode, Operation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The HTTP status of each error code (SPEC §4 "Errors").
pub fn status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidRunId | ErrorCode::InvalidRequest => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::RunConflict
        | ErrorCode::ConcurrencyLimit
        | ErrorCode::InvalidTransition
        | ErrorCode::StaleLease
        | ErrorCode::IdempotencyKeyInFlight => StatusCode::CONFLICT,
        ErrorCode::VersionConflict => StatusCode::PRECONDITION_FAILED,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::RateLimited | ErrorCode::TooManyStreams => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::UriTooLong => StatusCode::URI_TOO_LONG,
        ErrorCode::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        ErrorCode::ForbiddenOrigin => StatusCode::FORBIDDEN,
        ErrorCode::MisdirectedRequest => StatusCode::MISDIRECTED_REQUEST,
        ErrorCode::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A short, fixed summary of each code (the problem's `title`).
fn title(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InvalidRunId => "Invalid run id",
        ErrorCode::InvalidRequest => "Invalid request",
        ErrorCode::NotFound => "Not found",
        ErrorCode::RunConflict => "Run exists with other parameters",
        ErrorCode::ConcurrencyLimit => "Concurrency group is full",
        ErrorCode::InvalidTransition => "Invalid transition",
        ErrorCode::StaleLease => "Stale lease",
        ErrorCode::VersionConflict => "Version conflict",
        ErrorCode::UnsupportedMediaType => "Unsupported media type",
        ErrorCode::MethodNotAllowed => "Method not allowed",
        ErrorCode::IdempotencyKeyReused => "Idempotency-Key reused",
        ErrorCode::IdempotencyKeyInFlight => "Idempotency-Key in flight",
        ErrorCode::Unauthorized => "Unauthorized",
        ErrorCode::RateLimited => "Rate limited",
        ErrorCode::PayloadTooLarge => "Payload too large",
        ErrorCode::UriTooLong => "URI too long",
        ErrorCode::ForbiddenOrigin => "Forbidden origin",
        ErrorCode::MisdirectedRequest => "Misdirected request",
        ErrorCode::InsufficientStorage => "Insufficient storage",
        ErrorCode::HeadersTooLarge => "Request header fields too large",
        ErrorCode::TooManyStreams => "Too many open streams",
        ErrorCode::Internal => "Internal server error",
    }
}

/// The problem `type` URI of a code.
pub fn type_uri(code: ErrorCode) -> String {
    format!("urn:runledger:problem:{code}")
}

/// The JSON body of a problem: the RFC 9457 members, the stable `code`, and
/// the structured extras of the codes that have them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProblemBody {
    /// `urn:runledger:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A fixed summary of the code.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What exactly went wrong and what was expected.
    pub detail: String,
    /// The stable machine name of the error.
    #[schema(value_type = crate::schema::ProblemCode)]
    pub code: String,
    /// `invalid_request`: the offending field, as named in the JSON API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The run concerned, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// `not_found` of a child's parent: the parent asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// `run_conflict`: the creation parameters that differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// `concurrency_limit`: the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_key: Option<String>,
    /// `concurrency_limit`: the limit applied; `too_many_streams`: the
    /// caller's cap on open streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `concurrency_limit`: the active runs of the group, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_run_ids: Option<Vec<String>>,
    /// `invalid_transition` and `stale_lease`: the run's current state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `invalid_transition`: the refused operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// `stale_lease`: the run's current lease epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_epoch: Option<u64>,
    /// `version_conflict`: the version `If-Match` named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<u64>,
    /// `version_conflict`: the run's current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
    /// `rate_limited`: seconds until a request may succeed (also `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
    /// `POST /v1/runs/batch`: the refused item, in request order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
}

/// An error on its way to becoming a problem+json response.
#[derive(Debug, Clone)]
pub struct Problem {
    code: ErrorCode,
    // Boxed: a `Result<_, Problem>` stays small on the happy path.
    body: Box<ProblemBody>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem of `code` saying `detail` (lowercase, what was expected).
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Problem {
        Problem {
            code,
            body: Box::new(ProblemBody {
                problem_type: type_uri(code),
                title: title(code).to_owned(),
                status: status(code).as_u16(),
                detail: detail.into(),
                code: code.as_str().to_owned(),
                field: None,
                run_id: None,
                parent_id: None,
                fields: None,
                concurrency_key: None,
                limit: None,
                active_run_ids: None,
                state: None,
                operation: None,
                current_epoch: None,
                expected_version: None,
                current_version: None,
                retry_after_s: None,
                index: None,
            }),
            headers: Vec::new(),
        }
    }

    /// `422 invalid_request` naming `field`.
    pub fn invalid_request(field: &str, detail: impl Into<String>) -> Problem {
        let mut problem = Problem::new(ErrorCode::InvalidRequest, detail);
        problem.body.field = Some(field.to_owned());
        problem
    }

    /// `422 invalid_request` about the request as a whole.
    pub fn invalid_body(detail: impl Into<String>) -> Problem {
        Problem::new(ErrorCode::InvalidRequest, detail)
    }

    /// `500 internal`: logs `source` and tells the client nothing about it.
    pub fn internal(source: impl std::fmt::Display) -> Problem {
        tracing::error!(error = %source, "internal error answered with 500");
        Problem::new(
            ErrorCode::Internal,
            "the server failed to answer; the cause is in its log",
        )
    }

    /// `429 rate_limited` with `Retry-After: retry_after_s`.
    pub fn rate_limited(retry_after_s: u64) -> Problem {
        let mut problem = Problem::new(
            ErrorCode::RateLimited,
            format!("this token's rate limit is exhausted; retry in {retry_after_s} s"),
        );
        problem.body.retry_after_s = Some(retry_after_s);
        problem.with_header(header::RETRY_AFTER, HeaderValue::from(retry_after_s))
    }

    /// `429 too_many_streams`: the caller already holds `limit` open streams.
    pub fn too_many_streams(limit: u32) -> Problem {
        let mut problem = Problem::new(
            ErrorCode::TooManyStreams,
            format!(
                "this caller already has {limit} open event streams (SSE streams, WebSocket connections and their subscriptions), the server's --max-streams-per-token; close one first"
            ),
        );
        problem.body.limit = Some(limit);
        problem
    }

    /// Names the refused item of a batch (`index`).
    pub fn at_index(mut self, index: usize) -> Problem {
        self.body.index = Some(index);
        self
    }

    /// Adds a response header (`WWW-Authenticate`, `Allow`, …).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Problem {
        self.headers.push((name, value));
        self
    }

    /// The problem's code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The problem's body.
    pub fn body(&self) -> &ProblemBody {
        &self.body
    }
}

impl From<Error> for Problem {
    fn from(error: Error) -> Problem {
        let code = error.code();
        match &error {
            Error::Storage { .. } => return Problem::internal(&error),
            Error::StorageFull { detail } => {
                tracing::error!(%detail, "a write was refused: the database's disk is full");
                crate::routes::system::record_storage_full();
                return Problem::new(
                    code,
                    "the write was refused because the database's disk is full; nothing was \
                     written: free space on the database's disk, then retry",
                );
            }
            _ => {}
        }
        let mut problem = Problem::new(code, error.to_string());
        let body = &mut problem.body;
        match error {
            Error::InvalidRunId { .. } | Error::Storage { .. } | Error::StorageFull { .. } => {}
            Error::InvalidRequest { field, .. } => body.field = Some(field.to_owned()),
            Error::RunNotFound { id } => body.run_id = Some(id.to_string()),
            Error::ParentNotFound { parent_id } => body.parent_id = Some(parent_id.to_string()),
            Error::RunConflict { id, fields } => {
                body.run_id = Some(id.to_string());
                body.fields = Some(fields.into_iter().map(str::to_owned).collect());
            }
            Error::ConcurrencyLimit {
                key,
                limit,
                active_run_ids,
            } => {
                body.concurrency_key = Some(key.to_string());
                body.limit = Some(limit);
                body.active_run_ids =
                    Some(active_run_ids.iter().map(|id| id.to_string()).collect());
            }
            Error::InvalidTransition {
                id,
                state,
                operation,
            } => {
                body.run_id = Some(id.to_string());
                body.state = Some(state.to_string());
                body.operation = Some(operation.to_string());
            }
            Error::ParentEnded {
                id,
                parent_id,
                state,
            } => {
                body.run_id = Some(id.to_string());
                body.parent_id = Some(parent_id.to_string());
                body.state = Some(state.to_string());
                body.operation = Some(Operation::Create.to_string());
            }
            Error::StaleLease {
                id, current, state, ..
            } => {
                body.run_id = Some(id.to_string());
                body.state = Some(state.to_string());
                body.current_epoch = Some(current);
            }
            Error::VersionConflict {
                id,
                expected,
                current,
            } => {
                body.run_id = Some(id.to_string());
                body.expected_version = Some(expected);
                body.current_version = Some(current);
            }
        }
        problem
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let bytes = match serde_json::to_vec(&*self.body) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(%error, "a problem body could not be serialized");
                br#"{"type":"urn:runledger:problem:internal","title":"Internal server error","status":500,"detail":"the server failed to answer; the cause is in its log","code":"internal"}"#.to_vec()
            }
        };
        let mut response = (status(self.code), bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_status_and_only_server_side_ones_are_5xx() {
        for code in ErrorCode::ALL {
            let status = status(code);
            assert_eq!(
                status.is_server_error(),
                matches!(code, ErrorCode::Internal | ErrorCode::InsufficientStorage),
                "{code}"
            );
            let body = Problem::new(code, "x").body;
            assert_eq!(body.code, code.as_str());
            assert_eq!(body.status, status.as_u16());
        }
    }

    #[test]
    fn storage_errors_hide_their_detail() {
        let problem = Problem::from(Error::storage("disk I/O error at /secret/path"));
        assert_eq!(problem.code(), ErrorCode::Internal);
        assert!(!problem.body().detail.contains("secret"));
    }
}
