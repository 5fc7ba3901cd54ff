//! The `runledger-client` crate against a real `runledger serve` (SPEC §4,
//! §6: "A client crate for the HTTP API keeps one WebSocket connection per
//! client, reconnects with back-off and resumes from the last seen
//! position"; §2.7 "Streams lose nothing").
//!
//! Every call answers its typed body; every refusal is a typed problem with
//! its `ErrorCode`; several subscriptions share one WebSocket; and a server
//! killed with SIGKILL and restarted on the same port mid-stream costs the
//! subscriptions no event and repeats none (compared with the log read
//! afterwards).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod port_server;
mod server;
mod support;

use port_server::{PortServer, free_port};
use runledger::{
    ConcurrencyKey, ErrorCode, Event, EventType, Kind, OnFull, Outcome, Owner, RunId, RunState,
    Segment,
};
use runledger_client::{
    AppendEvent, CallOptions, Cancel, Client, ClientError, ConcurrencyRequest, CreateRun, Finish,
    Heartbeat, ListRuns, StartRun, Subscription,
};
use serde_json::json;
use server::TestServer;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{fresh_dir, sqlite_url};

/// How long a subscription may take to deliver its next event.
const EVENT_DEADLINE: Duration = Duration::from_secs(20);

fn id(text: &str) -> RunId {
    RunId::parse(text).expect("a valid run id")
}

fn kind(text: &str) -> Kind {
    Kind::parse(text).expect("a valid kind")
}

fn create(text: &str) -> CreateRun {
    CreateRun::new(kind("etl")).id(id(text))
}

fn problem_code(error: &ClientError) -> ErrorCode {
    error
        .code()
        .unwrap_or_else(|| panic!("not a problem: {error}"))
}

