//! Limits on a request's head — its target and its header fields — answered
//! with problems (`414 uri_too_long`, `431 headers_too_large`) instead of
//! hyper's empty-bodied refusals. The connection's own limits sit far above
//! these (serve.rs), so only a request past those never reaches this layer.

use crate::problem::Problem;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use runledger::ErrorCode;

/// Longest request target (path and query) in bytes.
pub const URI_BYTES_MAX: usize = 8 * 1024;
/// Most header fields a request may carry.
pub const HEADERS_MAX: usize = 100;

/// Middleware: refuses a request whose target or header count is over the
/// limits, naming the limit; passes the others on.
pub async fn limit_request_head(request: Request, next: Next) -> Response {
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if uri_bytes > URI_BYTES_MAX {
        let detail = format!(
            "the request target is {uri_bytes} bytes; at most {URI_BYTES_MAX} are accepted"
        );
        return Problem::new(ErrorCode::UriTooLong, detail).into_response();
    }
    let headers = request.headers().len();
    if headers > HEADERS_MAX {
        let detail =
            format!("the request has {headers} header fields; at most {HEADERS_MAX} are accepted");
        return Problem::new(ErrorCode::HeadersTooLarge, detail).into_response();
    }
    next.run(request).await
}
