//! The script, stylesheet and icon, compiled into the binary: no network, no
//! CDN, no build step. Revalidated on every load (`no-cache`) so a new
//! server version is picked up at once.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The dashboard's script: live updates and the run pane.
pub(crate) const APP_JS: &str = include_str!("static/app.js");

/// The dashboard's stylesheet.
pub(crate) const APP_CSS: &str = include_str!("static/app.css");

/// The tab icon (without it a browser asks for `/favicon.ico` and logs a 404).
pub(crate) const ICON_SVG: &str = include_str!("static/icon.svg");

/// `GET /dashboard/app.js`.
pub(crate) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /dashboard/app.css`.
pub(crate) async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

/// `GET /dashboard/icon.svg`.
pub(crate) async fn icon() -> Response {
    asset("image/svg+xml", ICON_SVG)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
