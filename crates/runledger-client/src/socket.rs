//! The client's one WebSocket (`GET /v1/ws`) and the task that owns it.
//!
//! Every [`Subscription`] of a client is a *local* subscription with its own
//! resume point: `last`, the seq (run) or position (tenant) of the newest
//! event it delivered. The server knows only *wire* subscriptions, one per
//! topic, each started from the smallest `last` of that topic's locals.
//! An event is handed to every local whose next expected counter it is
//! (`last + 1`) and ignored by the others. Seqs are gap-free per run and
//! positions per tenant, so this one rule makes delivery exactly-once and
//! in order whatever the wire does: a replay after a reconnect, a second
//! wire subscription that overlaps (a run and the tenant both carry the
//! run's events), or events that were in flight when a topic was
//! re-subscribed all fall on locals that already have them, or that will
//! get them again from their own topic.
//!
//! When the connection drops (server restart, network), the task reconnects
//! with jittered exponential back-off ([`crate::backoff`]) and re-subscribes
//! every topic from its locals' smallest `last`. A local whose buffer is
//! full is not waited for (one slow reader must not stall the others): it
//! misses the event, is marked behind, and once it has room its topic is
//! re-subscribed from its `last`. A run's local ends after the run's
//! terminal event; a refusal of a subscribe (`not_found`) ends the locals
//! of its topic; any other `error` message (a subscription that failed on
//! the server) is answered by reconnecting, which resumes every topic.

use crate::backoff;
use crate::error::ClientError;
use crate::protocol::{ClientMessage, ServerMessage};
use crate::subscription::{Subscription, Topic};
use futures_util::{SinkExt, StreamExt};
use runledger_core::{ErrorCode, Event};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

mod connect;
mod locals;

use connect::{Refusal, WebSocket, connect, refusal_error, ws_problem};
use locals::local;

/// Events buffered per subscription before it counts as behind.
pub const SUBSCRIPTION_BUFFER_EVENTS_MAX: usize = 1_024;
/// Subscribe and drop requests queued for the WebSocket task.
const COMMANDS_MAX: usize = 1_024;
/// How often the task looks for dropped and caught-up subscriptions.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
/// How often the task pings an otherwise quiet server.
const PING_INTERVAL: Duration = Duration::from_secs(10);
/// Silence after which the connection is presumed dead and replaced.
const SILENCE_MAX: Duration = Duration::from_secs(30);
/// A connection that lived this long resets the back-off.
const CONNECTION_STABLE_AFTER: Duration = Duration::from_secs(1);

/// A request to the WebSocket task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Start a local subscription.
    Subscribe {
        id: u64,
        topic: Topic,
        after: u64,
        events: mpsc::Sender<Result<Event, ClientError>>,
    },
    /// A local subscription was dropped.
    Forget { id: u64 },
}

/// The client's handle on its WebSocket task; dropping it stops the task.
#[derive(Debug)]
pub(crate) struct Socket {
    commands: mpsc::Sender<Command>,
    next_id: AtomicU64,
    connects: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Socket {
    /// Starts the task for the server at `base` (`http://host:port`). The
    /// connection opens at the first subscription.
    pub(crate) fn spawn(base: &str, token: Option<&str>) -> Socket {
        let (commands, receiver) = mpsc::channel(COMMANDS_MAX);
        let connects = Arc::new(AtomicU64::new(0));
        let url = match base.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}/v1/ws"),
            None => format!("ws://{}/v1/ws", base.trim_start_matches("http://")),
        };
        let task = Task {
            url,
            token: token.map(str::to_owned),
            commands: receiver,
            locals: HashMap::new(),
            connects: connects.clone(),
        };
        Socket {
            commands,
            next_id: AtomicU64::new(0),
            connects,
            task: tokio::spawn(task.run()),
        }
    }

    /// A new local subscription of `topic` after `after`.
    pub(crate) async fn subscribe(&self, topic: Topic, after: u64) -> Subscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (events, receiver) = mpsc::channel(SUBSCRIPTION_BUFFER_EVENTS_MAX);
        let command = Command::Subscribe {
            id,
            topic: topic.clone(),
            after,
            events,
        };
        if let Err(mpsc::error::SendError(Command::Subscribe { events, .. })) =
            self.commands.send(command).await
        {
            // The task is gone (it only stops with the client): say so.
            let _ = events.try_send(Err(ClientError::Closed));
        }
        Subscription::new(topic, receiver, (self.commands.clone(), id))
    }

    /// Connections made so far.
    pub(crate) fn connects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One local subscription, as the task keeps it.
struct Local {
    topic: Topic,
    /// Seq (run) or position (tenant) of the newest event delivered.
    last: u64,
    events: mpsc::Sender<Result<Event, ClientError>>,
    /// Missed an event for want of room; re-subscribe once it has room.
    behind: bool,
}

/// Why a connection ended.
enum Ended {
    /// The connection broke: reconnect.
    Dropped,
    /// Every handle on the client is gone: stop.
    ClientGone,
}

