//! SPEC §2.1, §2.4, §2.8 and §4 "Idempotency-Key" over HTTP: two `runledger
//! serve` processes on one database (a SQLite file, and a PostgreSQL
//! database) and 8 client processes (this test binary re-executed, each
//! with its own connections) hammer the same ids, the same children, the
//! same concurrency groups and the same Idempotency-Keys. Every create
//! answers 200/201 or a 409 problem, never a 5xx; each id is one run; each
//! key made one run and every answer for it names that run; a monitor
//! sampling the groups never sees more active runs than the limit; the audit
//! is clean afterwards.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod support;

use serde::{Deserialize, Serialize};
use serde_json::json;
use server::{Client, TestServer};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use support::{fresh_dir, postgres_url, sqlite_url};

const CLIENT_PROCESSES: usize = 8;
const ROUNDS: usize = 12;
const SHARED_IDS: usize = 10;
const GROUP_LIMIT: usize = 3;
const IDEMPOTENCY_KEYS: usize = 6;
/// Set in a client process: `[server base URL, client number]` as JSON.
const CLIENT_ENV: &str = "RUNLEDGER_RACE_CLIENT";

/// What one client process saw.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ClientReport {
    /// Every status, by operation.
    statuses: BTreeMap<String, Vec<u16>>,
    /// The run id of every 2xx answer, by Idempotency-Key.
    idempotent_ids: BTreeMap<String, Vec<String>>,
}

/// One client's run: answers every status it saw, by operation.
async fn hammer(client: Client, me: usize) -> ClientReport {
    let mut report = ClientReport::default();
    let mut note = |operation: &str, reply: &server::Reply| {
        report
            .statuses
            .entry(operation.to_owned())
            .or_default()
            .push(reply.status);
        if reply.status >= 400 {
            assert_eq!(
                reply.content_type, "application/problem+json",
                "{}",
                reply.json
            );
            assert!(reply.json["code"].is_string(), "{}", reply.json);
        }
    };
    let mut idempotent_ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for round in 0..ROUNDS {
        // The same Idempotency-Key and body from everybody: one run, the
        // first answer replayed, or 409 while the first is in flight.
        let key = format!("idem-{}", (me + round) % IDEMPOTENCY_KEYS);
        let reply = client
            .post_with_headers(
                "/v1/runs",
                &json!({"kind": "idem", "attributes": {"key": key}}),
                &[("idempotency-key", &key)],
            )
            .await
            .unwrap();
        note("idempotent", &reply);
        if reply.status == 409 {
            assert_eq!(
                reply.json["code"], "idempotency_key_in_flight",
                "{}",
                reply.json
            );
        } else if reply.status < 300 {
            let id = reply.json["id"].as_str().expect("a run").to_owned();
            idempotent_ids.entry(key).or_default().push(id);
        }
        // The same ids, identical parameters: 201 once, 200 after.
        let id = format!("shared-{}", (me + round) % SHARED_IDS);
        let reply = client
            .post("/v1/runs", &json!({"id": id, "kind": "race"}))
            .await
            .unwrap();
        note("shared", &reply);
        // The same children of one parent.
        let key = format!("k{}", (me * 7 + round) % SHARED_IDS);
        let reply = client
            .post(
                "/v1/runs",
                &json!({"parent_id": "parent", "key": key, "kind": "race"}),
            )
            .await
            .unwrap();
        note("child", &reply);
        // A full group: admitted or rejected with its active runs; an
        // admitted run is started and finished to free the slot again.
        let id = format!("grouped-{me}-{round}");
        let reply = client
            .post(
                "/v1/runs",
                &json!({"id": id, "kind": "race", "concurrency": {"key": "g", "limit": GROUP_LIMIT},
                        "start": {"owner": format!("client-{me}"), "lease_ttl_ms": 60000}}),
            )
            .await
            .unwrap();
        note("group", &reply);
        if reply.status == 409 {
            assert_eq!(reply.json["code"], "concurrency_limit", "{}", reply.json);
            let active = reply.json["active_run_ids"].as_array().unwrap().len();
            assert!(active >= GROUP_LIMIT, "{}", reply.json);
        } else if reply.status == 201 {
            let finish = json!({"lease_epoch": 1, "outcome": "succeeded"});
            let reply = client
                .post(&format!("/v1/runs/{id}/finish"), &finish)
                .await
                .unwrap();
            note("finish", &reply);
        }
        // An enqueue group: pending runs are promoted FIFO as actives end.
        let id = format!("queued-{me}-{round}");
        let reply = client
            .post(
                "/v1/runs",
                &json!({"id": id, "kind": "race", "concurrency": {"key": "q", "limit": 2, "on_full": "enqueue"}}),
            )
            .await
            .unwrap();
        note("enqueue", &reply);
        let reply = client
            .post(&format!("/v1/runs/{id}/cancel"), &json!({}))
            .await
            .unwrap();
        note("cancel", &reply);
        // Everybody cancels one shared run: one change, the rest repeats.
        let reply = client
            .post("/v1/runs/shared-0/cancel", &json!({"reason": "race"}))
            .await
            .unwrap();
        note("cancel-shared", &reply);
    }
    report.idempotent_ids = idempotent_ids;
    report
}

