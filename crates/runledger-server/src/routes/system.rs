//! The routes outside the run API: `/healthz` (without a token), `/metrics`
//! (with the `--metrics-token` once API tokens exist) and `/v1/openapi.json`.

use crate::http_metrics::{refresh_run_counts, render};
use crate::json::json_response;
use crate::problem::{Problem, ProblemBody};
use crate::state::ServerState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use utoipa::ToSchema;

/// The body of `GET /healthz`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// How long `/healthz` reports a write refused for lack of disk space.
pub const STORAGE_FULL_REPORTED_FOR: Duration = Duration::from_secs(60);

/// When this process last had a write refused for lack of disk space, in
/// milliseconds since the Unix epoch (0: never).
static STORAGE_FULL_AT_MS: AtomicU64 = AtomicU64::new(0);

/// Notes that a write was just refused for lack of disk space.
pub(crate) fn record_storage_full() {
    STORAGE_FULL_AT_MS.store(unix_ms(SystemTime::now()), Ordering::Relaxed);
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// `200` when the database answers and no write was refused for lack of
/// disk space in the last minute.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "system",
    responses(
        (status = 200, description = "The database answers.", body = Health),
        (status = 507, description = "`insufficient_storage`: a write was refused in the last minute because the database's disk is full.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 500, description = "`internal`: the database does not answer.", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn healthz(State(state): State<ServerState>) -> Result<Response, Problem> {
    state.ledger().auth_required().await?;
    let full_at = STORAGE_FULL_AT_MS.load(Ordering::Relaxed);
    let window = STORAGE_FULL_REPORTED_FOR.as_millis() as u64;
    if full_at > 0 && unix_ms(SystemTime::now()).saturating_sub(full_at) < window {
        let at = runledger::Timestamp::from_unix_ms(full_at as i64);
        return Err(Problem::new(
            runledger::ErrorCode::InsufficientStorage,
            format!(
                "a write was refused at {} because the database's disk is full; free space on it",
                at.to_rfc3339()
            ),
        ));
    }
    Ok(json_response(StatusCode::OK, &Health { status: "ok" }))
}

/// Prometheus text: HTTP requests, runs by state, the writer, the reaper, the audit.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "system",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4.", body = String, content_type = "text/plain"),
        (status = 401, description = "`unauthorized`: API tokens exist and the request did not bring the server's `--metrics-token` as a bearer token.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 500, description = "`internal`: the database does not answer.", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn metrics(
    State(state): State<ServerState>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    check_metrics_token(&state, &headers).await?;
    refresh_run_counts(state.ledger()).await?;
    let mut response = render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

/// Once API tokens exist, `/metrics` (which counts every tenant's runs)
/// needs the `--metrics-token` as a bearer token, as Prometheus'
/// `authorization` setting sends it; without tokens it is open, like the
/// rest of a loopback-only server.
async fn check_metrics_token(state: &ServerState, headers: &HeaderMap) -> Result<(), Problem> {
    // Asked afresh: a token made a moment ago closes /metrics at once.
    if !state.auth_required(true).await? {
        return Ok(());
    }
    let Some(expected) = state.metrics_token() else {
        return Err(Problem::new(
            runledger::ErrorCode::Unauthorized,
            "API tokens exist, so /metrics needs a token: start the server with \
             --metrics-token TOKEN and have Prometheus send it as a bearer token",
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(token) if expected.matches(token) => Ok(()),
        _ => Err(Problem::new(
            runledger::ErrorCode::Unauthorized,
            "/metrics needs Authorization: Bearer <the server's --metrics-token>",
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"runledger-metrics\""),
        )),
    }
}

/// The document, generated once per process.
static OPENAPI_JSON: LazyLock<String> = LazyLock::new(crate::router::openapi_json);

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "system",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document.", body = Object),
    )
)]
pub async fn openapi_document() -> Response {
    let mut response = OPENAPI_JSON.clone().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
