//! SPEC §3 `on_full: replace_pending`: "like `enqueue`, but K keeps at most
//! one pending run: the new run becomes K's only pending run and the run
//! that was pending (if any) is cancelled in the same transaction, its
//! `error` and `cancelled` event naming the new run."
//!
//! Tested on both backends: in-process (the replaced run's error and event,
//! promotion of the survivor, the unique index refusing a second pending
//! run written behind the ledger's back), and across racing processes,
//! replaying the tenant's event log position by position to check that the
//! group never had more than one pending run nor more active runs than its
//! limit at any position.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{
    Cancel, ConcurrencyGroup, ConcurrencyKey, CreateRun, Kind, Ledger, OnFull, RunId, RunState,
    Tenant,
};
use std::collections::HashMap;
use support::TestDb;
use support::racer::{CreateSpec, Script, Step, race};

#[test]
fn racer_child_entry_point() {
    support::racer::child_main()
}

conformance!(
    a_new_pending_run_replaces_the_pending_one_naming_it,
    the_database_refuses_a_second_pending_run_of_a_replace_group,
    processes_replacing_pending_runs_keep_one_pending_and_the_limit,
);

fn id(text: &str) -> RunId {
    RunId::parse(text).unwrap()
}

fn replacing(run: &str, limit: u32) -> CreateRun {
    let group = ConcurrencyGroup::new(
        ConcurrencyKey::parse("g").unwrap(),
        limit,
        OnFull::ReplacePending,
    )
    .unwrap();
    CreateRun::new(Kind::parse("deploy").unwrap())
        .id(id(run))
        .concurrency(group)
}

async fn state(ledger: &Ledger, run: &str) -> RunState {
    ledger
        .get_run(&Tenant::default(), &id(run))
        .await
        .unwrap()
        .state
}