/// The next event of `subscription`, within [`EVENT_DEADLINE`].
async fn next_event(subscription: &mut Subscription) -> Option<Result<Event, ClientError>> {
    tokio::time::timeout(EVENT_DEADLINE, subscription.next())
        .await
        .expect("the subscription delivered in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_answers_its_typed_body() {
    let dir = fresh_dir("client-calls");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "client.db"));
    let client = Client::new(&server.base, None).expect("a client");
    let none = CallOptions::NONE;

    assert_eq!(client.healthz().await.expect("healthz").status, "ok");
    let first = client
        .create_run(&create("c1").attributes(json!({"a": 1})), &none)
        .await
        .expect("created");
    assert!(first.created);
    assert_eq!(first.run.state, RunState::Queued);
    let repeat = client
        .create_run(&create("c1").attributes(json!({"a": 1.0})), &none)
        .await
        .expect("the identical repeat");
    assert!(!repeat.created);
    assert_eq!(repeat.run, first.run);

    // An id-less create with an Idempotency-Key answers the same run twice.
    let keyed = CallOptions::default().idempotency_key("create-once");
    let once = client
        .create_run(&CreateRun::new(kind("etl")), &keyed)
        .await
        .expect("created");
    let twice = client
        .create_run(&CreateRun::new(kind("etl")), &keyed)
        .await
        .expect("replayed");
    assert_eq!(once.run.id, twice.run.id);

    let child = client
        .create_run(
            &CreateRun::new(kind("etl-client"))
                .child_of(id("c1"), Segment::parse("acme").expect("a key"))
                .concurrency_group(
                    ConcurrencyKey::parse("clients").expect("a key"),
                    3,
                    OnFull::Enqueue,
                )
                .expect("a group")
                .start(Owner::parse("w1").expect("an owner"), 60_000),
            &none,
        )
        .await
        .expect("a child");
    assert_eq!(child.run.id, id("c1:acme"));
    assert_eq!(child.run.state, RunState::Running);
    assert_eq!(child.run.concurrency_limit, Some(3));

    let got = client.get_run(&id("c1")).await.expect("got");
    assert_eq!(got.children.total, 1);

    // Paging: 3 runs, 2 per page.
    let mut query = ListRuns {
        limit: Some(2),
        ..ListRuns::default()
    };
    let page = client.list_runs(&query).await.expect("a page");
    assert_eq!(page.runs.len(), 2);
    query.cursor = page.next_cursor.clone();
    assert!(query.cursor.is_some());
    let last = client.list_runs(&query).await.expect("the last page");
    assert_eq!(last.runs.len(), 1);
    assert_eq!(last.next_cursor, None);
    let running = client
        .list_runs(&ListRuns {
            state: Some(RunState::Running),
            ..ListRuns::default()
        })
        .await
        .expect("filtered");
    assert_eq!(running.runs.len(), 1);
    assert_eq!(running.runs[0].id, id("c1:acme"));

    let appended = client
        .append_event(
            &id("c1"),
            &AppendEvent::new(
                EventType::parse("progress").expect("a type"),
                json!({"done": 10}),
            ),
            &none,
        )
        .await
        .expect("appended");
    assert_eq!(appended.seq, 2);

    let start = StartRun::new(Owner::parse("w2").expect("an owner"), 60_000);
    let started = client
        .start(&id("c1"), &start, &CallOptions::default().if_match(2))
        .await
        .expect("started");
    let epoch = started.lease.as_ref().expect("a lease").epoch;
    let beat = client
        .heartbeat(
            &id("c1"),
            &Heartbeat {
                lease_ttl_ms: Some(120_000),
                ..Heartbeat::new(epoch)
            },
            &none,
        )
        .await
        .expect("a heartbeat");
    assert_eq!(beat.version, started.version + 1);
    let finished = client
        .finish(
            &id("c1"),
            &Finish {
                lease_epoch: epoch,
                outcome: Outcome::Succeeded,
                result: Some(json!({"rows": 3})),
                error: None,
            },
            &none,
        )
        .await
        .expect("finished");
    assert_eq!(finished.state, RunState::Succeeded);
    let cancelled = client
        .cancel(
            &id("c1:acme"),
            &Cancel {
                reason: Some("enough".to_owned()),
                ..Cancel::default()
            },
            &none,
        )
        .await
        .expect("cancelled");
    assert_eq!(cancelled.error.as_deref(), Some("enough"));

    let events = client.events(&id("c1"), 0, None).await.expect("events");
    let types: Vec<&str> = events
        .events
        .iter()
        .map(|event| event.event_type.as_str())
        .collect();
    assert_eq!(types, ["created", "progress", "started", "succeeded"]);
    let tail = client
        .events(&id("c1"), 2, Some(1))
        .await
        .expect("a page of events");
    assert_eq!(tail.events.len(), 1);
    assert_eq!(tail.events[0].seq, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_typed_problems_and_no_server_is_unreachable() {
    let dir = fresh_dir("client-problems");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "client.db"));
    let client = Client::new(&server.base, None).expect("a client");
    let none = CallOptions::NONE;
    client.create_run(&create("p1"), &none).await.expect("p1");

    let missing = client.get_run(&id("nope")).await.expect_err("404");
    let ClientError::Problem {
        status,
        code,
        detail,
        body,
    } = &missing
    else {
        panic!("not a problem: {missing}")
    };
    assert_eq!((*status, *code), (404, ErrorCode::NotFound));
    assert!(detail.contains("nope"), "{detail}");
    assert_eq!(body["type"], "urn:runledger:problem:not_found");

    let conflict = client
        .create_run(&CreateRun::new(kind("other")).id(id("p1")), &none)
        .await
        .expect_err("409");
    assert_eq!(problem_code(&conflict), ErrorCode::RunConflict);
    let ClientError::Problem { body, .. } = &conflict else {
        unreachable!()
    };
    assert_eq!(body["fields"], json!(["kind"]));

    let group = |run: &str| {
        let mut request = CreateRun::new(kind("etl")).id(id(run));
        request.concurrency = Some(ConcurrencyRequest {
            key: ConcurrencyKey::parse("one").expect("a key"),
            limit: None,
            on_full: None,
        });
        request
    };
    client.create_run(&group("g1"), &none).await.expect("g1");
    let full = client
        .create_run(&group("g2"), &none)
        .await
        .expect_err("full");
    assert_eq!(problem_code(&full), ErrorCode::ConcurrencyLimit);
    let ClientError::Problem { status, body, .. } = &full else {
        unreachable!()
    };
    assert_eq!(*status, 409);
    assert_eq!(body["active_run_ids"], json!(["g1"]));

    let not_running = client
        .heartbeat(&id("p1"), &Heartbeat::new(1), &none)
        .await
        .expect_err("never started");
    assert_eq!(problem_code(&not_running), ErrorCode::InvalidTransition);

    let start = StartRun::new(Owner::parse("w").expect("an owner"), 60_000);
    let stale_version = client
        .start(&id("p1"), &start, &CallOptions::default().if_match(9))
        .await
        .expect_err("412");
    assert_eq!(problem_code(&stale_version), ErrorCode::VersionConflict);
    client
        .start(&id("p1"), &start, &none)
        .await
        .expect("started");
    let stale = client
        .finish(
            &id("p1"),
            &Finish {
                lease_epoch: 7,
                outcome: Outcome::Failed,
                result: None,
                error: Some("late".to_owned()),
            },
            &none,
        )
        .await
        .expect_err("stale");
    assert_eq!(problem_code(&stale), ErrorCode::StaleLease);
    let reused = client
        .create_run(&create("k1"), &CallOptions::default().idempotency_key("k"))
        .await
        .map(|_| ());
    assert!(reused.is_ok());
    let other_body = client
        .create_run(&create("k2"), &CallOptions::default().idempotency_key("k"))
        .await
        .expect_err("same key, other body");
    assert_eq!(problem_code(&other_body), ErrorCode::IdempotencyKeyReused);

    // A refused WebSocket subscription is a typed problem too, on the stream.
    let mut nothing = client.subscribe_run(&id("nope"), 0).await;
    let refused = next_event(&mut nothing)
        .await
        .expect("an error item")
        .expect_err("not found");
    assert_eq!(problem_code(&refused), ErrorCode::NotFound);
    assert!(next_event(&mut nothing).await.is_none(), "the stream ended");

    // Nobody listening: Unreachable, not a problem.
    let port = free_port();
    let gone = Client::new(&format!("http://127.0.0.1:{port}"), None).expect("a client");
    let error = gone.get_run(&id("p1")).await.expect_err("unreachable");
    assert!(error.is_unreachable(), "{error}");
    assert_eq!(error.code(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_sent_and_a_wrong_one_is_unauthorized() {
    let dir = fresh_dir("client-token");
    let db = sqlite_url(&dir, "client.db");
    let added =
        support::run(support::runledger().args(["tenant", "add", "acme", "--db", &db, "--json"]));
    let token = support::json(&added)["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let server = TestServer::start(&dir, &db);
    let client = Client::new(&server.base, Some(token)).expect("a client");
    let created = client
        .create_run(&create("t1"), &CallOptions::NONE)
        .await
        .expect("created");
    assert_eq!(created.run.tenant.as_str(), "acme");
    let mut events = client.subscribe_run(&id("t1"), 0).await;
    let event = next_event(&mut events)
        .await
        .expect("an event")
        .expect("ok");
    assert_eq!(event.event_type, "created");

    let stranger = Client::new(&server.base, Some("rl_wrong".to_owned())).expect("a client");
    let refused = stranger.get_run(&id("t1")).await.expect_err("401");
    assert_eq!(problem_code(&refused), ErrorCode::Unauthorized);
    let mut nothing = stranger.subscribe_tenant(0).await;
    let refused = next_event(&mut nothing)
        .await
        .expect("an error item")
        .expect_err("401");
    assert_eq!(problem_code(&refused), ErrorCode::Unauthorized);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_subscriptions_share_one_websocket() {
    let dir = fresh_dir("client-one-socket");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "client.db"));
    let writer = Client::new(&server.base, None).expect("a writer");
    let reader = Client::new(&server.base, None).expect("a reader");
    assert_eq!(
        reader.websocket_connects(),
        0,
        "no socket before a subscription"
    );
    for run in ["a", "b"] {
        writer
            .create_run(&create(run), &CallOptions::NONE)
            .await
            .expect("created");
    }
    let mut run_a = reader.subscribe_run(&id("a"), 0).await;
    let mut run_b = reader.subscribe_run(&id("b"), 0).await;
    let mut tenant = reader.subscribe_tenant(0).await;
    // A second subscription of a run, resuming later, on the same socket.
    let mut run_a_late = reader.subscribe_run(&id("a"), 3).await;

    const APPENDS: u64 = 5;
    for n in 0..APPENDS {
        for run in ["a", "b"] {
            append(&writer, run, n).await;
        }
    }
    for run in ["a", "b"] {
        writer
            .cancel(&id(run), &Cancel::default(), &CallOptions::NONE)
            .await
            .expect("cancelled");
    }

    let a = drain(&mut run_a).await;
    let b = drain(&mut run_b).await;
    let a_late = drain(&mut run_a_late).await;
    let expected_seqs: Vec<u64> = (1..=APPENDS + 2).collect();
    assert_eq!(seqs(&a), expected_seqs);
    assert_eq!(seqs(&b), expected_seqs);
    assert_eq!(seqs(&a_late), (4..=APPENDS + 2).collect::<Vec<_>>());
    assert!(a.iter().all(|event| event.run_id == id("a")));
    assert_eq!(a.last().expect("events").event_type, "cancelled");

    let total = 2 * (APPENDS + 2);
    let mut positions = Vec::new();
    while (positions.len() as u64) < total {
        let event = next_event(&mut tenant).await.expect("open").expect("ok");
        positions.push(event.position);
    }
    assert_eq!(positions, (1..=total).collect::<Vec<_>>());
    assert_eq!(reader.websocket_connects(), 1, "one WebSocket for all four");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_the_server_refuses_yields_no_event_of_another() {
    // The cap admits the socket and the tenant's subscription; each run
    // subscription past it is refused. The tenant's subscription carries
    // the run's events too, and they must not reach the refused one.
    let dir = fresh_dir("client-refused-sub");
    let server = TestServer::start_with(
        &dir,
        &sqlite_url(&dir, "client.db"),
        &["--max-streams-per-token", "2"],
    );
    let client = Client::new(&server.base, None).expect("a client");
    let mut tenant = client.subscribe_tenant(0).await;
    for round in 0..20 {
        let run = format!("capped-{round}");
        client
            .create_run(&create(&run), &CallOptions::NONE)
            .await
            .expect("created");
        // The run's events travel on the tenant's subscription while the
        // run's own subscribe waits for its refusal.
        let mut refused = client.subscribe_run(&id(&run), 0).await;
        for n in 0..3 {
            append(&client, &run, n).await;
        }
        match next_event(&mut refused).await {
            Some(Err(error)) => assert_eq!(problem_code(&error), ErrorCode::TooManyStreams),
            other => panic!("round {round}: the refused subscription yielded {other:?}"),
        }
        for _ in 0..4 {
            let event = next_event(&mut tenant).await.expect("open").expect("ok");
            assert_eq!(event.run_id, id(&run));
        }
    }
    assert_eq!(client.websocket_connects(), 1, "the socket went on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_and_restarted_mid_stream_costs_no_event_and_repeats_none_on_sqlite() {
    let dir = fresh_dir("client-restart-sqlite");
    let db = sqlite_url(&dir, "client.db");
    killed_and_restarted_mid_stream(&dir, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_and_restarted_mid_stream_costs_no_event_and_repeats_none_on_postgres() {
    let dir = fresh_dir("client-restart-postgres");
    let db = support::postgres_url("client_restart");
    killed_and_restarted_mid_stream(&dir, &db.url).await;
}

/// Kills (SIGKILL) and restarts the server on its port [`RESTARTS`] times
/// while writers append to two runs; a run subscription, another run's and
/// the tenant's, all on the reader's one WebSocket, must each end up with
/// exactly the log as it is read afterwards.
async fn killed_and_restarted_mid_stream(dir: &Path, db: &str) {
    const APPENDS: u64 = 150;
    const RESTARTS: usize = 3;
    let port = free_port();
    let mut server = PortServer::start(dir, db, port);
    let base = format!("http://127.0.0.1:{port}");
    let writer = Client::new(&base, None).expect("a writer");
    let reader = Client::new(&base, None).expect("a reader");
    for run in ["x", "y"] {
        writer
            .create_run(&create(run), &CallOptions::NONE)
            .await
            .expect("created");
    }
    let mut run_x = reader.subscribe_run(&id("x"), 0).await;
    let mut run_y = reader.subscribe_run(&id("y"), 0).await;
    let mut tenant = reader.subscribe_tenant(0).await;

    // Writers append through the outages; an append that fails is retried
    // (it may have been written anyway: the log read at the end decides).
    let writing = tokio::spawn({
        let writer = writer.clone();
        async move {
            for n in 0..APPENDS {
                for run in ["x", "y"] {
                    let deadline = Instant::now() + Duration::from_secs(30);
                    while try_append(&writer, run, n).await.is_err() {
                        assert!(Instant::now() < deadline, "the server never came back");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }
    });

    // Kill whenever run x's subscription has seen another 30 events.
    let mut x = Vec::new();
    for restart in 1..=RESTARTS {
        while x.len() < 30 * restart {
            x.push(next_event(&mut run_x).await.expect("open").expect("ok"));
        }
        server.kill9();
        tokio::time::sleep(Duration::from_millis(200)).await;
        server = PortServer::start(dir, db, port);
    }
    writing.await.expect("the writer finished");
    for run in ["x", "y"] {
        writer
            .cancel(&id(run), &Cancel::default(), &CallOptions::NONE)
            .await
            .expect("cancelled");
    }

    x.extend(drain(&mut run_x).await);
    let y = drain(&mut run_y).await;
    let log_x = whole_log(&writer, "x").await;
    let log_y = whole_log(&writer, "y").await;
    assert!(log_x.len() as u64 >= APPENDS + 2);
    assert_eq!(seqs(&x), seqs(&log_x), "run x: every event once, in order");
    assert_eq!(seqs(&y), seqs(&log_y), "run y: every event once, in order");
    assert_eq!(x, log_x);
    assert_eq!(y, log_y);

    let total = (log_x.len() + log_y.len()) as u64;
    let mut positions = Vec::new();
    while (positions.len() as u64) < total {
        let event = next_event(&mut tenant).await.expect("open").expect("ok");
        positions.push(event.position);
    }
    assert_eq!(
        positions,
        (1..=total).collect::<Vec<_>>(),
        "tenant: no gap, no repeat"
    );
    // Events read ahead into a subscription's buffer may let the reader
    // sleep through an outage, but the cancels came from the last server.
    assert!(
        reader.websocket_connects() >= 2,
        "the reader reconnected ({} connects)",
        reader.websocket_connects()
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_read_late_misses_nothing_and_holds_back_no_other() {
    let dir = fresh_dir("client-slow-reader");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "client.db"));
    let writer = Client::new(&server.base, None).expect("a writer");
    let reader = Client::new(&server.base, None).expect("a reader");
    writer
        .create_run(&create("busy"), &CallOptions::NONE)
        .await
        .expect("created");
    // More events than a subscription buffers: the unread one falls behind.
    let appends = runledger_client::SUBSCRIPTION_BUFFER_EVENTS_MAX as u64 + 300;
    let mut unread = reader.subscribe_run(&id("busy"), 0).await;
    let mut tenant = reader.subscribe_tenant(0).await;
    let writing = tokio::spawn({
        let writer = writer.clone();
        async move {
            for n in 0..appends {
                append(&writer, "busy", n).await;
            }
            writer
                .cancel(&id("busy"), &Cancel::default(), &CallOptions::NONE)
                .await
                .expect("cancelled");
        }
    });
    // The tenant subscription keeps up while the other is not read at all.
    let total = appends + 2;
    let mut positions = Vec::new();
    while (positions.len() as u64) < total {
        let event = next_event(&mut tenant).await.expect("open").expect("ok");
        positions.push(event.position);
    }
    assert_eq!(positions, (1..=total).collect::<Vec<_>>());
    writing.await.expect("the writer finished");
    let events = drain(&mut unread).await;
    assert_eq!(seqs(&events), (1..=total).collect::<Vec<_>>());
    assert_eq!(reader.websocket_connects(), 1);
}

async fn try_append(client: &Client, run: &str, n: u64) -> Result<(), ClientError> {
    let request = AppendEvent::new(
        EventType::parse("progress").expect("a type"),
        json!({"n": n}),
    );
    client
        .append_event(&id(run), &request, &CallOptions::NONE)
        .await
        .map(|_| ())
}

async fn append(client: &Client, run: &str, n: u64) {
    try_append(client, run, n).await.expect("appended");
}

/// Every event of `subscription` until it ends (a run's terminal event).
async fn drain(subscription: &mut Subscription) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(event) = next_event(subscription).await {
        events.push(event.expect("no error on the stream"));
    }
    events
}

/// The run's whole log, read page by page.
async fn whole_log(client: &Client, run: &str) -> Vec<Event> {
    let mut events: Vec<Event> = Vec::new();
    loop {
        let after = events.last().map_or(0, |event| event.seq);
        let page = client
            .events(&id(run), after, Some(1_000))
            .await
            .expect("a page");
        if page.events.is_empty() {
            return events;
        }
        events.extend(page.events);
    }
}

fn seqs(events: &[Event]) -> Vec<u64> {
    events.iter().map(|event| event.seq).collect()
}
