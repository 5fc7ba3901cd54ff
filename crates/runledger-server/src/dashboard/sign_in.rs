//! Sign-in and sign-out. `POST /dashboard/sign-in` (form field `token`)
//! checks the token with the ledger, sets the `runledger_token` cookie and
//! redirects to `/` (303, so a reload does not post again); a bad token
//! shows the form again with a `401` and sets no cookie. `POST
//! /dashboard/sign-out` clears the cookie. Both refuse a cross-site form
//! (see [`session::is_same_origin`]).

use super::respond::{html, problem_page};
use super::session;
use super::view::{message_page, sign_in_page};
use crate::state::ServerState;
use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

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
    // A valid token is the ledger's own `rl_` + hex; anything else could
    // not have authenticated, so this only guards the header.
    let Some(cookie) = session::set_cookie(&token, &headers) else {
        return refused("that token is not valid on this server");
    };
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

/// `POST /dashboard/sign-out`.
pub(crate) async fn sign_out(headers: HeaderMap) -> Response {
    if !session::is_same_origin(&headers) {
        return cross_site();
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
