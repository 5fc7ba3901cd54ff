//! The live event streams over Server-Sent Events (SPEC §4, §2.7): one
//! run's log (`id:` = seq; the stream ends after the run's terminal
//! lifecycle event) and a tenant's log (`id:` = position). Both resume from
//! `Last-Event-ID` or `?after=` (the header wins), send a keep-alive comment
//! while idle, and end when the server starts shutting down, so a graceful
//! shutdown is never held open by a subscriber. Each stream is a library
//! [`Subscription`]: lossless, in order, caught up from the database when
//! it falls behind; it is taken only as fast as hyper writes it, so a
//! client that stops reading holds one catch-up page plus hyper's write
//! buffer. Each stream holds one of its caller's stream slots
//! (`429 too_many_streams` past the cap); when the caller is revoked, the
//! connection is closed at once, even if the client reads nothing.

use crate::auth::{AuthTenant, Caller};
use crate::extract::{RunIdPath, StrictQuery, parse_number};
use crate::http_metrics::{OpenSubscriber, Transport};
use crate::problem::{Problem, ProblemBody};
use crate::serve::ConnectionCloser;
use crate::state::ServerState;
use crate::stream_slots::StreamSlot;
use axum::Extension;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use runledger::{Event, RunState, Subscription};
use serde::Deserialize;
use std::future::Future;
use std::pin::Pin;
use tokio::sync::oneshot;
use utoipa::IntoParams;

/// The request header an `EventSource` resumes with.
pub const LAST_EVENT_ID: &str = "last-event-id";

/// The comment text of a keep-alive.
const KEEP_ALIVE_TEXT: &str = "keep-alive";

/// Query of the SSE routes.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Resume after this seq (run stream) or position (tenant stream); 0
    /// when absent. `Last-Event-ID` wins over it.
    #[param(value_type = Option<u64>)]
    pub after: Option<String>,
}

/// Where a stream resumes: after this seq (run) or position (tenant), from
/// `Last-Event-ID`, else `?after=`, else 0. A value that is not a whole
/// number is `422 invalid_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume(pub u64);

impl<S: Send + Sync> FromRequestParts<S> for Resume {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Resume, Problem> {
        // The query is checked even when the header wins: unknown
        // parameters are refused on every route.
        let StrictQuery(query) =
            StrictQuery::<StreamQuery>::from_request_parts(parts, state).await?;
        let after = parse_number::<u64>("after", query.after.as_deref())?;
        let mut values = parts.headers.get_all(LAST_EVENT_ID).iter();
        let header = match (values.next(), values.next()) {
            (None, _) => None,
            (Some(_), Some(_)) => {
                return Err(Problem::invalid_request(
                    "Last-Event-ID",
                    "Last-Event-ID was sent more than once",
                ));
            }
            (Some(value), None) => {
                let text = value.to_str().map_err(|_| {
                    Problem::invalid_request("Last-Event-ID", "Last-Event-ID is not ASCII")
                })?;
                // An EventSource whose last event had no id sends it empty.
                let text = text.trim();
                if text.is_empty() {
                    None
                } else {
                    Some(parse_last_event_id(text)?)
                }
            }
        };
        Ok(Resume(header.or(after).unwrap_or(0)))
    }
}

fn parse_last_event_id(text: &str) -> Result<u64, Problem> {
    text.parse::<u64>()
        .ok()
        .filter(|_| text.bytes().all(|byte| byte.is_ascii_digit()))
        .ok_or_else(|| {
            Problem::invalid_request(
                "Last-Event-ID",
                format!(
                    "Last-Event-ID '{text}' is not a whole number; expected the id of the last event received"
                ),
            )
        })
}

