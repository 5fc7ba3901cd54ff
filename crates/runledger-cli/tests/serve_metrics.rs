//! `/metrics` of a real `runledger serve` counts what the ledger wrote, on
//! SQLite and PostgreSQL: `runledger_events_appended_total` (caller events)
//! and `runledger_runs_finished_total{outcome}` (a finish, a cancel with
//! its cascaded child, a run cancelled to make room by `cancel-active` —
//! the kebab spelling the API also reads, the same policy as
//! `cancel_active`); an idempotent repeat of a finish
//! or a cancel writes nothing and counts nothing. Every family has its
//! `# HELP` line. `runledger_open_subscribers{transport}` counts each SSE
//! stream and each WebSocket subscription while it follows a log.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod support;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use server::{Client, TestServer};
use std::time::{Duration, Instant};
use support::{fresh_dir, sqlite_url};
use tokio_tungstenite::tungstenite::Message;

/// The value of the sample `series` (name and labels as rendered), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

async fn metrics(server: &TestServer) -> String {
    reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn post(client: &Client, path: &str, body: Value, status: u16) -> Value {
    let reply = client.post(path, &body).await.unwrap();
    assert_eq!(reply.status, status, "{path}: {}", reply.json);
    reply.json
}

async fn counts_what_the_ledger_wrote(db_url: &str) {
    let dir = fresh_dir("serve-metrics");
    let server = TestServer::start(&dir, db_url);
    let client = Client::new(&server);
    let before = metrics(&server).await;
    for family in [
        "runledger_events_appended_total",
        "runledger_runs_finished_total",
    ] {
        assert!(
            before.contains(&format!("# HELP {family} ")),
            "{family} has no # HELP line:\n{before}"
        );
    }

    // A worker's lifecycle: 3 events, then succeeded; the repeat counts nothing.
    let lease = json!({"owner": "w", "lease_ttl_ms": 60_000});
    post(
        &client,
        "/v1/runs",
        json!({"id": "a", "kind": "etl", "start": lease}),
        201,
    )
    .await;
    for part in 0..3 {
        let body = json!({"type": "progress", "data": {"part": part}, "lease_epoch": 1});
        post(&client, "/v1/runs/a/events", body, 201).await;
    }
    let finish = json!({"lease_epoch": 1, "outcome": "succeeded"});
    post(&client, "/v1/runs/a/finish", finish.clone(), 200).await;
    post(&client, "/v1/runs/a/finish", finish, 200).await;
    // A cancel that cascades to a child: two cancelled; the repeat counts nothing.
    post(&client, "/v1/runs", json!({"id": "b", "kind": "etl"}), 201).await;
    post(
        &client,
        "/v1/runs",
        json!({"parent_id": "b", "key": "c", "kind": "etl"}),
        201,
    )
    .await;
    post(&client, "/v1/runs/b/cancel", json!({"cascade": true}), 200).await;
    post(&client, "/v1/runs/b/cancel", json!({}), 200).await;
    // A run cancelled to make room, asked for in the kebab spelling.
    let group = |policy: &str| json!({"key": "g", "limit": 1, "on_full": policy});
    post(
        &client,
        "/v1/runs",
        json!({"id": "d", "kind": "etl", "concurrency": group("reject")}),
        201,
    )
    .await;
    let made_room = post(
        &client,
        "/v1/runs",
        json!({"id": "e", "kind": "etl", "concurrency": group("cancel-active")}),
        201,
    )
    .await;
    assert_eq!(made_room["state"], "queued");
    // Both spellings are one policy: the snake-case repeat is identical.
    post(
        &client,
        "/v1/runs",
        json!({"id": "e", "kind": "etl", "concurrency": group("cancel_active")}),
        200,
    )
    .await;

    let after = metrics(&server).await;
    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(delta("runledger_events_appended_total"), 3.0, "{after}");
    assert_eq!(
        delta("runledger_runs_finished_total{outcome=\"succeeded\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(
        delta("runledger_runs_finished_total{outcome=\"cancelled\"}"),
        3.0,
        "{after}"
    );
    assert_eq!(
        delta("runledger_runs_finished_total{outcome=\"failed\"}"),
        0.0
    );
    let d = client.get("/v1/runs/d").await.unwrap();
    assert_eq!(d.json["state"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_appends_and_finishes_on_sqlite() {
    let dir = fresh_dir("serve-metrics-sqlite");
    counts_what_the_ledger_wrote(&sqlite_url(&dir, "metrics.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_appends_and_finishes_on_postgres() {
    let db = support::postgres_url("serve_metrics");
    counts_what_the_ledger_wrote(&db.url).await;
}

/// Polls `/metrics` until `series` reads `value`.
async fn until_sample(server: &TestServer, series: &str, value: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = metrics(server).await;
        if sample(&text, series) == value {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never read {value}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_subscribers_count_sse_streams_and_websocket_subscriptions() {
    let dir = fresh_dir("serve-metrics-subscribers");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "subscribers.db"));
    let (sse, websocket) = (
        "runledger_open_subscribers{transport=\"sse\"}",
        "runledger_open_subscribers{transport=\"websocket\"}",
    );
    let text = metrics(&server).await;
    assert!(
        text.contains("# HELP runledger_open_subscribers "),
        "{text}"
    );
    assert!(text.contains(&format!("{sse} 0")), "{text}");
    assert!(text.contains(&format!("{websocket} 0")), "{text}");

    // Two SSE streams (tenant and run), open until dropped.
    let client = Client::new(&server);
    post(&client, "/v1/runs", json!({"id": "r", "kind": "etl"}), 201).await;
    let tenant_stream = reqwest::get(server.url("/v1/events/stream")).await.unwrap();
    let run_stream = reqwest::get(server.url("/v1/runs/r/events/stream"))
        .await
        .unwrap();
    assert_eq!(
        (
            tenant_stream.status().as_u16(),
            run_stream.status().as_u16()
        ),
        (200, 200)
    );
    until_sample(&server, sse, 2.0).await;

    // One socket, two subscriptions: two subscribers, not one.
    let ws_url = server.url("/v1/ws").replace("http://", "ws://");
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .unwrap();
    for run_id in [json!(null), json!("r")] {
        let subscribe = json!({"op": "subscribe", "run_id": run_id, "after": 0});
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .unwrap();
    }
    until_sample(&server, websocket, 2.0).await;
    socket
        .send(Message::text(
            json!({"op": "unsubscribe", "run_id": "r"}).to_string(),
        ))
        .await
        .unwrap();
    until_sample(&server, websocket, 1.0).await;

    drop(run_stream);
    until_sample(&server, sse, 1.0).await;
    socket.close(None).await.unwrap();
    while socket.next().await.is_some() {}
    until_sample(&server, websocket, 0.0).await;
    drop(tenant_stream);
    until_sample(&server, sse, 0.0).await;
}
