//! `GET /v1/ws` (SPEC §4): one WebSocket carrying any number of
//! subscriptions — the tenant's log (`"run_id": null`, `after` a position)
//! and single runs (`after` a seq). Each client message is answered in the
//! order it came: `subscribed` (always before the first event of that
//! subscription), `unsubscribed`, or `{"op":"error","code","detail"}`; a bad
//! message never closes the connection. An error about a subscription — a
//! refused subscribe, or a live subscription that failed — also names it
//! with `run_id` (null: the tenant's), so a client routes it to that
//! subscription alone; an error about a message that is not a readable op
//! has no `run_id`. Events go out as
//! `{"op":"event","run_id","seq","position","type","data","at"}`.
//!
//! Each subscription is a library [`Subscription`] in its own task, feeding
//! one queue per connection bounded in events and in bytes
//! ([`OUTGOING_BYTES_MAX`] of serialized frames): a slow socket makes those
//! tasks wait, and the library catches them up from the database, so
//! nothing is ever skipped, no writer waits, and a client that reads
//! nothing holds the queue plus one catch-up page per subscription.
//! Subscribing again to the same run (or to the tenant) replaces the
//! earlier subscription; events already queued for the old one are dropped.
//! A run subscription finishes by itself after the run's terminal event.
//! The server pings every keep-alive interval and closes the socket (1001)
//! when it shuts down.
//!
//! The connection holds one of its caller's stream slots and each live
//! subscription one more (`429 too_many_streams` refuses the upgrade; a
//! subscribe past the cap is answered `too_many_streams` and the connection
//! stays open). When the caller is revoked the socket is closed (1008) at
//! once, even if the client reads nothing.

use crate::auth::{AuthTenant, Caller};
use crate::http_metrics::{OpenSubscriber, OpenWebSocket, Transport};
use crate::problem::Problem;
use crate::routes::streams::is_terminal_event;
use crate::state::ServerState;
use crate::stream_slots::StreamSlot;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use runledger::{Error, ErrorCode, Event, RunId, Subscription, Tenant};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

mod ops;

use ops::{Op, parse_op};

/// Subscriptions one connection may hold at once.
pub const WS_SUBSCRIPTIONS_MAX: usize = 1_000;
/// Largest client message.
pub const WS_MESSAGE_BYTES_MAX: usize = 64 * 1024;
/// Events queued per connection between its subscriptions and its socket.
const OUTGOING_EVENTS_MAX: usize = 256;
/// Bytes of event frames queued per connection (a larger frame waits for
/// the queue to empty).
pub const OUTGOING_BYTES_MAX: usize = 512 * 1024;
/// How long a revoked connection's close frame may take to go out.
const REVOKED_CLOSE_WAIT: Duration = Duration::from_millis(100);

