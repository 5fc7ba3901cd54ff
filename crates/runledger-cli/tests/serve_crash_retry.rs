//! SPEC §4 "Idempotency-Key": a key's record is committed with the change
//! it answers, so after any crash a retry replays the committed answer, or
//! runs once if nothing was committed. 16 clients create runs without ids,
//! each with its own `Idempotency-Key`, while `runledger serve` is killed
//! with SIGKILL over and over (50 times, on a SQLite file and on
//! PostgreSQL; `RUNLEDGER_TORTURE_KILLS=N` makes it N, the long mode of
//! RELIABILITY.md). Every key whose request went unanswered is retried once a
//! server is back; at the end every key has exactly one run: the database
//! holds exactly the runs the keys were answered with, none twice.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod support;

use serde_json::{Value, json};
use server::{Client, TestServer};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{fresh_dir, postgres_url, sqlite_url};

const CLIENTS: usize = 16;
/// Kills per backend in CI; `RUNLEDGER_TORTURE_KILLS` overrides it.
const KILLS_DEFAULT: usize = 50;
/// How long the clients load a server before it is killed.
const LOAD_BEFORE_KILL: Duration = Duration::from_millis(150);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_creates_retried_across_kill9_cycles_make_one_run_each_on_sqlite() {
    let dir = fresh_dir("serve-kill9-retry");
    keyed_creates_survive_kills(&dir, &sqlite_url(&dir, "retry.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_creates_retried_across_kill9_cycles_make_one_run_each_on_postgres() {
    let dir = fresh_dir("serve-kill9-retry-postgres");
    let db = postgres_url("serve_kill9_retry");
    keyed_creates_survive_kills(&dir, &db.url).await;
}

/// The body of key `key`'s create.
fn body(key: &str) -> Value {
    json!({"kind": "keyed", "attributes": {"key": key, "n": [1, 2.5]}})
}

/// What each key was answered: its run id, once answered 2xx.
type Answers = Arc<Mutex<BTreeMap<String, Option<String>>>>;

/// How many kill -9 cycles to run.
fn kills() -> usize {
    std::env::var("RUNLEDGER_TORTURE_KILLS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(KILLS_DEFAULT)
}

async fn keyed_creates_survive_kills(dir: &Path, db: &str) {
    let answers: Answers = Arc::default();
    let mut unanswered: Vec<String> = Vec::new();
    let kills = kills();
    let started = Instant::now();
    for cycle in 0..kills {
        let mut server = TestServer::start(dir, db);
        let handles: Vec<_> = (0..CLIENTS)
            .map(|me| {
                let (client, answers) = (Client::new(&server), answers.clone());
                tokio::spawn(async move {
                    for n in 0.. {
                        let key = format!("k{cycle}-{me}-{n}");
                        answers.lock().unwrap().insert(key.clone(), None);
                        match create(&client, &key).await {
                            Some(id) => {
                                answers.lock().unwrap().insert(key, Some(id));
                            }
                            // The server is gone: this key waits for a retry.
                            None => return,
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(LOAD_BEFORE_KILL).await;
        server.kill9();
        for handle in handles {
            handle.await.expect("a client stops cleanly");
        }
        unanswered.extend(
            answers
                .lock()
                .unwrap()
                .iter()
                .filter(|(key, id)| id.is_none() && !unanswered.contains(key))
                .map(|(key, _)| key.clone())
                .collect::<Vec<_>>(),
        );
    }

    // A server is back: every unanswered key is retried until it is
    // answered (409 idempotency_key_in_flight while the killed server's
    // claim has not yet gone stale).
    let server = TestServer::start(dir, db);
    let client = Client::new(&server);
    let deadline = Instant::now() + Duration::from_secs(60);
    for key in &unanswered {
        let id = loop {
            let reply = client
                .post_with_headers("/v1/runs", &body(key), &[("idempotency-key", key)])
                .await
                .expect("the restarted server answers");
            match reply.status {
                200 | 201 => break reply.json["id"].as_str().unwrap().to_owned(),
                409 if reply.json["code"] == "idempotency_key_in_flight" => {
                    assert!(Instant::now() < deadline, "{key} stays in flight");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                status => panic!("{key}: {status} {}", reply.json),
            }
        };
        answers.lock().unwrap().insert(key.clone(), Some(id));
    }
    // An answered key replays its run.
    let answers = answers.lock().unwrap().clone();
    for (key, id) in answers.iter().step_by(97) {
        let replay = client
            .post_with_headers("/v1/runs", &body(key), &[("idempotency-key", key)])
            .await
            .unwrap();
        assert_eq!(replay.json["id"].as_str(), id.as_deref(), "{key} replays");
    }
    let answered: BTreeSet<String> = answers.values().flatten().cloned().collect();
    assert_eq!(answered.len(), answers.len(), "every key has its own run");
    let present: BTreeSet<String> = client.all_run_ids().await.into_iter().collect();
    let duplicates: Vec<&String> = present.difference(&answered).collect();
    let lost: Vec<&String> = answered.difference(&present).collect();
    println!(
        "kill -9 [{}]: {kills} kills survived, {} keys, {} retried after a kill, \
         {} duplicates, {} lost, {:.1} s",
        if db.starts_with("postgres") {
            "postgres"
        } else {
            "sqlite"
        },
        answers.len(),
        unanswered.len(),
        duplicates.len(),
        lost.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        duplicates.is_empty(),
        "{} runs no key was answered with (a retry created a second run): {duplicates:?}",
        duplicates.len()
    );
    assert!(lost.is_empty(), "answered runs missing: {lost:?}");
    assert!(!unanswered.is_empty(), "some requests were cut by a kill");
}

/// One create with its key; `None` when the server did not answer.
async fn create(client: &Client, key: &str) -> Option<String> {
    let reply = client
        .post_with_headers("/v1/runs", &body(key), &[("idempotency-key", key)])
        .await
        .ok()?;
    match reply.status {
        200 | 201 => Some(reply.json["id"].as_str().unwrap().to_owned()),
        status => panic!("{key}: {status} {}", reply.json),
    }
}
