//! The routes outside the run API: `/healthz`, `/metrics` (both without a
//! token) and `/v1/openapi.json`.

use crate::http_metrics::{refresh_run_counts, render};
use crate::json::json_response;
use crate::problem::{Problem, ProblemBody};
use crate::state::ServerState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::LazyLock;
use utoipa::ToSchema;

/// The body of `GET /healthz`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// `200` when the database answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "system",
    responses(
        (status = 200, description = "The database answers.", body = Health),
        (status = 500, description = "`internal`: the database does not answer.", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn healthz(State(state): State<ServerState>) -> Result<Response, Problem> {
    state.ledger().auth_required().await?;
    Ok(json_response(StatusCode::OK, &Health { status: "ok" }))
}

/// Prometheus text: HTTP requests, runs by state, the writer, the reaper, the audit.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "system",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4.", body = String, content_type = "text/plain"),
        (status = 500, description = "`internal`: the database does not answer.", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn metrics(State(state): State<ServerState>) -> Result<Response, Problem> {
    refresh_run_counts(state.ledger()).await?;
    let mut response = render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
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
