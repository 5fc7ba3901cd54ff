//! `GET /`: the dashboard, or the sign-in form when tokens exist and the
//! browser has no valid session. The page is read straight from the ledger
//! with the same filters and page size as `GET /v1/runs`, newest first, so
//! it is complete without JavaScript; the tenant position is read first, so
//! the live stream the script opens after it misses nothing the page lacks.
//! A refusal (bad filter, cursor or run id; a failure) is a page for a
//! browser (`Accept: text/html`) and problem+json for anything else, like
//! every other error of the server.

use super::listing::{self, Listing};
use super::reads::{self, is_refusal};
use super::respond::{html, refusal, wants_html};
use super::session::{self, Access};
use super::view::{Detail, Filter, RunsPage, now, runs_page, sign_in_page};
use crate::problem::Problem;
use crate::state::ServerState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use runledger::Tenant;
use serde::Deserialize;

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
    newer: String,
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
    let (Some(tenant), Some(csrf)) = (access.tenant(), access.csrf()) else {
        return sign_in_needed(&access, &headers);
    };
    let (filter, query_error) = match query {
        Ok(Query(query)) => (
            Filter {
                state: query.state.trim().to_owned(),
                kind: query.kind.trim().to_owned(),
                cursor: query.cursor.trim().to_owned(),
                newer: query.newer.trim().to_owned(),
                run: query.run.trim().to_owned(),
            },
            None,
        ),
        Err(rejection) => (
            Filter::default(),
            Some(Problem::invalid_body(rejection.body_text())),
        ),
    };
    let shown = Shown {
        tenant,
        signed_in: matches!(access, Access::SignedIn { .. }),
        csrf,
        origin: origin(&headers),
    };
    match dashboard(&state, &shown, &filter, query_error).await {
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

/// Who the page is for.
struct Shown<'a> {
    tenant: &'a Tenant,
    signed_in: bool,
    csrf: &'a str,
    origin: String,
}

/// `scheme://host` of the request, for the empty state's commands.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("127.0.0.1:7878");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// The sign-in form; a refused cookie is cleared.
fn sign_in_needed(access: &Access, headers: &HeaderMap) -> Response {
    let stale = matches!(access, Access::SignInNeeded { stale: true });
    let error = stale.then_some(
        "your session has ended (signed out, expired or its token revoked); sign in again",
    );
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
    state: &ServerState,
    shown: &Shown<'_>,
    filter: &Filter,
    query_error: Option<Problem>,
) -> Result<Rendered, Problem> {
    let ledger = state.ledger();
    let tenant = shown.tenant;
    let position = ledger.last_position(tenant).await?;
    let counts = reads::counts(ledger, tenant).await?;
    let mut refused = query_error;
    let listing = if refused.is_some() {
        Listing::default()
    } else {
        match listing::list(ledger, tenant, filter).await {
            Ok(listing) => listing,
            Err(problem) if is_refusal(&problem) => {
                refused = Some(problem);
                Listing::default()
            }
            Err(failed) => return Err(failed),
        }
    };
    let open = if filter.run.is_empty() {
        None
    } else {
        match reads::open_run(ledger, tenant, &filter.run).await {
            Ok(open) => Some(Ok(open)),
            Err(problem) if is_refusal(&problem) => Some(Err(problem)),
            Err(failed) => return Err(failed),
        }
    };
    let detail = open.as_ref().map(|open| match open {
        Ok(open) => Detail::Found {
            run: &open.run,
            children: &open.children,
            more_children: open.more_children,
            events: &open.events,
            earlier: open.events.first().is_some_and(|event| event.seq > 1),
        },
        Err(problem) => Detail::Refused(&problem.body().detail),
    });
    let filter_error = refused
        .as_ref()
        .map(|problem| problem.body().detail.clone());
    let tokens_exist = state.auth_required(false).await?;
    let markup = runs_page(&RunsPage {
        tenant,
        signed_in: shown.signed_in,
        filter,
        error: filter_error.as_deref(),
        counts: &counts,
        runs: &listing.runs,
        older: listing.older.as_deref(),
        newer: listing.newer.as_ref(),
        origin: &shown.origin,
        tokens_exist,
        csrf: shown.csrf,
        now: now(),
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
