//! `/v1/runs` and `/v1/runs/{id}`: create (idempotent), read and list runs
//! (SPEC §4). The body is the core's [`CreateRun`], each field read by the
//! core's own parser (`json.rs`): a bad id is `invalid_run_id` with the rule
//! that failed, anything else bad is `invalid_request` naming its field.

use crate::auth::AuthTenant;
use crate::extract::{RunIdPath, StrictQuery, parse_number};
use crate::idempotency::PlannedRunId;
use crate::json::{JsonBody, json_response};
use crate::problem::{Problem, ProblemBody};
use crate::schema::RunBody;
use crate::state::ServerState;
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use runledger::{
    ConcurrencyKey, CreateRun, Kind, ListRuns, Run, RunId, RunState, Tenant, Timestamp,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Query of `GET /v1/runs`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListRunsQuery {
    /// Only runs in this state.
    #[param(value_type = Option<crate::schema::RunStateBody>)]
    pub state: Option<String>,
    /// Only runs of this kind.
    pub kind: Option<String>,
    /// Only direct children of this run.
    pub parent_id: Option<String>,
    /// Only runs of this concurrency group.
    pub concurrency_key: Option<String>,
    /// Only runs created strictly after this RFC 3339 instant.
    pub created_after: Option<String>,
    /// Only runs created strictly before this RFC 3339 instant.
    pub created_before: Option<String>,
    /// `asc` (oldest first, the default) or `desc` (newest first).
    pub order: Option<String>,
    /// Page size, 1–1,000; 50 when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of runs, in the order asked (oldest first by default).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunList {
    /// The runs.
    #[schema(value_type = Vec<RunBody>)]
    pub runs: Vec<Run>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Creates a run, or answers the existing identical one.
#[utoipa::path(
    post,
    path = "/v1/runs",
    tag = "runs",
    request_body = CreateRun,
    responses(
        (status = 201, description = "The run was created.", body = RunBody),
        (status = 200, description = "The run existed with identical creation parameters.", body = RunBody),
        (status = 404, description = "`not_found`: the parent does not exist.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`run_conflict` (the run exists with other creation parameters; `fields` names them) or `concurrency_limit` (`active_run_ids` lists the group's active runs).", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create_run(
    State(state): State<ServerState>,
    AuthTenant(tenant): AuthTenant,
    planned: Option<Extension<PlannedRunId>>,
    JsonBody(mut request): JsonBody<CreateRun>,
) -> Result<Response, Problem> {
    if let (None, None, None, Some(Extension(PlannedRunId(id)))) =
        (&request.id, &request.parent_id, &request.key, planned)
    {
        // Every attempt of a keyed create plans the same id (idempotency.rs).
        request.id = Some(id);
    }
    let created = state.ledger().create_run(&tenant, request).await?;
    let status = if created.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = json_response(status, &created.run);
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/runs/{}", created.run.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// An RFC 3339 instant of the query, or `422` naming `field`.
fn instant(field: &'static str, text: Option<&str>) -> Result<Option<Timestamp>, Problem> {
    text.map(|text| {
        Timestamp::parse_rfc3339(text).ok_or_else(|| {
            Problem::invalid_request(
                field,
                format!("{field} '{text}' is not an RFC 3339 time, e.g. 2026-12-07T14:00:00Z"),
            )
        })
    })
    .transpose()
}

/// The run `id`.
#[utoipa::path(
    get,
    path = "/v1/runs/{id}",
    tag = "runs",
    params(("id" = String, Path, description = "The run id (a child's is `<parent id>:<key>`).")),
    responses(
        (status = 200, description = "The run.", body = RunBody),
        (status = 404, description = "`not_found`: no such run in this tenant.", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_run(
    State(state): State<ServerState>,
    AuthTenant(tenant): AuthTenant,
    RunIdPath(id): RunIdPath,
) -> Result<Response, Problem> {
    answer_run(&state, &tenant, &id).await
}

/// `GET` of a run whose id is the name of a static route (`batch`,
/// `claim`): those paths take `POST` for their own operation, and answer
/// `GET` as `GET /v1/runs/{id}` would (the router, issue #17).
pub async fn get_run_named(
    State(state): State<ServerState>,
    AuthTenant(tenant): AuthTenant,
    request: axum::extract::Request,
) -> Result<Response, Problem> {
    let name = request.uri().path().rsplit('/').next().unwrap_or_default();
    let id = RunId::parse(name)?;
    answer_run(&state, &tenant, &id).await
}

/// The run `id` of `tenant`, with its version as entity tag.
async fn answer_run(state: &ServerState, tenant: &Tenant, id: &RunId) -> Result<Response, Problem> {
    let run = state.ledger().get_run(tenant, id).await?;
    let mut response = json_response(StatusCode::OK, &run);
    // The version is the run's entity tag: send it back as `If-Match`.
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", run.version)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

/// A page of runs, oldest first (`order=desc`: newest first), filtered.
#[utoipa::path(
    get,
    path = "/v1/runs",
    tag = "runs",
    params(ListRunsQuery),
    responses(
        (status = 200, description = "One page of runs.", body = RunList),
    )
)]
pub async fn list_runs(
    State(state): State<ServerState>,
    AuthTenant(tenant): AuthTenant,
    StrictQuery(query): StrictQuery<ListRunsQuery>,
) -> Result<Response, Problem> {
    let filter = ListRuns {
        state: query.state.as_deref().map(RunState::parse).transpose()?,
        kind: query.kind.as_deref().map(Kind::parse).transpose()?,
        parent_id: query.parent_id.as_deref().map(RunId::parse).transpose()?,
        concurrency_key: query
            .concurrency_key
            .as_deref()
            .map(ConcurrencyKey::parse)
            .transpose()?,
        created_after: instant("created_after", query.created_after.as_deref())?,
        created_before: instant("created_before", query.created_before.as_deref())?,
        newest_first: match query.order.as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(Problem::invalid_request(
                    "order",
                    format!("order '{other}' is not asc or desc"),
                ));
            }
        },
        limit: parse_number("limit", query.limit.as_deref())?,
        cursor: query.cursor,
    };
    let page = state.ledger().list_runs(&tenant, filter).await?;
    Ok(json_response(
        StatusCode::OK,
        &RunList {
            runs: page.runs,
            next_cursor: page.next_cursor,
        },
    ))
}
