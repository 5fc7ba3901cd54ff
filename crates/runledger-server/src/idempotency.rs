//! `Idempotency-Key` on every `POST` (SPEC §4, IETF draft semantics). The
//! key is claimed in the database, scoped by tenant, with a fingerprint of
//! the request (SHA-256 of method, path and body): a new key runs the
//! request and stores its answer; a retry with the same fingerprint replays
//! it; another fingerprint is `422 idempotency_key_reused`; a retry while
//! the first is running is `409 idempotency_key_in_flight`. 5xx answers are
//! not stored (the key is released), so a retry after a server failure runs
//! afresh.
//!
//! The request runs in its own task: a client that hangs up does not stop
//! it half way, so its answer is always stored and a retry replays it
//! instead of, say, creating a second run with a new generated id.

use crate::problem::Problem;
use crate::state::ServerState;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use runledger::{ErrorCode, IdempotencyBegin, IdempotencyKey, Tenant};
use sha2::{Digest, Sha256};

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Set on a replayed response.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Middleware: applies `Idempotency-Key` to POST requests that carry one.
pub async fn idempotency(
    State(state): State<ServerState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST || !request.headers().contains_key(&IDEMPOTENCY_KEY) {
        return next.run(request).await;
    }
    run_once(state, request, next)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn run_once(state: ServerState, request: Request, next: Next) -> Result<Response, Problem> {
    let key = key_of(&request)?;
    let Some(tenant) = request.extensions().get::<Tenant>().cloned() else {
        // Outside /v1 there is no tenant and nothing to replay.
        return Ok(next.run(request).await);
    };
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|error| {
            Problem::internal(format!("a buffered body could not be read: {error}"))
        })?;
    let fingerprint = fingerprint(&parts.method, parts.uri.path(), &bytes);
    let ledger = state.ledger().clone();
    let begun = ledger
        .idempotency_begin(&tenant, &key, &fingerprint)
        .await?;
    match begun {
        IdempotencyBegin::Started => {}
        IdempotencyBegin::InFlight => {
            return Err(Problem::new(
                ErrorCode::IdempotencyKeyInFlight,
                format!(
                    "a request with Idempotency-Key {key} is still running; retry when it has answered"
                ),
            ));
        }
        IdempotencyBegin::Reused => {
            return Err(Problem::new(
                ErrorCode::IdempotencyKeyReused,
                format!(
                    "Idempotency-Key {key} was already used with a different request; use a new key for a new request"
                ),
            ));
        }
        IdempotencyBegin::Replay { status, body } => return Ok(replay(status, body)),
    }
    let request = Request::from_parts(parts, axum::body::Body::from(bytes));
    let task = {
        let (ledger, tenant, key) = (ledger.clone(), tenant.clone(), key.clone());
        tokio::spawn(async move {
            let response = next.run(request).await;
            settle(&ledger, &tenant, &key, response).await
        })
    };
    match task.await {
        Ok(response) => Ok(response),
        Err(error) => {
            // The handler panicked: nothing to replay, so a retry runs afresh.
            let _ = ledger.idempotency_release(&tenant, &key).await;
            Err(Problem::internal(format!(
                "an idempotent request's task failed: {error}"
            )))
        }
    }
}

/// Stores a non-5xx answer for replays, or releases the key after a 5xx.
async fn settle(
    ledger: &runledger::Ledger,
    tenant: &Tenant,
    key: &IdempotencyKey,
    response: Response,
) -> Response {
    let status = response.status();
    if status.is_server_error() {
        if let Err(error) = ledger.idempotency_release(tenant, key).await {
            tracing::error!(%error, "an Idempotency-Key could not be released after a 5xx");
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(error) => {
            let _ = ledger.idempotency_release(tenant, key).await;
            return Problem::internal(format!("a response body could not be read: {error}"))
                .into_response();
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    if let Err(error) = ledger
        .idempotency_complete(tenant, key, status.as_u16(), &text)
        .await
    {
        // The answer stands; a retry after the in-flight window runs afresh.
        tracing::error!(%error, "an idempotent response could not be stored");
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

fn replay(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let content_type = if status.is_client_error() || status.is_server_error() {
        crate::problem::PROBLEM_JSON
    } else {
        "application/json"
    };
    let mut response = (status, Bytes::from(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

fn key_of(request: &Request) -> Result<IdempotencyKey, Problem> {
    let mut values = request.headers().get_all(&IDEMPOTENCY_KEY).iter();
    let value = values
        .next()
        .ok_or_else(|| Problem::internal("Idempotency-Key vanished"))?;
    if values.next().is_some() {
        return Err(Problem::invalid_request(
            "Idempotency-Key",
            "Idempotency-Key was sent more than once",
        ));
    }
    let text = value.to_str().map_err(|_| {
        Problem::invalid_request(
            "Idempotency-Key",
            "an Idempotency-Key holds only printable ASCII characters",
        )
    })?;
    Ok(IdempotencyKey::parse(text)?)
}

/// SHA-256 of method, path and body, in hex.
fn fingerprint(method: &Method, path: &str, body: &Bytes) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
