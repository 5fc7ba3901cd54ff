//! SPEC §2.1 "One record per run" and §2.2 "Idempotent create".
//!
//! Concurrent creates of one `(tenant, id)` or `(tenant, parent_id, key)`,
//! from tasks and from separate OS processes, yield exactly one run; every
//! caller gets that run back and nobody sees an error. A repeat with equal
//! creation parameters answers the stored run without writing; different
//! parameters answer `run_conflict` naming the fields.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{
    ConcurrencyGroup, ConcurrencyKey, CreateRun, ErrorCode, Kind, OnFull, RunId, Segment, Tenant,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use support::TestDb;
use support::racer::{CreateSpec, Script, Step, XorShift, race};
use tokio::sync::Barrier;

#[test]
fn racer_child_entry_point() {
    support::racer::child_main()
}

conformance!(
    concurrent_creates_of_one_id_yield_one_run,
    concurrent_creates_of_one_child_key_yield_one_child,
    processes_racing_shared_ids_and_children_yield_one_run_each,
    a_repeat_with_equal_parameters_answers_the_run_and_writes_nothing,
    a_repeat_with_other_parameters_is_a_conflict_naming_the_fields,
    generated_ids_are_unique_across_processes_and_sort_by_creation,
    children_are_counted_on_their_parent,
    a_child_of_a_missing_parent_is_not_found_and_writes_nothing,
);

const CALLERS: usize = 32;

fn kind(text: &str) -> Kind {
    Kind::parse(text).unwrap()
}

