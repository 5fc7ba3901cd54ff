//! SPEC §8 through `runledger serve --publish nats://…`: two server
//! processes on one database, each with `--publish`, against a
//! `nats-server -js` this test owns on a free port. Events written through
//! both servers reach the JetStream stream `RUNLEDGER` once each, in
//! position order, with the SPEC's subject and `Nats-Msg-Id`; exactly one
//! server holds the publishing lease (`runledger_relay_lease_held` on
//! `/metrics`); after a kill -9 of that server the other takes over, and
//! after a broker outage the relay resumes — the stream still holds every
//! event once, in order. Runs on SQLite and PostgreSQL.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod streams_support;
mod support;

use async_nats::jetstream;
use serde_json::{Value, json};
use server::{Client, TestServer};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use streams_support::{Backend, StreamDb};
use support::fresh_dir;

/// How long the stream may take to hold what was written (the standby
/// relay waits out the 5 s lease of a killed holder).
const PUBLISH_DEADLINE: Duration = Duration::from_secs(45);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_publishing_servers_put_every_event_in_jetstream_once_in_order() {
    two_publishing_servers_put_every_event_in_jetstream_once_in_order(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_publishing_servers_put_every_event_in_jetstream_once_in_order() {
    two_publishing_servers_put_every_event_in_jetstream_once_in_order(Backend::Postgres).await;
}

/// A `nats-server -js` owned by one test, on a free port.
struct NatsServer {
    port: u16,
    store: PathBuf,
    process: Option<Child>,
}

impl NatsServer {
    fn start(dir: &std::path::Path) -> NatsServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut server = NatsServer {
            port,
            store: dir.join("nats"),
            process: None,
        };
        server.up();
        server
    }

    fn up(&mut self) {
        let binary = ["/usr/sbin/nats-server", "nats-server"]
            .into_iter()
            .find(|path| !path.starts_with('/') || std::path::Path::new(path).exists())
            .expect("a nats-server");
        let process = Command::new(binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs (the NATS server is installed)");
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Every message of the stream, in stream order: (subject, Msg-Id, payload).
    async fn messages(&self) -> Vec<(String, String, Value)> {
        let Ok(client) = async_nats::connect(self.url()).await else {
            return Vec::new();
        };
        let context = jetstream::new(client);
        let Ok(mut stream) = context.get_stream("RUNLEDGER").await else {
            return Vec::new();
        };
        let count = stream
            .info()
            .await
            .map(|info| info.state.messages)
            .unwrap_or(0);
        let mut messages = Vec::new();
        for sequence in 1..=count {
            let message = stream
                .get_raw_message(sequence)
                .await
                .expect("a stored message");
            let id = message
                .headers
                .get("Nats-Msg-Id")
                .map(|id| id.to_string())
                .unwrap_or_default();
            messages.push((
                message.subject.to_string(),
                id,
                serde_json::from_slice(&message.payload).expect("a JSON payload"),
            ));
        }
        messages
    }

    /// Waits until the stream holds at least `count` messages; answers them.
    async fn holds(&self, count: usize) -> Vec<(String, String, Value)> {
        let deadline = Instant::now() + PUBLISH_DEADLINE;
        loop {
            let messages = self.messages().await;
            if messages.len() >= count {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "the stream holds {} of {count} messages",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Creates runs `range` (kind `etl.nightly`) through `client`, each with
/// two `log.line` events: three events per run.
async fn write(client: &Client, range: std::ops::Range<usize>) {
    for n in range {
        let id = format!("run-{n}");
        let reply = client
            .post("/v1/runs", &json!({"id": id, "kind": "etl.nightly"}))
            .await
            .expect("the server answers");
        assert_eq!(reply.status, 201, "{}", reply.json);
        for line in 0..2 {
            let reply = client
                .post(
                    &format!("/v1/runs/{id}/events"),
                    &json!({"type": "log.line", "data": line}),
                )
                .await
                .expect("the server answers");
            assert_eq!(reply.status, 201, "{}", reply.json);
        }
    }
}

/// `runledger_relay_lease_held` on `server`'s `/metrics`, once reported.
async fn lease_held(server: &TestServer) -> Option<bool> {
    let text = reqwest::get(server.url("/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("runledger_relay_lease_held "))
        .map(|value| value.trim() == "1")
}

/// The stream holds the tenant's events 1..=count exactly once, in order,
/// each as the database has it, with the SPEC's subject and message id.
async fn assert_once_in_order(messages: &[(String, String, Value)], db: &StreamDb, count: usize) {
    let log = db.tenant_log(&runledger::Tenant::default()).await;
    assert_eq!(log.len(), count, "the database holds every event");
    assert_eq!(
        messages.len(),
        count,
        "no event twice: {:?}",
        messages.iter().map(|(_, id, _)| id).collect::<Vec<_>>()
    );
    for ((subject, id, payload), stored) in messages.iter().zip(&log) {
        assert_eq!(payload["position"], stored.position, "in position order");
        assert_eq!(payload["run_id"], stored.run_id.as_str());
        assert_eq!(payload["seq"], stored.seq);
        assert_eq!(payload["type"], stored.event_type.as_str());
        assert_eq!(payload["tenant"], "default");
        assert_eq!(payload["kind"], "etl.nightly");
        assert_eq!(
            subject,
            &format!(
                "runledger.default.etl_nightly.{}",
                stored.event_type.replace('.', "_")
            )
        );
        assert_eq!(id, &format!("default/{}/{}", stored.run_id, stored.seq));
    }
}

async fn two_publishing_servers_put_every_event_in_jetstream_once_in_order(backend: Backend) {
    let dir = fresh_dir(&format!("serve-publish-{backend:?}"));
    let db = StreamDb::fresh(backend, &dir, "publish");
    let mut nats = NatsServer::start(&dir);
    let publish = ["--publish", &nats.url()].map(str::to_owned);
    let publish: Vec<&str> = publish.iter().map(String::as_str).collect();
    let mut servers = [
        TestServer::start_with(&dir, &db.url, &publish),
        TestServer::start_with(&dir, &db.url, &publish),
    ];
    let clients = [Client::new(&servers[0]), Client::new(&servers[1])];
    // Written through both servers, interleaved.
    for block in 0..4 {
        write(&clients[block % 2], block * 5..block * 5 + 5).await;
    }
    let messages = nats.holds(60).await;
    assert_once_in_order(&messages, &db, 60).await;
    // Exactly one holds the lease.
    let deadline = Instant::now() + PUBLISH_DEADLINE;
    let holder = loop {
        let held = [lease_held(&servers[0]).await, lease_held(&servers[1]).await];
        match held {
            [Some(true), Some(false)] => break 0,
            [Some(false), Some(true)] => break 1,
            [Some(true), Some(true)] => panic!("two servers hold the publishing lease"),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "no single lease holder: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // kill -9 the publisher while events keep coming; the other takes over.
    let standby = 1 - holder;
    write(&clients[holder], 20..22).await;
    servers[holder].kill9();
    write(&clients[standby], 22..30).await;
    let messages = nats.holds(90).await;
    assert_once_in_order(&messages, &db, 90).await;
    assert_eq!(
        lease_held(&servers[standby]).await,
        Some(true),
        "the standby took over"
    );
    // A broker outage: events written meanwhile go out once it is back.
    nats.kill();
    write(&clients[standby], 30..35).await;
    nats.up();
    write(&clients[standby], 35..40).await;
    let messages = nats.holds(120).await;
    assert_once_in_order(&messages, &db, 120).await;
}

#[test]
fn a_publish_url_that_is_not_nats_is_refused_before_anything_starts() {
    let dir = fresh_dir("serve-publish-bad-url");
    let db = dir.join("never.db");
    for url in ["http://127.0.0.1:4222", "nats://", "127.0.0.1:4222"] {
        let output = Command::new(env!("CARGO_BIN_EXE_runledger"))
            .args(["serve", "--listen", "127.0.0.1:0", "--publish", url, "--db"])
            .arg(format!("sqlite://{}", db.display()))
            .env_remove("RUNLEDGER_PUBLISH")
            .output()
            .expect("runledger runs");
        assert_eq!(output.status.code(), Some(2), "{url}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("nats://HOST:PORT"), "{url}: {stderr}");
        assert!(!db.exists(), "{url}: no database was created");
    }
}
