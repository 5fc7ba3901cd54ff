//! `POST /v1/runs/{id}/start|heartbeat|finish|cancel`: the state changes a
//! worker or an operator asks for (SPEC §2.5, §2.6). Each accepts
//! `If-Match: "<version>"`; the ledger decides and refuses.

use crate::auth::AuthTenant;
use crate::extract::{IfMatch, RunIdPath};
use crate::json::{JsonBody, json_response};
use crate::problem::{Problem, ProblemBody};
use crate::routes::runs::LeaseRequest;
use crate::schema::RunBody;
use crate::state::ServerState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use runledger::{Cancel, Finish, Heartbeat, Outcome, StartRun};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The body of `POST /v1/runs/{id}/heartbeat`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    /// The epoch of the lease held (required).
    pub lease_epoch: u64,
    /// A new lease length, 100–86,400,000 ms; the previous one when absent.
    #[serde(default)]
    pub lease_ttl_ms: Option<u64>,
}

/// The body of `POST /v1/runs/{id}/finish`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishRequest {
    /// The epoch of the lease held (required).
    pub lease_epoch: u64,
    /// `succeeded` or `failed`.
    pub outcome: Outcome,
    /// Any JSON value, at most 256 KiB serialized.
    #[serde(default)]
    pub result: Option<Value>,
    /// A failure's message, at most 64 KiB.
    #[serde(default)]
    pub error: Option<String>,
}

/// The body of `POST /v1/runs/{id}/cancel` (may be empty).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why; becomes the run's `error`.
    #[serde(default)]
    pub reason: Option<String>,
    /// Also cancel every descendant that has not ended, in the same
    /// transaction; each gets its own `cancelled` event and the `error`
    /// `parent <id> cancelled: <reason>`.
    #[serde(default)]
    pub cascade: bool,
}

/// Starts a queued run under a new lease epoch.
#[utoipa::path(
    post,
    path = "/v1/runs/{id}/start",
    tag = "lifecycle",
    params(("id" = String, Path, description = "The run id.")),
    request_body = LeaseRequest,
    responses(
        (status = 200, description = "The running run with its new lease.", body = RunBody),
        (status = 404, description = "`not_found`.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: the run is not queued.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 412, description = "`version_conflict`: `If-Match` named another version.", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn start_run(
    State(state): State<ServerState>,
    AuthTenant(tenant): AuthTenant,
    RunIdPath(id): RunIdPath,
    IfMatch(if_version): IfMatch,
    JsonBody(body): JsonBody<LeaseRequest>,
) -> Result<Response, Problem> {
    let request = StartRun {
        lease: body.lease()?,
        if_version,
    };
    let run = state.ledger().start(&tenant, &id, request).await?;
    Ok(json_response(StatusCode::OK, &run))
}

/// Extends the lease of a running run.
#[utoipa::path(
    post,
    path = "/v1/runs/{id}/heartbeat",
    tag = "lifecycle",
    params(("id" = String, Path, description = "The run id.")),
    request_body = HeartbeatRequest,
    responses(
        (status = 200, description = "The run with its lease extended.", body = RunBody),
        (status = 404, description = "`not_found`.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`stale_lease` (another epoch, or the run stopped running) or `invalid_transition` (it never started).", body = ProblemBody, content_type = "application/problem+json"),
        (status = 412, description = "`version_conflict`.", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn heartbeat_run(
    State(state): State<ServerState>,
    AuthTenant(tenant): AuthTenant,
    RunIdPath(id): RunIdPath,
    IfMatch(if_version): IfMatch,
    JsonBody(body): JsonBody<HeartbeatRequest>,
) -> Result<Response, Problem> {
    let request = Heartbeat {
        lease_epoch: body.lease_epoch,
        lease_ttl_ms: body.lease_ttl_ms,
        if_version,
    };
    let run = state.ledger().heartbeat(&tenant, &id, request).await?;
    Ok(json_response(StatusCode::OK, &run))
}

/// Ends a running run: succeeded or failed. A repeat of the same finish
/// answers the run unchanged.
#[utoipa::path(
    post,
    path = "/v1/runs/{id}/finish",
    tag = "lifecycle",
    params(("id" = String, Path, description = "The run id.")),
    request_body = FinishRequest,
    responses(
        (status = 200, description = "The finished run.", body = RunBody),
        (status = 404, description = "`not_found`.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`stale_lease` or `invalid_transition`.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 412, description = "`version_conflict`.", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn finish_run(
    State(state): State<ServerState>,
    AuthTenant(tenant): AuthTenant,
    RunIdPath(id): RunIdPath,
    IfMatch(if_version): IfMatch,
    JsonBody(body): JsonBody<FinishRequest>,
) -> Result<Response, Problem> {
    let request = Finish {
        lease_epoch: body.lease_epoch,
        outcome: body.outcome,
        result: body.result,
        error: body.error,
    };
    let run = state
        .ledger()
        .finish(&tenant, &id, request, if_version)
        .await?;
    Ok(json_response(StatusCode::OK, &run))
}

/// Cancels a pending, queued or running run. A repeat answers the run
/// unchanged, whatever its reason.
#[utoipa::path(
    post,
    path = "/v1/runs/{id}/cancel",
    tag = "lifecycle",
    params(("id" = String, Path, description = "The run id.")),
    request_body(content = CancelRequest, description = "May be empty."),
    responses(
        (status = 200, description = "The cancelled run.", body = RunBody),
        (status = 404, description = "`not_found`.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: the run already ended otherwise.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 412, description = "`version_conflict`.", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn cancel_run(
    State(state): State<ServerState>,
    AuthTenant(tenant): AuthTenant,
    RunIdPath(id): RunIdPath,
    IfMatch(if_version): IfMatch,
    JsonBody(body): JsonBody<CancelRequest>,
) -> Result<Response, Problem> {
    let request = Cancel {
        reason: body.reason,
        cascade: body.cascade,
        if_version,
    };
    let run = state.ledger().cancel(&tenant, &id, request).await?;
    Ok(json_response(StatusCode::OK, &run))
}