/// Follows one run's events as Server-Sent Events, after seq `after` (or
/// `Last-Event-ID`), until its terminal event.
#[utoipa::path(
    get,
    path = "/v1/runs/{id}/events/stream",
    tag = "events",
    params(
        ("id" = String, Path, description = "The run id."),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this seq; wins over `after`."),
        StreamQuery,
    ),
    responses(
        (status = 200, description = "Server-Sent Events: `id:` the seq, `event:` the event type, `data:` the event JSON `{run_id, seq, position, type, data, at}`; keep-alive comments while idle. Ends after the run's terminal event (at once when that was already sent).", body = String, content_type = "text/event-stream"),
        (status = 404, description = "`not_found`.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_streams`: the caller already holds `--max-streams-per-token` open streams.", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn run_events_stream(
    State(state): State<ServerState>,
    AuthTenant(tenant): AuthTenant,
    caller: Caller,
    closer: Option<Extension<ConnectionCloser>>,
    RunIdPath(id): RunIdPath,
    Resume(after): Resume,
) -> Result<Response, Problem> {
    let slot = state.open_stream(&caller)?;
    let run = state.ledger().get_run(&tenant, &id).await?;
    // Nothing follows a terminal event, so a stream resumed past it ends at once.
    let ended = run.state.is_terminal() && after >= run.last_seq;
    let subscription = if ended {
        None
    } else {
        Some(state.ledger().subscribe_run(&tenant, &id, after).await?)
    };
    Ok(sse(&state, slot, closer, subscription, Cursor::Seq))
}

/// Follows the tenant's events as Server-Sent Events, after position
/// `after` (or `Last-Event-ID`).
#[utoipa::path(
    get,
    path = "/v1/events/stream",
    tag = "events",
    params(
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this position; wins over `after`."),
        StreamQuery,
    ),
    responses(
        (status = 200, description = "Server-Sent Events: `id:` the position, `event:` the event type, `data:` the event JSON `{run_id, seq, position, type, data, at}`; keep-alive comments while idle. Does not end until the client or the server goes away.", body = String, content_type = "text/event-stream"),
        (status = 429, description = "`too_many_streams`: the caller already holds `--max-streams-per-token` open streams.", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn tenant_events_stream(
    State(state): State<ServerState>,
    AuthTenant(tenant): AuthTenant,
    caller: Caller,
    closer: Option<Extension<ConnectionCloser>>,
    Resume(after): Resume,
) -> Result<Response, Problem> {
    let slot = state.open_stream(&caller)?;
    let subscription = state.ledger().subscribe(&tenant, after).await?;
    Ok(sse(
        &state,
        slot,
        closer,
        Some(subscription),
        Cursor::Position,
    ))
}

/// Which number an event's SSE `id:` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    /// The run stream: seq; it ends after the terminal event.
    Seq,
    /// The tenant stream: position.
    Position,
}

/// Whether `event` is a run's last: its terminal lifecycle event.
pub fn is_terminal_event(event: &Event) -> bool {
    [
        RunState::Succeeded,
        RunState::Failed,
        RunState::Cancelled,
        RunState::TimedOut,
    ]
    .iter()
    .any(|state| state.as_str() == event.event_type)
}

/// Why a stream's body failed: hyper then closes the connection.
#[derive(Debug)]
struct StreamRevoked;

impl std::fmt::Display for StreamRevoked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the stream's token is no longer valid")
    }
}

impl std::error::Error for StreamRevoked {}

/// The SSE response over `subscription` (`None`: an empty stream), holding
/// `slot` until it ends. On revocation the body fails (hyper drops the
/// connection) and, for a client whose socket is full — hyper then does not
/// poll the body —, a watcher closes the connection through `closer`.
fn sse(
    state: &ServerState,
    slot: StreamSlot,
    closer: Option<Extension<ConnectionCloser>>,
    subscription: Option<Subscription>,
    cursor: Cursor,
) -> Response {
    let (ended, body_gone) = oneshot::channel::<()>();
    if let Some(Extension(closer)) = closer {
        let revoked = slot.revoked();
        tokio::spawn(async move {
            tokio::select! {
                () = revoked => closer.close(),
                _ = body_gone => {}
            }
        });
    }
    let follow = Follow {
        subscription,
        shutdown: Box::pin(state.shutdown_started()),
        revoked: Box::pin(slot.revoked()),
        cursor,
        _slot: slot,
        _subscriber: OpenSubscriber::count(Transport::Sse),
        _ended: ended,
    };
    Sse::new(frames(follow))
        .keep_alive(
            KeepAlive::new()
                .interval(state.stream_keep_alive())
                .text(KEEP_ALIVE_TEXT),
        )
        .into_response()
}

/// A stream's state between frames.
struct Follow {
    /// `None` once the stream has ended.
    subscription: Option<Subscription>,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    revoked: Pin<Box<dyn Future<Output = ()> + Send>>,
    cursor: Cursor,
    _slot: StreamSlot,
    /// Counted in `runledger_open_subscribers` while the body lives.
    _subscriber: OpenSubscriber,
    /// Dropped with the body: stops the revocation watcher.
    _ended: oneshot::Sender<()>,
}

/// One SSE frame per event until the run ends, the server shuts down, the
/// caller is revoked (an error: the connection is dropped) or the
/// subscription fails (the client then resumes from its last id).
fn frames(follow: Follow) -> impl Stream<Item = Result<SseEvent, StreamRevoked>> + Send {
    futures_util::stream::unfold(follow, |mut follow| async move {
        let subscription = follow.subscription.as_mut()?;
        let event = tokio::select! {
            () = &mut follow.shutdown => return None,
            () = &mut follow.revoked => {
                follow.subscription = None;
                return Some((Err(StreamRevoked), follow));
            }
            next = subscription.next() => match next {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(%error, "an event stream ended: its subscription failed");
                    return None;
                }
            },
        };
        if follow.cursor == Cursor::Seq && is_terminal_event(&event) {
            follow.subscription = None;
        }
        Some((Ok(frame(&event, follow.cursor)), follow))
    })
}

fn frame(event: &Event, cursor: Cursor) -> SseEvent {
    let id = match cursor {
        Cursor::Seq => event.seq,
        Cursor::Position => event.position,
    };
    let data = serde_json::to_string(event).unwrap_or_else(|error| {
        // An event read from the database always serializes; log if not.
        tracing::error!(%error, "an event could not be serialized");
        "null".to_owned()
    });
    SseEvent::default()
        .id(id.to_string())
        .event(event.event_type.as_str())
        .data(data)
}
