//! Request bodies are read whole, once, before anything else looks at them,
//! and refused past [`REQUEST_BODY_BYTES_MAX`] (SPEC §4 "Limits") with a
//! problem rather than axum's plain-text 413. Later layers (idempotency
//! fingerprints, the JSON extractor) read the buffered bytes.

use crate::problem::Problem;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use runledger::ErrorCode;

/// Largest request body: 1 MiB.
pub const REQUEST_BODY_BYTES_MAX: usize = 1024 * 1024;

/// Middleware: buffers the request body, or answers `413 payload_too_large`.
pub async fn buffer_body(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > REQUEST_BODY_BYTES_MAX as u64) {
        return too_large().into_response();
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, REQUEST_BODY_BYTES_MAX).await {
        Ok(bytes) => bytes,
        Err(error) if is_length_limit(&error) => return too_large().into_response(),
        Err(error) => {
            return Problem::invalid_body(format!("the request body could not be read: {error}"))
                .into_response();
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn too_large() -> Problem {
    Problem::new(
        ErrorCode::PayloadTooLarge,
        format!("the request body is larger than {REQUEST_BODY_BYTES_MAX} bytes"),
    )
}

/// Whether a body error is the length limit (anywhere in its source chain).
fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}
