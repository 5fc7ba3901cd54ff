//! The router: every route of SPEC §4 on one `OpenApiRouter` (one flat
//! router with full paths, no nesting: utoipa-axum drops paths when two
//! routers are nested under one prefix), then the layers, outermost first:
//! metrics, panic → 500 problem, bare 405 → problem, the request head's
//! limits (414, 431), auth and rate limit,
//! the body limit, `Idempotency-Key`. Unknown routes fall back to a
//! `404 not_found` problem.
//!
//! Extension points: the event streams (`/v1/runs/{id}/events/stream`,
//! `/v1/events/stream`, `/v1/ws`) go in [`api_router`] as a new
//! `routes/streams.rs`. The dashboard (`/`, `/dashboard/…`) is merged from
//! `crate::dashboard`: outside `/v1`, so it needs no token (its sign-in
//! sets the cookie that `auth.rs` reads) and is not in the OpenAPI document.

use crate::auth::authenticate;
use crate::body::buffer_body;
use crate::browser::guard_browsers;
use crate::head::limit_request_head;
use crate::http_metrics::record_http_metrics;
use crate::idempotency::idempotency;
use crate::problem::{PROBLEM_JSON, Problem, ProblemBody};
use crate::routes::{batch, claim, events, lifecycle, runs, streams, system, ws};
use crate::state::ServerState;
use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use runledger::ErrorCode;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, InfoBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The HTTP API over `state`, ready to serve.
pub fn router(state: ServerState) -> Router {
    // The recorder must exist before the first request is counted.
    crate::http_metrics::prometheus();
    let (router, _) = api_router().split_for_parts();
    router
        // A run may be named like a static route; GET answers it (#17).
        .route("/v1/runs/batch", axum::routing::get(runs::get_run_named))
        .route("/v1/runs/claim", axum::routing::get(runs::get_run_named))
        .merge(crate::dashboard::routes())
        .fallback(unknown_route)
        .layer(from_fn_with_state(state.clone(), idempotency))
        .layer(from_fn(buffer_body))
        .layer(from_fn_with_state(state.clone(), authenticate))
        .layer(from_fn_with_state(state.clone(), guard_browsers))
        .layer(from_fn(limit_request_head))
        .layer(from_fn(problem_for_bare_errors))
        .layer(CatchPanicLayer::custom(panic_problem))
        .layer(from_fn(record_http_metrics))
        .layer(tower::util::option_layer(cors(state.cors_origins())))
        .with_state(state)
}

/// CORS for the `--cors-origin` apps (SPEC §4 "Auth"): their preflights are
/// answered and their requests may read the answers; no other origin is
/// allowed (with none given, there is no CORS layer at all).
fn cors(origins: &[String]) -> Option<CorsLayer> {
    use axum::http::{HeaderName, HeaderValue, Method};
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            crate::idempotency::IDEMPOTENCY_KEY,
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::LOCATION,
            header::RETRY_AFTER,
            header::ETAG,
            crate::idempotency::IDEMPOTENT_REPLAYED,
        ])
        .max_age(std::time::Duration::from_secs(600));
    Some(layer)
}

/// Every route with its OpenAPI description.
fn api_router() -> OpenApiRouter<ServerState> {
    OpenApiRouter::new()
        .routes(routes!(runs::create_run, runs::list_runs))
        .routes(routes!(runs::get_run))
        .routes(routes!(claim::claim_run))
        .routes(routes!(batch::create_batch))
        .routes(routes!(lifecycle::start_run))
        .routes(routes!(lifecycle::heartbeat_run))
        .routes(routes!(lifecycle::finish_run))
        .routes(routes!(lifecycle::cancel_run))
        .routes(routes!(events::append_event, events::list_events))
        .routes(routes!(events::list_tenant_events))
        .routes(routes!(streams::run_events_stream))
        .routes(routes!(streams::tenant_events_stream))
        .routes(routes!(ws::websocket))
        .routes(routes!(system::openapi_document))
        .routes(routes!(system::healthz))
        .routes(routes!(system::metrics))
}

/// The OpenAPI 3.1 document of the API, generated from the handlers.
pub fn openapi() -> OpenApi {
    let (_, mut openapi) = api_router().split_for_parts();
    openapi.info = InfoBuilder::new()
        .title("runledger")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Run records whose guarantees the database enforces. Every error is \
             application/problem+json with a stable `code`.",
        ))
        .build();
    let components = openapi.components.get_or_insert_with(Default::default);
    components.schemas.insert(
        "ProblemBody".to_owned(),
        <ProblemBody as utoipa::PartialSchema>::schema(),
    );
    components.security_schemes.insert(
        "bearer".to_owned(),
        RefOr::T(SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer))),
    );
    components.security_schemes.insert(
        "cookie".to_owned(),
        RefOr::T(SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
            crate::sessions::SESSION_COOKIE,
        )))),
    );
    openapi.security = Some(vec![
        SecurityRequirement::new("bearer", Vec::<String>::new()),
        SecurityRequirement::new("cookie", Vec::<String>::new()),
    ]);
    for (path, item) in &mut openapi.paths.paths {
        let api = path.starts_with("/v1/");
        if let Some(operation) = item.get.as_mut() {
            describe_common_problems(operation, api, false);
        }
        if let Some(operation) = item.post.as_mut() {
            describe_common_problems(operation, api, true);
        }
    }
    openapi
}