async fn race_tasks(db: &TestDb, request: CreateRun) -> Vec<runledger::Created> {
    let ledger = db.open().await;
    let barrier = Arc::new(Barrier::new(CALLERS));
    let handles: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (ledger, barrier, request) = (ledger.clone(), barrier.clone(), request.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                ledger.create_run(&Tenant::default(), request).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for handle in handles {
        answers.push(handle.await.unwrap().expect("no caller sees an error"));
    }
    assert!(ledger.audit().await.unwrap().is_clean());
    answers
}

async fn concurrent_creates_of_one_id_yield_one_run(db: TestDb) {
    let request = CreateRun::new(kind("etl")).id(RunId::parse("job-1").unwrap());
    let answers = race_tasks(&db, request).await;
    assert_eq!(answers.iter().filter(|answer| answer.created).count(), 1);
    let distinct: BTreeSet<_> = answers
        .iter()
        .map(|a| (a.run.id.clone(), a.run.created_at))
        .collect();
    assert_eq!(distinct.len(), 1, "every caller got the same run");
    assert_eq!(db.count("SELECT COUNT(*) FROM runs"), 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM events"), 1);
}

async fn concurrent_creates_of_one_child_key_yield_one_child(db: TestDb) {
    let ledger = db.open().await;
    let parent = RunId::parse("job-1").unwrap();
    ledger
        .create_run(
            &Tenant::default(),
            CreateRun::new(kind("etl")).id(parent.clone()),
        )
        .await
        .unwrap();
    let request = CreateRun::new(kind("client")).child_of(parent, Segment::parse("acme").unwrap());
    let answers = race_tasks(&db, request).await;
    assert_eq!(answers.iter().filter(|answer| answer.created).count(), 1);
    assert!(
        answers
            .iter()
            .all(|answer| answer.run.id.as_str() == "job-1:acme")
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM runs WHERE parent_id = 'job-1'"),
        1
    );
}

const PROCESSES: usize = 8;
const SHARED_IDS: usize = 500;

async fn processes_racing_shared_ids_and_children_yield_one_run_each(db: TestDb) {
    db.open_without_reaper().await; // migrate once, so every racer races creates only
    let scripts = (0..PROCESSES)
        .map(|process| {
            let mut random = XorShift::new(process as u64 + 1);
            let mut parents: Vec<usize> = (0..SHARED_IDS).collect();
            let mut children: Vec<usize> = (0..SHARED_IDS).collect();
            shuffle(&mut parents, &mut random);
            shuffle(&mut children, &mut random);
            // Parents first (a child needs its parent), each list in its own order.
            let steps = parents
                .into_iter()
                .map(|n| Step::Create(CreateSpec::id(&format!("shared-{n}"))))
                .chain(
                    children
                        .into_iter()
                        .map(|n| Step::Create(CreateSpec::child(&format!("shared-{n}"), "eu"))),
                )
                .collect();
            Script::Steps { steps }
        })
        .collect();
    let reports = race(&db, scripts, &[]).await;
    let mut created_by_id = BTreeMap::<String, usize>::new();
    let mut created_at_by_id = BTreeMap::<String, BTreeSet<String>>::new();
    for report in &reports {
        assert!(report.success);
        let answers = report.result.as_ref().unwrap().as_array().unwrap();
        assert_eq!(answers.len(), 2 * SHARED_IDS);
        for answer in answers {
            assert!(
                answer.get("code").is_none(),
                "no caller sees an error: {answer}"
            );
            let id = answer["id"].as_str().unwrap().to_owned();
            if answer["created"] == Value::Bool(true) {
                *created_by_id.entry(id.clone()).or_default() += 1;
            }
            created_at_by_id
                .entry(id)
                .or_default()
                .insert(answer["created_at"].to_string());
        }
    }
    assert_eq!(
        created_by_id.len(),
        2 * SHARED_IDS,
        "every id was created by someone"
    );
    assert!(
        created_by_id.values().all(|count| *count == 1),
        "each id created exactly once"
    );
    assert!(
        created_at_by_id.values().all(|times| times.len() == 1),
        "every caller got the same run"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM runs"), 2 * SHARED_IDS as i64);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM events"),
        2 * SHARED_IDS as i64
    );
    assert_eq!(
        db.open_without_reaper().await.audit().await.unwrap(),
        runledger::Audit::clean()
    );
}

fn shuffle<T>(items: &mut [T], random: &mut XorShift) {
    for index in (1..items.len()).rev() {
        items.swap(index, random.below(index + 1));
    }
}

fn group(key: &str, limit: u32, on_full: OnFull) -> ConcurrencyGroup {
    ConcurrencyGroup::new(ConcurrencyKey::parse(key).unwrap(), limit, on_full).unwrap()
}

async fn a_repeat_with_equal_parameters_answers_the_run_and_writes_nothing(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let request = CreateRun::new(kind("etl"))
        .id(RunId::parse("job-1").unwrap())
        .attributes(json!({"b": 1.0, "a": [1, {"x": null}]}))
        .concurrency(group("g", 1, OnFull::Reject));
    let first = ledger.create_run(&tenant, request).await.unwrap();
    assert!(first.created);
    let writes_before = committed_writes(&db);
    // Same parameters in another key order and number spelling; defaults spelled out.
    let repeat = CreateRun::new(kind("etl"))
        .id(RunId::parse("job-1").unwrap())
        .attributes(json!({"a": [1, {"x": null}], "b": 1}))
        .concurrency(group("g", 1, OnFull::Reject));
    // A full group does not refuse a repeat of a run already in it.
    for _ in 0..3 {
        let again = ledger.create_run(&tenant, repeat.clone()).await.unwrap();
        assert!(!again.created);
        assert_eq!(again.run, first.run);
    }
    assert_eq!(
        committed_writes(&db),
        writes_before,
        "a repeat create writes nothing"
    );
    // Absent attributes equal `{}`.
    let plain = CreateRun::new(kind("etl")).id(RunId::parse("job-2").unwrap());
    ledger.create_run(&tenant, plain.clone()).await.unwrap();
    let explicit = plain.attributes(json!({}));
    assert!(!ledger.create_run(&tenant, explicit).await.unwrap().created);
    assert_eq!(db.count("SELECT COUNT(*) FROM events"), 2);
}

async fn a_repeat_with_other_parameters_is_a_conflict_naming_the_fields(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let id = RunId::parse("job-1").unwrap();
    let request = CreateRun::new(kind("etl"))
        .id(id.clone())
        .attributes(json!({"a": 1}));
    ledger.create_run(&tenant, request).await.unwrap();
    let other = CreateRun::new(kind("other"))
        .id(id.clone())
        .attributes(json!({"a": 2}))
        .concurrency(group("g", 2, OnFull::Enqueue));
    let error = ledger.create_run(&tenant, other).await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::RunConflict);
    match &error {
        runledger::Error::RunConflict { fields, .. } => {
            assert_eq!(fields, &vec!["kind", "attributes", "concurrency"])
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(error.to_string().contains("kind, attributes, concurrency"));
    let stored = ledger.get_run(&tenant, &id).await.unwrap();
    assert_eq!((stored.kind.as_str(), stored.version), ("etl", 1));
    // The same id in another tenant is another run.
    let elsewhere = Tenant::parse("acme").unwrap();
    let created = ledger
        .create_run(&elsewhere, CreateRun::new(kind("other")).id(id))
        .await
        .unwrap();
    assert!(created.created);
}

async fn generated_ids_are_unique_across_processes_and_sort_by_creation(db: TestDb) {
    db.open_without_reaper().await;
    let per_process = 250;
    let scripts = (0..4)
        .map(|_| Script::Steps {
            steps: (0..per_process)
                .map(|_| {
                    Step::Create(CreateSpec {
                        kind: "generated".into(),
                        ..CreateSpec::default()
                    })
                })
                .collect(),
        })
        .collect();
    let reports = race(&db, scripts, &[]).await;
    let mut all = BTreeSet::new();
    for report in reports {
        let ids: Vec<String> = report
            .result
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|answer| answer["id"].as_str().expect("created").to_owned())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(
            ids, sorted,
            "one caller's generated ids sort in creation order"
        );
        for id in ids {
            assert!(RunId::parse(&id).is_ok());
            assert!(all.insert(id), "generated ids never collide");
        }
    }
    assert_eq!(all.len(), 4 * per_process);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM runs"),
        4 * per_process as i64
    );
}

