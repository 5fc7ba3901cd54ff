//! SPEC §2.5 as amended, through the server: expiry is decided by the
//! clock, not by when the reaper runs. With the reaper set to come by only
//! once a minute, a heartbeat, an append and a finish sent half a second
//! after their lease expired are each refused `409 stale_lease`, and the
//! run is already timed out when the refusal arrives. And the fault that
//! guarantee is about: a server killed inside the refusal's timing-out
//! (after its run row and events are written, before the commit) leaves
//! the run as it was, answers nobody `stale_lease`, and the same call
//! after a restart is refused and times the run out exactly once.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod support;

use runledger::{Ledger, Options, RunId, RunState, Tenant};
use serde_json::json;
use server::{Client, TestServer};
use std::path::Path;
use std::time::Duration;
use support::{fresh_dir, postgres_url, sqlite_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_after_expiry_are_stale_with_a_60_s_reap_interval_on_sqlite() {
    let dir = fresh_dir("serve-expiry");
    calls_after_expiry_are_stale(&dir, &sqlite_url(&dir, "expiry.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_after_expiry_are_stale_with_a_60_s_reap_interval_on_postgres() {
    let dir = fresh_dir("serve-expiry-postgres");
    let db = postgres_url("serve_expiry");
    calls_after_expiry_are_stale(&dir, &db.url).await;
}

async fn calls_after_expiry_are_stale(dir: &std::path::Path, db: &str) {
    let server = TestServer::start_with(dir, db, &["--reap-interval-ms", "60000"]);
    let client = Client::new(&server);
    let calls = [
        ("heartbeat", "/heartbeat", json!({"lease_epoch": 1})),
        (
            "append",
            "/events",
            json!({"type": "log", "data": "late", "lease_epoch": 1}),
        ),
        (
            "finish",
            "/finish",
            json!({"lease_epoch": 1, "outcome": "succeeded"}),
        ),
    ];
    for (id, _, _) in &calls {
        let created = client
            .post(
                "/v1/runs",
                &json!({"id": id, "kind": "leased", "start": {"owner": "w", "lease_ttl_ms": 300}}),
            )
            .await
            .unwrap();
        assert_eq!(created.status, 201, "{}", created.json);
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    for (id, path, body) in &calls {
        let refused = client
            .post(&format!("/v1/runs/{id}{path}"), body)
            .await
            .unwrap();
        assert_eq!(refused.status, 409, "{id}: {}", refused.json);
        assert_eq!(refused.json["code"], "stale_lease", "{id}");
        let run = client.get(&format!("/v1/runs/{id}")).await.unwrap();
        assert_eq!(run.json["state"], "timed_out", "{id}: {}", run.json);
        assert!(
            run.json["error"]
                .as_str()
                .unwrap()
                .starts_with("lease of w (epoch 1) expired at "),
            "{}",
            run.json
        );
    }

    // A run of a full group: its timing-out frees the slot, and the
    // group's pending run is promoted in the same refusal.
    let group = json!({"key": "expiry-group", "limit": 1, "on_full": "enqueue"});
    let active = client
        .post(
            "/v1/runs",
            &json!({"id": "grouped", "kind": "leased", "concurrency": group,
                "start": {"owner": "w", "lease_ttl_ms": 300}}),
        )
        .await
        .unwrap();
    assert_eq!(active.json["state"], "running", "{}", active.json);
    let waiting = client
        .post(
            "/v1/runs",
            &json!({"id": "waiting", "kind": "leased", "concurrency": group}),
        )
        .await
        .unwrap();
    assert_eq!(waiting.json["state"], "pending", "{}", waiting.json);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let refused = client
        .post("/v1/runs/grouped/heartbeat", &json!({"lease_epoch": 1}))
        .await
        .unwrap();
    assert_eq!(refused.status, 409, "{}", refused.json);
    assert_eq!(refused.json["code"], "stale_lease");
    let grouped = client.get("/v1/runs/grouped").await.unwrap();
    assert_eq!(grouped.json["state"], "timed_out", "{}", grouped.json);
    let promoted = client.get("/v1/runs/waiting").await.unwrap();
    assert_eq!(promoted.json["state"], "queued", "{}", promoted.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_inside_the_refusals_timing_out_leaves_the_run_whole_on_sqlite() {
    let dir = fresh_dir("serve-expiry-crash");
    a_crash_inside_the_refusals_timing_out_leaves_the_run_whole(
        &dir,
        &sqlite_url(&dir, "expiry-crash.db"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_inside_the_refusals_timing_out_leaves_the_run_whole_on_postgres() {
    let dir = fresh_dir("serve-expiry-crash-postgres");
    let db = postgres_url("serve_expiry_crash");
    a_crash_inside_the_refusals_timing_out_leaves_the_run_whole(&dir, &db.url).await;
}

/// The run's state and how many `timed_out` events it has, read through
/// the library with no reaper (a server would sweep the expired lease as
/// it starts).
async fn state_and_timeouts(db: &str, id: &str) -> (RunState, usize) {
    let ledger = Ledger::open_with(
        db,
        Options {
            reap_interval: None,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let (tenant, id) = (Tenant::default(), RunId::parse(id).unwrap());
    let run = ledger.get_run(&tenant, &id).await.unwrap();
    let events = ledger.events(&tenant, &id, 0, Some(1_000)).await.unwrap();
    let timeouts = events
        .iter()
        .filter(|event| event.event_type.as_str() == "timed_out")
        .count();
    (run.state, timeouts)
}

async fn a_crash_inside_the_refusals_timing_out_leaves_the_run_whole(dir: &Path, db: &str) {
    let calls = [
        ("heartbeat", json!({"lease_epoch": 1})),
        (
            "events",
            json!({"type": "log", "data": "late", "lease_epoch": 1}),
        ),
        ("finish", json!({"lease_epoch": 1, "outcome": "succeeded"})),
    ];
    let reap_rarely = ["--reap-interval-ms", "60000"];
    for (action, body) in &calls {
        let id = format!("crash-{action}");
        let path = format!("/v1/runs/{id}/{action}");
        // The late call's timing-out dies between its writes and its commit.
        let mut doomed = TestServer::start_with_env(
            dir,
            db,
            &reap_rarely,
            &[("RUNLEDGER_FAILPOINTS", "reap.after_events=abort")],
        );
        let client = Client::new(&doomed);
        let created = client
            .post(
                "/v1/runs",
                &json!({"id": id, "kind": "leased", "start": {"owner": "w", "lease_ttl_ms": 300}}),
            )
            .await
            .unwrap();
        assert_eq!(created.status, 201, "{}", created.json);
        tokio::time::sleep(Duration::from_millis(800)).await;
        let answer = client.post(&path, body).await;
        assert!(
            answer.is_err(),
            "{action}: the server answered {:?} although it was killed inside the timing-out",
            answer.map(|reply| (reply.status, reply.json))
        );
        assert!(
            doomed.wait_for_exit(Duration::from_secs(10)).is_some(),
            "{action}: the failpoint did not kill the server"
        );
        drop(doomed);

        // Nothing of the timing-out committed ...
        assert_eq!(
            state_and_timeouts(db, &id).await,
            (RunState::Running, 0),
            "{action}: a half-committed timing-out"
        );
        // ... and the same call after a restart is refused, the run timed
        // out once (by this call or by the restarted server's first sweep).
        let server = TestServer::start_with(dir, db, &reap_rarely);
        let client = Client::new(&server);
        for _ in 0..2 {
            let refused = client.post(&path, body).await.unwrap();
            assert_eq!(refused.status, 409, "{action}: {}", refused.json);
            assert_eq!(refused.json["code"], "stale_lease", "{action}");
        }
        drop(server);
        assert_eq!(
            state_and_timeouts(db, &id).await,
            (RunState::TimedOut, 1),
            "{action}"
        );
    }
}
