//! The runledger HTTP/JSON API (SPEC §4) over a [`runledger::Ledger`]:
//! routes, RFC 9457 problems, auth and the per-token rate limit,
//! `Idempotency-Key`, the OpenAPI document and Prometheus metrics. Only
//! HTTP lives here; every decision about a run is the library's.
//!
//! Start at [`router`] (for tests: `router(state).oneshot(request)`) or
//! [`serve`] (a listener, graceful shutdown, background tasks).

mod auth;
mod body;
mod browser;
mod dashboard;
mod extract;
#[doc(hidden)]
pub mod fuzzing;
mod head;
mod head_timer;
mod http_metrics;
mod idempotency;
mod idle;
mod json;
mod problem;
mod rate_limit;
mod router;
mod routes;
mod schema;
mod serve;
mod sessions;
mod state;
mod stream_slots;

pub use auth::{AUTH_REQUIRED_RECHECK, BEARER_SUBPROTOCOL_PREFIX, WS_PROTOCOL};
pub use body::REQUEST_BODY_BYTES_MAX;
pub use head::{HEADERS_MAX, URI_BYTES_MAX};
pub use idempotency::{PlannedRunId, fingerprint};
pub use json::JSON_DEPTH_MAX;
pub use problem::{PROBLEM_JSON, ProblemBody, status};
pub use rate_limit::{RATE_LIMIT_BURST_DEFAULT, RATE_LIMIT_RPS_DEFAULT};
pub use router::{openapi, openapi_json, router};
pub use schema::{EventBody, RunBody};
pub use serve::{ListenRefused, check_exposure, serve};
pub use sessions::{SESSION_COOKIE, SESSION_TTL, SESSIONS_MAX};
pub use state::{
    HEADER_READ_TIMEOUT_MS_DEFAULT, IDLE_TIMEOUT_MS_DEFAULT, MetricsToken,
    STREAM_KEEP_ALIVE_MS_DEFAULT, ServerConfig, ServerState,
};
pub use stream_slots::{MAX_STREAMS_PER_TOKEN_DEFAULT, STREAM_REVALIDATE_INTERVAL};
