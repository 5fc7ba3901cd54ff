//! `POST /v1/runs/claim` (SPEC §4): the oldest queued run matching the
//! filters, started for the caller exactly as `start` would, or `204` when
//! none is queued within `wait_ms`. The body is the core's [`ClaimRun`]
//! (read as [`ClaimBody`]); the ledger decides (see `Ledger::claim`).

use crate::auth::{AuthTenant, Caller};
use crate::idempotency::KeyedAttempt;
use crate::json::{JsonBody, json_response};
use crate::problem::Problem;
use crate::schema::RunBody;
use crate::state::ServerState;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use runledger::{ClaimBody, ClaimRun, ErrorCode, IdempotencyMark, Run, RunState, Tenant};

/// Claims the oldest queued run matching the filters.
#[utoipa::path(
    post,
    path = "/v1/runs/claim",
    tag = "lifecycle",
    request_body = ClaimBody,
    responses(
        (status = 200, description = "The claimed run, running under a new lease for `owner`.", body = RunBody),
        (status = 204, description = "No matching run was queued within `wait_ms`."),
        (status = 409, description = "`stale_lease`: a retry (same `Idempotency-Key`) of a claim whose answer was lost, when the lease it took no longer holds.", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_streams`: a waiting claim takes a stream slot, and the caller holds `--max-streams-per-token` already.", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn claim_run(
    State(state): State<ServerState>,
    AuthTenant(tenant): AuthTenant,
    caller: Caller,
    attempt: Option<Extension<KeyedAttempt>>,
    JsonBody(mut request): JsonBody<ClaimRun>,
) -> Result<Response, Problem> {
    if let Some(Extension(attempt)) = attempt {
        if let Some(committed) = attempt.committed {
            let run = committed_claim(&state, &tenant, &request, &committed).await?;
            return Ok(json_response(StatusCode::OK, &run));
        }
        request.idempotency_key = Some(attempt.key);
    }
    // A waiting claim follows the tenant's feed like a stream does, so it
    // takes one of the caller's stream slots while it waits (`429
    // too_many_streams` past `--max-streams-per-token`): a client cannot
    // hold more waiting claims than it may hold streams.
    let _slot = (request.wait_ms > 0)
        .then(|| state.open_stream(&caller))
        .transpose()?;
    match state.ledger().claim(&tenant, request).await? {
        Some(run) => Ok(json_response(StatusCode::OK, &run)),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// The run an earlier attempt of a keyed claim took and died before
/// answering: replayed while that lease still holds; once it does not (the
/// run timed out, was claimed again or ended), `409 stale_lease`, never
/// another worker's lease.
async fn committed_claim(
    state: &ServerState,
    tenant: &Tenant,
    request: &ClaimRun,
    committed: &IdempotencyMark,
) -> Result<Run, Problem> {
    let run = state.ledger().get_run(tenant, &committed.run_id).await?;
    let holds = run.state == RunState::Running
        && run.lease.as_ref().is_some_and(|lease| {
            lease.epoch == committed.seq && lease.owner == request.lease.owner
        });
    if holds {
        return Ok(run);
    }
    Err(Problem::new(
        ErrorCode::StaleLease,
        format!(
            "this claim took run {} (epoch {}) but its answer was lost, and that lease no longer holds; claim again with a new Idempotency-Key",
            committed.run_id, committed.seq
        ),
    ))
}
