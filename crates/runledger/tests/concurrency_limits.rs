//! SPEC §2.4 "Concurrency limits" and §3 "Concurrency groups".
//!
//! For every concurrency key the number of active (queued + running) runs
//! never exceeds the limit, under any interleaving of creates, starts,
//! finishes, cancels and reaps from any number of processes. `reject`
//! writes nothing and lists the active runs; `enqueue` creates pending runs
//! promoted FIFO in the transaction that frees a slot; `cancel_active`
//! cancels the oldest active runs, naming the new one.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{
    Cancel, ConcurrencyGroup, ConcurrencyKey, CreateRun, Error, ErrorCode, Finish, Kind, Ledger,
    OnFull, Outcome, Owner, RunId, RunState, Tenant,
};
use support::TestDb;
use support::racer::{CreateSpec, Script, Step, race, race_each};

#[test]
fn racer_child_entry_point() {
    support::racer::child_main()
}

conformance!(
    reject_refuses_a_full_group_listing_active_runs_and_writes_nothing,
    enqueue_creates_pending_runs_promoted_fifo_when_a_slot_frees,
    cancel_active_cancels_the_oldest_and_names_the_new_run,
    the_limit_applied_is_the_one_in_the_request,
    processes_churning_groups_never_exceed_the_limit,
    runs_enqueued_by_racing_processes_are_promoted_in_creation_order,
    group_creates_released_together_are_decided_as_if_one_at_a_time,
    a_process_killed_mid_batch_leaves_its_group_within_the_limit,
);

fn id(text: &str) -> RunId {
    RunId::parse(text).unwrap()
}