/// A subscribe or unsubscribe awaiting the server's answer, in send order.
enum Pending {
    Subscribe(Topic),
    Unsubscribe,
}

/// The server's view during one connection.
#[derive(Default)]
struct Wire {
    /// Topics subscribed (or being subscribed) on this connection.
    topics: HashSet<Topic>,
    pending: VecDeque<Pending>,
}

impl Wire {
    /// Whether the server confirmed `topic`'s subscribe on this connection.
    /// An event frame names its run, not the subscription it came on (the
    /// tenant's carries every run's events): a topic takes events only once
    /// confirmed (`subscribed` precedes any event of its subscription), so
    /// a subscribe the server refuses never yields one, and what a pending
    /// topic misses its own subscription sends from the `after` it asked for.
    fn confirmed(&self, topic: &Topic) -> bool {
        self.topics.contains(topic)
            && !self
                .pending
                .iter()
                .any(|pending| matches!(pending, Pending::Subscribe(t) if t == topic))
    }
}

struct Task {
    url: String,
    token: Option<String>,
    commands: mpsc::Receiver<Command>,
    locals: HashMap<u64, Local>,
    connects: Arc<AtomicU64>,
}

impl Task {
    async fn run(mut self) {
        let mut attempt = 0u32;
        loop {
            while self.locals.is_empty() {
                match self.commands.recv().await {
                    Some(command) => self.apply_offline(command),
                    None => return,
                }
            }
            match connect(&self.url, self.token.as_deref()).await {
                Ok(socket) => {
                    self.connects.fetch_add(1, Ordering::Relaxed);
                    let opened = Instant::now();
                    match self.serve(socket).await {
                        Ended::ClientGone => return,
                        Ended::Dropped if opened.elapsed() >= CONNECTION_STABLE_AFTER => {
                            attempt = 0;
                        }
                        Ended::Dropped => {}
                    }
                }
                Err(Refusal::Permanent { status, body }) => {
                    let url = self.url.clone();
                    self.end_locals(|_| true, |_| refusal_error(&url, status, &body));
                    continue;
                }
                Err(Refusal::Transient(reason)) => {
                    tracing::debug!(url = %self.url, %reason, "WebSocket connect failed");
                }
            }
            let pause = tokio::time::sleep(backoff::delay(attempt));
            attempt = attempt.saturating_add(1);
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    () = &mut pause => break,
                    command = self.commands.recv() => match command {
                        Some(command) => self.apply_offline(command),
                        None => return,
                    },
                }
            }
        }
    }

    /// Runs one connection until it breaks or the client is gone.
    async fn serve(&mut self, mut socket: WebSocket) -> Ended {
        let mut wire = Wire::default();
        let topics: HashSet<Topic> = self.locals.values().map(|l| l.topic.clone()).collect();
        for topic in topics {
            if self.subscribe(&mut socket, &mut wire, topic).await.is_err() {
                return Ended::Dropped;
            }
        }
        let mut sweeps = tokio::time::interval(SWEEP_INTERVAL);
        let mut heard = Instant::now();
        let mut pinged = Instant::now();
        loop {
            let step = tokio::select! {
                message = socket.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        heard = Instant::now();
                        self.on_message(&mut socket, &mut wire, text.as_str()).await
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Err(Ended::Dropped),
                    Some(Ok(_)) => {
                        heard = Instant::now();
                        Ok(())
                    }
                },
                command = self.commands.recv() => match command {
                    Some(command) => self.apply_online(&mut socket, &mut wire, command).await,
                    None => {
                        let _ = socket.close(None).await;
                        Err(Ended::ClientGone)
                    }
                },
                _ = sweeps.tick() => {
                    if heard.elapsed() > SILENCE_MAX {
                        Err(Ended::Dropped)
                    } else if pinged.elapsed() > PING_INTERVAL {
                        pinged = Instant::now();
                        match socket.send(Message::Ping(Vec::new().into())).await {
                            Ok(()) => self.sweep(&mut socket, &mut wire).await,
                            Err(_) => Err(Ended::Dropped),
                        }
                    } else {
                        self.sweep(&mut socket, &mut wire).await
                    }
                }
            };
            if let Err(ended) = step {
                return ended;
            }
        }
    }

    /// Subscribe or forget while no connection is open: the next connection
    /// subscribes whatever is there.
    fn apply_offline(&mut self, command: Command) {
        match command {
            Command::Subscribe {
                id,
                topic,
                after,
                events,
            } => {
                self.locals.insert(id, local(topic, after, events));
            }
            Command::Forget { id } => {
                self.locals.remove(&id);
            }
        }
    }

    async fn apply_online(
        &mut self,
        socket: &mut WebSocket,
        wire: &mut Wire,
        command: Command,
    ) -> Result<(), Ended> {
        match command {
            Command::Subscribe {
                id,
                topic,
                after,
                events,
            } => {
                self.locals.insert(id, local(topic.clone(), after, events));
                // Re-subscribing starts the wire from the smallest resume
                // point, which may now be this newcomer's.
                self.resubscribe(socket, wire, topic).await
            }
            Command::Forget { id } => match self.locals.remove(&id) {
                Some(local) => self.unsubscribe_if_unused(socket, wire, local.topic).await,
                None => Ok(()),
            },
        }
    }

    async fn on_message(
        &mut self,
        socket: &mut WebSocket,
        wire: &mut Wire,
        text: &str,
    ) -> Result<(), Ended> {
        let message = match serde_json::from_str::<ServerMessage>(text) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "ignoring an unreadable WebSocket message");
                return Ok(());
            }
        };
        match message {
            ServerMessage::Subscribed {} | ServerMessage::Unsubscribed {} => {
                wire.pending.pop_front();
                Ok(())
            }
            ServerMessage::Error { code, detail } => {
                // A refusal of the subscribe at the head of the queue names
                // an input error; anything else (a subscription that failed
                // on the server, `internal`) may arrive unasked, so it is
                // not matched to a request: reconnecting resumes every topic.
                let refusal = matches!(
                    crate::error::error_code(&code),
                    Some(
                        ErrorCode::NotFound
                            | ErrorCode::InvalidRunId
                            | ErrorCode::InvalidRequest
                            | ErrorCode::Unauthorized
                            | ErrorCode::TooManyStreams
                    )
                );
                match wire.pending.front() {
                    Some(Pending::Subscribe(topic)) if refusal => {
                        let topic = topic.clone();
                        wire.pending.pop_front();
                        wire.topics.remove(&topic);
                        let refused = |_: &Local| ws_problem(&code, &detail);
                        self.end_locals(|local| local.topic == topic, refused);
                        Ok(())
                    }
                    _ => {
                        tracing::warn!(%code, %detail, "WebSocket error; reconnecting");
                        Err(Ended::Dropped)
                    }
                }
            }
            ServerMessage::Event(event) => {
                let ended_topics = self.deliver(&event, |topic| wire.confirmed(topic));
                for topic in ended_topics {
                    self.unsubscribe_if_unused(socket, wire, topic).await?;
                }
                Ok(())
            }
        }
    }

    /// Forgets dropped locals and re-subscribes topics whose behind locals
    /// have room again.
    async fn sweep(&mut self, socket: &mut WebSocket, wire: &mut Wire) -> Result<(), Ended> {
        let closed: Vec<u64> = self
            .locals
            .iter()
            .filter(|(_, local)| local.events.is_closed())
            .map(|(id, _)| *id)
            .collect();
        for id in closed {
            if let Some(local) = self.locals.remove(&id) {
                self.unsubscribe_if_unused(socket, wire, local.topic)
                    .await?;
            }
        }
        let mut caught_up = HashSet::new();
        for local in self.locals.values_mut() {
            if local.behind && local.events.capacity() > 0 {
                local.behind = false;
                caught_up.insert(local.topic.clone());
            }
        }
        for topic in caught_up {
            self.resubscribe(socket, wire, topic).await?;
        }
        Ok(())
    }

    /// Subscribes `topic` afresh from its locals' smallest resume point.
    async fn resubscribe(
        &mut self,
        socket: &mut WebSocket,
        wire: &mut Wire,
        topic: Topic,
    ) -> Result<(), Ended> {
        unsubscribe(socket, wire, &topic).await?;
        self.subscribe(socket, wire, topic).await
    }

    async fn subscribe(
        &mut self,
        socket: &mut WebSocket,
        wire: &mut Wire,
        topic: Topic,
    ) -> Result<(), Ended> {
        let Some(after) = self
            .locals
            .values()
            .filter(|local| local.topic == topic)
            .map(|local| local.last)
            .min()
        else {
            return Ok(());
        };
        send(
            socket,
            &ClientMessage::Subscribe {
                run_id: topic.run_id(),
                after,
            },
        )
        .await?;
        wire.pending.push_back(Pending::Subscribe(topic.clone()));
        wire.topics.insert(topic);
        Ok(())
    }

    async fn unsubscribe_if_unused(
        &mut self,
        socket: &mut WebSocket,
        wire: &mut Wire,
        topic: Topic,
    ) -> Result<(), Ended> {
        let used = self.locals.values().any(|local| local.topic == topic);
        if used {
            return Ok(());
        }
        unsubscribe(socket, wire, &topic).await
    }
}

/// Ends the wire subscription of `topic`, if there is one.
async fn unsubscribe(socket: &mut WebSocket, wire: &mut Wire, topic: &Topic) -> Result<(), Ended> {
    if wire.topics.remove(topic) {
        let message = ClientMessage::Unsubscribe {
            run_id: topic.run_id(),
        };
        send(socket, &message).await?;
        wire.pending.push_back(Pending::Unsubscribe);
    }
    Ok(())
}

async fn send(socket: &mut WebSocket, message: &ClientMessage<'_>) -> Result<(), Ended> {
    let text = serde_json::to_string(message).expect("a client message serializes");
    socket
        .send(Message::text(text))
        .await
        .map_err(|_| Ended::Dropped)
}
