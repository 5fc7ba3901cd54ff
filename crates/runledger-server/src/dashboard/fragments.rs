//! Pieces of a page the script swaps in, rendered by the same code as the
//! full page so a live pane and a reloaded one look alike:
//! `GET /dashboard/run?run=ID` (the run pane; `&part=live`: only what is
//! above its events, which the script swaps when the run changes) and
//! `GET /dashboard/children?run=ID` (one level of the children tree).
//! Same session as the pages; without one, `401` problem+json. A bad or
//! unknown run id is a `4xx` problem naming it.

use super::reads;
use super::respond::html;
use super::session;
use super::view::{Detail, children_list, detail, live_part, now};
use crate::problem::Problem;
use crate::state::ServerState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use runledger::{ErrorCode, Tenant};
use serde::Deserialize;

/// The query of both fragments.
#[derive(Debug, Deserialize)]
pub(crate) struct RunQuery {
    #[serde(default)]
    run: String,
    #[serde(default)]
    part: String,
}

/// `GET /dashboard/run`.
pub(crate) async fn run_pane(
    State(state): State<ServerState>,
    headers: HeaderMap,
    query: Result<Query<RunQuery>, QueryRejection>,
) -> Response {
    let answer = async {
        let (tenant, csrf, query) = settle(&state, &headers, query).await?;
        match query.part.as_str() {
            "" => {}
            "live" => {
                let run = reads::run(state.ledger(), &tenant, &query.run).await?;
                let (children, more) = reads::children(state.ledger(), &tenant, &run.id).await?;
                return Ok(html(
                    StatusCode::OK,
                    live_part(&run, &children, more, &csrf, &now()),
                ));
            }
            other => {
                return Err(runledger::Error::invalid(
                    "part",
                    format!("part must be live or absent, not '{other}'"),
                )
                .into());
            }
        }
        let open = reads::open_run(state.ledger(), &tenant, &query.run).await?;
        let view = Detail::Found {
            run: &open.run,
            children: &open.children,
            more_children: open.more_children,
            events: &open.events,
            earlier: open.events.first().is_some_and(|event| event.seq > 1),
        };
        Ok::<_, Problem>(html(StatusCode::OK, detail(&view, "/", &csrf, &now())))
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /dashboard/children`.
pub(crate) async fn children(
    State(state): State<ServerState>,
    headers: HeaderMap,
    query: Result<Query<RunQuery>, QueryRejection>,
) -> Response {
    let answer = async {
        let (tenant, _, query) = settle(&state, &headers, query).await?;
        let run = reads::run(state.ledger(), &tenant, &query.run).await?;
        let (children, more) = reads::children(state.ledger(), &tenant, &run.id).await?;
        Ok::<_, Problem>(html(
            StatusCode::OK,
            children_list(run.id.as_str(), &children, more),
        ))
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

/// The tenant, CSRF token and query of a fragment request.
async fn settle(
    state: &ServerState,
    headers: &HeaderMap,
    query: Result<Query<RunQuery>, QueryRejection>,
) -> Result<(Tenant, String, RunQuery), Problem> {
    let access = session::access(state, headers).await?;
    let (Some(tenant), Some(csrf)) = (access.tenant(), access.csrf()) else {
        return Err(Problem::new(
            ErrorCode::Unauthorized,
            "sign in to the dashboard first: POST /dashboard/sign-in",
        ));
    };
    let Query(query) = query.map_err(|rejection| Problem::invalid_body(rejection.body_text()))?;
    if query.run.trim().is_empty() {
        return Err(runledger::Error::invalid(
            "run",
            "the query parameter run (a run id) is required",
        )
        .into());
    }
    Ok((tenant.clone(), csrf.to_owned(), query))
}