fn in_group(run: &str, key: &str, limit: u32, on_full: OnFull) -> CreateRun {
    let group = ConcurrencyGroup::new(ConcurrencyKey::parse(key).unwrap(), limit, on_full).unwrap();
    CreateRun::new(Kind::parse("grouped").unwrap())
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

async fn event_types(ledger: &Ledger, run: &str) -> Vec<String> {
    let events = ledger
        .events(&Tenant::default(), &id(run), 0, None)
        .await
        .unwrap();
    events.into_iter().map(|event| event.event_type).collect()
}

async fn reject_refuses_a_full_group_listing_active_runs_and_writes_nothing(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    ledger
        .create_run(&tenant, in_group("a", "g", 2, OnFull::Reject))
        .await
        .unwrap();
    ledger
        .create_run(&tenant, in_group("b", "g", 2, OnFull::Reject))
        .await
        .unwrap();
    let (runs, events) = (
        db.count("SELECT COUNT(*) FROM runs"),
        db.count("SELECT COUNT(*) FROM events"),
    );
    let error = ledger
        .create_run(&tenant, in_group("c", "g", 2, OnFull::Reject))
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::ConcurrencyLimit);
    match error {
        Error::ConcurrencyLimit {
            active_run_ids,
            limit,
            ..
        } => {
            assert_eq!(active_run_ids, vec![id("a"), id("b")]);
            assert_eq!(limit, 2);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        (runs, events),
        (
            db.count("SELECT COUNT(*) FROM runs"),
            db.count("SELECT COUNT(*) FROM events")
        )
    );
    // A slot freed by a cancel admits the next create.
    ledger
        .cancel(&tenant, &id("a"), Cancel::default())
        .await
        .unwrap();
    assert_eq!(
        ledger
            .create_run(&tenant, in_group("c", "g", 2, OnFull::Reject))
            .await
            .unwrap()
            .run
            .state,
        RunState::Queued
    );
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn enqueue_creates_pending_runs_promoted_fifo_when_a_slot_frees(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    let started = in_group("a", "g", 1, OnFull::Enqueue).start(Owner::parse("w").unwrap(), 60_000);
    assert_eq!(
        ledger.create_run(&tenant, started).await.unwrap().run.state,
        RunState::Running
    );
    for run in ["b", "c", "d"] {
        let created = ledger
            .create_run(&tenant, in_group(run, "g", 1, OnFull::Enqueue))
            .await
            .unwrap();
        assert_eq!(created.run.state, RunState::Pending);
    }
    // Finishing a frees its slot for b, in the same transaction.
    let finish = Finish {
        lease_epoch: 1,
        outcome: Outcome::Succeeded,
        result: None,
        error: None,
    };
    ledger
        .finish(&tenant, &id("a"), finish, None)
        .await
        .unwrap();
    assert_eq!(state(&ledger, "b").await, RunState::Queued);
    assert_eq!(event_types(&ledger, "b").await, ["created", "promoted"]);
    assert_eq!(state(&ledger, "c").await, RunState::Pending);
    // Cancelling a pending run frees nothing; cancelling an active one does.
    ledger
        .cancel(&tenant, &id("c"), Cancel::default())
        .await
        .unwrap();
    assert_eq!(state(&ledger, "d").await, RunState::Pending);
    ledger
        .cancel(&tenant, &id("b"), Cancel::default())
        .await
        .unwrap();
    assert_eq!(state(&ledger, "d").await, RunState::Queued);
    // A reaped run frees its slot too.
    ledger
        .start(
            &tenant,
            &id("d"),
            runledger::StartRun::new(Owner::parse("w").unwrap(), 100),
        )
        .await
        .unwrap();
    ledger
        .create_run(&tenant, in_group("e", "g", 1, OnFull::Enqueue))
        .await
        .unwrap();
    db.execute_sql("UPDATE runs SET lease_expires_at = lease_expires_at - 1000000 WHERE id = 'd'");
    assert_eq!(ledger.reap().await.unwrap(), 1);
    assert_eq!(state(&ledger, "d").await, RunState::TimedOut);
    assert_eq!(state(&ledger, "e").await, RunState::Queued);
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn cancel_active_cancels_the_oldest_and_names_the_new_run(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    for run in ["a", "b"] {
        ledger
            .create_run(&tenant, in_group(run, "g", 2, OnFull::CancelActive))
            .await
            .unwrap();
    }
    let created = ledger
        .create_run(&tenant, in_group("c", "g", 2, OnFull::CancelActive))
        .await
        .unwrap();
    assert_eq!(created.run.state, RunState::Queued);
    let cancelled = ledger.get_run(&tenant, &id("a")).await.unwrap();
    assert_eq!(cancelled.state, RunState::Cancelled);
    assert!(
        cancelled.error.as_deref().unwrap().contains("run c"),
        "{:?}",
        cancelled.error
    );
    let events = ledger.events(&tenant, &id("a"), 0, None).await.unwrap();
    assert_eq!(events.last().unwrap().data["cancelled_by"], "c");
    assert_eq!(state(&ledger, "b").await, RunState::Queued);
    // A smaller limit cancels as many as it takes.
    ledger
        .create_run(&tenant, in_group("d", "g", 1, OnFull::CancelActive))
        .await
        .unwrap();
    assert_eq!(
        (state(&ledger, "b").await, state(&ledger, "c").await),
        (RunState::Cancelled, RunState::Cancelled)
    );
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn the_limit_applied_is_the_one_in_the_request(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    ledger
        .create_run(&tenant, in_group("a", "g", 3, OnFull::Reject))
        .await
        .unwrap();
    let refused = ledger
        .create_run(&tenant, in_group("b", "g", 1, OnFull::Reject))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::ConcurrencyLimit);
    ledger
        .create_run(&tenant, in_group("c", "g", 3, OnFull::Reject))
        .await
        .unwrap();
    // Groups are per tenant.
    let other = Tenant::parse("other").unwrap();
    ledger
        .create_run(&other, in_group("b", "g", 1, OnFull::Reject))
        .await
        .unwrap();
    assert!(ledger.audit().await.unwrap().is_clean());
}

const CHURNERS: usize = 8;
const CHURN_OPERATIONS: usize = 150;

async fn processes_churning_groups_never_exceed_the_limit(db: TestDb) {
    db.open_without_reaper().await;
    let groups: Vec<(String, u32, String)> = ["one", "three"]
        .iter()
        .zip([1, 3])
        .flat_map(|(key, limit)| {
            ["reject", "enqueue", "cancel_active"]
                .map(|on_full| (key.to_string(), limit, on_full.to_owned()))
        })
        .collect();
    let mut scripts: Vec<Script> = (0..CHURNERS)
        .map(|process| Script::GroupChurn {
            groups: groups.clone(),
            operations: CHURN_OPERATIONS,
            seed: 7 + process as u64,
            prefix: format!("p{process}"),
        })
        .collect();
    scripts.push(Script::Sampler {
        groups: vec!["one".into(), "three".into()],
        duration_ms: 3_000,
    });
    scripts.push(Script::Reaper {
        duration_ms: 3_000,
        interval_ms: 5,
    });
    let reports = race(&db, scripts, &[]).await;
    let mut outcomes = std::collections::BTreeMap::<String, u64>::new();
    for report in &reports[..CHURNERS] {
        assert!(report.success);
        for (outcome, count) in report.result.as_ref().unwrap().as_object().unwrap() {
            *outcomes.entry(outcome.clone()).or_default() += count.as_u64().unwrap();
        }
    }
    let sampler = reports[CHURNERS].result.as_ref().unwrap();
    let maxima: Vec<u64> = sampler["maxima"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_u64().unwrap())
        .collect();
    assert!(sampler["samples"].as_u64().unwrap() > 0);
    assert!(
        maxima[0] <= 1 && maxima[1] <= 3,
        "sampled active counts {maxima:?} stay within the limits"
    );
    // Every kind of decision happened, so the race covered the policies.
    for outcome in [
        "created_pending",
        "created_queued",
        "created_running",
        "concurrency_limit",
        "cancelled",
        "finished",
    ] {
        assert!(
            outcomes.get(outcome).copied().unwrap_or(0) > 0,
            "no {outcome} in {outcomes:?}"
        );
    }
    let over = db.count(
        "SELECT COUNT(*) FROM (SELECT concurrency_key, COUNT(*) AS active FROM runs \
         WHERE state IN ('queued', 'running') GROUP BY concurrency_key \
         HAVING (concurrency_key = 'one' AND COUNT(*) > 1) OR (concurrency_key = 'three' AND COUNT(*) > 3)) AS over_limit",
    );
    assert_eq!(over, 0);
    let ledger = db.open_without_reaper().await;
    ledger.reap().await.unwrap();
    let audit = ledger.audit().await.unwrap();
    assert!(audit.is_clean(), "{audit:#?}");
}

async fn runs_enqueued_by_racing_processes_are_promoted_in_creation_order(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    ledger
        .create_run(&tenant, in_group("holder", "fifo", 1, OnFull::Enqueue))
        .await
        .unwrap();
    let scripts = (0..4)
        .map(|process| Script::Steps {
            steps: (0..25)
                .map(|n| {
                    let mut spec = CreateSpec::id(&format!("p{process}-{n}"));
                    spec.group = Some(("fifo".into(), 1, "enqueue".into()));
                    Step::Create(spec)
                })
                .collect(),
        })
        .collect();
    for report in race(&db, scripts, &[]).await {
        assert_eq!(report.acks.len(), 25);
    }
    // Creation order is the order of the `created` events in the tenant log.
    let log = ledger.tenant_events(&tenant, 0, Some(1_000)).await.unwrap();
    let created: Vec<RunId> = log
        .iter()
        .filter(|event| event.event_type == "created" && event.run_id.as_str() != "holder")
        .map(|event| event.run_id.clone())
        .collect();
    assert_eq!(created.len(), 100);
    let mut active = id("holder");
    for expected in &created {
        ledger
            .cancel(&tenant, &active, Cancel::default())
            .await
            .unwrap();
        assert_eq!(
            state(&ledger, expected.as_str()).await,
            RunState::Queued,
            "{expected} is next"
        );
        active = expected.clone();
    }
    assert!(ledger.audit().await.unwrap().is_clean());
}

/// Callers released together, so that the backend answers them in batches
/// (on PostgreSQL, one transaction decides a batch of group creates).
const TOGETHER: usize = 120;

/// The request of one caller released together: `caller % 6` picks the
/// group and shape.
fn together_request(caller: usize) -> CreateRun {
    let run = format!("t{caller}");
    match caller % 6 {
        0 => in_group(&run, "one", 1, OnFull::Reject),
        1 => in_group(&run, "three", 3, OnFull::Reject),
        2 => in_group(&run, "queue", 2, OnFull::Enqueue),
        // One id, asked for by every caller of this shape.
        3 => in_group("same", "same", 1, OnFull::Reject),
        // One group asked for with two limits.
        4 => in_group(
            &run,
            "mixed",
            if caller.is_multiple_of(4) { 2 } else { 4 },
            OnFull::Reject,
        ),
        // Children in a group: of a parent that exists, and of one that does not.
        _ => {
            let parent = if caller % 4 == 1 { "parent" } else { "missing" };
            let group = ConcurrencyGroup::new(
                ConcurrencyKey::parse("kids").unwrap(),
                1_000,
                OnFull::Reject,
            );
            CreateRun::new(Kind::parse("grouped").unwrap())
                .child_of(id(parent), runledger::Segment::parse(&run).unwrap())
                .concurrency(group.unwrap())
        }
    }
}

async fn group_creates_released_together_are_decided_as_if_one_at_a_time(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    ledger
        .create_run(
            &tenant,
            CreateRun::new(Kind::parse("p").unwrap()).id(id("parent")),
        )
        .await
        .unwrap();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(TOGETHER));
    let handles: Vec<_> = (0..TOGETHER)
        .map(|caller| {
            let (ledger, barrier, tenant) = (ledger.clone(), barrier.clone(), tenant.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                ledger.create_run(&tenant, together_request(caller)).await
            })
        })
        .collect();
    let mut created = std::collections::HashMap::<usize, Vec<String>>::new();
    let mut same_answers = 0;
    for (caller, handle) in handles.into_iter().enumerate() {
        let shape = caller % 6;
        match (shape, handle.await.unwrap()) {
            (3, Ok(answer)) => {
                assert_eq!(answer.run.id.as_str(), "same");
                same_answers += 1;
                if answer.created {
                    created.entry(shape).or_default().push("same".into());
                }
            }
            (5, Err(Error::ParentNotFound { parent_id })) => {
                assert_eq!(parent_id.as_str(), "missing", "caller {caller}");
            }
            (_, Ok(answer)) => {
                assert!(answer.created, "caller {caller}: a new id");
                created
                    .entry(shape)
                    .or_default()
                    .push(answer.run.id.to_string());
            }
            (
                0 | 1 | 4,
                Err(Error::ConcurrencyLimit {
                    active_run_ids,
                    limit,
                    ..
                }),
            ) => {
                assert!(active_run_ids.len() >= limit as usize, "caller {caller}");
            }
            (_, answer) => panic!("caller {caller} got {answer:?}"),
        }
    }
    let count = |shape| created.get(&shape).map_or(0, Vec::len);
    let per_shape = TOGETHER / 6;
    assert_eq!(count(0), 1, "limit 1: one admitted");
    assert_eq!(count(1), 3, "limit 3: three admitted");
    assert_eq!(count(2), per_shape, "enqueue: every create written");
    assert_eq!(
        (count(3), same_answers),
        (1, per_shape),
        "one run for one id"
    );
    assert!((2..=4).contains(&count(4)), "mixed limits: {}", count(4));
    assert_eq!(
        count(5),
        per_shape / 2,
        "every child of the existing parent"
    );
    let active = |key: &str| {
        db.count(&format!(
            "SELECT COUNT(*) FROM runs WHERE concurrency_key = '{key}' \
             AND state IN ('queued', 'running')"
        ))
    };
    assert_eq!(active("one"), 1);
    assert_eq!(active("three"), 3);
    assert_eq!(active("queue"), 2);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM runs WHERE concurrency_key = 'queue' AND state = 'pending'"),
        per_shape as i64 - 2
    );
    assert_eq!(active("mixed"), count(4) as i64);
    // Nothing written for a refused create: one run and one event per admitted one.
    let runs = 1 + created.values().map(Vec::len).sum::<usize>();
    assert_eq!(db.count("SELECT COUNT(*) FROM runs"), runs as i64);
    assert_eq!(db.count("SELECT COUNT(*) FROM events"), runs as i64);
    let events = ledger.tenant_events(&tenant, 0, Some(1_000)).await.unwrap();
    let positions: Vec<u64> = events.iter().map(|event| event.position).collect();
    assert_eq!(positions, (1..=runs as u64).collect::<Vec<_>>());
    assert!(ledger.audit().await.unwrap().is_clean());
}

