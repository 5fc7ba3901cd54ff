//! `GET /`: the dashboard, or the sign-in form when tokens exist and the
//! browser has no valid cookie. The page is read straight from the ledger
//! with the same filters, page size and cursor as `GET /v1/runs`, so it is
//! complete without JavaScript; the tenant position is read first, so the
//! live stream the script opens after it misses nothing the page lacks.
//! A refusal (bad filter, cursor or run id; a failure) is a page for a
//! browser (`Accept: text/html`) and problem+json for anything else, like
//! every other error of the server.

use super::respond::{html, refusal, wants_html};
use super::session::{self, Access};
use super::view::{Detail, Filter, RunsPage, runs_page, sign_in_page};
use crate::problem::Problem;
use crate::state::ServerState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use runledger::{ErrorCode, Event, Kind, Ledger, ListRuns, Run, RunId, RunState, Tenant};
use serde::Deserialize;

/// Runs on one dashboard page (the API's default page size).
pub(crate) const RUNS_PER_PAGE: u32 = 50;

/// Events shown for the open run: its newest, one API page.
pub(crate) const EVENTS_SHOWN_MAX: u32 = 1_000;

/// The query of `/`; empty means absent (an untouched form field).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct IndexQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    run: String,
}

/// `GET /`.
pub(crate) async fn index(
    State(state): State<ServerState>,
    headers: HeaderMap,
    query: Result<Query<IndexQuery>, QueryRejection>,
) -> Response {
    let access = match session::access(&state, &headers).await {
        Ok(access) => access,
        Err(problem) => return refusal(&problem, &headers),
    };
    let Some(tenant) = access.tenant() else {
        return sign_in_needed(&access, &headers);
    };
    let (filter, query_error) = match query {
        Ok(Query(query)) => (
            Filter {
                state: query.state.trim().to_owned(),
                kind: query.kind.trim().to_owned(),
                cursor: query.cursor,
                run: query.run.trim().to_owned(),
            },
            None,
        ),
        Err(rejection) => (
            Filter::default(),
            Some(Problem::invalid_body(rejection.body_text())),
        ),
    };
    let signed_in = matches!(access, Access::SignedIn(_));
    match dashboard(state.ledger(), tenant, signed_in, &filter, query_error).await {
        Ok(Rendered::Page(response)) => response,
        Ok(Rendered::Refused(problem, page)) if wants_html(&headers) => {
            let mut page = page;
            *page.status_mut() = crate::problem::status(problem.code());
            page
        }
        Ok(Rendered::Refused(problem, _)) => problem.into_response(),
        Err(problem) => refusal(&problem, &headers),
    }
}

/// The sign-in form; a refused cookie is cleared.
fn sign_in_needed(access: &Access, headers: &HeaderMap) -> Response {
    let stale = matches!(access, Access::SignInNeeded { stale: true });
    let error = stale.then_some("your sign-in is no longer valid; sign in again");
    let mut response = html(StatusCode::OK, sign_in_page(error));
    if stale {
        response
            .headers_mut()
            .insert(header::SET_COOKIE, session::clear_cookie(headers));
    }
    response
}

/// A rendered dashboard, or one that shows a refusal (a bad filter,
/// cursor or run id) beside what could be read.
enum Rendered {
    Page(Response),
    Refused(Problem, Response),
}

/// Reads and renders the page. A refused filter, cursor or run id is shown
/// on the page; a storage failure is an error.
async fn dashboard(
    ledger: &Ledger,
    tenant: &Tenant,
    signed_in: bool,
    filter: &Filter,
    query_error: Option<Problem>,
) -> Result<Rendered, Problem> {
    let position = ledger.last_position(tenant).await?;
    let counts = counts(ledger, tenant).await?;
    let mut refused = query_error;
    let (runs, next_cursor) = if refused.is_some() {
        (Vec::new(), None)
    } else {
        match list(ledger, tenant, filter).await {
            Ok(page) => page,
            Err(problem) if crate::problem::status(problem.code()).is_client_error() => {
                refused = Some(problem);
                (Vec::new(), None)
            }
            Err(failed) => return Err(failed),
        }
    };
    let open = if filter.run.is_empty() {
        None
    } else {
        Some(open_run(ledger, tenant, &filter.run).await?)
    };
    let detail = open.as_ref().map(|open| match open {
        Ok((run, events)) => Detail::Found {
            run,
            events,
            earlier: events.first().is_some_and(|event| event.seq > 1),
        },
        Err(problem) => Detail::Refused(&problem.body().detail),
    });
    let filter_error = refused
        .as_ref()
        .map(|problem| problem.body().detail.clone());
    let markup = runs_page(&RunsPage {
        tenant,
        signed_in,
        filter,
        error: filter_error.as_deref(),
        counts: &counts,
        runs: &runs,
        next_cursor: next_cursor.as_deref(),
        position,
        detail,
    });
    let page = html(StatusCode::OK, markup);
    let refused = refused.or_else(|| open.and_then(Result::err));
    Ok(match refused {
        Some(problem) => Rendered::Refused(problem, page),
        None => Rendered::Page(page),
    })
}

/// Runs per state for every state, zeros included.
pub(crate) async fn counts(
    ledger: &Ledger,
    tenant: &Tenant,
) -> Result<Vec<(RunState, u64)>, Problem> {
    let found = ledger.tenant_run_counts(tenant).await?;
    Ok(RunState::ALL
        .into_iter()
        .map(|state| {
            let count = found
                .iter()
                .find(|(counted, _)| *counted == state)
                .map_or(0, |(_, count)| *count);
            (state, count)
        })
        .collect())
}

/// One page of runs; a 4xx problem when the filters or cursor are refused.
async fn list(
    ledger: &Ledger,
    tenant: &Tenant,
    filter: &Filter,
) -> Result<(Vec<Run>, Option<String>), Problem> {
    let wanted = ListRuns {
        state: non_empty(&filter.state).map(RunState::parse).transpose()?,
        kind: non_empty(&filter.kind).map(Kind::parse).transpose()?,
        parent_id: None,
        concurrency_key: None,
        limit: Some(RUNS_PER_PAGE),
        cursor: non_empty(&filter.cursor).map(str::to_owned),
        ..ListRuns::default()
    };
    let page = ledger.list_runs(tenant, wanted).await?;
    Ok((page.runs, page.next_cursor))
}

/// The run `id` and its newest [`EVENTS_SHOWN_MAX`] events (the live list
/// grows at the tail), or a message saying why not (an unknown run and
/// another tenant's read alike, as in the API).
async fn open_run(
    ledger: &Ledger,
    tenant: &Tenant,
    id: &str,
) -> Result<Result<(Run, Vec<Event>), Problem>, Problem> {
    let id = match RunId::parse(id) {
        Ok(id) => id,
        Err(error) => return Ok(Err(Problem::from(error))),
    };
    let run = match ledger.get_run(tenant, &id).await {
        Ok(run) => run,
        Err(error) if error.code() == ErrorCode::NotFound => {
            return Ok(Err(Problem::new(
                ErrorCode::NotFound,
                format!("no run {id} in this tenant"),
            )));
        }
        Err(error) => return Err(error.into()),
    };
    let after_seq = run.last_seq.saturating_sub(u64::from(EVENTS_SHOWN_MAX));
    let events = ledger
        .events(tenant, &id, after_seq, Some(EVENTS_SHOWN_MAX))
        .await?;
    Ok(Ok((run, events)))
}

fn non_empty(text: &str) -> Option<&str> {
    if text.is_empty() { None } else { Some(text) }
}
