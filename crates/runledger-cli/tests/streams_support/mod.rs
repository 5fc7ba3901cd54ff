//! What the live-stream tests share: a raw SSE client over reqwest (reads
//! frames chunk by chunk, so the test decides when bytes are taken off the
//! socket), a WebSocket client over tokio-tungstenite, the test's own
//! PostgreSQL database, and the authoritative event log read straight from
//! the database with the library.

#![allow(dead_code)] // each test file uses its own part of this

use futures_util::{SinkExt, StreamExt};
use runledger::{Event, Ledger, Options, Tenant};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest wait for any one frame before a test fails.
pub const FRAME_DEADLINE: Duration = Duration::from_secs(30);

/// One thing an SSE stream sent.
#[derive(Debug, Clone, PartialEq)]
pub enum SseItem {
    /// An event: its `id:`, `event:` and parsed `data:`.
    Event {
        /// `id:` (seq or position).
        id: u64,
        /// `event:` (the event type).
        event: String,
        /// `data:`, parsed.
        data: Value,
    },
    /// A comment line (a keep-alive).
    Comment(String),
}

/// An open SSE response.
pub struct Sse {
    response: reqwest::Response,
    buffer: String,
}

/// A refused stream: the status and the problem body.
#[derive(Debug)]
pub struct Refused {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: String,
    /// The body, parsed (`null` if not JSON).
    pub json: Value,
}

/// How a request resumes a stream.
#[derive(Debug, Clone, Copy)]
pub enum ResumeBy {
    /// No resume: from the start.
    Start,
    /// `Last-Event-ID: n`.
    Header(u64),
    /// `?after=n`.
    Query(u64),
}

impl Sse {
    /// `GET base+path` as an event stream, resuming as `resume` says, with
    /// `headers` added.
    pub async fn open(
        http: &reqwest::Client,
        base: &str,
        path: &str,
        resume: ResumeBy,
        headers: &[(&str, &str)],
    ) -> Result<Sse, Refused> {
        let url = match resume {
            ResumeBy::Query(after) => format!("{base}{path}?after={after}"),
            _ => format!("{base}{path}"),
        };
        let mut request = http.get(url).header("accept", "text/event-stream");
        if let ResumeBy::Header(after) = resume {
            request = request.header("last-event-id", after.to_string());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = tokio::time::timeout(FRAME_DEADLINE, request.send())
            .await
            .expect("the server answers in time")
            .expect("the server answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if status != 200 {
            let bytes = response.bytes().await.unwrap_or_default();
            return Err(Refused {
                status,
                content_type,
                json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            });
        }
        assert!(
            content_type.starts_with("text/event-stream"),
            "content type {content_type}"
        );
        Ok(Sse {
            response,
            buffer: String::new(),
        })
    }

    /// The next event or comment; `None` when the server ended the stream.
    pub async fn next_item(&mut self) -> Option<SseItem> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(item) = parse_block(&block) {
                    return Some(item);
                }
                continue;
            }
            let chunk = tokio::time::timeout(FRAME_DEADLINE, self.response.chunk())
                .await
                .expect("the stream sends something in time (events or keep-alives)")
                .expect("the stream reads");
            match chunk {
                Some(bytes) => self
                    .buffer
                    .push_str(std::str::from_utf8(&bytes).expect("SSE is UTF-8")),
                None => {
                    assert!(
                        self.buffer.trim().is_empty(),
                        "a partial frame at the end: {:?}",
                        self.buffer
                    );
                    return None;
                }
            }
        }
    }

    /// The next event, skipping comments; `None` at the end of the stream.
    pub async fn next_event(&mut self) -> Option<(u64, String, Value)> {
        loop {
            match self.next_item().await? {
                SseItem::Event { id, event, data } => return Some((id, event, data)),
                SseItem::Comment(_) => continue,
            }
        }
    }
}

/// One SSE block (lines up to a blank line) as an item.
fn parse_block(block: &str) -> Option<SseItem> {
    let (mut id, mut event, mut data, mut comment) = (None, None, Vec::new(), None);
    for line in block.lines() {
        if let Some(text) = line.strip_prefix(':') {
            comment = Some(text.trim_start().to_owned());
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.parse::<u64>().expect("a numeric id")),
            "event" => event = Some(value.to_owned()),
            "data" => data.push(value.to_owned()),
            "" => {}
            other => panic!("unexpected SSE field {other}"),
        }
    }
    match (id, event) {
        (Some(id), Some(event)) => Some(SseItem::Event {
            id,
            event,
            data: serde_json::from_str(&data.join("\n")).expect("data is JSON"),
        }),
        (None, None) => comment.map(SseItem::Comment),
        other => panic!("an event without id or type: {other:?} in {block:?}"),
    }
}

