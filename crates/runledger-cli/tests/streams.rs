//! SPEC §2.7 "Streams lose nothing" and the stream routes of §4, against
//! real `runledger serve` processes: a subscriber resuming from seq s (one
//! run) or position p (tenant) receives every later event exactly once, in
//! order — over SSE (`Last-Event-ID` or `?after=`) and the `/v1/ws`
//! WebSocket. Run streams end after the terminal event; refusals are
//! problems before the stream starts; keep-alives flow while idle; SIGTERM
//! ends every stream. A reader that takes nothing off its socket while
//! 1,500 large events are written holds up neither the writer nor a fast
//! reader, and later gets every event. Four writer processes × 5,000
//! appends (1,500 on PostgreSQL, to stay within a minute in a debug build)
//! while two SSE and two WebSocket readers disconnect and reconnect
//! hundreds of times: each reader's sequence equals the database's log. Each scenario runs on SQLite and on PostgreSQL
//! (`RUNLEDGER_TEST_PG`).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod streams_support;
mod support;

use serde_json::{Value, json};
use server::{Client, TestServer};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use streams_support::{Backend, Lcg, ResumeBy, Sse, SseItem, StreamDb, Ws, WsItem};
use support::fresh_dir;

/// Runs each named scenario once per backend (modules `sqlite` and `postgres`).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await
                }
            )*
        }
    };
}

on_both_backends!(
    run_stream_replays_follows_resumes_and_ends_after_the_terminal_event,
    tenant_stream_ids_are_positions_and_resume_has_no_gap_or_duplicate,
    websocket_subscriptions_errors_and_unsubscribe_on_one_connection,
    a_slow_reader_holds_up_nobody_and_still_gets_every_event,
    readers_reconnecting_hundreds_of_times_during_four_writer_processes_get_every_event_once,
);

/// A server on a fresh database of `backend` for the test `name`.
fn start(backend: Backend, name: &str, extra: &[&str]) -> (TestServer, StreamDb) {
    let dir = fresh_dir(&format!("streams-{name}-{backend:?}"));
    let db = StreamDb::fresh(backend, &dir, name);
    let server = TestServer::start_with(&dir, &db.url, extra);
    (server, db)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("a client")
}

async fn post_ok(client: &Client, path: &str, body: Value) -> Value {
    let reply = client.post(path, &body).await.expect("the server answers");
    assert!(
        reply.status == 200 || reply.status == 201,
        "POST {path}: {} {}",
        reply.status,
        reply.json
    );
    reply.json
}

/// Reads events until the stream ends.
async fn drain(stream: &mut Sse) -> Vec<(u64, String, Value)> {
    let mut events = Vec::new();
    while let Some(event) = stream.next_event().await {
        events.push(event);
    }
    events
}

