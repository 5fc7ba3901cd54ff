//! SPEC §4 `POST /v1/runs/batch`, through the library: "each item decided
//! as a single create (an item may name an earlier item as its parent …).
//! `atomic: true`: every item is created (or is an identical repeat) in one
//! transaction, or nothing is written and the answer is the first refused
//! item's problem with `index`. A batch's events take consecutive positions
//! in item order."
//!
//! Tested on both backends: in-process for the answers, then with racing
//! processes (8 processes sending atomic batches that share ids and
//! parents: each id once, each batch all or nothing, positions gap-free and
//! each batch's consecutive), and with faults in racer processes (an error
//! after the batch's writes, the process killed there, and on PostgreSQL
//! the connection terminated there): nothing of the batch is left. Run
//! with `--features failpoints` (CI runs `--all-features`).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{
    BatchRefused, ConcurrencyGroup, ConcurrencyKey, CreateBatch, CreateRun, ErrorCode, Kind,
    OnFull, RunId, RunState, Segment, Tenant,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use support::TestDb;
use support::racer::{CreateSpec, Script, Step, race};

#[test]
fn racer_child_entry_point() {
    support::racer::child_main()
}

conformance!(
    a_job_and_its_children_are_one_batch_at_consecutive_positions,
    an_atomic_batch_is_all_or_nothing_a_plain_one_item_by_item,
    bad_batches_are_refused_naming_the_item_and_write_nothing,
    groups_in_a_batch_are_decided_as_single_creates,
    processes_racing_atomic_batches_create_each_id_once,
    batches_racing_writers_the_sequencer_stamps_stay_consecutive,
    a_failure_after_a_batch_writes_leaves_nothing,
    a_process_killed_after_a_batch_writes_leaves_nothing,
);

postgres_only!(a_connection_killed_mid_batch_leaves_nothing);

fn id(text: &str) -> RunId {
    RunId::parse(text).unwrap()
}

fn run(text: &str) -> CreateRun {
    CreateRun::new(Kind::parse("job").unwrap()).id(id(text))
}

fn child(parent: &str, key: &str) -> CreateRun {
    CreateRun::new(Kind::parse("client").unwrap())
        .child_of(id(parent), Segment::parse(key).unwrap())
}

fn batch(runs: Vec<CreateRun>, atomic: bool) -> CreateBatch {
    CreateBatch { runs, atomic }
}

fn runs_count(db: &TestDb) -> i64 {
    db.count("SELECT COUNT(*) FROM runs")
}

