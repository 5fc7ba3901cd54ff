//! SPEC §2.1, §2.4 and §2.8 over HTTP: two `runledger serve` processes on
//! one SQLite file and 16 concurrent clients (each with its own
//! connections) hammer the same ids, the same children and the same
//! concurrency groups. Every create answers 200/201 or a 409 problem, never
//! a 5xx; each id is one run; a monitor sampling the groups never sees more
//! active runs than the limit; the audit is clean afterwards.

mod server;
mod support;

use serde_json::json;
use server::{Client, TestServer};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use support::{fresh_dir, sqlite_url};
use tokio::sync::Barrier;

const CLIENTS: usize = 16;
const ROUNDS: usize = 12;
const SHARED_IDS: usize = 10;
const GROUP_LIMIT: usize = 3;

/// One client's run: answers every status it saw, by operation.
async fn hammer(client: Client, me: usize, barrier: Arc<Barrier>) -> BTreeMap<String, Vec<u16>> {
    let mut seen: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    let mut note = |operation: &str, reply: &server::Reply| {
        seen.entry(operation.to_owned())
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
    barrier.wait().await;
    for round in 0..ROUNDS {
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
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_on_two_servers_get_one_run_per_id_and_limits_hold() {
    let dir = fresh_dir("serve-races");
    let db = sqlite_url(&dir, "races.db");
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

    let barrier = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|me| {
            let client = Client::new(&servers[me % servers.len()]);
            tokio::spawn(hammer(client, me, barrier.clone()))
        })
        .collect();
    let mut statuses: BTreeMap<String, BTreeMap<u16, usize>> = BTreeMap::new();
    for handle in handles {
        for (operation, seen) in handle.await.expect("a client finishes") {
            for status in seen {
                *statuses
                    .entry(operation.clone())
                    .or_default()
                    .entry(status)
                    .or_default() += 1;
            }
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
