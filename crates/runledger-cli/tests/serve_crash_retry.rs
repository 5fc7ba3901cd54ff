//! SPEC §4 "Idempotency-Key": after any crash a retry replays the committed
//! answer, or runs once if nothing was committed. 16 clients send keyed
//! requests, each key its own, while `runledger serve` is killed with
//! SIGKILL over and over (on a SQLite file and on PostgreSQL;
//! `RUNLEDGER_TORTURE_KILLS=N` makes it N cycles, the long mode of
//! RELIABILITY.md). Every key whose request went unanswered is retried once a
//! server is back. Three workloads, one per operation that is not safe to
//! simply run again:
//!
//! - creates without an id: every key has exactly one run, and the database
//!   holds exactly the runs the keys were answered with (50 kills);
//! - appends: every key's event is in its run's log exactly once;
//! - claims: every run started exactly once, every started run was answered
//!   to exactly one key (a retried claim never takes a second run and
//!   strands the first).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod support;

use serde_json::{Value, json};
use server::{Client, Reply, TestServer};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{fresh_dir, postgres_url, sqlite_url};

const CLIENTS: usize = 16;
/// Kills per backend for creates in CI; `RUNLEDGER_TORTURE_KILLS` overrides it.
const KILLS_DEFAULT: usize = 50;
/// Kills per backend for appends and claims in CI.
const KILLS_DEFAULT_OTHERS: usize = 25;
/// How long the clients load a server before it is killed.
const LOAD_BEFORE_KILL: Duration = Duration::from_millis(150);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_creates_retried_across_kill9_cycles_make_one_run_each_on_sqlite() {
    let dir = fresh_dir("serve-kill9-retry");
    survive_kills(Workload::Creates, &dir, &sqlite_url(&dir, "retry.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_creates_retried_across_kill9_cycles_make_one_run_each_on_postgres() {
    let dir = fresh_dir("serve-kill9-retry-postgres");
    let db = postgres_url("serve_kill9_retry");
    survive_kills(Workload::Creates, &dir, &db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_appends_retried_across_kill9_cycles_append_once_each_on_sqlite() {
    let dir = fresh_dir("serve-kill9-retry-appends");
    survive_kills(Workload::Appends, &dir, &sqlite_url(&dir, "retry.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_appends_retried_across_kill9_cycles_append_once_each_on_postgres() {
    let dir = fresh_dir("serve-kill9-retry-appends-postgres");
    let db = postgres_url("serve_kill9_retry_appends");
    survive_kills(Workload::Appends, &dir, &db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_claims_retried_across_kill9_cycles_claim_once_each_on_sqlite() {
    let dir = fresh_dir("serve-kill9-retry-claims");
    survive_kills(Workload::Claims, &dir, &sqlite_url(&dir, "retry.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_claims_retried_across_kill9_cycles_claim_once_each_on_postgres() {
    let dir = fresh_dir("serve-kill9-retry-claims-postgres");
    let db = postgres_url("serve_kill9_retry_claims");
    survive_kills(Workload::Claims, &dir, &db.url).await;
}

/// The keyed operation the clients repeat.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Workload {
    /// `POST /v1/runs` without an id.
    Creates,
    /// `POST /v1/runs/c{client}/events` on a queued run of the client's own.
    Appends,
    /// `POST /v1/runs` (unkeyed) then a keyed `POST /v1/runs/claim`.
    Claims,
}

impl Workload {
    fn kills(self) -> usize {
        let default = match self {
            Workload::Creates => KILLS_DEFAULT,
            Workload::Appends | Workload::Claims => KILLS_DEFAULT_OTHERS,
        };
        std::env::var("RUNLEDGER_TORTURE_KILLS")
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or(default)
    }

    /// The path and body of key `key`'s request from client `me`.
    fn request(self, me: usize, key: &str) -> (String, Value) {
        match self {
            Workload::Creates => (
                "/v1/runs".to_owned(),
                json!({"kind": "keyed", "attributes": {"key": key, "n": [1, 2.5]}}),
            ),
            Workload::Appends => (
                format!("/v1/runs/c{me}/events"),
                json!({"type": "step", "data": {"key": key}}),
            ),
            Workload::Claims => (
                "/v1/runs/claim".to_owned(),
                json!({"owner": format!("w-{key}"), "lease_ttl_ms": 600_000}),
            ),
        }
    }

    /// What a 2xx answer says: the run created, `run/seq` appended, the
    /// run claimed (`-` when none was queued).
    fn answer(self, reply: &Reply) -> String {
        match self {
            Workload::Creates => reply.json["id"].as_str().unwrap().to_owned(),
            Workload::Appends => reply.json["seq"].to_string(),
            Workload::Claims if reply.status == 204 => "-".to_owned(),
            Workload::Claims => reply.json["id"].as_str().unwrap().to_owned(),
        }
    }

    /// Before the cycles: one queued run per client to append to.
    async fn prepare(self, client: &Client) {
        if self == Workload::Appends {
            for me in 0..CLIENTS {
                let reply = client
                    .post("/v1/runs", &json!({"id": format!("c{me}"), "kind": "log"}))
                    .await
                    .unwrap();
                assert_eq!(reply.status, 201, "{}", reply.json);
            }
        }
    }

    /// Client `me`'s step before each keyed request: claims need a queued
    /// run (a create cut by a kill leaves one queued run or none).
    async fn before(self, client: &Client) -> Option<()> {
        if self == Workload::Claims {
            client
                .post("/v1/runs", &json!({"kind": "job"}))
                .await
                .ok()?;
        }
        Some(())
    }
}

/// What each key was answered, once answered 2xx.
type Answers = Arc<Mutex<BTreeMap<(usize, String), Option<String>>>>;

async fn survive_kills(workload: Workload, dir: &Path, db: &str) {
    let answers: Answers = Arc::default();
    let mut unanswered: BTreeSet<(usize, String)> = BTreeSet::new();
    let kills = workload.kills();
    let started = Instant::now();
    for cycle in 0..kills {
        let mut server = TestServer::start(dir, db);
        if cycle == 0 {
            workload.prepare(&Client::new(&server)).await;
        }
        let handles: Vec<_> = (0..CLIENTS)
            .map(|me| {
                let (client, answers) = (Client::new(&server), answers.clone());
                tokio::spawn(async move {
                    for n in 0.. {
                        if workload.before(&client).await.is_none() {
                            return;
                        }
                        let key = format!("k{cycle}-{me}-{n}");
                        answers.lock().unwrap().insert((me, key.clone()), None);
                        match send(&client, workload, me, &key).await {
                            Some(reply) => {
                                let answer = workload.answer(&reply);
                                answers.lock().unwrap().insert((me, key), Some(answer));
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
                .filter(|(_, answer)| answer.is_none())
                .map(|(key, _)| key.clone()),
        );
    }

    // A server is back: every unanswered key is retried until it is
    // answered (409 idempotency_key_in_flight while the killed server's
    // claim has not yet gone stale).
    let server = TestServer::start(dir, db);
    let client = Client::new(&server);
    let deadline = Instant::now() + Duration::from_secs(60);
    for (me, key) in &unanswered {
        let reply = loop {
            let reply = send(&client, workload, *me, key)
                .await
                .expect("the restarted server answers");
            if reply.status != 409 {
                break reply;
            }
            assert!(Instant::now() < deadline, "{key} stays in flight");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let answer = workload.answer(&reply);
        answers
            .lock()
            .unwrap()
            .insert((*me, key.clone()), Some(answer));
    }
    // An answered key replays its answer.
    let answers = answers.lock().unwrap().clone();
    for ((me, key), answer) in answers.iter().step_by(97) {
        let replay = send(&client, workload, *me, key).await.unwrap();
        assert_eq!(Some(workload.answer(&replay)), *answer, "{key} replays");
    }
    let checked = match workload {
        Workload::Creates => check_creates(&client, &answers).await,
        Workload::Appends => check_appends(&client, &answers).await,
        Workload::Claims => check_claims(&client, &answers).await,
    };
    println!(
        "kill -9 [{workload:?}, {}]: {kills} kills survived, {} keys, {} retried after a kill, \
         {checked}, {:.1} s",
        if db.starts_with("postgres") {
            "postgres"
        } else {
            "sqlite"
        },
        answers.len(),
        unanswered.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(!unanswered.is_empty(), "some requests were cut by a kill");
}

/// Key `key`'s request from client `me`; `None` when the server did not
/// answer. Any answer but 2xx or 409 in flight fails the test.
async fn send(client: &Client, workload: Workload, me: usize, key: &str) -> Option<Reply> {
    let (path, body) = workload.request(me, key);
    let reply = client
        .post_with_headers(&path, &body, &[("idempotency-key", key)])
        .await
        .ok()?;
    let in_flight = reply.status == 409 && reply.json["code"] == "idempotency_key_in_flight";
    assert!(
        (200..300).contains(&reply.status) || in_flight,
        "{key}: {} {}",
        reply.status,
        reply.json
    );
    Some(reply)
}

/// Every key has its own run, and the database holds exactly those runs.
async fn check_creates(
    client: &Client,
    answers: &BTreeMap<(usize, String), Option<String>>,
) -> String {
    let answered: BTreeSet<String> = answers.values().flatten().cloned().collect();
    assert_eq!(answered.len(), answers.len(), "every key has its own run");
    let present: BTreeSet<String> = client.all_run_ids().await.into_iter().collect();
    let duplicates: Vec<&String> = present.difference(&answered).collect();
    let lost: Vec<&String> = answered.difference(&present).collect();
    assert!(
        duplicates.is_empty(),
        "{} runs no key was answered with (a retry created a second run): {duplicates:?}",
        duplicates.len()
    );
    assert!(lost.is_empty(), "answered runs missing: {lost:?}");
    "0 duplicate runs, 0 lost".to_owned()
}

/// Every key's event is in its client's run exactly once, at the seq the
/// key was answered with.
async fn check_appends(
    client: &Client,
    answers: &BTreeMap<(usize, String), Option<String>>,
) -> String {
    let mut events = 0;
    for me in 0..CLIENTS {
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for event in client.all_events(&format!("c{me}")).await {
            if event["type"] == "step" {
                let key = event["data"]["key"].as_str().unwrap().to_owned();
                seen.entry(key).or_default().push(event["seq"].to_string());
                events += 1;
            }
        }
        let twice: Vec<_> = seen.iter().filter(|(_, seqs)| seqs.len() > 1).collect();
        assert!(twice.is_empty(), "c{me}: keys appended twice: {twice:?}");
        for ((owner, key), answer) in answers.iter().filter(|((owner, _), _)| *owner == me) {
            let stored = seen.get(key).map(|seqs| &seqs[0]);
            assert_eq!(stored, answer.as_ref(), "c{owner}: {key}'s event");
        }
    }
    format!("{events} events, 0 appended twice, 0 lost")
}

/// Every started run was started once and answered to exactly one key.
async fn check_claims(
    client: &Client,
    answers: &BTreeMap<(usize, String), Option<String>>,
) -> String {
    let claimed: Vec<&String> = answers.values().flatten().filter(|id| *id != "-").collect();
    let distinct: BTreeSet<&String> = claimed.iter().copied().collect();
    assert_eq!(distinct.len(), claimed.len(), "a run answered to two keys");
    let mut started = BTreeSet::new();
    for run in client.all_runs().await {
        if run["state"] != "queued" {
            assert_eq!(run["state"], "running", "{run}");
            assert_eq!(run["lease"]["epoch"], 1, "started once: {run}");
            started.insert(run["id"].as_str().unwrap().to_owned());
        }
    }
    let stranded: Vec<&String> = started.iter().filter(|id| !distinct.contains(id)).collect();
    assert!(
        stranded.is_empty(),
        "{} runs claimed by no key's answer (a retry claimed a second run): {stranded:?}",
        stranded.len()
    );
    assert_eq!(
        started.len(),
        claimed.len(),
        "every answered claim is running"
    );
    format!("{} runs claimed, 0 stranded, 0 twice", claimed.len())
}
