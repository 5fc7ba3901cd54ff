//! SPEC §2.3 and §7 through the server: `runledger serve` is killed with
//! SIGKILL while 8 clients create runs; after a restart on the same database
//! (a SQLite file, and a PostgreSQL database)
//! every create that was answered 2xx is there, and the audit (the same
//! checks as `runledger doctor`) is clean.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod support;

use serde_json::json;
use server::{Client, TestServer};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{exit_code, fresh_dir, postgres_url, run, runledger, sqlite_url};

const CLIENTS: usize = 8;
/// Creates acknowledged before the kill.
const ACKED_BEFORE_KILL: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_create_survives_kill_9_on_sqlite() {
    let dir = fresh_dir("serve-kill9");
    every_acknowledged_create_survives_kill_9(&dir, &sqlite_url(&dir, "crash.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_create_survives_kill_9_on_postgres() {
    let dir = fresh_dir("serve-kill9-postgres");
    let db = postgres_url("serve_kill9");
    every_acknowledged_create_survives_kill_9(&dir, &db.url).await;
}

async fn every_acknowledged_create_survives_kill_9(dir: &Path, db: &str) {
    let (dir, db) = (dir.to_owned(), db.to_owned());
    let mut server = TestServer::start(&dir, &db);
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|me| {
            let (client, acked) = (Client::new(&server), acked.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    let id = format!("c{me}-{n}");
                    let mut body = json!({"id": id, "kind": "crash", "attributes": {"n": n}});
                    if n % 3 == 0 {
                        body["start"] =
                            json!({"owner": format!("client-{me}"), "lease_ttl_ms": 600000});
                    }
                    match client.post("/v1/runs", &body).await {
                        Ok(reply) if reply.status == 201 || reply.status == 200 => {
                            acked.lock().unwrap().push(id);
                        }
                        Ok(reply) => panic!("{id}: {} {}", reply.status, reply.json),
                        // The server is gone: this client is done.
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().unwrap().len() < ACKED_BEFORE_KILL {
        assert!(
            Instant::now() < deadline,
            "too few creates were acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill9();
    for handle in handles {
        handle.await.expect("a client stops cleanly");
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(acked.len() >= ACKED_BEFORE_KILL);

    let restarted = TestServer::start(&dir, &db);
    let present: BTreeSet<String> = Client::new(&restarted)
        .all_run_ids()
        .await
        .into_iter()
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !present.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged creates were lost: {lost:?}",
        lost.len()
    );
    drop(restarted);

    let doctor = run(runledger()
        .args(["doctor", "--db", &db, "--json"])
        .env_remove("RUNLEDGER_DB"));
    assert_eq!(
        exit_code(&doctor),
        0,
        "{}",
        String::from_utf8_lossy(&doctor.stdout)
    );
    let ledger = runledger::Ledger::open(&db).await.unwrap();
    assert!(ledger.audit().await.unwrap().is_clean());
}
