//! SPEC §4 `POST /v1/runs/claim` through real servers: 8 claimers spread
//! over two `runledger serve` processes on one PostgreSQL database claim a
//! full queue, each run exactly once; a long-polling claim on one server
//! wakes when the other server queues a run; bad claims are `422` naming
//! the field; and `runledger runs claim` drives it from the command line.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod support;

use serde_json::{Value, json};
use server::{Client, TestServer};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::{exit_code, fresh_dir, postgres_url, run, runledger, sqlite_url};

const QUEUED: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimers_on_two_servers_over_one_postgres_database_claim_each_run_once() {
    let dir = fresh_dir("serve-claims-two-servers");
    let db = postgres_url("serve_claims_two");
    let servers = [
        TestServer::start(&dir, &db.url),
        TestServer::start(&dir, &db.url),
    ];
    let first = Client::new(&servers[0]);
    for n in 0..QUEUED {
        let created = first
            .post(
                "/v1/runs",
                &json!({"id": format!("q{n:03}"), "kind": "job"}),
            )
            .await
            .unwrap();
        assert_eq!(created.status, 201, "{}", created.json);
    }
    let claimers: Vec<_> = (0..8)
        .map(|n| {
            let client = Client::new(&servers[n % 2]);
            tokio::spawn(async move {
                let mut claimed = Vec::new();
                loop {
                    let body = json!({"owner": format!("w{n}"), "lease_ttl_ms": 60000});
                    let reply = client.post("/v1/runs/claim", &body).await.unwrap();
                    match reply.status {
                        200 => {
                            assert_eq!(reply.json["state"], "running");
                            assert_eq!(reply.json["lease"]["owner"], format!("w{n}"));
                            claimed.push(reply.json["id"].as_str().unwrap().to_owned());
                        }
                        204 => return claimed,
                        status => panic!("claim answered {status}: {}", reply.json),
                    }
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "a run was claimed twice");
    assert_eq!(all.len(), QUEUED, "every queued run was claimed");

    // A claim waiting on one server wakes when the other queues a run.
    let waiting = {
        let client = Client::new(&servers[0]);
        tokio::spawn(async move {
            let body =
                json!({"owner": "late", "lease_ttl_ms": 60000, "kind": ["late"], "wait_ms": 20000});
            let reply = client.post("/v1/runs/claim", &body).await.unwrap();
            (reply, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let created = Client::new(&servers[1])
        .post("/v1/runs", &json!({"id": "late-1", "kind": "late"}))
        .await
        .unwrap();
    assert_eq!(created.status, 201);
    let queued_at = Instant::now();
    let (reply, answered_at) = waiting.await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["id"], "late-1");
    assert!(
        answered_at - queued_at < Duration::from_secs(1),
        "the waiting claim answered {:?} after the run was queued",
        answered_at - queued_at
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_claims_are_422_naming_the_field_and_the_cli_claims() {
    let dir = fresh_dir("serve-claims-cli");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "claims.db"));
    let client = Client::new(&server);
    let many: Vec<String> = (0..101).map(|n| format!("k{n}")).collect();
    let refusals: [(Value, &str); 7] = [
        (
            json!({"owner": "w", "lease_ttl_ms": 1000, "color": "red"}),
            "color",
        ),
        (json!({"owner": "", "lease_ttl_ms": 1000}), "owner"),
        (json!({"owner": "w\u{7}", "lease_ttl_ms": 1000}), "owner"),
        (json!({"owner": "w", "lease_ttl_ms": 50}), "lease_ttl_ms"),
        (
            json!({"owner": "w", "lease_ttl_ms": 1000, "wait_ms": 30001}),
            "wait_ms",
        ),
        (
            json!({"owner": "w", "lease_ttl_ms": 1000, "kind": many}),
            "kind",
        ),
        (
            json!({"owner": "w", "lease_ttl_ms": 1000, "kind": [5]}),
            "kind",
        ),
    ];
    for (body, field) in refusals {
        let reply = client.post("/v1/runs/claim", &body).await.unwrap();
        assert_eq!(reply.status, 422, "{body}: {}", reply.json);
        assert!(
            reply.json["detail"].as_str().unwrap().contains(field),
            "{body}: {}",
            reply.json
        );
    }

    for (id, kind) in [("a", "etl"), ("b", "report")] {
        let created = client
            .post("/v1/runs", &json!({"id": id, "kind": kind}))
            .await
            .unwrap();
        assert_eq!(created.status, 201);
    }
    let claim = |extra: &[&str]| {
        let mut command = runledger();
        command
            .args([
                "runs",
                "claim",
                "--owner",
                "cli",
                "--lease-ttl",
                "30s",
                "--json",
            ])
            .args(extra)
            .env("RUNLEDGER_SERVER", &server.base)
            .env_remove("RUNLEDGER_TOKEN");
        run(&mut command)
    };
    let report = claim(&["--kind", "report"]);
    assert_eq!(exit_code(&report), 0);
    let run: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(
        (run["id"].as_str(), run["state"].as_str()),
        (Some("b"), Some("running"))
    );
    assert_eq!(run["lease"]["owner"], "cli");
    let expires = run["lease"]["expires_at"].as_str().unwrap().to_owned();
    let started = run["started_at"].as_str().unwrap().to_owned();
    assert!(expires > started, "a 30 s lease: {run}");
    let none = claim(&["--kind", "report", "--wait", "200ms"]);
    assert_eq!(exit_code(&none), 0);
    assert_eq!(String::from_utf8_lossy(&none.stdout).trim(), "null");
    let bad = claim(&["--wait", "10d"]);
    assert_eq!(exit_code(&bad), 2, "a bad duration is a usage error");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unit 'd'"));
}

/// A waiting claim holds one of the caller's stream slots while it waits:
/// past `--max-streams-per-token`, another waiting claim is `429
/// too_many_streams`, and a claim that does not wait still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_claims_count_against_the_stream_cap() {
    let dir = fresh_dir("serve-claims-cap");
    let server = TestServer::start_with(
        &dir,
        &sqlite_url(&dir, "cap.db"),
        &["--max-streams-per-token", "2"],
    );
    let waiting: Vec<_> = (0..2)
        .map(|n| {
            let client = Client::new(&server);
            tokio::spawn(async move {
                let body =
                    json!({"owner": format!("w{n}"), "lease_ttl_ms": 60000, "wait_ms": 3000});
                client.post("/v1/runs/claim", &body).await.unwrap().status
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = Client::new(&server);
    let third = client
        .post(
            "/v1/runs/claim",
            &json!({"owner": "w3", "lease_ttl_ms": 60000, "wait_ms": 3000}),
        )
        .await
        .unwrap();
    assert_eq!(third.status, 429, "{}", third.json);
    assert_eq!(third.json["code"], "too_many_streams");
    let at_once = client
        .post(
            "/v1/runs/claim",
            &json!({"owner": "w4", "lease_ttl_ms": 60000}),
        )
        .await
        .unwrap();
    assert_eq!(
        at_once.status, 204,
        "a claim that does not wait needs no slot"
    );
    for waiter in waiting {
        assert_eq!(waiter.await.unwrap(), 204);
    }
}
