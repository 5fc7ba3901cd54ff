//! SPEC §2.5 as amended, through the server: expiry is decided by the
//! clock, not by when the reaper runs. With the reaper set to come by only
//! once a minute, a heartbeat, an append and a finish sent half a second
//! after their lease expired are each refused `409 stale_lease`, and the
//! run is already timed out when the refusal arrives.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod support;

use serde_json::json;
use server::{Client, TestServer};
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
}
