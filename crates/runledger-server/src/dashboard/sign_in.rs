//! Sign-in and sign-out. `POST /dashboard/sign-in` (form field `token`)
//! checks the token with the ledger, exchanges it for a server-side session
//! (`sessions.rs`), sets the `runledger_token` cookie to the session id
//! and redirects to `/` (303, so a reload does not post again); a bad token
//! shows the form again with a `401` and sets no cookie. `POST
//! /dashboard/sign-out` ends the session on the server (a copy of the
//! cookie stops working) and clears the cookie. Both refuse a cross-site
//! form (see [`session::is_same_origin`]).

use super::respond::{html, problem_page};
use super::session;
use super::view::{message_page, sign_in_page};
use crate::problem::Problem;
use crate::sessions::session_cookie;
use crate::state::ServerState;
use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::time::Instant;

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    token: String,
}

/// `POST /dashboard/sign-in`.
pub(crate) async fn sign_in(
    State(state): State<ServerState>,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    if !session::is_same_origin(&headers) {
        return cross_site();
    }
    let token = match form {
        Ok(Form(form)) => form.token.trim().to_owned(),
        Err(rejection) => {
            return html(
                rejection.status(),
                sign_in_page(Some(&format!(
                    "the sign-in form could not be read: {}",
                    rejection.body_text()
                ))),
            );
        }
    };
    if token.is_empty() {
        return refused("enter an API token");
    }
    let tenant = match state.ledger().authenticate(&token).await {
        Ok(tenant) => tenant,
        Err(error) => return problem_page(&error.into()),
    };
    if tenant.is_none() {
        return refused("that token is not valid on this server");
    }
    // A fresh id on every sign-in (no session fixation); the browser's
    // previous session, if any, ends.
    if let Some(previous) = session_cookie(&headers) {
        state.sessions().end(&previous);
    }
    let Some(cookie) = state
        .sessions()
        .create(token, Instant::now())
        .and_then(|created| session::set_cookie(&created.id, &headers))
    else {
        return problem_page(&Problem::internal("no randomness for a session id"));
    };
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

/// `POST /dashboard/sign-out`.
pub(crate) async fn sign_out(State(state): State<ServerState>, headers: HeaderMap) -> Response {
    if !session::is_same_origin(&headers) {
        return cross_site();
    }
    if let Some(id) = session_cookie(&headers) {
        state.sessions().end(&id);
    }
    let mut response = Redirect::to("/").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(&headers));
    response
}

/// `GET /dashboard/sign-in` (a bookmarked form target): back to `/`.
pub(crate) async fn to_dashboard() -> Redirect {
    Redirect::to("/")
}

fn refused(message: &str) -> Response {
    // No cookie is set, and one the browser may hold is left alone.
    let mut response = html(StatusCode::UNAUTHORIZED, sign_in_page(Some(message)));
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"runledger\""),
    );
    response
}

fn cross_site() -> Response {
    html(
        StatusCode::FORBIDDEN,
        message_page(
            "Refused",
            "a sign-in or sign-out from another site is refused; use the form on this server's own page",
        ),
    )
}