async fn a_new_pending_run_replaces_the_pending_one_naming_it(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    let first = ledger.create_run(&tenant, replacing("a", 1)).await.unwrap();
    assert_eq!(first.run.state, RunState::Queued, "a free slot admits");
    let pending = ledger.create_run(&tenant, replacing("b", 1)).await.unwrap();
    assert_eq!(pending.run.state, RunState::Pending);
    let newer = ledger.create_run(&tenant, replacing("c", 1)).await.unwrap();
    assert_eq!(newer.run.state, RunState::Pending);
    let replaced = ledger.get_run(&tenant, &id("b")).await.unwrap();
    assert_eq!(replaced.state, RunState::Cancelled);
    assert!(
        replaced.error.as_deref().unwrap().contains("run c"),
        "{:?}",
        replaced.error
    );
    let events = ledger.events(&tenant, &id("b"), 0, None).await.unwrap();
    let cancelled = events.last().unwrap();
    assert_eq!(cancelled.event_type, "cancelled");
    assert_eq!(cancelled.data["cancelled_by"], "c");
    // The replacement and the new run's creation are one transaction: the
    // cancel comes right before the `created` event of c in the tenant log.
    let log = ledger.tenant_events(&tenant, 0, None).await.unwrap();
    let types: Vec<(String, String)> = log
        .iter()
        .map(|event| (event.run_id.to_string(), event.event_type.clone()))
        .collect();
    let at = types
        .iter()
        .position(|entry| entry == &("b".to_owned(), "cancelled".to_owned()))
        .unwrap();
    assert_eq!(types[at + 1], ("c".to_owned(), "created".to_owned()));
    // An identical repeat of the pending run is answered, not replacing it.
    let repeat = ledger.create_run(&tenant, replacing("c", 1)).await.unwrap();
    assert!(!repeat.created);
    assert_eq!(state(&ledger, "c").await, RunState::Pending);
    // The active run is untouched; ending it promotes the survivor, like enqueue.
    assert_eq!(state(&ledger, "a").await, RunState::Queued);
    ledger
        .cancel(&tenant, &id("a"), Cancel::default())
        .await
        .unwrap();
    assert_eq!(state(&ledger, "c").await, RunState::Queued);
    // The slot is taken again: the next one waits, replacing nobody.
    let next = ledger.create_run(&tenant, replacing("d", 1)).await.unwrap();
    assert_eq!(next.run.state, RunState::Pending);
    assert_eq!(state(&ledger, "c").await, RunState::Queued);
    // A pending run queued by `enqueue` in the same group is replaced too.
    let group =
        ConcurrencyGroup::new(ConcurrencyKey::parse("g").unwrap(), 1, OnFull::Enqueue).unwrap();
    let queued = CreateRun::new(Kind::parse("deploy").unwrap())
        .id(id("e"))
        .concurrency(group);
    ledger.create_run(&tenant, queued).await.unwrap();
    ledger.create_run(&tenant, replacing("f", 1)).await.unwrap();
    assert_eq!(
        (state(&ledger, "d").await, state(&ledger, "e").await),
        (RunState::Cancelled, RunState::Cancelled)
    );
    assert_eq!(state(&ledger, "f").await, RunState::Pending);
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn the_database_refuses_a_second_pending_run_of_a_replace_group(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    for run in ["a", "b"] {
        ledger.create_run(&tenant, replacing(run, 1)).await.unwrap();
    }
    drop(ledger);
    // A second pending replace_pending run, written behind the ledger's back.
    let outcome = std::panic::catch_unwind(|| {
        db.execute_sql(
            "INSERT INTO runs (tenant, id, kind, state, concurrency_key, concurrency_limit, \
             concurrency_on_full, attributes, version, last_seq, created_order, created_at, \
             updated_at) VALUES ('default', 'x', 'deploy', 'pending', 'g', 1, \
             'replace_pending', '{}', 1, 1, 99, 0, 0)",
        )
    });
    assert!(
        outcome.is_err(),
        "runs_one_pending_per_replace_group refuses it"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM runs WHERE state = 'pending'"),
        1
    );
}

/// Racing processes: each creates its own runs in group `g` (limit 1,
/// `replace_pending`), and one also finishes and cancels (group churn), so
/// promotions interleave with replacements.
const RACERS: usize = 6;
const CREATES_PER_RACER: usize = 20;

async fn processes_replacing_pending_runs_keep_one_pending_and_the_limit(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    ledger
        .create_run(&tenant, replacing("holder", 1))
        .await
        .unwrap();
    let mut scripts: Vec<Script> = (0..RACERS)
        .map(|process| Script::Steps {
            steps: (0..CREATES_PER_RACER)
                .map(|n| {
                    let mut spec = CreateSpec::id(&format!("p{process}-{n}"));
                    spec.group = Some(("g".into(), 1, "replace_pending".into()));
                    Step::Create(spec)
                })
                .collect(),
        })
        .collect();
    scripts.push(Script::GroupChurn {
        groups: vec![("g".into(), 1, "replace_pending".into())],
        operations: 60,
        seed: 17,
        prefix: "churn".into(),
    });
    let reports = race(&db, scripts, &[]).await;
    for report in &reports[..RACERS] {
        assert!(report.success);
        assert_eq!(
            report.acks.len(),
            CREATES_PER_RACER,
            "every create succeeds"
        );
    }
    assert!(reports[RACERS].success);

    let log = ledger.tenant_events(&tenant, 0, Some(1_000)).await.unwrap();
    assert!(log.len() < 1_000, "one page holds the whole log");
    // Positions are gap-free.
    for (index, event) in log.iter().enumerate() {
        assert_eq!(event.position, index as u64 + 1);
    }
    // Replay: at every position, at most one pending and one active run.
    let mut states: HashMap<String, &str> = HashMap::new();
    let mut created_at_position: HashMap<String, u64> = HashMap::new();
    for event in &log {
        let run = event.run_id.to_string();
        let next = match event.event_type.as_str() {
            "created" => {
                created_at_position.insert(run.clone(), event.position);
                match event.data["state"].as_str().unwrap() {
                    "pending" => "pending",
                    _ => "active",
                }
            }
            "promoted" | "started" => "active",
            _ => "ended",
        };
        states.insert(run, next);
        let pending = states.values().filter(|state| **state == "pending").count();
        let active = states.values().filter(|state| **state == "active").count();
        assert!(
            pending <= 1,
            "{pending} pending runs at position {}",
            event.position
        );
        assert!(
            active <= 1,
            "{active} active runs at position {}",
            event.position
        );
    }
    // Every replaced run was cancelled naming a newer run of the group.
    let mut replaced = 0;
    for event in log.iter().filter(|event| event.event_type == "cancelled") {
        let Some(by) = event.data["cancelled_by"].as_str() else {
            continue; // cancelled by the churn itself
        };
        replaced += 1;
        let run = ledger.get_run(&tenant, &event.run_id).await.unwrap();
        assert!(run.error.as_deref().unwrap().contains(by), "{run:?}");
        assert!(
            created_at_position[by] > created_at_position[event.run_id.as_str()],
            "{} was replaced by the newer {by}",
            event.run_id
        );
    }
    assert!(replaced > 0, "the race replaced pending runs");
    // A create after the race: the group ends with exactly one pending
    // run, and ending the active run promotes exactly it.
    let mut tail = 0;
    let survivor = loop {
        let run = format!("tail-{tail}");
        let created = ledger
            .create_run(&tenant, replacing(&run, 1))
            .await
            .unwrap();
        if created.run.state == RunState::Pending {
            break run;
        }
        tail += 1;
        assert!(tail < 3, "a full group leaves the next create pending");
    };
    let runs = |ledger: &Ledger| {
        let ledger = ledger.clone();
        async move {
            let filter = runledger::ListRuns {
                limit: Some(1_000),
                ..Default::default()
            };
            ledger
                .list_runs(&Tenant::default(), filter)
                .await
                .unwrap()
                .runs
        }
    };
    let before = runs(&ledger).await;
    let pending: Vec<&RunId> = before
        .iter()
        .filter(|run| run.state == RunState::Pending)
        .map(|run| &run.id)
        .collect();
    assert_eq!(pending, [&id(&survivor)]);
    let active: Vec<&RunId> = before
        .iter()
        .filter(|run| run.state.is_active())
        .map(|run| &run.id)
        .collect();
    assert_eq!(active.len(), 1);
    ledger
        .cancel(&tenant, active[0], Cancel::default())
        .await
        .unwrap();
    let after = runs(&ledger).await;
    let now_active: Vec<&RunId> = after
        .iter()
        .filter(|run| run.state.is_active())
        .map(|run| &run.id)
        .collect();
    assert_eq!(now_active, [&id(&survivor)]);
    assert!(after.iter().all(|run| run.state != RunState::Pending));
    let audit = ledger.audit().await.unwrap();
    assert!(audit.is_clean(), "{audit:#?}");
}
