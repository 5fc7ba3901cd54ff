//! `POST /v1/runs/{id}/start|heartbeat|finish|cancel`: the state changes a
//! worker or an operator asks for (SPEC §2.5, §2.6). Each accepts
//! `If-Match: "<version>"`; the ledger decides and refuses.

use crate::auth::AuthTenant;
use crate::extract::{IfMatch, RunIdPath};
use crate::json::{JsonBody, json_response};
use crate::problem::{Problem, ProblemBody};
use crate::schema::RunBody;
use crate::state::ServerState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use runledger::{Cancel, Finish, Heartbeat, StartLease, StartRun};

/// Starts a queued run under a new lease epoch.
#[utoipa::path(
    post,
    path = "/v1/runs/{id}/start",
    tag = "lifecycle",
    params(("id" = String, Path, description = "The run id.")),
    request_body = StartLease,
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
    JsonBody(lease): JsonBody<StartLease>,
) -> Result<Response, Problem> {
    let request = StartRun { lease, if_version };
    let run = state.ledger().start(&tenant, &id, request).await?;
    Ok(json_response(StatusCode::OK, &run))
}

/// Extends the lease of a running run.
#[utoipa::path(
    post,
    path = "/v1/runs/{id}/heartbeat",
    tag = "lifecycle",
    params(("id" = String, Path, description = "The run id.")),
    request_body = Heartbeat,
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
    JsonBody(body): JsonBody<Heartbeat>,
) -> Result<Response, Problem> {
    let request = Heartbeat { if_version, ..body };
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
    request_body = Finish,
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
    JsonBody(request): JsonBody<Finish>,
) -> Result<Response, Problem> {
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
    request_body(content = Cancel, description = "May be empty."),
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
    JsonBody(body): JsonBody<Cancel>,
) -> Result<Response, Problem> {
    let request = Cancel { if_version, ..body };
    let run = state.ledger().cancel(&tenant, &id, request).await?;
    Ok(json_response(StatusCode::OK, &run))
}