/// The document as pretty JSON, as committed in `openapi.json`.
pub fn openapi_json() -> String {
    let mut text = openapi()
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    text.push('\n');
    text
}

/// Adds the problems any operation can answer, so every error response is
/// described: auth and rate limit on `/v1`, the body and idempotency
/// problems on POST, 500, and problem+json as the default.
fn describe_common_problems(operation: &mut Operation, api: bool, post: bool) {
    let mut problems: Vec<(&str, &str)> = vec![(
        "500",
        "`internal`: the server failed; the detail is in its log.",
    )];
    problems.push(("414", "`uri_too_long`: the path and query are over 8 KiB."));
    problems.push((
        "431",
        "`headers_too_large`: the request has over 100 header fields.",
    ));
    if api {
        problems.push((
            "401",
            "`unauthorized`: tokens exist and none valid was sent.",
        ));
        problems.push((
            "429",
            "`rate_limited`: the token's rate limit is exhausted; see `Retry-After`.",
        ));
        problems.push(("422", "`invalid_request` or `invalid_run_id`: the request is malformed; `detail` says what was expected."));
        problems.push((
            "421",
            "`misdirected_request`: no token exists and `Host` is neither a loopback name nor a `--public-host`.",
        ));
    }
    if post {
        problems.push(("413", "`payload_too_large`: the body is over 1 MiB."));
        problems.push((
            "403",
            "`forbidden_origin`: a browser request from another origin than the server's own or a `--cors-origin`.",
        ));
        problems.push((
            "507",
            "`insufficient_storage`: the write was refused because the database's disk is full.",
        ));
        problems.push((
            "415",
            "`unsupported_media_type`: the body is not application/json.",
        ));
        problems.push(("409", "`idempotency_key_in_flight`: the first request with this Idempotency-Key is still running."));
        problems.push((
            "422",
            "`idempotency_key_reused`: the Idempotency-Key was used with a different request.",
        ));
        let parameters = operation.parameters.get_or_insert_with(Vec::new);
        parameters.push(RefOr::T(
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some("Replays the first answer to a retry with the same key and body (1–255 printable ASCII characters)."))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255))))
                .build(),
        ));
        if operation.operation_id.as_deref() != Some("create_run") {
            parameters.push(RefOr::T(
                ParameterBuilder::new()
                    .name("If-Match")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some("`\"<version>\"`: apply only at this run version, else `412 version_conflict`."))
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            ));
        }
    }
    problems.push((
        "default",
        "Any other error (e.g. `method_not_allowed`), as problem+json.",
    ));
    let retry_after = || {
        HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
            .description(Some("Seconds until the bucket has a token again."))
            .build()
    };
    for (status, description) in problems {
        let responses = &mut operation.responses.responses;
        match responses.get_mut(status) {
            Some(RefOr::T(existing)) => {
                existing.description = format!("{} Or {}", existing.description, description);
                if status == "429" {
                    existing
                        .headers
                        .insert("Retry-After".to_owned(), RefOr::T(retry_after()));
                }
            }
            Some(RefOr::Ref(_)) => {}
            None => {
                let mut response = ResponseBuilder::new().description(description).content(
                    PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ProblemBody")))
                        .build(),
                );
                if status == "429" {
                    response = response.header("Retry-After", retry_after());
                }
                responses.insert(status.to_owned(), RefOr::T(response.build()));
            }
        }
    }
}

/// Fallback: `404 not_found` for every unknown route.
async fn unknown_route(request: Request) -> Problem {
    Problem::new(
        ErrorCode::NotFound,
        format!(
            "no route {} {}; see /v1/openapi.json",
            request.method(),
            request.uri().path()
        ),
    )
}

/// Turns axum's bodiless 405 (a known route, another method) into a problem,
/// keeping its `Allow` header.
async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let detail = match allow.as_ref().and_then(|value| value.to_str().ok()) {
        Some(allowed) => format!("{path} does not accept {method}; it accepts {allowed}"),
        None => format!("{path} does not accept {method}"),
    };
    let mut problem = Problem::new(ErrorCode::MethodNotAllowed, detail);
    if let Some(allow) = allow {
        problem = problem.with_header(header::ALLOW, allow);
    }
    problem.into_response()
}

/// A handler panicked: `500` problem, the panic in the log.
fn panic_problem(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    Problem::internal(format!("a handler panicked: {message}")).into_response()
}