async fn a_job_and_its_children_are_one_batch_at_consecutive_positions(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    ledger.create_run(&tenant, run("before")).await.unwrap();
    let runs = vec![
        run("job-1"),
        child("job-1", "acme"),
        child("job-1", "globex"),
        child("job-1", "initech"),
    ];
    let answers = ledger
        .create_batch(&tenant, batch(runs.clone(), true))
        .await
        .unwrap();
    let ids: Vec<String> = answers
        .iter()
        .map(|answer| answer.as_ref().unwrap().run.id.to_string())
        .collect();
    assert_eq!(
        ids,
        ["job-1", "job-1:acme", "job-1:globex", "job-1:initech"]
    );
    assert!(
        answers
            .iter()
            .all(|answer| answer.as_ref().unwrap().created)
    );
    let job = ledger.get_run(&tenant, &id("job-1")).await.unwrap();
    assert_eq!(job.children.total, 3);
    // Positions: right after the earlier run's, in item order.
    let log = ledger.tenant_events(&tenant, 0, None).await.unwrap();
    let order: Vec<(u64, String)> = log
        .iter()
        .map(|event| (event.position, event.run_id.to_string()))
        .collect();
    assert_eq!(
        order,
        [
            (1, "before".to_owned()),
            (2, "job-1".to_owned()),
            (3, "job-1:acme".to_owned()),
            (4, "job-1:globex".to_owned()),
            (5, "job-1:initech".to_owned()),
        ]
    );
    // The same batch again: identical repeats, nothing written.
    let again = ledger
        .create_batch(&tenant, batch(runs, false))
        .await
        .unwrap();
    assert!(again.iter().all(|answer| !answer.as_ref().unwrap().created));
    assert_eq!(
        ledger.tenant_events(&tenant, 0, None).await.unwrap().len(),
        5
    );
    // An item may repeat an earlier one: the same run, answered 200.
    let answers = ledger
        .create_batch(&tenant, batch(vec![run("twice"), run("twice")], true))
        .await
        .unwrap();
    assert!(answers[0].as_ref().unwrap().created);
    assert!(!answers[1].as_ref().unwrap().created);
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn an_atomic_batch_is_all_or_nothing_a_plain_one_item_by_item(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let other = CreateRun::new(Kind::parse("other").unwrap()).id(id("taken"));
    ledger.create_run(&tenant, other).await.unwrap();
    let runs = vec![
        run("a"),
        child("a", "x"),
        run("taken"),
        child("missing", "y"),
        run("b"),
    ];
    let before = runs_count(&db);
    let refused = ledger
        .create_batch(&tenant, batch(runs.clone(), true))
        .await
        .unwrap_err();
    assert_eq!(refused.index, Some(2));
    assert_eq!(refused.error.code(), ErrorCode::RunConflict);
    assert_eq!(
        runs_count(&db),
        before,
        "nothing of the atomic batch is written"
    );
    // Not atomic: each item as a single create would be answered.
    let answers = ledger
        .create_batch(&tenant, batch(runs, false))
        .await
        .unwrap();
    let codes: Vec<Option<ErrorCode>> = answers
        .iter()
        .map(|answer| answer.as_ref().err().map(|error| error.code()))
        .collect();
    assert_eq!(
        codes,
        [
            None,
            None,
            Some(ErrorCode::RunConflict),
            Some(ErrorCode::NotFound),
            None
        ]
    );
    assert_eq!(runs_count(&db), before + 3);
    // Positions stay gap-free across the refused and the partial batch.
    let log = ledger.tenant_events(&tenant, 0, None).await.unwrap();
    let positions: Vec<u64> = log.iter().map(|event| event.position).collect();
    assert_eq!(positions, [1, 2, 3, 4]);
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn bad_batches_are_refused_naming_the_item_and_write_nothing(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let refused = |result: Result<_, BatchRefused>| result.unwrap_err();
    let empty = refused(ledger.create_batch(&tenant, batch(vec![], true)).await);
    assert_eq!(
        (empty.index, empty.error.code()),
        (None, ErrorCode::InvalidRequest)
    );
    let too_many: Vec<CreateRun> = (0..1_001).map(|n| run(&format!("r{n}"))).collect();
    let over = refused(ledger.create_batch(&tenant, batch(too_many, false)).await);
    assert_eq!(
        (over.index, over.error.code()),
        (None, ErrorCode::InvalidRequest)
    );
    // A parent that is a later item, atomic or not.
    for atomic in [true, false] {
        let later = refused(
            ledger
                .create_batch(
                    &tenant,
                    batch(vec![run("a"), child("p", "k"), run("p")], atomic),
                )
                .await,
        );
        assert_eq!(later.index, Some(1));
        assert!(matches!(
            later.error,
            runledger::Error::InvalidRequest {
                field: "parent_id",
                ..
            }
        ));
    }
    // One id twice with different parameters.
    let differing = CreateRun::new(Kind::parse("other").unwrap()).id(id("a"));
    let twice = refused(
        ledger
            .create_batch(&tenant, batch(vec![run("a"), run("b"), differing], false))
            .await,
    );
    assert_eq!(twice.index, Some(2));
    assert!(matches!(
        twice.error,
        runledger::Error::InvalidRequest { field: "kind", .. }
    ));
    // An atomic batch is refused at its first invalid item.
    let bad_ttl = run("c").start(runledger::Owner::parse("w").unwrap(), 1);
    let invalid = refused(
        ledger
            .create_batch(&tenant, batch(vec![run("b"), bad_ttl], true))
            .await,
    );
    assert_eq!(invalid.index, Some(1));
    assert_eq!(runs_count(&db), 0, "nothing was written");
}

fn in_group(text: &str, limit: u32, on_full: OnFull) -> CreateRun {
    let group = ConcurrencyGroup::new(ConcurrencyKey::parse("g").unwrap(), limit, on_full).unwrap();
    run(text).concurrency(group)
}

async fn groups_in_a_batch_are_decided_as_single_creates(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let runs = vec![
        in_group("a", 1, OnFull::Enqueue),
        in_group("b", 1, OnFull::Enqueue),
        in_group("c", 1, OnFull::Reject),
        in_group("d", 1, OnFull::ReplacePending),
        in_group("e", 2, OnFull::Reject),
        in_group("f", 2, OnFull::CancelActive),
    ];
    let answers = ledger
        .create_batch(&tenant, batch(runs, false))
        .await
        .unwrap();
    let outcome = |index: usize| match &answers[index] {
        Ok(created) => created.run.state.to_string(),
        Err(error) => error.code().as_str().to_owned(),
    };
    assert_eq!(
        (0..6).map(outcome).collect::<Vec<_>>(),
        [
            "queued",
            "pending",
            "concurrency_limit",
            "pending",
            "queued",
            "queued"
        ]
    );
    // d replaced b, naming it; f cancelled the oldest active run, a.
    let b = ledger.get_run(&tenant, &id("b")).await.unwrap();
    assert_eq!(b.state, RunState::Cancelled);
    assert!(b.error.unwrap().contains("run d"));
    let a = ledger.get_run(&tenant, &id("a")).await.unwrap();
    assert_eq!(a.state, RunState::Cancelled);
    assert!(a.error.unwrap().contains("run f"));
    // The batch's events, cancellations included, are consecutive, in item order.
    let log = ledger.tenant_events(&tenant, 0, None).await.unwrap();
    let order: Vec<(String, String)> = log
        .iter()
        .map(|event| (event.run_id.to_string(), event.event_type.clone()))
        .collect();
    let expected: Vec<(String, String)> = [
        ("a", "created"),
        ("b", "created"),
        ("b", "cancelled"),
        ("d", "created"),
        ("e", "created"),
        ("a", "cancelled"),
        ("f", "created"),
    ]
    .iter()
    .map(|(run, event)| (run.to_string(), event.to_string()))
    .collect();
    assert_eq!(order, expected);
    assert!(ledger.audit().await.unwrap().is_clean());
}

const RACERS: usize = 8;
const ROUNDS: usize = 6;

/// Process `process`'s batch of round `round`: the round's job, two of its
/// three children (shared with other processes), a run of its own, and in
/// even rounds a run every process names with its own kind (only one
/// batch of the round can then succeed).
fn racer_batch(process: usize, round: usize) -> Vec<CreateSpec> {
    let job = format!("job-{round}");
    let mut runs = vec![CreateSpec::id(&job)];
    for key in [process % 3, (process + 1) % 3] {
        runs.push(CreateSpec::child(&job, &format!("c{key}")));
    }
    if round.is_multiple_of(2) {
        let mut contested = CreateSpec::id(&format!("contested-{round}"));
        contested.kind = format!("k{process}");
        runs.push(contested);
    }
    runs.push(CreateSpec::id(&format!("own-{process}-{round}")));
    runs
}

async fn processes_racing_atomic_batches_create_each_id_once(db: TestDb) {
    let scripts = (0..RACERS)
        .map(|process| Script::Steps {
            steps: (0..ROUNDS)
                .map(|round| Step::Batch {
                    runs: racer_batch(process, round),
                    atomic: true,
                })
                .collect(),
        })
        .collect();
    let reports = race(&db, scripts, &[]).await;
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let log = ledger.tenant_events(&tenant, 0, Some(1_000)).await.unwrap();
    let created_at: HashMap<String, u64> = log
        .iter()
        .filter(|event| event.event_type == "created")
        .map(|event| (event.run_id.to_string(), event.position))
        .collect();
    assert_eq!(created_at.len(), log.len(), "one created event per run");
    for (index, event) in log.iter().enumerate() {
        assert_eq!(event.position, index as u64 + 1, "positions are gap-free");
    }
    let mut winners = [0; ROUNDS];
    for (process, report) in reports.iter().enumerate() {
        assert!(report.success);
        let answers = report.result.as_ref().unwrap().as_array().unwrap();
        for (round, answer) in answers.iter().enumerate() {
            let own = format!("own-{process}-{round}");
            let Some(results) = answer.get("results") else {
                // Refused whole: only at the contested run, and nothing of it written.
                assert_eq!(answer["code"], "run_conflict", "{answer}");
                assert_eq!(answer["index"], 3, "{answer}");
                assert!(!created_at.contains_key(&own));
                continue;
            };
            if round % 2 == 0 {
                winners[round] += 1;
                let contested = ledger
                    .get_run(&tenant, &id(&format!("contested-{round}")))
                    .await
                    .unwrap();
                assert_eq!(contested.kind.as_str(), format!("k{process}"));
            }
            // Every item answered; the ones this batch created are
            // consecutive in the log, in item order.
            let specs = racer_batch(process, round);
            let results = results.as_array().unwrap();
            assert_eq!(results.len(), specs.len());
            let mine: Vec<u64> = results
                .iter()
                .filter(|result| result["created"] == json!(true))
                .map(|result| created_at[result["id"].as_str().unwrap()])
                .collect();
            assert!(mine.contains(&created_at[&own]));
            for pair in mine.windows(2) {
                assert_eq!(pair[1], pair[0] + 1, "a batch's positions are consecutive");
            }
        }
    }
    for (round, won) in winners.iter().enumerate() {
        let job = ledger
            .get_run(&tenant, &id(&format!("job-{round}")))
            .await
            .unwrap();
        if round % 2 == 0 {
            // Only the winner's two children were written.
            assert_eq!(*won, 1, "one batch wins a contested round");
            assert_eq!(job.children.total, 2, "each child once");
        } else {
            assert_eq!(job.children.total, 3, "each child once");
        }
    }
    let audit = ledger.audit().await.unwrap();
    assert!(audit.is_clean(), "{audit:#?}");
}

/// Batch items per round in the mixed race.
const MIXED_ITEMS: usize = 40;

/// Processes 0–3 write plain batches (stamped in their own statement when
/// the tenant has no unstamped event, else stamped under the position lock
/// before commit); processes 4–7 create runs that start at once, written
/// alone and left for the sequencer to stamp — so batches meet unstamped
/// events of others and must fall back. Afterwards: positions gap-free,
/// every run's events once, each batch's `created` events consecutive in
/// item order.
async fn batches_racing_writers_the_sequencer_stamps_stay_consecutive(db: TestDb) {
    let batch = |process: usize, round: usize| -> Vec<CreateSpec> {
        (0..MIXED_ITEMS)
            .map(|item| CreateSpec::id(&format!("b{process}-{round}-{item}")))
            .collect()
    };
    let scripts = (0..RACERS)
        .map(|process| Script::Steps {
            steps: (0..ROUNDS)
                .flat_map(|round| {
                    if process < RACERS / 2 {
                        vec![Step::Batch {
                            runs: batch(process, round),
                            atomic: false,
                        }]
                    } else {
                        (0..5)
                            .map(|item| {
                                Step::Create(CreateSpec {
                                    start: Some(("worker".into(), 60_000)),
                                    ..CreateSpec::id(&format!("s{process}-{round}-{item}"))
                                })
                            })
                            .collect()
                    }
                })
                .collect(),
        })
        .collect();
    let reports = race(&db, scripts, &[]).await;
    assert!(reports.iter().all(|report| report.success));
    let ledger = db.open().await;
    let tenant = Tenant::default();
    // The sequencer stamps what the single writers left; wait for it.
    let expected = (RACERS / 2) * ROUNDS * MIXED_ITEMS + (RACERS / 2) * ROUNDS * 5 * 2;
    let mut log = Vec::new();
    for _ in 0..100 {
        log = ledger.tenant_events(&tenant, 0, Some(1_000)).await.unwrap();
        let mut after = log.last().map_or(0, |event| event.position);
        while log.len() < expected {
            let page = ledger
                .tenant_events(&tenant, after, Some(1_000))
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = last.position;
            log.extend(page);
        }
        if log.len() == expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(log.len(), expected, "every event stamped, once");
    for (index, event) in log.iter().enumerate() {
        assert_eq!(event.position, index as u64 + 1, "positions are gap-free");
    }
    let created_at: HashMap<String, u64> = log
        .iter()
        .filter(|event| event.event_type == "created")
        .map(|event| (event.run_id.to_string(), event.position))
        .collect();
    for process in 0..RACERS / 2 {
        for round in 0..ROUNDS {
            let positions: Vec<u64> = (0..MIXED_ITEMS)
                .map(|item| created_at[&format!("b{process}-{round}-{item}")])
                .collect();
            for pair in positions.windows(2) {
                assert_eq!(pair[1], pair[0] + 1, "a batch's positions are consecutive");
            }
        }
    }
    let audit = ledger.audit().await.unwrap();
    assert!(audit.is_clean(), "{audit:#?}");
}

fn faulty_batch() -> Step {
    Step::Batch {
        runs: vec![
            CreateSpec::id("job"),
            CreateSpec::child("job", "a"),
            CreateSpec::child("job", "b"),
        ],
        atomic: true,
    }
}

async fn a_failure_after_a_batch_writes_leaves_nothing(db: TestDb) {
    for atomic in [true, false] {
        let Step::Batch { runs, .. } = faulty_batch() else {
            unreachable!()
        };
        let script = Script::Steps {
            steps: vec![Step::Batch { runs, atomic }],
        };
        let reports = race(
            &db,
            vec![script],
            &[("RUNLEDGER_FAILPOINTS", "create_batch.after_writes=return")],
        )
        .await;
        let answer = &reports[0].result.as_ref().unwrap()[0];
        assert_eq!(answer["code"], "internal", "{answer}");
        assert_eq!(runs_count(&db), 0);
        assert_eq!(db.count("SELECT COUNT(*) FROM events"), 0);
    }
}

async fn a_process_killed_after_a_batch_writes_leaves_nothing(db: TestDb) {
    let script = Script::Steps {
        steps: vec![faulty_batch()],
    };
    let reports = race(
        &db,
        vec![script],
        &[("RUNLEDGER_FAILPOINTS", "create_batch.after_writes=abort")],
    )
    .await;
    assert!(!reports[0].success, "the racer was killed");
    assert!(reports[0].acks.is_empty());
    assert_eq!(runs_count(&db), 0);
    assert_eq!(db.count("SELECT COUNT(*) FROM events"), 0);
    // The ledger still works: the same batch now succeeds.
    let ledger = db.open().await;
    let runs = vec![run("job"), child("job", "a")];
    let answers = ledger
        .create_batch(&Tenant::default(), batch(runs, true))
        .await
        .unwrap();
    assert_eq!(answers.len(), 2);
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn a_connection_killed_mid_batch_leaves_nothing(db: TestDb) {
    let script = Script::Steps {
        steps: vec![faulty_batch()],
    };
    let name = db.url.rsplit_once('/').unwrap().1.to_owned();
    let killer = tokio::spawn(async move {
        // The batch waits at the failpoint inside its transaction.
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let killed = support::psql(
                &support::postgres_admin_url(),
                &format!(
                    "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = '{name}' AND state = 'idle in transaction' \
                     AND query LIKE 'WITH input AS MATERIALIZED%'"
                ),
            );
            if killed.trim() != "0" {
                return true;
            }
        }
        false
    });
    let reports = race(
        &db,
        vec![script],
        &[(
            "RUNLEDGER_FAILPOINTS",
            "create_batch.after_writes=sleep(5000)",
        )],
    )
    .await;
    assert!(
        killer.await.unwrap(),
        "the batch's connection was terminated"
    );
    let answer: &Value = &reports[0].result.as_ref().unwrap()[0];
    assert!(answer.get("code").is_some(), "{answer}");
    assert_eq!(runs_count(&db), 0);
    assert_eq!(db.count("SELECT COUNT(*) FROM events"), 0);
}
