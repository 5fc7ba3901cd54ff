//! `Idempotency-Key` on every `POST` (SPEC §4, IETF draft semantics). The
//! key is claimed in the database, scoped by tenant, with a fingerprint of
//! the request (SHA-256 of method, path and the body's RFC 8785 canonical
//! JSON, so `{"kind":"x"}` and `{ "kind": "x" }` are one request): a new key
//! runs the request and stores its answer; a retry with the same
//! fingerprint replays it; another fingerprint is `422
//! idempotency_key_reused`; a retry while the first is running is `409
//! idempotency_key_in_flight`.
//!
//! What a crash cannot break: "in flight" lasts only while the request is
//! alive (it touches its key every second; a key nobody touched for 5 s is
//! taken over by the retry), and a retry that takes a key over re-runs the
//! request so that it cannot do the work twice. Every operation but one is
//! already safe to repeat (a create with an id answers the same run, a
//! start by the same owner, a finish or cancel is answered unchanged, a
//! heartbeat extends the lease again); a create without an id gets the id
//! planned from the key's first claim ([`runledger::planned_run_id`]), so
//! its retry finds the run its first attempt may have committed instead of
//! creating a second one. 5xx answers are not stored (the key is released,
//! keeping its planned id), so a retry after a server failure runs afresh.
//!
//! An append or a claim is not safe to re-run (a second event; a second
//! run claimed), so it carries its key to the ledger, which marks the key's
//! record with what it wrote in the write's own transaction. A retry that
//! takes over a key whose dead attempt left a mark gets it as
//! [`KeyedAttempt::committed`] and answers from it without writing.
//!
//! The request runs in its own task: a client that hangs up does not stop
//! it half way, so its answer is always stored and a retry replays it.

use crate::problem::Problem;
use crate::state::ServerState;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use runledger::limits::IDEMPOTENCY_IN_FLIGHT_TOUCH_MS;
use runledger::{ErrorCode, IdempotencyBegin, IdempotencyKey, IdempotencyMark, RunId, Tenant};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Set on a replayed response.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The run id a create without one takes: planned from its
/// `Idempotency-Key`, the same on every attempt (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRunId(pub RunId);

/// The `Idempotency-Key` a request runs under: the append and claim
/// routes hand it to the ledger to be marked in their write's transaction,
/// and answer from `committed` when an earlier attempt's write committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedAttempt {
    /// The key.
    pub key: IdempotencyKey,
    /// What an earlier attempt that died before answering committed.
    pub committed: Option<IdempotencyMark>,
}

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
    let (mut parts, body) = request.into_parts();
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
        IdempotencyBegin::Started { since, committed } => {
            parts
                .extensions
                .insert(PlannedRunId(runledger::planned_run_id(
                    &tenant, &key, since,
                )));
            parts.extensions.insert(KeyedAttempt {
                key: key.clone(),
                committed,
            });
        }
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
            let response = keeping_alive(&ledger, &tenant, &key, next.run(request)).await;
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

/// Runs `request`, touching the key every second while it runs, so the
/// key stays "in flight" exactly as long as a live request holds it.
async fn keeping_alive(
    ledger: &runledger::Ledger,
    tenant: &Tenant,
    key: &IdempotencyKey,
    request: impl Future<Output = Response>,
) -> Response {
    let period = Duration::from_millis(IDEMPOTENCY_IN_FLIGHT_TOUCH_MS);
    let mut touches = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tokio::pin!(request);
    loop {
        tokio::select! {
            response = &mut request => return response,
            _ = touches.tick() => {
                if let Err(error) = ledger.idempotency_touch(tenant, key).await {
                    tracing::warn!(%error, "an in-flight Idempotency-Key could not be touched");
                }
            }
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
    let mut attempts = 0;
    while let Err(error) = ledger
        .idempotency_complete(tenant, key, status.as_u16(), &text)
        .await
    {
        attempts += 1;
        if attempts == 3 {
            // The answer stands; a retry after the in-flight window re-runs
            // the request, which is safe to repeat (see the module doc).
            tracing::error!(%error, "an idempotent response could not be stored");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50 * attempts)).await;
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

/// SHA-256 of method, path and body, in hex. A JSON body counts as its RFC
/// 8785 canonical text (so spacing and key order do not matter); any other
/// body (which the handler refuses) as its bytes.
pub fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => {
            hasher.update(b"json\n");
            hasher.update(runledger::canonical_json(&value).as_bytes());
        }
        Err(_) => {
            hasher.update(b"bytes\n");
            hasher.update(body);
        }
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
