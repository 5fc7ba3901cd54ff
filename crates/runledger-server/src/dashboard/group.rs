//! `GET /dashboard/group?key=K`: one concurrency group's active runs and
//! its pending queue in promotion order (SPEC §3), read with the API's list
//! (`concurrency_key` and `state` filters). A missing or malformed key is
//! a `422` naming `key`.

use super::respond::{html, refusal};
use super::session::{self, Access};
use super::view::{GroupPage, group_page, now, sign_in_page};
use crate::problem::Problem;
use crate::state::ServerState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use runledger::{ConcurrencyKey, Ledger, ListRuns, Run, RunState, Tenant};
use serde::Deserialize;

/// Runs listed per section of the group page.
pub(crate) const GROUP_RUNS_SHOWN_MAX: u32 = 200;

/// The query of the group page.
#[derive(Debug, Deserialize)]
pub(crate) struct GroupQuery {
    #[serde(default)]
    key: String,
}

/// `GET /dashboard/group`.
pub(crate) async fn group(
    State(state): State<ServerState>,
    headers: HeaderMap,
    query: Result<Query<GroupQuery>, QueryRejection>,
) -> Response {
    let access = match session::access(&state, &headers).await {
        Ok(access) => access,
        Err(problem) => return refusal(&problem, &headers),
    };
    let Some(tenant) = access.tenant() else {
        return html(StatusCode::OK, sign_in_page(None));
    };
    let key = match query {
        Ok(Query(query)) => query.key,
        Err(rejection) => {
            return refusal(&Problem::invalid_body(rejection.body_text()), &headers);
        }
    };
    let key = match ConcurrencyKey::parse(key.trim()) {
        Ok(key) => key,
        Err(error) => return refusal(&error.into(), &headers),
    };
    let ledger = state.ledger();
    let read = async {
        let mut active = runs_in(ledger, tenant, &key, RunState::Queued).await?.0;
        active.extend(runs_in(ledger, tenant, &key, RunState::Running).await?.0);
        active.sort_by_key(|run| run.created_at);
        let (pending, more_pending) = runs_in(ledger, tenant, &key, RunState::Pending).await?;
        Ok::<_, Problem>((active, pending, more_pending))
    };
    let (active, pending, more_pending) = match read.await {
        Ok(read) => read,
        Err(problem) => return refusal(&problem, &headers),
    };
    html(
        StatusCode::OK,
        group_page(&GroupPage {
            tenant,
            signed_in: matches!(access, Access::SignedIn { .. }),
            key: key.as_str(),
            active: &active,
            pending: &pending,
            more_pending,
            now: now(),
        }),
    )
}

/// The group's runs in `state`, oldest first (promotion order for
/// pending runs), and whether there are more.
async fn runs_in(
    ledger: &Ledger,
    tenant: &Tenant,
    key: &ConcurrencyKey,
    state: RunState,
) -> Result<(Vec<Run>, bool), Problem> {
    let page = ledger
        .list_runs(
            tenant,
            ListRuns {
                state: Some(state),
                concurrency_key: Some(key.clone()),
                limit: Some(GROUP_RUNS_SHOWN_MAX),
                ..ListRuns::default()
            },
        )
        .await?;
    Ok((page.runs, page.next_cursor.is_some()))
}