/// Opens the WebSocket of live event subscriptions.
#[utoipa::path(
    get,
    path = "/v1/ws",
    tag = "events",
    responses(
        (status = 429, description = "`too_many_streams`: the caller already holds `--max-streams-per-token` open streams (the connection counts one, each of its subscriptions one more).", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 101, description = "Switching to the WebSocket protocol. Client messages: `{\"op\":\"subscribe\",\"run_id\": id or null,\"after\": n}` (null: the whole tenant; `after` is a seq for a run, a position for the tenant) and `{\"op\":\"unsubscribe\",\"run_id\": …}`. Server messages: `{\"op\":\"subscribed\",\"run_id\"}`, `{\"op\":\"unsubscribed\",\"run_id\"}`, `{\"op\":\"error\",\"code\",\"detail\",\"run_id\"}` (`not_found`, `invalid_run_id`, `invalid_request`, `too_many_streams`; the connection stays open; `run_id` names the subscription a refused subscribe or a failed live subscription is about, null for the tenant's, and is absent when the message was not a readable op) and `{\"op\":\"event\",\"run_id\",\"seq\",\"position\",\"type\",\"data\",\"at\"}`."),
    )
)]
pub async fn websocket(
    State(state): State<ServerState>,
    AuthTenant(tenant): AuthTenant,
    caller: Caller,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Problem> {
    let upgrade = upgrade.map_err(|rejection| {
        Problem::invalid_body(format!(
            "expected a WebSocket upgrade request: {}",
            rejection.body_text()
        ))
    })?;
    let slot = state.open_stream(&caller)?;
    Ok(upgrade
        // Selected when offered (a browser app offers it beside its
        // `runledger.bearer.<token>`, which is never echoed back).
        .protocols([crate::auth::WS_PROTOCOL])
        .max_message_size(WS_MESSAGE_BYTES_MAX)
        .on_upgrade(move |socket| async move {
            let _open = OpenWebSocket::count();
            Connection::new(state, tenant, slot).run(socket).await;
        }))
}

/// Which log a subscription follows: one run's, or (`None`) the tenant's.
type Target = Option<RunId>;

/// What a subscription task hands the connection.
enum Delivery {
    /// The next event of the subscription `generation`, as the frame to
    /// send; `last` after a run's terminal event. The permit holds its
    /// bytes of the queue until it is sent.
    Event {
        generation: u64,
        frame: String,
        last: bool,
        _bytes: OwnedSemaphorePermit,
    },
    /// The subscription `generation` failed and has ended.
    Failed {
        generation: u64,
        target: Target,
        error: Error,
    },
}

/// A live subscription: its task stops when this is dropped.
struct Active {
    generation: u64,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Its stream slot, until the subscription has ended.
    slot: Option<StreamSlot>,
    /// Counted in `runledger_open_subscribers` while it holds a slot.
    subscriber: Option<OpenSubscriber>,
}

impl Drop for Active {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// One WebSocket connection's subscriptions.
struct Connection {
    state: ServerState,
    tenant: Tenant,
    /// The connection's own stream slot.
    slot: StreamSlot,
    subscriptions: HashMap<Target, Active>,
    next_generation: u64,
    sender: mpsc::Sender<Delivery>,
    receiver: mpsc::Receiver<Delivery>,
    /// Bytes of frames the queue may still take.
    queue_bytes: Arc<Semaphore>,
}

/// Why the socket loop stopped.
struct Closed;

impl Connection {
    fn new(state: ServerState, tenant: Tenant, slot: StreamSlot) -> Connection {
        let (sender, receiver) = mpsc::channel(OUTGOING_EVENTS_MAX);
        Connection {
            state,
            tenant,
            slot,
            subscriptions: HashMap::new(),
            next_generation: 0,
            sender,
            receiver,
            queue_bytes: Arc::new(Semaphore::new(OUTGOING_BYTES_MAX)),
        }
    }

    /// Serves the socket until it closes, the server shuts down or the
    /// caller is revoked; then the socket is dropped (closing the TCP
    /// connection even when the client reads nothing).
    async fn run(mut self, mut socket: WebSocket) {
        let revoked = self.slot.revoked();
        let was_revoked = {
            let served = self.serve(&mut socket);
            tokio::select! {
                () = served => false,
                () = revoked => true,
            }
        };
        if was_revoked {
            let frame = CloseFrame {
                code: close_code::POLICY,
                reason: "the token is no longer valid".into(),
            };
            // A socket whose client reads nothing may not take it: then
            // dropping it is the close.
            let _ =
                tokio::time::timeout(REVOKED_CLOSE_WAIT, socket.send(Message::Close(Some(frame))))
                    .await;
        }
    }

    async fn serve(&mut self, socket: &mut WebSocket) {
        let mut shutdown = Box::pin(self.state.shutdown_started());
        let keep_alive = self.state.stream_keep_alive();
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
        loop {
            let step = tokio::select! {
                () = &mut shutdown => {
                    let frame = CloseFrame { code: close_code::AWAY, reason: "the server is shutting down".into() };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    break;
                }
                incoming = socket.recv() => match incoming {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                    Some(Ok(message)) => self.answer(socket, message).await,
                },
                Some(delivery) = self.receiver.recv() => self.deliver(socket, delivery).await,
                _ = ping.tick() => send(socket, Message::Ping(Default::default())).await,
            };
            if step.is_err() {
                break;
            }
        }
        // Dropping the subscriptions stops their tasks.
    }

    /// Answers one client message.
    async fn answer(&mut self, socket: &mut WebSocket, message: Message) -> Result<(), Closed> {
        let reply = match message {
            Message::Text(text) => self.handle(text.as_str()).await,
            Message::Binary(_) => problem_reply(
                Problem::new(
                    ErrorCode::InvalidRequest,
                    "binary messages are not understood; send JSON text",
                ),
                None,
            ),
            // tungstenite answers pings itself; pongs need nothing.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return Ok(()),
        };
        send_json(socket, &reply).await
    }

    /// The reply to one text message.
    async fn handle(&mut self, text: &str) -> Value {
        match parse_op(text) {
            Ok(Op::Subscribe { target, after }) => {
                match self.subscribe(target.clone(), after).await {
                    Ok(()) => serde_json::json!({"op": "subscribed", "run_id": target}),
                    Err(error) => problem_reply(error, Some(&target)),
                }
            }
            Ok(Op::Unsubscribe { target }) => {
                self.subscriptions.remove(&target);
                serde_json::json!({"op": "unsubscribed", "run_id": target})
            }
            Err(problem) => problem_reply(problem, None),
        }
    }

    async fn subscribe(&mut self, target: Target, after: u64) -> Result<(), Problem> {
        let replacing = self.subscriptions.contains_key(&target);
        if !replacing && self.subscriptions.len() >= WS_SUBSCRIPTIONS_MAX {
            return Err(Problem::invalid_request(
                "op",
                format!(
                    "this connection already holds {WS_SUBSCRIPTIONS_MAX} subscriptions; unsubscribe from one first"
                ),
            ));
        }
        let ledger = self.state.ledger();
        let subscription = match &target {
            Some(id) => {
                let run = ledger.get_run(&self.tenant, id).await?;
                // Nothing follows a terminal event: a subscription past it is done.
                if run.state.is_terminal() && after >= run.last_seq {
                    None
                } else {
                    Some(ledger.subscribe_run(&self.tenant, id, after).await?)
                }
            }
            None => Some(ledger.subscribe(&self.tenant, after).await?),
        };
        // A replaced subscription hands its slot on; a new one takes one
        // (a subscription that ended at once needs none).
        let slot = match subscription {
            None => None,
            Some(_) => match self
                .subscriptions
                .get_mut(&target)
                .and_then(|old| old.slot.take())
            {
                Some(slot) => Some(slot),
                None => Some(self.slot.another()?),
            },
        };
        self.next_generation += 1;
        let generation = self.next_generation;
        let task = subscription.map(|subscription| {
            tokio::spawn(forward(
                subscription,
                target.clone(),
                generation,
                self.sender.clone(),
                Arc::clone(&self.queue_bytes),
            ))
        });
        // Replacing drops (and stops) an earlier subscription to the same log.
        self.subscriptions.insert(
            target,
            Active {
                generation,
                task,
                subscriber: slot
                    .as_ref()
                    .map(|_| OpenSubscriber::count(Transport::WebSocket)),
                slot,
            },
        );
        Ok(())
    }

    /// Sends a subscription's event, unless that subscription was replaced
    /// or ended meanwhile.
    async fn deliver(&mut self, socket: &mut WebSocket, delivery: Delivery) -> Result<(), Closed> {
        let current = |generation: u64| {
            self.subscriptions
                .values()
                .any(|active| active.generation == generation)
        };
        match delivery {
            Delivery::Event {
                generation,
                frame,
                last,
                _bytes,
            } => {
                if !current(generation) {
                    return Ok(());
                }
                if last {
                    // The run ended: its subscription no longer counts.
                    let ended = self
                        .subscriptions
                        .values_mut()
                        .find(|active| active.generation == generation);
                    if let Some(active) = ended {
                        active.slot = None;
                        active.subscriber = None;
                    }
                }
                send(socket, Message::Text(frame.into())).await
            }
            Delivery::Failed {
                generation,
                target,
                error,
            } => {
                if !current(generation) {
                    return Ok(());
                }
                self.subscriptions.remove(&target);
                let mut reply = problem_reply(Problem::from(error), Some(&target));
                reply["detail"] = Value::String(format!(
                    "the subscription to {} failed; subscribe again after the last event received",
                    describe(&target)
                ));
                send_json(socket, &reply).await
            }
        }
    }
}

/// A subscription's task: its events into the connection's queue, until
/// the run's terminal event, a failure, or the connection is gone. The next
/// event is taken from the subscription only once the queue has room for
/// this one's bytes.
async fn forward(
    mut subscription: Subscription,
    target: Target,
    generation: u64,
    sender: mpsc::Sender<Delivery>,
    queue_bytes: Arc<Semaphore>,
) {
    loop {
        match subscription.next().await {
            Ok(event) => {
                let last = target.is_some() && is_terminal_event(&event);
                let frame = match serde_json::to_string(&EventFrame {
                    op: "event",
                    event: &event,
                }) {
                    Ok(frame) => frame,
                    Err(error) => {
                        // An event read from the database always serializes.
                        tracing::error!(%error, "a WebSocket event could not be serialized");
                        continue;
                    }
                };
                drop(event);
                let cost = u32::try_from(frame.len().min(OUTGOING_BYTES_MAX)).unwrap_or(u32::MAX);
                let Ok(bytes) = Arc::clone(&queue_bytes).acquire_many_owned(cost).await else {
                    return;
                };
                let delivery = Delivery::Event {
                    generation,
                    frame,
                    last,
                    _bytes: bytes,
                };
                if sender.send(delivery).await.is_err() || last {
                    return;
                }
            }
            Err(error) => {
                let _ = sender
                    .send(Delivery::Failed {
                        generation,
                        target,
                        error,
                    })
                    .await;
                return;
            }
        }
    }
}

/// An event as the socket sends it.
#[derive(Serialize)]
struct EventFrame<'a> {
    op: &'static str,
    #[serde(flatten)]
    event: &'a Event,
}

/// An `error` frame; `about` is the subscription it concerns, when it
/// concerns one (its `run_id`, null for the tenant's).
fn problem_reply(problem: Problem, about: Option<&Target>) -> Value {
    let body = problem.body();
    let mut reply = serde_json::json!({"op": "error", "code": body.code, "detail": body.detail});
    if let Some(target) = about {
        reply["run_id"] = serde_json::json!(target);
    }
    reply
}

fn describe(target: &Target) -> String {
    match target {
        Some(id) => format!("run {id}"),
        None => "the tenant's events".to_owned(),
    }
}

async fn send_json<T: Serialize>(socket: &mut WebSocket, value: &T) -> Result<(), Closed> {
    match serde_json::to_string(value) {
        Ok(text) => send(socket, Message::Text(text.into())).await,
        Err(error) => {
            tracing::error!(%error, "a WebSocket message could not be serialized");
            Ok(())
        }
    }
}

async fn send(socket: &mut WebSocket, message: Message) -> Result<(), Closed> {
    socket.send(message).await.map_err(|_| Closed)
}