/// A `/v1/ws` connection.
pub struct Ws {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What a WebSocket sent, other than JSON text.
#[derive(Debug, Clone, PartialEq)]
pub enum WsItem {
    /// A JSON text message.
    Json(Value),
    /// A ping from the server.
    Ping,
    /// A pong (answer to our ping).
    Pong,
    /// The server closed (or the connection ended).
    Closed,
}

impl Ws {
    /// Connects to `base`'s `/v1/ws` (http:// becomes ws://), with `token` as Bearer.
    pub async fn connect(base: &str, token: Option<&str>) -> Ws {
        Ws::try_connect(base, token)
            .await
            .unwrap_or_else(|status| panic!("the WebSocket was refused with {status}"))
    }

    /// As [`Ws::connect`]; a refused upgrade answers its HTTP status.
    pub async fn try_connect(base: &str, token: Option<&str>) -> Result<Ws, u16> {
        let url = format!("{}/v1/ws", base.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().expect("a WebSocket request");
        if let Some(token) = token {
            request.headers_mut().insert(
                "authorization",
                format!("Bearer {token}").parse().expect("a header"),
            );
        }
        let connected =
            tokio::time::timeout(FRAME_DEADLINE, tokio_tungstenite::connect_async(request))
                .await
                .expect("the WebSocket opens in time");
        match connected {
            Ok((socket, _)) => Ok(Ws { socket }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(error) => panic!("the WebSocket does not open: {error}"),
        }
    }

    /// Sends `value` as a text message.
    pub async fn send(&mut self, value: &Value) {
        self.send_text(&value.to_string()).await;
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::text(text))
            .await
            .expect("the message is sent");
    }

    /// Sends a ping.
    pub async fn ping(&mut self) {
        self.socket
            .send(Message::Ping(b"hello".to_vec().into()))
            .await
            .expect("the ping is sent");
    }

    /// The next message of any kind.
    pub async fn next_item(&mut self) -> WsItem {
        let message = tokio::time::timeout(FRAME_DEADLINE, self.socket.next())
            .await
            .expect("the server sends something in time");
        match message {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => WsItem::Closed,
            Some(Ok(Message::Text(text))) => {
                WsItem::Json(serde_json::from_str(text.as_str()).expect("server messages are JSON"))
            }
            Some(Ok(Message::Ping(_))) => WsItem::Ping,
            Some(Ok(Message::Pong(_))) => WsItem::Pong,
            Some(Ok(other)) => panic!("unexpected message {other:?}"),
        }
    }

    /// The next JSON message, skipping pings and pongs; panics if closed.
    pub async fn recv(&mut self) -> Value {
        loop {
            match self.next_item().await {
                WsItem::Json(value) => return value,
                WsItem::Ping | WsItem::Pong => continue,
                WsItem::Closed => panic!("the WebSocket closed"),
            }
        }
    }

    /// Closes politely.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file under the test's directory.
    Sqlite,
    /// A fresh database on `RUNLEDGER_TEST_PG`.
    Postgres,
}

/// A database owned by one test; a PostgreSQL one is dropped with it.
pub struct StreamDb {
    /// The URL `runledger serve --db` takes.
    pub url: String,
    /// Dropped (with its database) when the test ends.
    postgres: Option<crate::support::PgDb>,
}

impl StreamDb {
    /// A fresh database for `test` on `backend`, files in `dir`.
    pub fn fresh(backend: Backend, dir: &std::path::Path, test: &str) -> StreamDb {
        match backend {
            Backend::Sqlite => StreamDb {
                url: format!("sqlite://{}", dir.join(format!("{test}.db")).display()),
                postgres: None,
            },
            Backend::Postgres => {
                let db = crate::support::postgres_url(&format!("stream_{test}"));
                StreamDb {
                    url: db.url.clone(),
                    postgres: Some(db),
                }
            }
        }
    }

    /// Every event of `tenant`, in position order, read with the library.
    pub async fn tenant_log(&self, tenant: &Tenant) -> Vec<Event> {
        let options = Options {
            reap_interval: None,
            ..Options::default()
        };
        let ledger = Ledger::open_with(&self.url, options)
            .await
            .expect("the test opens the database");
        let mut events = Vec::new();
        loop {
            let after = events.last().map_or(0, |event: &Event| event.position);
            let page = ledger
                .tenant_events(tenant, after, Some(1_000))
                .await
                .expect("the log reads");
            if page.is_empty() {
                return events;
            }
            events.extend(page);
        }
    }
}

/// A small deterministic generator (no `rand` in this workspace).
pub struct Lcg(u64);

impl Lcg {
    /// Seeded.
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407))
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        low + (self.0 >> 33) % (high - low + 1)
    }
}
