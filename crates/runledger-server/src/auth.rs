//! Auth (SPEC §4 "Auth"): once any API token exists, every `/v1` request
//! needs one, as `Authorization: Bearer <token>`, a WebSocket subprotocol,
//! or the dashboard's session cookie (which stands for the token the
//! operator signed in with, see `sessions.rs`), and the token decides the
//! tenant. Without tokens every request
//! acts for the `default` tenant. The per-token rate limit is taken here,
//! after the token is known to be real.

use crate::problem::Problem;
use crate::sessions::session_cookie;
use crate::state::ServerState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use runledger::{ErrorCode, Ledger, Tenant};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long "no token exists yet" is believed before the database is asked
/// again, so a token added by `runledger tenant add` in another process is
/// honoured within this time. "Some token exists" is final: tokens are never
/// deleted.
pub const AUTH_REQUIRED_RECHECK: Duration = Duration::from_secs(1);

/// Whether tokens are required, cached.
#[derive(Debug, Default)]
pub struct AuthRequired {
    /// `Some(checked_at)` while no token existed when last checked.
    open_since: Mutex<Option<Instant>>,
    required: std::sync::atomic::AtomicBool,
}

impl AuthRequired {
    /// Whether requests need a token, asking the ledger at most once per
    /// [`AUTH_REQUIRED_RECHECK`] while none exists, or at once when `fresh`.
    pub async fn get(&self, ledger: &Ledger, fresh: bool) -> Result<bool, Problem> {
        use std::sync::atomic::Ordering;
        if self.required.load(Ordering::Acquire) {
            return Ok(true);
        }
        let recently_open = self
            .open_since
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_some_and(|checked_at| checked_at.elapsed() < AUTH_REQUIRED_RECHECK);
        if recently_open && !fresh {
            return Ok(false);
        }
        let required = ledger.auth_required().await?;
        if required {
            self.required.store(true, Ordering::Release);
        } else {
            *self
                .open_since
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Instant::now());
        }
        Ok(required)
    }
}

/// Whether `path` is under the authenticated API prefix.
fn is_api_path(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// Middleware: settles the request's tenant (or answers 401 / 429).
pub async fn authenticate(
    State(state): State<ServerState>,
    mut request: Request,
    next: Next,
) -> Response {
    if !is_api_path(request.uri().path()) {
        return next.run(request).await;
    }
    match caller_for(&state, request.headers()).await {
        Ok((tenant, caller)) => {
            request.extensions_mut().insert(tenant);
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(problem) => problem.into_response(),
    }
}

/// Who a request acts as: the token it brought, or — while no token exists
/// — the tokenless caller of its tenant. Open streams are counted (and
/// closed on revocation) per caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    /// A valid API token (its text).
    Token(String),
    /// No token exists on this server: every request acts for the tenant.
    Tokenless(Tenant),
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Caller, Problem> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Problem::internal("a /v1 route ran without the auth layer"))
    }
}

async fn caller_for(state: &ServerState, headers: &HeaderMap) -> Result<(Tenant, Caller), Problem> {
    let presented = presented_token(state, headers);
    // A request that brings a token is never let in as `default` on a stale
    // "no token exists" answer: the first token may have just been made.
    if !state.auth_required(presented.is_ok()).await? {
        return Ok((Tenant::default(), Caller::Tokenless(Tenant::default())));
    }
    let (token, by_session) = presented?;
    let Some(tenant) = state.ledger().authenticate(&token).await? else {
        if by_session {
            // The token was revoked: its sessions end with it.
            state.sessions().end_token(&token);
            return Err(unauthorized(
                "the dashboard session's token was revoked; sign in again",
            ));
        }
        return Err(unauthorized("the token is not valid on this server"));
    };
    if let Some(limiter) = state.rate_limiter() {
        limiter.check(&token).map_err(Problem::rate_limited)?;
    }
    Ok((tenant, Caller::Token(token)))
}

/// The token from `Authorization: Bearer`, else a subprotocol, else the
/// one the session cookie stands for (`true`: it came from a session).
fn presented_token(state: &ServerState, headers: &HeaderMap) -> Result<(String, bool), Problem> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value
            .to_str()
            .map_err(|_| unauthorized("the Authorization header is not ASCII"))?;
        let (scheme, token) = text.trim().split_once(' ').unwrap_or((text, ""));
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(unauthorized(
                "the Authorization header must be `Bearer <token>`",
            ));
        }
        return Ok((token.to_owned(), false));
    }
    if let Some(token) = subprotocol_token(headers) {
        return Ok((token, false));
    }
    if let Some(id) = session_cookie(headers) {
        // SPEC §4 names this cookie as carrying the token: an API token in
        // it is taken as one (whoever set it holds the token). The
        // dashboard's sign-in never puts the token there, only a session.
        if id.starts_with(API_TOKEN_PREFIX) {
            return Ok((id, false));
        }
        return match state.sessions().lookup(&id, Instant::now()) {
            Some(grant) => Ok((grant.token, true)),
            None => Err(unauthorized(
                "the dashboard session is not valid (signed out or expired); sign in again",
            )),
        };
    }
    Err(unauthorized(
        "this server requires an API token: send Authorization: Bearer <token> (create one with `runledger tenant add NAME`)",
    ))
}

/// How every API token the ledger issues begins (`rl_` and 64 hex digits);
/// a session id is bare hex, so the cookie's value says which it is.
const API_TOKEN_PREFIX: &str = "rl_";

/// The WebSocket subprotocol that carries a browser app's token
/// (`runledger.bearer.<token>`, offered beside [`WS_PROTOCOL`]): a browser
/// cannot set headers on a WebSocket, and a token in a URL would be logged.
pub const BEARER_SUBPROTOCOL_PREFIX: &str = "runledger.bearer.";

/// The subprotocol the server selects for its WebSocket (SPEC §4).
pub const WS_PROTOCOL: &str = "runledger.v1";

/// The token offered as a [`BEARER_SUBPROTOCOL_PREFIX`] subprotocol, if any.
fn subprotocol_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|protocol| protocol.trim().strip_prefix(BEARER_SUBPROTOCOL_PREFIX))
        .filter(|token| !token.is_empty())
        .map(str::to_owned)
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(ErrorCode::Unauthorized, detail).with_header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"runledger\""),
    )
}

/// The tenant the request acts for, settled by [`authenticate`].
#[derive(Debug, Clone)]
pub struct AuthTenant(pub Tenant);

impl<S: Send + Sync> FromRequestParts<S> for AuthTenant {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<AuthTenant, Problem> {
        parts
            .extensions
            .get::<Tenant>()
            .cloned()
            .map(AuthTenant)
            .ok_or_else(|| Problem::internal("a /v1 route ran without the auth layer"))
    }
}