/// Four processes fire creates at one group together (each process's
/// creates land in shared batches); one is killed (`abort`) right after its
/// first batch commits, before it answers. Every acknowledged create is
/// there, the group never exceeds its limit, and the audit is clean.
async fn a_process_killed_mid_batch_leaves_its_group_within_the_limit(db: TestDb) {
    const LIMIT: u32 = 50;
    // Migrated before the racers open it.
    db.open_without_reaper().await;
    let scripts = (0..4)
        .map(|process| {
            let script = Script::ConcurrentCreates {
                prefix: format!("p{process}"),
                count: 30,
                group: Some(("busy".into(), LIMIT, "reject".into())),
            };
            let env = match process {
                0 => vec![(
                    "RUNLEDGER_FAILPOINTS".to_owned(),
                    "batch.after_commit=abort@1".to_owned(),
                )],
                _ => Vec::new(),
            };
            (script, env)
        })
        .collect();
    let reports = race_each(&db.url, scripts).await;
    assert!(!reports[0].success, "the first process was killed");
    assert!(reports[1..].iter().all(|report| report.success));
    let ledger = db.open_without_reaper().await;
    let mut acknowledged = 0;
    for ack in reports.iter().flat_map(|report| &report.acks) {
        let step: Step = serde_json::from_value(ack["step"].clone()).unwrap();
        let Step::Create(CreateSpec { id: Some(run), .. }) = step else {
            panic!("only creates: {ack}");
        };
        assert_eq!(state(&ledger, &run).await, RunState::Queued, "{run}");
        acknowledged += 1;
    }
    let active = db.count(
        "SELECT COUNT(*) FROM runs WHERE concurrency_key = 'busy' AND state IN ('queued', 'running')",
    );
    assert!(active <= i64::from(LIMIT), "{active} active");
    assert!(
        active >= acknowledged,
        "{active} active, {acknowledged} acknowledged"
    );
    assert!(ledger.audit().await.unwrap().is_clean());
}