async fn children_are_counted_on_their_parent(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let parent = RunId::parse("job-1").unwrap();
    ledger
        .create_run(&tenant, CreateRun::new(kind("etl")).id(parent.clone()))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(ledger.get_run(&tenant, &parent).await.unwrap().children).unwrap(),
        json!({"total": 0})
    );
    for key in ["a", "b", "c"] {
        let child =
            CreateRun::new(kind("client")).child_of(parent.clone(), Segment::parse(key).unwrap());
        ledger.create_run(&tenant, child).await.unwrap();
    }
    let nested = CreateRun::new(kind("client")).child_of(
        RunId::parse("job-1:a").unwrap(),
        Segment::parse("eu").unwrap(),
    );
    let nested = ledger.create_run(&tenant, nested).await.unwrap();
    assert_eq!(nested.run.id.as_str(), "job-1:a:eu");
    assert_eq!(nested.run.parent_id.as_ref().unwrap().as_str(), "job-1:a");
    ledger
        .cancel(
            &tenant,
            &RunId::parse("job-1:b").unwrap(),
            runledger::Cancel::default(),
        )
        .await
        .unwrap();
    let counted = ledger.get_run(&tenant, &parent).await.unwrap();
    assert_eq!(
        serde_json::to_value(counted.children).unwrap(),
        json!({"total": 3, "queued": 2, "cancelled": 1})
    );
    // An explicit id must equal <parent>:<key>.
    let contradicting = CreateRun::new(kind("client"))
        .id(RunId::parse("job-1:zzz").unwrap())
        .child_of(parent.clone(), Segment::parse("d").unwrap());
    assert_eq!(
        ledger
            .create_run(&tenant, contradicting)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::InvalidRunId
    );
    let colon_without_parent = CreateRun::new(kind("client")).id(RunId::parse("job-1:d").unwrap());
    assert_eq!(
        ledger
            .create_run(&tenant, colon_without_parent)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::InvalidRunId
    );
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn a_child_of_a_missing_parent_is_not_found_and_writes_nothing(db: TestDb) {
    let ledger = db.open().await;
    let request = CreateRun::new(kind("client")).child_of(
        RunId::parse("nobody").unwrap(),
        Segment::parse("acme").unwrap(),
    );
    let error = ledger
        .create_run(&Tenant::default(), request)
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::NotFound);
    assert!(error.to_string().contains("parent run nobody"));
    assert_eq!(db.count("SELECT COUNT(*) FROM runs"), 0);
    assert_eq!(db.count("SELECT COUNT(*) FROM events"), 0);
}

/// A value that changes whenever anything is written: SQLite's file change
/// counter; on PostgreSQL the row versions and the sequences a write would
/// advance (even an upsert that does nothing draws from them).
fn committed_writes(db: &TestDb) -> String {
    match db.backend {
        support::Backend::Sqlite => {
            let path = db.path.as_ref().unwrap();
            let connection = rusqlite::Connection::open(path).unwrap();
            // The header's file change counter (bytes 24..28) moves on every commit.
            let counter: i64 = connection
                .query_row("SELECT COUNT(*) FROM runs", [], |row| row.get(0))
                .unwrap();
            let bytes = std::fs::read(path).unwrap();
            let wal = std::fs::metadata(format!("{}-wal", path.display()))
                .map(|m| m.len())
                .unwrap_or(0);
            format!("{counter}/{:?}/{wal}", &bytes[24..28])
        }
        support::Backend::Postgres => support::psql(
            &db.url,
            "SELECT (SELECT string_agg(xmin::text || ':' || version, ',' ORDER BY id) FROM runs) || '/' || \
             (SELECT last_value FROM runs_created_order_seq) || '/' || (SELECT last_value FROM events_event_id_seq)",
        ),
    }
}
