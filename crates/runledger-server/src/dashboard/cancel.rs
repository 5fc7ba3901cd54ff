//! `POST /dashboard/cancel`: the run pane's cancel form (fields `csrf`,
//! `run`, `reason`, `cascade`). Only a page of this server can post it:
//! the browser must say the form is same-origin (`Sec-Fetch-Site`, else
//! `Origin` = this server), and `csrf` must equal the session's CSRF token
//! (or, while no API token exists, the server's), which only this server's
//! pages carry; the session cookie is SameSite=Strict besides. A refused
//! or malformed form is a `4xx` page naming what is wrong and cancels
//! nothing; success redirects (303) to the run.

use super::respond::{html, problem_page};
use super::session;
use super::view::{message_page, run_href};
use crate::problem::Problem;
use crate::sessions::secrets_equal;
use crate::state::ServerState;
use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use runledger::{Cancel, Error, ErrorCode, RunId};
use serde::Deserialize;

/// The cancel form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct CancelForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    run: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    cascade: String,
}

/// `POST /dashboard/cancel`.
pub(crate) async fn cancel(
    State(state): State<ServerState>,
    headers: HeaderMap,
    form: Result<Form<CancelForm>, FormRejection>,
) -> Response {
    if !session::is_same_origin(&headers) {
        return html(
            StatusCode::FORBIDDEN,
            message_page(
                "Refused",
                "a cancel from another site is refused; use the dashboard's own page",
            ),
        );
    }
    match decide(&state, &headers, form).await {
        Ok(id) => Redirect::to(&run_href(id.as_str())).into_response(),
        Err(problem) => problem_page(&problem),
    }
}

async fn decide(
    state: &ServerState,
    headers: &HeaderMap,
    form: Result<Form<CancelForm>, FormRejection>,
) -> Result<RunId, Problem> {
    let access = session::access(state, headers).await?;
    let (Some(tenant), Some(csrf)) = (access.tenant(), access.csrf()) else {
        return Err(Problem::new(
            ErrorCode::Unauthorized,
            "sign in to the dashboard to cancel a run",
        ));
    };
    let Form(form) = form.map_err(|rejection| {
        Problem::invalid_body(format!(
            "the cancel form could not be read: {}",
            rejection.body_text()
        ))
    })?;
    if !secrets_equal(form.csrf.trim(), csrf) {
        return Err(Problem::new(
            ErrorCode::ForbiddenOrigin,
            "the cancel form's csrf token is missing or not this session's; reload the dashboard and try again",
        ));
    }
    let id = RunId::parse(form.run.trim())?;
    let cascade = match form.cascade.as_str() {
        "" | "false" => false,
        "true" | "on" => true,
        other => {
            return Err(Error::invalid(
                "cascade",
                format!("cascade must be true or false, not '{other}'"),
            )
            .into());
        }
    };
    let reason = form.reason.trim();
    state
        .ledger()
        .cancel(
            tenant,
            &id,
            Cancel {
                reason: (!reason.is_empty()).then(|| reason.to_owned()),
                cascade,
                if_version: None,
            },
        )
        .await?;
    Ok(id)
}
