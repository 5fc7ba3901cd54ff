//! SPEC §2 (guarantees 1, 2, 4, 5, 6, 9) and §3, checked as linearizability:
//! every answer the server gives under concurrency must be the answer of
//! some one-at-a-time order of the same calls, consistent with real time.
//!
//! Each history: [`CLIENTS_DEFAULT`] clients, each with its own connections, fire
//! [`OPERATIONS_PER_CLIENT`] random calls at once on [`RUNS`] fresh run ids
//! (runs 0 and 1 in one concurrency group, limit 1, `on_full: reject`):
//! creates (some with `start`, a few with conflicting attributes), starts,
//! heartbeats, appends and finishes (with right and wrong lease epochs),
//! cancels and gets. Every call is recorded with its invocation and answer
//! times on one monotonic clock and its answer (status, code, state,
//! version, last seq, lease owner and epoch, appended seq, the group's
//! active runs); a call without an answer is "maybe applied". The history
//! is then checked against the sequential model of SPEC §2–3
//! (`linearizability_support/model.rs`) by a Wing–Gong search with Lowe's
//! memoization (`linearizability_support/checker.rs`).
//!
//! Three configurations: one server on SQLite, one on PostgreSQL, and two
//! servers on one PostgreSQL database with the clients split between them.
//! [`HISTORIES_DEFAULT`] histories each in CI; `RUNLEDGER_TORTURE_HISTORIES=N`
//! runs N (the long mode, see RELIABILITY.md). The checker's own tests feed
//! it hand-made histories that are not linearizable and must be refused.

mod linearizability_support;
mod server;
mod support;

use linearizability_support::checker::{Entry, check};
use linearizability_support::model::{
    Answer, LEASE_TTL_MS, Operation, Outcome, RUNS, RunView, State, in_group,
};
use serde_json::{Value, json};
use server::{Client, TestServer};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use support::{fresh_dir, postgres_url, runledger, sqlite_url};
use tokio::sync::Barrier;

