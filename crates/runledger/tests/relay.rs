//! SPEC §8 "Publishing to a message broker": the relay puts every event in
//! the JetStream stream `RUNLEDGER` exactly once and in each tenant's
//! position order — through a broker outage, and with two relays on one
//! database (only one publishes; the other takes over when it stops).
//! Each test runs its own `nats-server` on another port.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use async_nats::jetstream;
use runledger::relay::{Relay, STREAM_NAME};
use runledger::{AppendEvent, CreateRun, EventType, Kind, Ledger, RunId, Tenant};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;
use support::{TestDb, eventually};

conformance!(
    every_event_reaches_jetstream_once_in_order_through_a_broker_outage,
    of_two_relays_on_one_database_one_publishes_and_the_other_takes_over,
);

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A `nats-server` with JetStream, owned by one test.
struct NatsServer {
    port: u16,
    store: std::path::PathBuf,
    process: Option<Child>,
}

impl NatsServer {
    fn start() -> NatsServer {
        let port = 20_000
            + (std::process::id() % 400) as u16 * 20
            + NEXT_PORT.fetch_add(1, Ordering::Relaxed) % 20;
        let store = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("nats-{port}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&store);
        let mut server = NatsServer {
            port,
            store,
            process: None,
        };
        server.up();
        server
    }

    fn up(&mut self) {
        let process = Command::new("nats-server")
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
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server did not start"
            );
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
        let Ok(mut stream) = context.get_stream(STREAM_NAME).await else {
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
                serde_json::from_slice(&message.payload).unwrap(),
            ));
        }
        messages
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

async fn write_events(ledger: &Ledger, tenant: &Tenant, runs: std::ops::Range<usize>) {
    for n in runs {
        let id = RunId::parse(&format!("run-{n}")).unwrap();
        let request = CreateRun::new(Kind::parse("etl.nightly").unwrap()).id(id.clone());
        ledger.create_run(tenant, request).await.unwrap();
        let event = AppendEvent::new(EventType::parse("log.line").unwrap(), json!({"n": n}));
        ledger.append_event(tenant, &id, event).await.unwrap();
    }
}

async fn stream_holds(nats: &NatsServer, count: usize) -> Vec<(String, String, Value)> {
    eventually(Duration::from_secs(60), || async {
        let messages = nats.messages().await;
        (messages.len() >= count).then_some(messages)
    })
    .await
}

/// Each tenant's positions appear once, 1..=n, in stream order, with the
/// SPEC's subject and message id.
fn assert_complete_and_ordered(messages: &[(String, String, Value)], tenants: &[(&Tenant, u64)]) {
    for (tenant, events) in tenants {
        let mine: Vec<&(String, String, Value)> = messages
            .iter()
            .filter(|(_, _, payload)| payload["tenant"] == tenant.as_str())
            .collect();
        let positions: Vec<u64> = mine
            .iter()
            .map(|(_, _, payload)| payload["position"].as_u64().unwrap())
            .collect();
        assert_eq!(
            positions,
            (1..=*events).collect::<Vec<u64>>(),
            "tenant {tenant}: every event once, in order"
        );
        for (subject, id, payload) in mine {
            let kind = payload["kind"].as_str().unwrap();
            let event_type = payload["type"].as_str().unwrap();
            assert_eq!(kind, "etl.nightly");
            assert_eq!(
                subject,
                &format!(
                    "runledger.{tenant}.etl_nightly.{}",
                    event_type.replace('.', "_")
                )
            );
            assert_eq!(
                id,
                &format!(
                    "{tenant}/{}/{}",
                    payload["run_id"].as_str().unwrap(),
                    payload["seq"]
                )
            );
        }
    }
}

async fn every_event_reaches_jetstream_once_in_order_through_a_broker_outage(db: TestDb) {
    let mut nats = NatsServer::start();
    let ledger = db.open_without_reaper().await;
    let relay = Relay::spawn(&ledger, &nats.url());
    let (acme, globex) = (
        Tenant::parse("acme").unwrap(),
        Tenant::parse("globex").unwrap(),
    );
    write_events(&ledger, &acme, 0..20).await;
    stream_holds(&nats, 40).await;
    // The broker goes away while events keep coming, then comes back.
    nats.kill();
    write_events(&ledger, &acme, 20..40).await;
    write_events(&ledger, &globex, 0..10).await;
    nats.up();
    write_events(&ledger, &globex, 10..20).await;
    let messages = stream_holds(&nats, 120).await;
    assert_eq!(messages.len(), 120);
    assert_complete_and_ordered(&messages, &[(&acme, 80), (&globex, 40)]);
    assert!(relay.published() >= 120);
}

async fn of_two_relays_on_one_database_one_publishes_and_the_other_takes_over(db: TestDb) {
    let nats = NatsServer::start();
    let (first_ledger, second_ledger) = (
        db.open_without_reaper().await,
        db.open_without_reaper().await,
    );
    let first = Relay::spawn(&first_ledger, &nats.url());
    let second = Relay::spawn(&second_ledger, &nats.url());
    let tenant = Tenant::default();
    write_events(&first_ledger, &tenant, 0..25).await;
    stream_holds(&nats, 50).await;
    let publishing = [first.published(), second.published()];
    assert_eq!(
        publishing
            .iter()
            .filter(|published| **published > 0)
            .count(),
        1,
        "one relay publishes: {publishing:?}"
    );
    // The publishing one stops; the other takes over once its lease expires.
    let (stopped, standby) = if first.published() > 0 {
        (first, second)
    } else {
        (second, first)
    };
    drop(stopped);
    write_events(&second_ledger, &tenant, 25..40).await;
    let messages = stream_holds(&nats, 80).await;
    assert_eq!(messages.len(), 80);
    assert!(standby.published() > 0, "the standby took over");
    assert_complete_and_ordered(&messages, &[(&tenant, 80)]);
}
