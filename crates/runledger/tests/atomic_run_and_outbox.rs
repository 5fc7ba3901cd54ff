//! SPEC §2.3 "Atomic run + outbox".
//!
//! A run never exists without its `created` event and a state never changes
//! without its lifecycle event: a failure at any point between the writes —
//! an error, or the process killed outright — leaves the database as if the
//! operation never started, and loses no acknowledged operation. Faults are
//! injected with failpoints (`RUNLEDGER_FAILPOINTS`) in racer processes.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{CreateRun, Kind, Ledger, OnFull, Owner, RunId, RunState, Tenant};
use serde_json::Value;
use support::TestDb;
use support::racer::{CreateSpec, Script, Step, race};

#[test]
fn racer_child_entry_point() {
    support::racer::child_main()
}

conformance!(
    an_injected_error_at_any_point_leaves_the_database_untouched,
    a_process_killed_at_any_point_loses_no_acknowledged_operation,
);

// Group commit (many operations per transaction) is SQLite's writer; on
// PostgreSQL every operation is its own transaction.
sqlite_only!(an_injected_error_fails_only_its_own_operation_in_a_batch);

/// What the parent prepares before a faulty racer runs.
#[derive(Clone, Copy, Debug)]
enum Setup {
    Nothing,
    /// Nothing, and the creates carry a `cancel_active` concurrency group
    /// with room to spare (on PostgreSQL, the create that is a transaction).
    NothingGrouped,
    Queued,
    Running,
    Expired,
    Enqueued,
}

const SETUP_RUNS: usize = 20;

async fn prepare(db: &TestDb, setup: Setup) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    let kind = Kind::parse("faulty").unwrap();
    for n in 0..SETUP_RUNS {
        let mut request = CreateRun::new(kind.clone()).id(RunId::parse(&format!("s{n}")).unwrap());
        match setup {
            Setup::Nothing | Setup::NothingGrouped => return,
            Setup::Queued => {}
            Setup::Running | Setup::Expired => {
                request = request.start(Owner::parse("w").unwrap(), 600_000)
            }
            Setup::Enqueued => {
                request = request
                    .concurrency_group(
                        runledger::ConcurrencyKey::parse("g").unwrap(),
                        1,
                        OnFull::Enqueue,
                    )
                    .unwrap()
            }
        }
        ledger.create_run(&tenant, request).await.unwrap();
    }
    // A read settles: every event committed so far has its position (on
    // PostgreSQL positions are stamped after commit), so the snapshot
    // taken next does not change behind the test's back.
    ledger.tenant_events(&tenant, 0, Some(1)).await.unwrap();
    if let Setup::Expired = setup {
        db.execute_sql("UPDATE runs SET lease_expires_at = lease_expires_at - 100000000");
    }
}

fn steps_for(setup: Setup, point: &str) -> Script {
    let ids = (0..SETUP_RUNS).map(|n| format!("s{n}"));
    let steps = match (setup, point) {
        // Kills inside a batch of many creates, or between sequential batches.
        (Setup::Nothing, "create_run") => {
            return Script::ConcurrentCreates {
                prefix: "c".into(),
                count: 40,
                group: None,
            };
        }
        (Setup::Nothing, _) => (0..SETUP_RUNS)
            .map(|n| Step::Create(CreateSpec::id(&format!("c{n}"))))
            .collect(),
        (Setup::NothingGrouped, _) => (0..SETUP_RUNS)
            .map(|n| {
                let mut spec = CreateSpec::id(&format!("c{n}"));
                spec.group = Some(("roomy".into(), 10_000, "cancel_active".into()));
                Step::Create(spec)
            })
            .collect(),
        (Setup::Queued, "start") => ids
            .map(|id| Step::Start {
                id,
                owner: "w2".into(),
                lease_ttl_ms: 60_000,
            })
            .collect(),
        (Setup::Queued, "cancel") => ids.map(|id| Step::Cancel { id }).collect(),
        (Setup::Queued, "append") => ids.map(|id| Step::Append { id }).collect(),
        (Setup::Running, _) => ids
            .map(|id| Step::Finish {
                id,
                lease_epoch: 1,
                outcome: "failed".into(),
            })
            .collect(),
        (Setup::Expired, _) => vec![Step::Reap, Step::Reap],
        (Setup::Enqueued, _) => ids.map(|id| Step::Cancel { id }).collect(),
        (setup, point) => panic!("no steps for {setup:?} at {point}"),
    };
    Script::Steps { steps }
}

/// Every failpoint site with the state it needs and the hit to fail at.
const SITES: [(&str, Setup, u32); 10] = [
    ("create_run.after_run_row", Setup::Nothing, 10),
    ("create_run.after_events", Setup::Nothing, 10),
    ("start.after_run_row", Setup::Queued, 5),
    ("finish.after_run_row", Setup::Running, 5),
    ("cancel.after_run_row", Setup::Queued, 5),
    ("append.after_run_row", Setup::Queued, 5),
    ("promote.after_run_row", Setup::Enqueued, 3),
    ("reap.after_run_row", Setup::Expired, 5),
    ("batch.before_commit", Setup::Nothing, 3),
    ("batch.after_commit", Setup::Nothing, 3),
];

