//! How every dashboard page leaves the server: HTML with headers that keep
//! it to itself: a Content-Security-Policy that allows only this server's
//! own script, style and connections (no inline script, so injected markup
//! could not run even if escaping failed), no framing, no sniffing, no
//! caching of a tenant's data.

use crate::problem::{Problem, status};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::Markup;

/// The policy of every dashboard page.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// `markup` as an HTML response of `status`.
pub(crate) fn html(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Whether the client reads HTML (a browser says so in `Accept`); anything
/// else gets errors as problem+json, like the rest of the server.
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| accept.contains("text/html"))
}

/// `problem` as a page for a browser, else as problem+json.
pub(crate) fn refusal(problem: &Problem, headers: &HeaderMap) -> Response {
    if wants_html(headers) {
        problem_page(problem)
    } else {
        problem.clone().into_response()
    }
}

/// A page for a failure the library reported: its status, and its detail
/// (a 5xx detail hides the cause, which the log keeps).
pub(crate) fn problem_page(problem: &Problem) -> Response {
    let code = status(problem.code());
    html(
        code,
        super::view::message_page(
            code.canonical_reason().unwrap_or("Error"),
            &problem.body().detail,
        ),
    )
}