async fn run_stream_replays_follows_resumes_and_ends_after_the_terminal_event(backend: Backend) {
    let (server, _db) = start(backend, "run-stream", &[]);
    let client = Client::new(&server);
    let http = http();
    post_ok(
        &client,
        "/v1/runs",
        json!({"id": "job-1", "kind": "etl", "start": {"owner": "w", "lease_ttl_ms": 60_000}}),
    )
    .await;
    for n in 0..3 {
        post_ok(
            &client,
            "/v1/runs/job-1/events",
            json!({"type": "progress", "data": {"n": n}, "lease_epoch": 1}),
        )
        .await;
    }
    // Another run's events never appear in this run's stream.
    post_ok(&client, "/v1/runs", json!({"id": "other", "kind": "etl"})).await;
    let path = "/v1/runs/job-1/events/stream";
    let mut live = Sse::open(&http, &server.base, path, ResumeBy::Start, &[])
        .await
        .expect("the stream opens");
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(live.next_event().await.expect("a stored event"));
    }
    // Live: appended and finished while the stream is open.
    post_ok(
        &client,
        "/v1/runs/job-1/events",
        json!({"type": "progress", "data": {"n": 3}, "lease_epoch": 1}),
    )
    .await;
    post_ok(
        &client,
        "/v1/runs/job-1/finish",
        json!({"lease_epoch": 1, "outcome": "succeeded", "result": {"ok": true}}),
    )
    .await;
    seen.extend(drain(&mut live).await);
    let types: Vec<&str> = seen.iter().map(|(_, event, _)| event.as_str()).collect();
    assert_eq!(
        types,
        [
            "created",
            "started",
            "progress",
            "progress",
            "progress",
            "progress",
            "succeeded"
        ]
    );
    for (index, (id, event, data)) in seen.iter().enumerate() {
        assert_eq!(*id, index as u64 + 1, "id: is the seq");
        assert_eq!(data["seq"], *id);
        assert_eq!(data["type"], event.as_str());
        assert_eq!(data["run_id"], "job-1");
        let mut keys: Vec<&str> = data
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["at", "data", "position", "run_id", "seq", "type"]);
    }
    // Resumes: the header, the query, the header over the query; each gives
    // exactly the tail, then ends after the terminal event.
    let ids = |events: &[(u64, String, Value)]| -> Vec<u64> {
        events.iter().map(|(id, _, _)| *id).collect()
    };
    for (resume, headers, from) in [
        (ResumeBy::Header(3), vec![], 4),
        (ResumeBy::Query(3), vec![], 4),
        (ResumeBy::Query(1), vec![("last-event-id", "5")], 6),
        (ResumeBy::Header(0), vec![], 1),
    ] {
        let mut stream = Sse::open(&http, &server.base, path, resume, &headers)
            .await
            .expect("the stream opens");
        assert_eq!(
            ids(&drain(&mut stream).await),
            (from..=7).collect::<Vec<u64>>(),
            "{resume:?} {headers:?}"
        );
    }
    // Resumed at (or past) the terminal event: nothing more, and it ends.
    for resume in [ResumeBy::Header(7), ResumeBy::Query(9)] {
        let mut stream = Sse::open(&http, &server.base, path, resume, &[])
            .await
            .expect("the stream opens");
        assert_eq!(drain(&mut stream).await, Vec::new());
    }
}

