//! `GET /dashboard/counts`: the tenant's runs per state as JSON, which the
//! script fetches again after lifecycle events (a count cannot be derived
//! from an event: a cancel does not say what state it left). Same cookie
//! as the pages; without a valid one, `401` problem+json.

use super::reads::counts as read_counts;
use super::session;
use crate::json::json_response;
use crate::problem::Problem;
use crate::state::ServerState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use runledger::ErrorCode;
use serde::Serialize;
use std::collections::BTreeMap;

/// The body: every state's count and their total.
#[derive(Debug, Serialize)]
pub(crate) struct Counts {
    counts: BTreeMap<&'static str, u64>,
    total: u64,
}

/// `GET /dashboard/counts`.
pub(crate) async fn counts(State(state): State<ServerState>, headers: HeaderMap) -> Response {
    match answer(&state, &headers).await {
        Ok(counts) => {
            let mut response = json_response(StatusCode::OK, &counts);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(problem) => problem.into_response(),
    }
}

async fn answer(state: &ServerState, headers: &HeaderMap) -> Result<Counts, Problem> {
    let access = session::access(state, headers).await?;
    let tenant = access.tenant().ok_or_else(|| {
        Problem::new(
            ErrorCode::Unauthorized,
            "sign in to the dashboard first: POST /dashboard/sign-in",
        )
    })?;
    let counted = read_counts(state.ledger(), tenant).await?;
    Ok(Counts {
        total: counted.iter().map(|(_, count)| count).sum(),
        counts: counted
            .into_iter()
            .map(|(state, count)| (state.as_str(), count))
            .collect(),
    })
}