/// The body of one racing client process (see [`CLIENT_ENV`]): says
/// `RACER-READY`, waits for a line on stdin, hammers, prints its report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the body of a racing client process, which the race tests start"]
async fn race_client() {
    let spec = std::env::var(CLIENT_ENV).expect("only the race tests run this");
    let (base, me): (String, usize) = serde_json::from_str(&spec).expect("a client spec");
    println!("RACER-READY");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).expect("the go line");
    let report = hammer(Client::for_base(&base), me).await;
    println!("RACER-RESULT {}", serde_json::to_string(&report).unwrap());
}

/// A client process, started and waiting for its go.
struct ClientProcess {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl ClientProcess {
    fn start(base: &str, me: usize) -> ClientProcess {
        let mut child = Command::new(std::env::current_exe().expect("this test binary"))
            .args(["race_client", "--exact", "--ignored", "--nocapture"])
            .env(CLIENT_ENV, json!([base, me]).to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("a client process starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        read_until(&mut stdout, "RACER-READY");
        ClientProcess { child, stdout }
    }

    fn go(&mut self) {
        let stdin = self.child.stdin.as_mut().expect("stdin is piped");
        stdin.write_all(b"go\n").expect("the client reads its go");
    }

    fn report(mut self) -> ClientReport {
        let line = read_until(&mut self.stdout, "RACER-RESULT ");
        let status = self.child.wait().expect("the client exits");
        assert!(status.success(), "a client process failed: {status}");
        serde_json::from_str(&line).expect("a report")
    }
}

/// Reads lines until one starts with `prefix`; answers the rest of it.
fn read_until(stdout: &mut BufReader<ChildStdout>, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let read = stdout.read_line(&mut line).expect("the client's stdout");
        assert!(read > 0, "the client process ended before {prefix}");
        if let Some(rest) = line.trim_end().strip_prefix(prefix) {
            return rest.to_owned();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_processes_on_two_servers_over_sqlite_get_one_run_per_id_and_limits_hold() {
    let dir = fresh_dir("serve-races");
    race_two_servers(&dir, &sqlite_url(&dir, "races.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_processes_on_two_servers_over_postgres_get_one_run_per_id_and_limits_hold() {
    let dir = fresh_dir("serve-races-postgres");
    let db = postgres_url("serve_races");
    race_two_servers(&dir, &db.url).await;
}

async fn race_two_servers(dir: &Path, db: &str) {
    let (dir, db) = (dir.to_owned(), db.to_owned());
    let servers = [TestServer::start(&dir, &db), TestServer::start(&dir, &db)];
    let first = Client::new(&servers[0]);
    assert_eq!(
        first
            .post("/v1/runs", &json!({"id": "parent", "kind": "race"}))
            .await
            .unwrap()
            .status,
        201
    );

    let running = Arc::new(AtomicBool::new(true));
    let monitor = {
        let (client, running) = (Client::new(&servers[1]), running.clone());
        tokio::spawn(async move {
            let mut samples = 0;
            while running.load(Ordering::Relaxed) {
                for (group, limit) in [("g", GROUP_LIMIT), ("q", 2)] {
                    // One page is one read snapshot of the whole group.
                    let reply = client
                        .get(&format!("/v1/runs?concurrency_key={group}&limit=1000"))
                        .await
                        .unwrap();
                    let runs = reply.json["runs"].as_array().unwrap();
                    assert!(runs.len() < 1000, "the group fits one page");
                    let active = runs
                        .iter()
                        .filter(|run| run["state"] == "queued" || run["state"] == "running")
                        .count();
                    assert!(
                        active <= limit,
                        "{group}: {active} active runs, limit {limit}"
                    );
                }
                samples += 1;
            }
            samples
        })
    };

    let mut clients: Vec<ClientProcess> = (0..CLIENT_PROCESSES)
        .map(|me| ClientProcess::start(&servers[me % servers.len()].base, me))
        .collect();
    for client in &mut clients {
        client.go();
    }
    let reports = tokio::task::spawn_blocking(move || {
        clients
            .into_iter()
            .map(ClientProcess::report)
            .collect::<Vec<_>>()
    })
    .await
    .expect("every client reports");
    let mut statuses: BTreeMap<String, BTreeMap<u16, usize>> = BTreeMap::new();
    let mut idempotent_ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for report in reports {
        for (operation, seen) in report.statuses {
            for status in seen {
                *statuses
                    .entry(operation.clone())
                    .or_default()
                    .entry(status)
                    .or_default() += 1;
            }
        }
        for (key, ids) in report.idempotent_ids {
            idempotent_ids.entry(key).or_default().extend(ids);
        }
    }
    running.store(false, Ordering::Relaxed);
    assert!(monitor.await.unwrap() > 0);
    eprintln!("statuses: {statuses:?}");

    for (operation, seen) in &statuses {
        assert!(
            !seen.keys().any(|status| *status >= 500),
            "{operation}: {seen:?}"
        );
        let allowed: &[u16] = match operation.as_str() {
            "shared" | "child" => &[200, 201],
            "group" => &[201, 409],
            "finish" | "cancel" | "cancel-shared" | "enqueue" => &[200, 201],
            "idempotent" => &[201, 409],
            other => panic!("unknown operation {other}"),
        };
        assert!(
            seen.keys().all(|status| allowed.contains(status)),
            "{operation}: {seen:?}"
        );
    }
    assert_eq!(
        statuses["shared"].get(&201),
        Some(&SHARED_IDS),
        "one 201 per shared id"
    );
    assert_eq!(
        statuses["child"].get(&201),
        Some(&SHARED_IDS),
        "one 201 per child key"
    );

    // Each Idempotency-Key made exactly one run, and every 2xx named it.
    assert_eq!(idempotent_ids.len(), IDEMPOTENCY_KEYS, "{idempotent_ids:?}");
    for (key, ids) in &idempotent_ids {
        assert_eq!(ids.len(), 1, "{key} answered several runs: {ids:?}");
    }
    let idem = first.get("/v1/runs?kind=idem&limit=1000").await.unwrap();
    assert_eq!(
        idem.json["runs"].as_array().unwrap().len(),
        IDEMPOTENCY_KEYS,
        "{}",
        idem.json
    );

    let ids = first.all_run_ids().await;
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "an id was listed twice");
    for n in 0..SHARED_IDS {
        assert!(distinct.contains(&format!("shared-{n}")));
        assert!(distinct.contains(&format!("parent:k{n}")));
    }
    let parent = first.get("/v1/runs/parent").await.unwrap();
    assert_eq!(parent.json["children"]["total"], SHARED_IDS);

    drop(servers);
    let ledger = runledger::Ledger::open(&db).await.unwrap();
    let audit = ledger.audit().await.unwrap();
    assert!(audit.is_clean(), "{audit:?}");
}