async fn an_injected_error_at_any_point_leaves_the_database_untouched(db: TestDb) {
    for (site, setup, _) in sites(&db).filter(|(site, _, _)| *site != "batch.after_commit") {
        let db = TestDb::new(db.backend, &format!("error-{site}"));
        prepare(&db, setup).await;
        let before = db.snapshot();
        let operation = site.split('.').next().unwrap();
        let failpoints = format!("{site}=return");
        let script = match steps_for(setup, operation) {
            Script::Steps { steps } => Script::Steps {
                steps: steps.into_iter().take(1).collect(),
            },
            every_create_fails => every_create_fails,
        };
        let reports = race(&db, vec![script], &[("RUNLEDGER_FAILPOINTS", &failpoints)]).await;
        let answers = reports[0].result.as_ref().expect("an error is not a crash");
        let first = &answers.as_array().unwrap()[0];
        assert_eq!(first["code"], "internal", "{site}: {first}");
        assert!(reports[0].acks.is_empty(), "{site}: nothing succeeded");
        assert_eq!(
            db.snapshot(),
            before,
            "{site}: the failed operation left nothing behind"
        );
        assert_clean(&db, site).await;
    }
}

async fn an_injected_error_fails_only_its_own_operation_in_a_batch(db: TestDb) {
    let script = Script::ConcurrentCreates {
        prefix: "c".into(),
        count: 100,
        group: None,
    };
    let reports = race(
        &db,
        vec![script],
        &[("RUNLEDGER_FAILPOINTS", "create_run.after_events=1*return")],
    )
    .await;
    let answers = reports[0].result.as_ref().unwrap().as_array().unwrap();
    let failed: Vec<&Value> = answers
        .iter()
        .filter(|answer| answer.get("code").is_some())
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "exactly the injected create failed: {failed:?}"
    );
    assert_eq!(reports[0].acks.len(), 99);
    assert_eq!(db.count("SELECT COUNT(*) FROM runs"), 99);
    assert_eq!(db.count("SELECT COUNT(*) FROM events"), 99);
    assert_clean(&db, "1*return").await;
}

/// On PostgreSQL a create outside a group is one INSERT statement (run row
/// and events together): there is no point between its writes to fail at.
/// A grouped create is a transaction, so the create sites are tested with
/// grouped creates there.
fn sites(db: &TestDb) -> impl Iterator<Item = (&'static str, Setup, u32)> {
    let backend = db.backend;
    SITES
        .into_iter()
        .filter_map(move |(site, setup, hit)| match (backend, site, setup) {
            (support::Backend::Postgres, "create_run.after_run_row", _) => None,
            (support::Backend::Postgres, _, Setup::Nothing) => {
                Some((site, Setup::NothingGrouped, hit))
            }
            _ => Some((site, setup, hit)),
        })
}

async fn a_process_killed_at_any_point_loses_no_acknowledged_operation(db: TestDb) {
    for (site, setup, hit) in sites(&db) {
        let db = TestDb::new(db.backend, &format!("kill-{site}"));
        prepare(&db, setup).await;
        let operation = site.split('.').next().unwrap();
        let failpoints = format!("{site}=abort@{hit}");
        let reports = race(
            &db,
            vec![steps_for(setup, operation)],
            &[("RUNLEDGER_FAILPOINTS", &failpoints)],
        )
        .await;
        let report = &reports[0];
        assert!(
            !report.success && report.result.is_none(),
            "{site}: the process was killed"
        );
        eprintln!(
            "{site}: killed after {} acknowledged operations",
            report.acks.len()
        );
        let ledger = db.open_without_reaper().await;
        for ack in &report.acks {
            assert_acknowledged_operation_is_there(&ledger, ack, site).await;
        }
        assert_clean(&db, site).await;
    }
}

async fn assert_acknowledged_operation_is_there(ledger: &Ledger, ack: &Value, site: &str) {
    let tenant = Tenant::default();
    let step: Step = serde_json::from_value(ack["step"].clone()).unwrap();
    let run = |id: &str| {
        let id = RunId::parse(id).unwrap();
        async move {
            ledger
                .get_run(&tenant, &id)
                .await
                .unwrap_or_else(|error| panic!("{site}: acked run lost: {error}"))
        }
    };
    match &step {
        Step::Create(CreateSpec { id: Some(id), .. }) => {
            run(id).await;
        }
        Step::Start { id, .. } => {
            assert_ne!(run(id).await.state, RunState::Queued, "{site}: {ack}")
        }
        Step::Finish { id, .. } => {
            assert_eq!(run(id).await.state, RunState::Failed, "{site}: {ack}")
        }
        Step::Cancel { id } | Step::CancelCascade { id, .. } => {
            assert_eq!(run(id).await.state, RunState::Cancelled, "{site}: {ack}")
        }
        Step::Append { id } => {
            let seq = ack["answer"]["seq"].as_u64().unwrap();
            assert!(run(id).await.last_seq >= seq, "{site}: {ack}");
        }
        Step::Reap | Step::Create(_) | Step::Batch { .. } => {}
    }
}

/// After settling expired leases (a killed reaper leaves them for the next),
/// the audit finds nothing wrong.
async fn assert_clean(db: &TestDb, site: &str) {
    let ledger = db.open_without_reaper().await;
    ledger.reap().await.unwrap();
    let audit = ledger.audit().await.unwrap();
    assert!(audit.is_clean(), "{site}: {audit:#?}");
}