async fn tenant_stream_ids_are_positions_and_resume_has_no_gap_or_duplicate(backend: Backend) {
    let (server, db) = start(backend, "tenant-stream", &[]);
    let client = Client::new(&server);
    let http = http();
    let mut stream = Sse::open(
        &http,
        &server.base,
        "/v1/events/stream",
        ResumeBy::Start,
        &[],
    )
    .await
    .expect("the stream opens");
    for run in ["a", "b", "c"] {
        post_ok(&client, "/v1/runs", json!({"id": run, "kind": "etl"})).await;
        for n in 0..4 {
            post_ok(
                &client,
                &format!("/v1/runs/{run}/events"),
                json!({"type": "log.line", "data": n}),
            )
            .await;
        }
    }
    let mut live = Vec::new();
    for _ in 0..15 {
        live.push(stream.next_event().await.expect("an event"));
    }
    let log = db.tenant_log(&runledger::Tenant::default()).await;
    assert_eq!(log.len(), 15);
    for ((id, event, data), stored) in live.iter().zip(&log) {
        assert_eq!(*id, stored.position, "id: is the position");
        assert_eq!(event, &stored.event_type);
        assert_eq!(data["run_id"], stored.run_id.as_str());
        assert_eq!(data["seq"], stored.seq);
    }
    // Resuming anywhere yields exactly the rest (then waits for more).
    for after in [0_u64, 1, 7, 14] {
        for resume in [ResumeBy::Header(after), ResumeBy::Query(after)] {
            let mut resumed = Sse::open(&http, &server.base, "/v1/events/stream", resume, &[])
                .await
                .expect("the stream opens");
            let mut ids = Vec::new();
            for _ in after..15 {
                ids.push(resumed.next_event().await.expect("an event").0);
            }
            assert_eq!(ids, ((after + 1)..=15).collect::<Vec<u64>>(), "{resume:?}");
        }
    }
    // Refusals come before any stream, as problems.
    let refusals = [
        (
            ResumeBy::Start,
            "/v1/runs/nope/events/stream",
            vec![],
            404,
            "not_found",
        ),
        (
            ResumeBy::Start,
            "/v1/runs/bad%20id/events/stream",
            vec![],
            422,
            "invalid_run_id",
        ),
        (
            ResumeBy::Start,
            "/v1/events/stream",
            vec![("last-event-id", "abc")],
            422,
            "invalid_request",
        ),
        (
            ResumeBy::Start,
            "/v1/events/stream",
            vec![("last-event-id", "-1")],
            422,
            "invalid_request",
        ),
        (
            ResumeBy::Start,
            "/v1/events/stream?after=x",
            vec![],
            422,
            "invalid_request",
        ),
        (
            ResumeBy::Start,
            "/v1/events/stream?since=1",
            vec![],
            422,
            "invalid_request",
        ),
        (
            ResumeBy::Start,
            "/v1/runs/a/events/stream?after=-3",
            vec![],
            422,
            "invalid_request",
        ),
    ];
    for (resume, path, headers, status, code) in refusals {
        let refused = Sse::open(&http, &server.base, path, resume, &headers)
            .await
            .err()
            .unwrap_or_else(|| panic!("{path} {headers:?} opened"));
        assert_eq!(refused.status, status, "{path}: {}", refused.json);
        assert_eq!(refused.content_type, "application/problem+json");
        assert_eq!(refused.json["code"], code, "{path}");
    }
    // Tenants: once tokens exist, each token sees only its tenant's runs
    // and stream; the cookie works like the header.
    let acme = add_tenant(&db.url, "acme");
    let globex = add_tenant(&db.url, "globex");
    let acme_client = Client::new(&server).with_token(&acme);
    post_ok(
        &acme_client,
        "/v1/runs",
        json!({"id": "mine", "kind": "etl"}),
    )
    .await;
    let bearer = |token: &str| format!("Bearer {token}");
    let globex_bearer = bearer(&globex);
    let refused = Sse::open(
        &http,
        &server.base,
        "/v1/runs/mine/events/stream",
        ResumeBy::Start,
        &[("authorization", &globex_bearer)],
    )
    .await
    .err()
    .expect("another tenant's run is refused");
    assert_eq!(
        (refused.status, refused.json["code"].as_str()),
        (404, Some("not_found"))
    );
    let unauthorized = Sse::open(
        &http,
        &server.base,
        "/v1/events/stream",
        ResumeBy::Start,
        &[],
    )
    .await
    .err()
    .expect("no token is refused once tokens exist");
    assert_eq!(unauthorized.status, 401);
    // The dashboard's session cookie (from its sign-in) works like the
    // header.
    let signed_in = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
        .post(format!("{}/dashboard/sign-in", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={acme}"))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .expect("ASCII")
        .split(';')
        .next()
        .expect("a cookie")
        .to_owned();
    assert!(cookie.starts_with("runledger_token="), "{cookie}");
    let mut acme_stream = Sse::open(
        &http,
        &server.base,
        "/v1/events/stream",
        ResumeBy::Start,
        &[("cookie", &cookie)],
    )
    .await
    .expect("the cookie authenticates");
    let (id, event, data) = acme_stream.next_event().await.expect("acme's first event");
    assert_eq!(
        (id, event.as_str(), &data["run_id"]),
        (1, "created", &json!("mine"))
    );
    let mut globex_stream = Sse::open(
        &http,
        &server.base,
        "/v1/events/stream",
        ResumeBy::Start,
        &[("authorization", &globex_bearer)],
    )
    .await
    .expect("globex's stream opens");
    let globex_client = Client::new(&server).with_token(&globex);
    post_ok(
        &globex_client,
        "/v1/runs",
        json!({"id": "theirs", "kind": "etl"}),
    )
    .await;
    let (id, _, data) = globex_stream
        .next_event()
        .await
        .expect("globex's first event");
    assert_eq!(
        (id, &data["run_id"]),
        (1, &json!("theirs")),
        "never acme's run"
    );
    // The WebSocket: the token decides the tenant there too.
    assert_eq!(
        Ws::try_connect(&server.base, None).await.err(),
        Some(401),
        "no token, no WebSocket"
    );
    let mut ws = Ws::connect(&server.base, Some(&globex)).await;
    ws.send(&json!({"op": "subscribe", "run_id": "mine"})).await;
    assert_error(&ws.recv().await, "not_found", Some(&json!("mine")));
    ws.send(&json!({"op": "subscribe", "run_id": null})).await;
    assert_eq!(ws.recv().await, json!({"op": "subscribed", "run_id": null}));
    let event = ws.recv().await;
    assert_eq!(
        (event["position"].as_u64(), &event["run_id"]),
        (Some(1), &json!("theirs"))
    );
}

/// `runledger tenant add NAME --json`: the token.
fn add_tenant(db_url: &str, name: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_runledger"))
        .args(["tenant", "add", name, "--json", "--db", db_url])
        .output()
        .expect("runledger tenant add runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    answer["token"].as_str().expect("a token").to_owned()
}

async fn websocket_subscriptions_errors_and_unsubscribe_on_one_connection(backend: Backend) {
    let (server, _db) = start(backend, "websocket", &[]);
    let client = Client::new(&server);
    for run in ["a", "b"] {
        post_ok(&client, "/v1/runs", json!({"id": run, "kind": "etl"})).await;
        post_ok(
            &client,
            &format!("/v1/runs/{run}/events"),
            json!({"type": "step", "data": 1}),
        )
        .await;
    }
    let mut ws = Ws::connect(&server.base, None).await;
    // Errors answer and leave the connection open.
    ws.send(&json!({"op": "subscribe", "run_id": "missing", "after": 0}))
        .await;
    assert_error(&ws.recv().await, "not_found", Some(&json!("missing")));
    // A message that is not a readable op names no subscription.
    ws.send_text("this is not JSON").await;
    assert_error(&ws.recv().await, "invalid_request", None);
    ws.send(&json!({"op": "teleport"})).await;
    assert_error(&ws.recv().await, "invalid_request", None);
    ws.send(&json!({"op": "subscribe", "run_id": "bad id"}))
        .await;
    assert_error(&ws.recv().await, "invalid_run_id", None);
    ws.send(&json!({"op": "subscribe", "run_id": "a", "after": "zero"}))
        .await;
    assert_error(&ws.recv().await, "invalid_request", None);
    ws.ping().await;
    assert_eq!(ws.next_item().await, WsItem::Pong);
    // Two run subscriptions on one connection, each confirmed before its events.
    ws.send(&json!({"op": "subscribe", "run_id": "a", "after": 0}))
        .await;
    ws.send(&json!({"op": "subscribe", "run_id": "b", "after": 1}))
        .await;
    let mut per_run: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    let mut confirmed = Vec::new();
    while per_run.values().map(Vec::len).sum::<usize>() < 3 || confirmed.len() < 2 {
        let message = ws.recv().await;
        let run = message["run_id"].as_str().expect("a run id").to_owned();
        match message["op"].as_str() {
            Some("subscribed") => confirmed.push(run),
            Some("event") => {
                assert!(
                    confirmed.contains(&run),
                    "an event of {run} before subscribed"
                );
                assert_event_shape(&message);
                per_run
                    .entry(run)
                    .or_default()
                    .push(message["seq"].as_u64().unwrap());
            }
            other => panic!("unexpected {other:?}: {message}"),
        }
    }
    assert_eq!(confirmed, ["a", "b"], "answers come in request order");
    assert_eq!(per_run["a"], [1, 2]);
    assert_eq!(per_run["b"], [2]);
    // Unsubscribe from a; then only b's events arrive.
    ws.send(&json!({"op": "unsubscribe", "run_id": "a"})).await;
    assert_eq!(
        ws.recv().await,
        json!({"op": "unsubscribed", "run_id": "a"})
    );
    post_ok(
        &client,
        "/v1/runs/a/events",
        json!({"type": "step", "data": 2}),
    )
    .await;
    post_ok(
        &client,
        "/v1/runs/b/events",
        json!({"type": "step", "data": 2}),
    )
    .await;
    let next = ws.recv().await;
    assert_eq!(
        (next["run_id"].as_str(), next["seq"].as_u64()),
        (Some("b"), Some(3)),
        "{next}"
    );
    // The tenant subscription: positions from `after`, every run.
    ws.send(&json!({"op": "subscribe", "run_id": null, "after": 2}))
        .await;
    assert_eq!(ws.recv().await, json!({"op": "subscribed", "run_id": null}));
    let mut positions = Vec::new();
    for _ in 3..=6 {
        let event = ws.recv().await;
        assert_eq!(event["op"], "event");
        positions.push(event["position"].as_u64().unwrap());
    }
    assert_eq!(positions, [3, 4, 5, 6]);
    // A cancelled run's subscription ends after its terminal event; the
    // connection goes on.
    ws.send(&json!({"op": "unsubscribe", "run_id": null})).await;
    assert_eq!(
        ws.recv().await,
        json!({"op": "unsubscribed", "run_id": null})
    );
    post_ok(&client, "/v1/runs/b/cancel", json!({"reason": "done"})).await;
    let cancelled = ws.recv().await;
    assert_eq!(
        (cancelled["run_id"].as_str(), cancelled["type"].as_str()),
        (Some("b"), Some("cancelled"))
    );
    ws.send(&json!({"op": "subscribe", "run_id": "b", "after": 4}))
        .await;
    assert_eq!(ws.recv().await, json!({"op": "subscribed", "run_id": "b"}));
    ws.close().await;
}

/// An `error` frame with `code`; `run_id` is the subscription it names
/// (`None`: a frame that names none, without the field).
fn assert_error(message: &Value, code: &str, run_id: Option<&Value>) {
    assert_eq!(message["op"], "error", "{message}");
    assert_eq!(message["code"], code, "{message}");
    assert_eq!(message.get("run_id"), run_id, "{message}");
    assert!(
        message["detail"]
            .as_str()
            .is_some_and(|detail| !detail.is_empty())
    );
}

fn assert_event_shape(message: &Value) {
    let mut keys: Vec<&str> = message
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["at", "data", "op", "position", "run_id", "seq", "type"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_streams_keep_alive_and_sigterm_ends_every_stream() {
    let (mut server, _db) = start(
        Backend::Sqlite,
        "keep-alive",
        &["--stream-keep-alive-ms", "100"],
    );
    let http = http();
    let mut sse = Sse::open(
        &http,
        &server.base,
        "/v1/events/stream",
        ResumeBy::Start,
        &[],
    )
    .await
    .expect("the stream opens");
    assert_eq!(
        sse.next_item().await,
        Some(SseItem::Comment("keep-alive".into()))
    );
    let mut ws = Ws::connect(&server.base, None).await;
    ws.send(&json!({"op": "subscribe", "run_id": null})).await;
    assert_eq!(ws.recv().await, json!({"op": "subscribed", "run_id": null}));
    assert_eq!(
        ws.next_item().await,
        WsItem::Ping,
        "the server pings an idle socket"
    );
    // SIGTERM: the streams end and the server exits cleanly, promptly.
    let started = Instant::now();
    let status = server.terminate();
    assert!(status.success(), "{status:?}: {}", server.log());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    loop {
        match sse.next_item().await {
            None => break,
            Some(SseItem::Comment(_)) => continue,
            Some(other) => panic!("unexpected {other:?}"),
        }
    }
    loop {
        match ws.next_item().await {
            WsItem::Closed => break,
            WsItem::Ping | WsItem::Pong => continue,
            WsItem::Json(message) => panic!("unexpected {message}"),
        }
    }
}

/// Events the slow-reader scenario writes, each with [`LARGE_DATA_BYTES`] of data.
const SLOW_EVENTS: usize = 1_500;
const LARGE_DATA_BYTES: usize = 4 * 1024;

async fn a_slow_reader_holds_up_nobody_and_still_gets_every_event(backend: Backend) {
    let (server, db) = start(backend, "slow-reader", &[]);
    let client = Client::new(&server);
    let http = http();
    post_ok(&client, "/v1/runs", json!({"id": "big", "kind": "etl"})).await;
    // Both open before anything is written; the slow ones read nothing yet.
    let mut slow_sse = Sse::open(
        &http,
        &server.base,
        "/v1/events/stream",
        ResumeBy::Start,
        &[],
    )
    .await
    .expect("the stream opens");
    let mut slow_ws = Ws::connect(&server.base, None).await;
    slow_ws
        .send(&json!({"op": "subscribe", "run_id": null, "after": 0}))
        .await;
    let mut fast = Sse::open(
        &http,
        &server.base,
        "/v1/events/stream",
        ResumeBy::Start,
        &[],
    )
    .await
    .expect("the stream opens");
    let total = SLOW_EVENTS as u64 + 1;
    let fast_reader = tokio::spawn(async move {
        let mut ids = Vec::new();
        while (ids.len() as u64) < total {
            ids.push(fast.next_event().await.expect("an event").0);
        }
        ids
    });
    let padding = "x".repeat(LARGE_DATA_BYTES);
    let started = Instant::now();
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let (client, padding) = (client.clone(), padding.clone());
            tokio::spawn(async move {
                for n in (writer..SLOW_EVENTS).step_by(8) {
                    post_ok(
                        &client,
                        "/v1/runs/big/events",
                        json!({"type": "blob", "data": {"n": n, "padding": padding}}),
                    )
                    .await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("the writer finished");
    }
    let written_in = started.elapsed();
    let fast_ids = fast_reader.await.expect("the fast reader finished");
    assert_eq!(fast_ids, (1..=total).collect::<Vec<u64>>());
    eprintln!(
        "{SLOW_EVENTS} events of {LARGE_DATA_BYTES} B written in {written_in:?} while two readers stalled"
    );
    // Now the slow readers read — slowly — and get all of it, in order.
    let log = db.tenant_log(&runledger::Tenant::default()).await;
    assert_eq!(log.len() as u64, total);
    let mut sse_positions = Vec::new();
    while (sse_positions.len() as u64) < total {
        let (id, _, data) = slow_sse.next_event().await.expect("an event");
        assert_eq!(data["position"], id);
        sse_positions.push(id);
        if id.is_multiple_of(100) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert_eq!(sse_positions, (1..=total).collect::<Vec<u64>>());
    assert_eq!(
        slow_ws.recv().await,
        json!({"op": "subscribed", "run_id": null})
    );
    let mut ws_positions = Vec::new();
    while (ws_positions.len() as u64) < total {
        let event = slow_ws.recv().await;
        assert_eq!(event["op"], "event");
        ws_positions.push(event["position"].as_u64().expect("a position"));
    }
    assert_eq!(ws_positions, (1..=total).collect::<Vec<u64>>());
    for (stored, position) in log.iter().zip(1..) {
        assert_eq!(stored.position, position);
    }
}

/// Writer processes in the reconnect race.
const WRITER_PROCESSES: usize = 4;
/// Each writer's appends: 5,000 on SQLite (about 12 s alone in a debug
/// build); 1,500 on PostgreSQL, whose debug-build appends over HTTP are
/// several times slower on two shared cores: 20,000 would take minutes.
fn events_per_writer(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 5_000,
        Backend::Postgres => 1_500,
    }
}
/// Runs per writer process; each gets its share of the appends from its own task.
const RUNS_PER_WRITER: usize = 4;
/// Real disconnects (new connections) the four readers must make in all.
const RECONNECTS_MIN: usize = 200;

/// The environment variable that turns this test binary into a writer.
const WRITER_ENV: &str = "RUNLEDGER_STREAMS_WRITER";

/// Not a test of its own: the body of a writer process of the reconnect
/// race (this test binary re-run with [`WRITER_ENV`] set). Without it, does nothing.
#[test]
fn writer_process() {
    let Ok(config) = std::env::var(WRITER_ENV) else {
        return;
    };
    let config: Value = serde_json::from_str(&config).expect("the writer's config");
    let base = config["base"].as_str().expect("base").to_owned();
    let name = config["name"].as_str().expect("name").to_owned();
    let events = config["events"].as_u64().expect("events") as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let client = Client::for_base(&base);
        // Released together by a `go` line on stdin, after every reader is up.
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).expect("stdin reads");
        let tasks: Vec<_> = (0..RUNS_PER_WRITER)
            .map(|run| {
                let client = client.clone();
                let id = format!("{name}-run{run}");
                tokio::spawn(async move {
                    post_ok(&client, "/v1/runs", json!({"id": id, "kind": "race"})).await;
                    for n in 0..events / RUNS_PER_WRITER {
                        post_ok(
                            &client,
                            &format!("/v1/runs/{id}/events"),
                            json!({"type": "tick", "data": n}),
                        )
                        .await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("an appender finished");
        }
    });
    println!("WRITER-DONE");
}

/// What a reader received: (position, run id, seq, type), and how often it
/// disconnected and reconnected.
struct Received {
    events: Vec<(u64, String, u64, String)>,
    reconnects: usize,
    resubscribes: usize,
}

fn record(events: &mut Vec<(u64, String, u64, String)>, data: &Value, reader: &str) {
    let position = data["position"].as_u64().expect("a position");
    let expected = events.last().map_or(1, |last| last.0 + 1);
    assert_eq!(position, expected, "{reader}: a gap or a duplicate: {data}");
    events.push((
        position,
        data["run_id"].as_str().expect("a run id").to_owned(),
        data["seq"].as_u64().expect("a seq"),
        data["type"].as_str().expect("a type").to_owned(),
    ));
}

/// A tenant SSE reader that hangs up after a random number of events and
/// resumes — by `Last-Event-ID` and `?after=` in turn — until it has `total`.
async fn sse_reader(base: String, total: u64, seed: u64, hang_up_within: u64) -> Received {
    let http = http();
    let mut random = Lcg::new(seed);
    let mut received = Received {
        events: Vec::new(),
        reconnects: 0,
        resubscribes: 0,
    };
    let reader = format!("sse reader {seed}");
    loop {
        let last = received.events.last().map_or(0, |event| event.0);
        if last == total {
            return received;
        }
        let resume = if received.reconnects.is_multiple_of(2) {
            ResumeBy::Header(last)
        } else {
            ResumeBy::Query(last)
        };
        let mut stream = Sse::open(&http, &base, "/v1/events/stream", resume, &[])
            .await
            .expect("the stream opens");
        for _ in 0..random.between(1, hang_up_within) {
            let (id, _, data) = stream.next_event().await.expect("an event");
            assert_eq!(data["position"], id);
            record(&mut received.events, &data, &reader);
            if id == total {
                break;
            }
        }
        drop(stream);
        received.reconnects += 1;
    }
}

/// A tenant WebSocket reader: after a random number of events it either
/// closes the connection and opens a new one, or unsubscribes and
/// subscribes again on the same one; it resumes from its last position.
async fn ws_reader(base: String, total: u64, seed: u64, hang_up_within: u64) -> Received {
    let mut random = Lcg::new(seed);
    let mut received = Received {
        events: Vec::new(),
        reconnects: 0,
        resubscribes: 0,
    };
    let reader = format!("ws reader {seed}");
    let mut ws = Ws::connect(&base, None).await;
    loop {
        let last = received.events.last().map_or(0, |event| event.0);
        if last == total {
            ws.close().await;
            return received;
        }
        ws.send(&json!({"op": "subscribe", "run_id": null, "after": last}))
            .await;
        assert_eq!(
            ws.recv().await,
            json!({"op": "subscribed", "run_id": null}),
            "{reader}"
        );
        for _ in 0..random.between(1, hang_up_within) {
            let event = ws.recv().await;
            assert_eq!(event["op"], "event", "{reader}: {event}");
            record(&mut received.events, &event, &reader);
            if event["position"] == total {
                break;
            }
        }
        if random.between(0, 2) == 0 {
            // Unsubscribe: what was already on its way still arrives, in
            // order, then `unsubscribed`, then nothing more of it.
            ws.send(&json!({"op": "unsubscribe", "run_id": null})).await;
            loop {
                let message = ws.recv().await;
                match message["op"].as_str() {
                    Some("event") => record(&mut received.events, &message, &reader),
                    Some("unsubscribed") => break,
                    _ => panic!("{reader}: unexpected {message}"),
                }
            }
            received.resubscribes += 1;
        } else {
            ws.close().await;
            ws = Ws::connect(&base, None).await;
            received.reconnects += 1;
        }
    }
}

async fn readers_reconnecting_hundreds_of_times_during_four_writer_processes_get_every_event_once(
    backend: Backend,
) {
    let (server, db) = start(backend, "reconnect-race", &[]);
    let events = events_per_writer(backend);
    let total = (WRITER_PROCESSES * (RUNS_PER_WRITER + events)) as u64;
    // Each reader hangs up after 1..=total/50 events: about 100 times.
    let hang_up_within = total / 50;
    let started = Instant::now();
    let readers: Vec<_> = (0..4_u64)
        .map(|reader| {
            let base = server.base.clone();
            if reader < 2 {
                tokio::spawn(sse_reader(base, total, reader + 1, hang_up_within))
            } else {
                tokio::spawn(ws_reader(base, total, reader + 1, hang_up_within))
            }
        })
        .collect();
    let exe = std::env::current_exe().expect("the test binary");
    let mut writers: Vec<_> = (0..WRITER_PROCESSES)
        .map(|writer| {
            let config =
                json!({"base": server.base, "name": format!("w{writer}"), "events": events});
            Command::new(&exe)
                .args([
                    "--exact",
                    "writer_process",
                    "--nocapture",
                    "--test-threads",
                    "1",
                ])
                .env(WRITER_ENV, config.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("a writer process starts")
        })
        .collect();
    for writer in &mut writers {
        let stdin = writer.stdin.as_mut().expect("stdin is piped");
        stdin.write_all(b"go\n").expect("go is sent");
    }
    tokio::task::spawn_blocking(move || {
        for mut writer in writers {
            let status = writer.wait().expect("the writer ends");
            assert!(status.success(), "a writer failed: {status:?}");
        }
    })
    .await
    .expect("every writer finished");
    let written_in = started.elapsed();
    let mut received = Vec::new();
    for reader in readers {
        received.push(reader.await.expect("the reader finished"));
    }
    let read_in = started.elapsed();
    let log = db.tenant_log(&runledger::Tenant::default()).await;
    assert_eq!(log.len() as u64, total, "every append was stored");
    let expected: Vec<(u64, String, u64, String)> = log
        .iter()
        .map(|event| {
            (
                event.position,
                event.run_id.to_string(),
                event.seq,
                event.event_type.clone(),
            )
        })
        .collect();
    let mut reconnects = 0;
    for (index, reader) in received.iter().enumerate() {
        assert_eq!(reader.events.len(), expected.len(), "reader {index}");
        assert!(
            reader.events == expected,
            "reader {index} differs from the database's log"
        );
        reconnects += reader.reconnects;
    }
    eprintln!(
        "{total} events from {WRITER_PROCESSES} writer processes ({events} appends each) in {written_in:?}, all read in {read_in:?}; reconnects per reader {:?}, resubscribes {:?}",
        received
            .iter()
            .map(|reader| reader.reconnects)
            .collect::<Vec<_>>(),
        received
            .iter()
            .map(|reader| reader.resubscribes)
            .collect::<Vec<_>>(),
    );
    assert!(reconnects >= RECONNECTS_MIN, "only {reconnects} reconnects");
}
