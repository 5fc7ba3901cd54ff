//! `/v1/runs/{id}/events`: append a caller event, read a run's log (SPEC
//! §1 "Event", §2.6 on epochs); `/v1/events`: read the tenant's log and
//! learn its newest position, where a client starts a live subscription
//! that wants only what happens next. The live streams (`/events/stream`,
//! `/v1/events/stream`, `/v1/ws`) are registered beside these in
//! `router.rs`.

use crate::auth::AuthTenant;
use crate::extract::{IfMatch, RunIdPath, StrictQuery, parse_number};
use crate::idempotency::KeyedAttempt;
use crate::json::{JsonBody, json_response};
use crate::problem::{Problem, ProblemBody};
use crate::schema::EventBody;
use crate::state::ServerState;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use runledger::{AppendEvent, Event, IdempotencyMark, RunId, Tenant};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The answer of an append.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct AppendedBody {
    /// The event's seq in its run.
    pub seq: u64,
    /// The event's position in its tenant.
    pub position: u64,
}

/// Query of `GET /v1/runs/{id}/events`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events with a larger seq; 0 when absent.
    #[param(value_type = Option<u64>)]
    pub after: Option<String>,
    /// Page size, 1–1,000; 50 when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// A page of a run's events, in seq order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventList {
    /// The events.
    #[schema(value_type = Vec<EventBody>)]
    pub events: Vec<Event>,
}

/// Query of `GET /v1/events`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TenantEventsQuery {
    /// Only events with a larger position; 0 when absent.
    #[param(value_type = Option<u64>)]
    pub after: Option<String>,
    /// Page size, 1–1,000; 50 when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// A page of the tenant's events, in position order, and its newest position.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantEventList {
    /// The events.
    #[schema(value_type = Vec<EventBody>)]
    pub events: Vec<Event>,
    /// The position of the tenant's newest event when the page was read (0
    /// before the first): a tenant stream or subscription resumed after it
    /// carries only what happens next.
    pub last_position: u64,
}

/// Appends a caller event to a run's log.
#[utoipa::path(
    post,
    path = "/v1/runs/{id}/events",
    tag = "events",
    params(("id" = String, Path, description = "The run id.")),
    request_body = AppendEvent,
    responses(
        (status = 201, description = "The event was appended.", body = AppendedBody),
        (status = 404, description = "`not_found`.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`stale_lease` (a running run needs its current epoch; an ended run takes no events).", body = ProblemBody, content_type = "application/problem+json"),
        (status = 412, description = "`version_conflict`.", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn append_event(
    State(state): State<ServerState>,
    AuthTenant(tenant): AuthTenant,
    RunIdPath(id): RunIdPath,
    IfMatch(if_version): IfMatch,
    attempt: Option<Extension<KeyedAttempt>>,
    JsonBody(body): JsonBody<AppendEvent>,
) -> Result<Response, Problem> {
    let attempt = attempt.map(|Extension(attempt)| attempt);
    if let Some(committed) = attempt.as_ref().and_then(|a| a.committed.as_ref()) {
        // An earlier attempt committed this append and died before
        // answering: answer its event, write nothing.
        let event = committed_event(&state, &tenant, &id, committed).await?;
        return Ok(json_response(
            StatusCode::CREATED,
            &AppendedBody {
                seq: event.seq,
                position: event.position,
            },
        ));
    }
    let request = AppendEvent {
        if_version,
        idempotency_key: attempt.map(|attempt| attempt.key),
        ..body
    };
    let appended = state.ledger().append_event(&tenant, &id, request).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &AppendedBody {
            seq: appended.seq,
            position: appended.position,
        },
    ))
}

/// The event an earlier attempt of a keyed append committed.
async fn committed_event(
    state: &ServerState,
    tenant: &Tenant,
    id: &RunId,
    committed: &IdempotencyMark,
) -> Result<Event, Problem> {
    let found = if committed.run_id == *id {
        let after = committed.seq.saturating_sub(1);
        state.ledger().events(tenant, id, after, Some(1)).await?
    } else {
        Vec::new()
    };
    found
        .into_iter()
        .find(|event| event.seq == committed.seq)
        .ok_or_else(|| {
            Problem::internal(format!(
                "the Idempotency-Key's earlier append (event {} of run {}) is not in the log",
                committed.seq, committed.run_id
            ))
        })
}

/// A run's events after seq `after`, oldest first.
#[utoipa::path(
    get,
    path = "/v1/runs/{id}/events",
    tag = "events",
    params(("id" = String, Path, description = "The run id."), EventsQuery),
    responses(
        (status = 200, description = "One page of events.", body = EventList),
        (status = 404, description = "`not_found`.", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_events(
    State(state): State<ServerState>,
    AuthTenant(tenant): AuthTenant,
    RunIdPath(id): RunIdPath,
    StrictQuery(query): StrictQuery<EventsQuery>,
) -> Result<Response, Problem> {
    let after = parse_number::<u64>("after", query.after.as_deref())?.unwrap_or(0);
    let limit = parse_number::<u32>("limit", query.limit.as_deref())?;
    let events = state.ledger().events(&tenant, &id, after, limit).await?;
    Ok(json_response(StatusCode::OK, &EventList { events }))
}

/// The tenant's events after position `after`, oldest first, and the
/// tenant's newest position.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    params(TenantEventsQuery),
    responses(
        (status = 200, description = "One page of the tenant's events and its newest position.", body = TenantEventList),
    )
)]
pub async fn list_tenant_events(
    State(state): State<ServerState>,
    AuthTenant(tenant): AuthTenant,
    StrictQuery(query): StrictQuery<TenantEventsQuery>,
) -> Result<Response, Problem> {
    let after = parse_number::<u64>("after", query.after.as_deref())?.unwrap_or(0);
    let limit = parse_number::<u32>("limit", query.limit.as_deref())?;
    let events = state.ledger().tenant_events(&tenant, after, limit).await?;
    // Read after the page: never below a position the page holds.
    let last_position = state.ledger().last_position(&tenant).await?;
    Ok(json_response(
        StatusCode::OK,
        &TenantEventList {
            events,
            last_position,
        },
    ))
}