/// Concurrent clients per history in CI; `RUNLEDGER_TORTURE_CLIENTS`
/// overrides it.
const CLIENTS_DEFAULT: usize = 4;
/// Calls each client makes per history.
const OPERATIONS_PER_CLIENT: usize = 8;
/// Histories per configuration in CI.
const HISTORIES_DEFAULT: usize = 100;
/// Lease owners the clients name (`w0` … `w3`; client `c` is `w{c % 4}`).
const OWNERS: u8 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_on_sqlite_are_linearizable() {
    let dir = fresh_dir("linearizability-sqlite");
    let db = sqlite_url(&dir, "histories.db");
    let server = TestServer::start(&dir, &db);
    torture("sqlite", std::slice::from_ref(&server.base), &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_on_postgres_are_linearizable() {
    let dir = fresh_dir("linearizability-postgres");
    let db = postgres_url("linearizability");
    let server = TestServer::start(&dir, &db.url);
    torture("postgres", std::slice::from_ref(&server.base), &db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_across_two_servers_on_one_postgres_are_linearizable() {
    let dir = fresh_dir("linearizability-postgres-two");
    let db = postgres_url("linearizability_two");
    let first = TestServer::start(&dir, &db.url);
    let second = TestServer::start(&dir, &db.url);
    torture(
        "postgres, two servers",
        &[first.base.clone(), second.base.clone()],
        &db.url,
    )
    .await;
}

/// Runs the configured number of histories against `bases` (client `c`
/// talks to `bases[c % len]`), checks each, prints the figures, and asserts
/// zero violations and a clean `runledger doctor`.
async fn torture(label: &str, bases: &[String], db: &str) {
    let histories = std::env::var("RUNLEDGER_TORTURE_HISTORIES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(HISTORIES_DEFAULT);
    let seed = std::env::var("RUNLEDGER_TORTURE_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(0x5eed_u64);
    let clients = std::env::var("RUNLEDGER_TORTURE_CLIENTS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(CLIENTS_DEFAULT);
    let clients: Vec<Client> = (0..clients)
        .map(|client| Client::for_base(&bases[client % bases.len()]))
        .collect();
    let clock = Instant::now();
    let started = Instant::now();
    let (mut operations, mut unknown) = (0usize, 0usize);
    let mut violations = Vec::new();
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    for history in 0..histories {
        let entries = record(&clients, &clock, seed, history).await;
        operations += entries.len();
        for entry in &entries {
            *answers.entry(tally(&entry.answer)).or_default() += 1;
        }
        unknown += entries
            .iter()
            .filter(|entry| entry.answer == Answer::Unknown)
            .count();
        if let Err(violation) = check(&entries) {
            eprintln!(
                "history {history} (seed {seed}) is not linearizable; runs {:?}:\n{}",
                violation.runs, violation.entries
            );
            violations.push(history);
        }
    }
    println!(
        "linearizability [{label}]: {histories} histories, {operations} operations checked, \
         {unknown} without an answer, {} violations, {:.1} s",
        violations.len(),
        started.elapsed().as_secs_f64()
    );
    println!("  answers: {answers:?}");
    assert!(
        violations.is_empty(),
        "violations in histories {violations:?}"
    );
    assert_eq!(unknown, 0, "every call is answered (no 5xx, no timeout)");
    let doctor = runledger()
        .args(["doctor", "--db", db, "--json"])
        .output()
        .expect("runledger doctor runs");
    assert!(
        doctor.status.success(),
        "doctor finds problems: {}",
        String::from_utf8_lossy(&doctor.stdout)
    );
}

/// One history: every client fires its calls at once; answers recorded.
async fn record(clients: &[Client], clock: &Instant, seed: u64, history: usize) -> Vec<Entry> {
    let barrier = Arc::new(Barrier::new(clients.len()));
    let handles: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(me, client)| {
            let (client, barrier, clock) = (client.clone(), barrier.clone(), *clock);
            tokio::spawn(async move {
                let mut rng = Rng::new(seed ^ ((history as u64) << 8) ^ me as u64);
                let mut epochs = [1u64; RUNS];
                let mut known = [false; RUNS];
                let mut entries = Vec::with_capacity(OPERATIONS_PER_CLIENT);
                barrier.wait().await;
                for _ in 0..OPERATIONS_PER_CLIENT {
                    let operation = choose(&mut rng, me, &epochs, &known);
                    let invoked_ns = clock.elapsed().as_nanos() as u64;
                    let answer = perform(&client, history, &operation).await;
                    let answered_ns = clock.elapsed().as_nanos() as u64;
                    if !matches!(&answer, Answer::Refused { status: 404, .. }) {
                        known[operation.run()] = true;
                    }
                    if let Answer::Run {
                        run:
                            RunView {
                                lease: Some((_, epoch)),
                                ..
                            },
                        ..
                    } = answer
                    {
                        epochs[operation.run()] = epoch;
                    }
                    entries.push(Entry {
                        client: me,
                        answered_ns: (answer != Answer::Unknown).then_some(answered_ns),
                        operation,
                        invoked_ns,
                        answer,
                    });
                }
                entries
            })
        })
        .collect();
    let mut history_entries = Vec::new();
    for handle in handles {
        history_entries.extend(handle.await.expect("a client finishes"));
    }
    history_entries
}

/// A random call, weighted toward the contended ones; mostly a create of a
/// run this client has not seen exist yet.
fn choose(rng: &mut Rng, me: usize, epochs: &[u64; RUNS], known: &[bool; RUNS]) -> Operation {
    let run = rng.below(RUNS as u64) as usize;
    let own = me as u8 % OWNERS;
    // Mostly the epoch this client last saw, sometimes a stale or future one.
    let epoch = match rng.below(10) {
        0 => epochs[run] + 1,
        1 => epochs[run].saturating_sub(1),
        _ => epochs[run],
    };
    let dice = if known[run] {
        rng.below(100)
    } else {
        rng.below(160).saturating_sub(60)
    };
    match dice {
        0..=24 => Operation::Create {
            run,
            variant: u8::from(rng.below(10) == 0),
            start: (rng.below(5) < 2).then_some(own),
        },
        25..=39 => Operation::Start {
            run,
            owner: if rng.below(5) == 0 {
                rng.below(u64::from(OWNERS)) as u8
            } else {
                own
            },
        },
        40..=49 => Operation::Heartbeat { run, epoch },
        50..=63 => Operation::Append {
            run,
            epoch: (rng.below(5) != 0).then_some(epoch),
        },
        64..=75 => Operation::Finish {
            run,
            epoch,
            outcome: if rng.below(3) == 0 {
                Outcome::Failed
            } else {
                Outcome::Succeeded
            },
        },
        76..=84 => Operation::Cancel { run },
        _ => Operation::Get { run },
    }
}

fn run_id(history: usize, run: usize) -> String {
    format!("h{history}-r{run}")
}

/// Sends `operation` and reduces the answer to what the model decides.
async fn perform(client: &Client, history: usize, operation: &Operation) -> Answer {
    let id = run_id(history, operation.run());
    let reply = match *operation {
        Operation::Create {
            run,
            variant,
            start,
        } => {
            let mut body = json!({"id": id, "kind": "torture", "attributes": {"variant": variant}});
            if in_group(run) {
                body["concurrency"] =
                    json!({"key": format!("h{history}-g"), "limit": 1, "on_full": "reject"});
            }
            if let Some(owner) = start {
                body["start"] = json!({"owner": format!("w{owner}"), "lease_ttl_ms": LEASE_TTL_MS});
            }
            client.post("/v1/runs", &body).await
        }
        Operation::Start { owner, .. } => {
            let body = json!({"owner": format!("w{owner}"), "lease_ttl_ms": LEASE_TTL_MS});
            client.post(&format!("/v1/runs/{id}/start"), &body).await
        }
        Operation::Heartbeat { epoch, .. } => {
            let body = json!({"lease_epoch": epoch, "lease_ttl_ms": LEASE_TTL_MS});
            client
                .post(&format!("/v1/runs/{id}/heartbeat"), &body)
                .await
        }
        Operation::Append { epoch, .. } => {
            let mut body = json!({"type": "progress", "data": {"n": 1}});
            if let Some(epoch) = epoch {
                body["lease_epoch"] = json!(epoch);
            }
            client.post(&format!("/v1/runs/{id}/events"), &body).await
        }
        Operation::Finish { epoch, outcome, .. } => {
            let body = match outcome {
                Outcome::Succeeded => {
                    json!({"lease_epoch": epoch, "outcome": "succeeded", "result": {"ok": true}})
                }
                Outcome::Failed => {
                    json!({"lease_epoch": epoch, "outcome": "failed", "error": "boom"})
                }
            };
            client.post(&format!("/v1/runs/{id}/finish"), &body).await
        }
        Operation::Cancel { .. } => {
            let body = json!({"reason": "torture"});
            client.post(&format!("/v1/runs/{id}/cancel"), &body).await
        }
        Operation::Get { .. } => client.get(&format!("/v1/runs/{id}")).await,
    };
    let Ok(reply) = reply else {
        return Answer::Unknown;
    };
    let body = &reply.json;
    match reply.status {
        200 | 201 if body.get("seq").is_some() && body.get("state").is_none() => Answer::Appended {
            seq: body["seq"].as_u64().expect("an appended seq"),
        },
        200 | 201 => Answer::Run {
            status: reply.status,
            run: run_view(body),
        },
        400..=499 => Answer::Refused {
            status: reply.status,
            code: body["code"].as_str().unwrap_or("(no code)").to_owned(),
            active: body["active_run_ids"]
                .as_array()
                .map(|ids| {
                    let mut runs: Vec<usize> = ids
                        .iter()
                        .map(|id| run_number(id.as_str().expect("an id")))
                        .collect();
                    runs.sort_unstable();
                    runs
                })
                .unwrap_or_default(),
        },
        status => {
            eprintln!("{operation:?} on {id}: {status} {body}");
            Answer::Unknown
        }
    }
}

/// The answer's kind, for the figures: status and state or code.
fn tally(answer: &Answer) -> String {
    match answer {
        Answer::Run { status, run } => format!("{status} {:?}", run.state),
        Answer::Appended { .. } => "201 appended".to_owned(),
        Answer::Refused { status, code, .. } => format!("{status} {code}"),
        Answer::Unknown => "unknown".to_owned(),
    }
}

fn run_view(body: &Value) -> RunView {
    let lease = &body["lease"];
    RunView {
        state: State::parse(body["state"].as_str().expect("a state")).expect("a known state"),
        version: body["version"].as_u64().expect("a version"),
        last_seq: body["last_seq"].as_u64().expect("a last_seq"),
        lease: (!lease.is_null()).then(|| {
            let owner = lease["owner"].as_str().expect("an owner");
            (
                owner[1..].parse().expect("an owner w<n>"),
                lease["epoch"].as_u64().expect("an epoch"),
            )
        }),
    }
}

/// `h<history>-r<run>` → run.
fn run_number(id: &str) -> usize {
    id.rsplit_once("-r")
        .and_then(|(_, run)| run.parse().ok())
        .expect("a history run id")
}

/// splitmix64: deterministic calls for a seed; timing does the rest.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// The checker itself: it must refuse what no order explains, and accept
// what one order does.

fn entry(
    client: usize,
    invoked_ns: u64,
    answered_ns: u64,
    operation: Operation,
    answer: Answer,
) -> Entry {
    Entry {
        client,
        operation,
        invoked_ns,
        answered_ns: Some(answered_ns),
        answer,
    }
}

fn run(status: u16, state: State, version: u64, last_seq: u64, lease: Option<(u8, u64)>) -> Answer {
    Answer::Run {
        status,
        run: RunView {
            state,
            version,
            last_seq,
            lease,
        },
    }
}

fn create(run: usize) -> Operation {
    Operation::Create {
        run,
        variant: 0,
        start: None,
    }
}

#[test]
fn checker_refuses_two_creates_of_one_id_both_answered_201() {
    let created = run(201, State::Queued, 1, 1, None);
    let history = [
        entry(0, 0, 10, create(2), created.clone()),
        entry(1, 1, 11, create(2), created),
    ];
    assert!(check(&history).is_err());
    // One 201 and one 200 of the same run is what guarantee 1 promises.
    let history = [
        entry(0, 0, 10, create(2), run(201, State::Queued, 1, 1, None)),
        entry(1, 1, 11, create(2), run(200, State::Queued, 1, 1, None)),
    ];
    assert!(check(&history).is_ok());
}

#[test]
fn checker_refuses_a_read_of_a_version_before_its_write_was_invoked() {
    let start = Operation::Start { run: 3, owner: 0 };
    let history = [
        entry(0, 0, 10, create(3), run(201, State::Queued, 1, 1, None)),
        // The get answers version 2 (started) before the start is invoked.
        entry(
            1,
            20,
            30,
            Operation::Get { run: 3 },
            run(200, State::Running, 2, 2, Some((0, 1))),
        ),
        entry(
            0,
            40,
            50,
            start.clone(),
            run(200, State::Running, 2, 2, Some((0, 1))),
        ),
    ];
    assert!(check(&history).is_err());
    // Overlapping the start, the same read is fine.
    let history = [
        entry(0, 0, 10, create(3), run(201, State::Queued, 1, 1, None)),
        entry(
            1,
            20,
            45,
            Operation::Get { run: 3 },
            run(200, State::Running, 2, 2, Some((0, 1))),
        ),
        entry(
            0,
            40,
            50,
            start,
            run(200, State::Running, 2, 2, Some((0, 1))),
        ),
    ];
    assert!(check(&history).is_ok());
}

#[test]
fn checker_refuses_two_active_runs_in_a_group_of_one() {
    let history = [
        entry(0, 0, 10, create(0), run(201, State::Queued, 1, 1, None)),
        entry(1, 20, 30, create(1), run(201, State::Queued, 1, 1, None)),
    ];
    assert!(check(&history).is_err());
    let refused = Answer::Refused {
        status: 409,
        code: "concurrency_limit".into(),
        active: vec![0],
    };
    let history = [
        entry(0, 0, 10, create(0), run(201, State::Queued, 1, 1, None)),
        entry(1, 20, 30, create(1), refused),
    ];
    assert!(check(&history).is_ok());
}

#[test]
fn checker_lets_an_unanswered_call_take_effect_late_or_never() {
    let cancel = Entry {
        client: 1,
        operation: Operation::Cancel { run: 2 },
        invoked_ns: 20,
        answered_ns: None,
        answer: Answer::Unknown,
    };
    let created = entry(0, 0, 10, create(2), run(201, State::Queued, 1, 1, None));
    // Applied long after its invocation…
    let later = entry(
        0,
        100,
        110,
        Operation::Get { run: 2 },
        run(200, State::Cancelled, 2, 2, None),
    );
    assert!(check(&[created.clone(), cancel.clone(), later]).is_ok());
    // …or never.
    let never = entry(
        0,
        100,
        110,
        Operation::Get { run: 2 },
        run(200, State::Queued, 1, 1, None),
    );
    assert!(check(&[created.clone(), cancel.clone(), never]).is_ok());
    // But not before it was invoked.
    let early = entry(
        0,
        12,
        15,
        Operation::Get { run: 2 },
        run(200, State::Cancelled, 2, 2, None),
    );
    assert!(check(&[created, cancel, early]).is_err());
}

#[test]
fn checker_refuses_a_fenced_call_that_succeeds_after_the_run_ended() {
    let started = Operation::Create {
        run: 2,
        variant: 0,
        start: Some(0),
    };
    let finish = Operation::Finish {
        run: 2,
        epoch: 1,
        outcome: Outcome::Succeeded,
    };
    let history = [
        entry(
            0,
            0,
            10,
            started,
            run(201, State::Running, 1, 2, Some((0, 1))),
        ),
        entry(
            1,
            20,
            30,
            Operation::Cancel { run: 2 },
            run(200, State::Cancelled, 2, 3, None),
        ),
        entry(0, 40, 50, finish, run(200, State::Succeeded, 3, 4, None)),
    ];
    assert!(check(&history).is_err());
}
