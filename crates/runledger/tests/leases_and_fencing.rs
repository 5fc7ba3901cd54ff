//! SPEC §2.5 "Leases and fencing".
//!
//! A running run holds a lease `{owner, epoch, expires_at}`; every
//! heartbeat, append and finish carries the epoch and a stale one is
//! refused with `stale_lease`, changing nothing. An expired lease is moved
//! to `timed_out` by any process's reaper, each expiry exactly once; a
//! worker that wakes up after the reap can never overwrite the outcome.
//! Leases are expired by moving `expires_at` back in SQL, not by sleeping.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{
    AppendEvent, CreateRun, ErrorCode, EventType, Finish, Heartbeat, Kind, Ledger, Outcome, Owner,
    RunId, RunState, Tenant,
};
use serde_json::json;
use std::time::Duration;
use support::racer::{Script, Step, race};
use support::{TestDb, eventually};

#[test]
fn racer_child_entry_point() {
    support::racer::child_main()
}

conformance!(
    a_stale_epoch_is_refused_and_changes_nothing,
    heartbeat_extends_the_lease_under_the_current_epoch,
    a_late_worker_after_the_reap_cannot_overwrite_the_outcome,
    the_background_reaper_times_out_an_expired_run,
    racing_reaper_processes_reap_each_expiry_once,
    finishes_after_expiry_are_refused_and_each_expiry_is_reaped_once,
    calls_after_expiry_are_refused_and_time_the_run_out_without_a_reaper,
    heartbeat_or_finish_of_a_run_that_never_started_is_an_invalid_transition,
);

async fn running(ledger: &Ledger, id: &str, lease_ttl_ms: u64) -> RunId {
    let id = RunId::parse(id).unwrap();
    let request = CreateRun::new(Kind::parse("leased").unwrap())
        .id(id.clone())
        .start(Owner::parse("worker-1").unwrap(), lease_ttl_ms);
    let created = ledger
        .create_run(&Tenant::default(), request)
        .await
        .unwrap();
    assert_eq!(created.run.lease.as_ref().unwrap().epoch, 1);
    id
}

fn finish(lease_epoch: u64) -> Finish {
    Finish {
        lease_epoch,
        outcome: Outcome::Succeeded,
        result: Some(json!({"ok": true})),
        error: None,
    }
}

fn expire_all(db: &TestDb) {
    db.execute_sql(
        "UPDATE runs SET lease_expires_at = lease_expires_at - 100000000 WHERE state = 'running'",
    );
}

async fn a_stale_epoch_is_refused_and_changes_nothing(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let id = running(&ledger, "r", 60_000).await;
    let before = ledger.get_run(&tenant, &id).await.unwrap();
    let stale = ledger
        .heartbeat(&tenant, &id, Heartbeat::new(2))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), ErrorCode::StaleLease);
    assert!(
        stale
            .to_string()
            .contains("lease epoch 2 is not the current epoch 1"),
        "{stale}"
    );
    assert_eq!(
        ledger
            .finish(&tenant, &id, finish(0), None)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::StaleLease
    );
    let mut append = AppendEvent::new(EventType::parse("log").unwrap(), json!("x"));
    append.lease_epoch = Some(3);
    assert_eq!(
        ledger
            .append_event(&tenant, &id, append.clone())
            .await
            .unwrap_err()
            .code(),
        ErrorCode::StaleLease
    );
    append.lease_epoch = None;
    assert_eq!(
        ledger
            .append_event(&tenant, &id, append)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::StaleLease
    );
    assert_eq!(ledger.get_run(&tenant, &id).await.unwrap(), before);
    assert_eq!(db.count("SELECT COUNT(*) FROM events"), 2);
}

async fn heartbeat_extends_the_lease_under_the_current_epoch(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let id = running(&ledger, "r", 1_000).await;
    let before = ledger.get_run(&tenant, &id).await.unwrap();
    let mut heartbeat = Heartbeat::new(1);
    heartbeat.lease_ttl_ms = Some(600_000);
    let after = ledger.heartbeat(&tenant, &id, heartbeat).await.unwrap();
    assert_eq!(after.version, before.version + 1);
    let (old, new) = (before.lease.unwrap(), after.lease.clone().unwrap());
    assert!(new.expires_at.unix_ms() >= old.expires_at.unix_ms() + 599_000);
    assert_eq!((new.epoch, new.owner), (1, old.owner));
    // Without a length the previous one is reused.
    let again = ledger
        .heartbeat(&tenant, &id, Heartbeat::new(1))
        .await
        .unwrap();
    assert!(again.lease.unwrap().expires_at >= new.expires_at);
    // A heartbeat writes no event.
    assert_eq!(db.count("SELECT COUNT(*) FROM events"), 2);
    // A queued run has no lease to beat.
    let queued = ledger
        .create_run(&tenant, CreateRun::new(Kind::parse("k").unwrap()))
        .await
        .unwrap();
    let refused = ledger
        .heartbeat(&tenant, &queued.run.id, Heartbeat::new(1))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::InvalidTransition);
}

async fn a_late_worker_after_the_reap_cannot_overwrite_the_outcome(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    let id = running(&ledger, "r", 60_000).await;
    expire_all(&db);
    assert_eq!(ledger.reap().await.unwrap(), 1);
    assert_eq!(ledger.reap().await.unwrap(), 0, "an expiry is reaped once");
    let reaped = ledger.get_run(&tenant, &id).await.unwrap();
    assert_eq!(
        (reaped.state, reaped.lease.is_none()),
        (RunState::TimedOut, true)
    );
    let late_finish = ledger
        .finish(&tenant, &id, finish(1), None)
        .await
        .unwrap_err();
    assert_eq!(late_finish.code(), ErrorCode::StaleLease);
    assert!(
        late_finish
            .to_string()
            .contains("no longer running (it is timed_out)")
    );
    assert_eq!(
        ledger
            .heartbeat(&tenant, &id, Heartbeat::new(1))
            .await
            .unwrap_err()
            .code(),
        ErrorCode::StaleLease
    );
    let mut append = AppendEvent::new(EventType::parse("log").unwrap(), json!("late"));
    append.lease_epoch = Some(1);
    assert_eq!(
        ledger
            .append_event(&tenant, &id, append)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::StaleLease
    );
    assert_eq!(ledger.get_run(&tenant, &id).await.unwrap(), reaped);
    let types: Vec<String> = ledger
        .events(&tenant, &id, 0, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(types, ["created", "started", "timed_out"]);
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn the_background_reaper_times_out_an_expired_run(db: TestDb) {
    let ledger = db.open().await; // reaper every 500 ms
    let tenant = Tenant::default();
    let id = running(&ledger, "r", 100).await;
    let state = eventually(Duration::from_secs(5), || async {
        let run = ledger.get_run(&tenant, &id).await.unwrap();
        (run.state != RunState::Running).then_some(run.state)
    })
    .await;
    assert_eq!(state, RunState::TimedOut);
}

const LEASED_RUNS: usize = 200;

async fn racing_reaper_processes_reap_each_expiry_once(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    for n in 0..LEASED_RUNS {
        running(&ledger, &format!("r{n}"), 60_000).await;
    }
    expire_all(&db);
    let scripts = (0..4)
        .map(|_| Script::Reaper {
            duration_ms: 1_500,
            interval_ms: 1,
        })
        .collect();
    let reports = race(&db, scripts, &[]).await;
    let reaped: u64 = reports
        .iter()
        .map(|report| report.result.as_ref().unwrap()["reaped"].as_u64().unwrap())
        .sum();
    assert_eq!(
        reaped, LEASED_RUNS as u64,
        "the reapers together reaped each expiry once"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM events WHERE type = 'timed_out'"),
        LEASED_RUNS as i64
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM runs WHERE state = 'timed_out'"),
        LEASED_RUNS as i64
    );
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn finishes_after_expiry_are_refused_and_each_expiry_is_reaped_once(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let ids: Vec<String> = (0..LEASED_RUNS).map(|n| format!("r{n}")).collect();
    for id in &ids {
        running(&ledger, id, 60_000).await;
    }
    // Every lease has expired: the first reap and the first finishes race.
    expire_all(&db);
    let finisher = |reverse: bool| {
        let mut order = ids.clone();
        if reverse {
            order.reverse();
        }
        Script::Steps {
            steps: order
                .into_iter()
                .map(|id| Step::Finish {
                    id,
                    lease_epoch: 1,
                    outcome: "succeeded".into(),
                })
                .collect(),
        }
    };
    let scripts = vec![
        finisher(false),
        finisher(true),
        Script::Reaper {
            duration_ms: 1_000,
            interval_ms: 1,
        },
        Script::Reaper {
            duration_ms: 1_000,
            interval_ms: 1,
        },
    ];
    let reports = race(&db, scripts, &[]).await;
    // SPEC §2.5: expiry is decided by the clock. Every finish comes after
    // `expires_at`, so every one is refused, and each run is timed out
    // exactly once, by a reaper or by the refused finish that met it first.
    let tenant = Tenant::default();
    for (index, id) in ids.iter().enumerate() {
        let answers = [
            &reports[0].result.as_ref().unwrap()[index],
            &reports[1].result.as_ref().unwrap()[LEASED_RUNS - 1 - index],
        ];
        assert!(
            answers.iter().all(|answer| answer["code"] == "stale_lease"),
            "{id}: a finish after expiry is stale: {answers:?}"
        );
        let run = ledger
            .get_run(&tenant, &RunId::parse(id).unwrap())
            .await
            .unwrap();
        assert_eq!(run.state, RunState::TimedOut, "{id}");
        let terminal = db.count(&format!(
            "SELECT COUNT(*) FROM events WHERE run_id = '{id}' AND type IN ('succeeded', 'failed', 'timed_out')"
        ));
        assert_eq!(terminal, 1, "{id} has exactly one outcome");
    }
    let reaped: u64 = reports[2..]
        .iter()
        .map(|report| report.result.as_ref().unwrap()["reaped"].as_u64().unwrap())
        .sum();
    assert!(reaped as usize <= LEASED_RUNS, "{reaped} reaped");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM events WHERE type = 'timed_out'"),
        LEASED_RUNS as i64
    );
    eprintln!("the reapers timed out {reaped}, refused finishes the rest");
    assert!(ledger.audit().await.unwrap().is_clean());
}

/// SPEC §2.5 as amended: expiry is decided by the clock, not by when the
/// reaper runs. No reaper runs here; each fenced call after `expires_at` is
/// refused `stale_lease` and finds the run already timed out when it is
/// answered, with the reaper's own `error` (SPEC §2.9).
async fn calls_after_expiry_are_refused_and_time_the_run_out_without_a_reaper(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    let ids = [
        running(&ledger, "heartbeat", 60_000).await,
        running(&ledger, "append", 60_000).await,
        running(&ledger, "finish", 60_000).await,
    ];
    expire_all(&db);
    let mut append = AppendEvent::new(EventType::parse("log").unwrap(), json!("late"));
    append.lease_epoch = Some(1);
    let refusals = [
        ledger
            .heartbeat(&tenant, &ids[0], Heartbeat::new(1))
            .await
            .unwrap_err(),
        ledger
            .append_event(&tenant, &ids[1], append)
            .await
            .unwrap_err(),
        ledger
            .finish(&tenant, &ids[2], finish(1), None)
            .await
            .unwrap_err(),
    ];
    for (id, refusal) in ids.iter().zip(refusals) {
        assert_eq!(refusal.code(), ErrorCode::StaleLease, "{id}: {refusal}");
        let run = ledger.get_run(&tenant, id).await.unwrap();
        assert_eq!(run.state, RunState::TimedOut, "{id} is timed out at once");
        let error = run.error.unwrap();
        assert!(
            error.starts_with("lease of worker-1 (epoch 1) expired at 20"),
            "{id}: {error}"
        );
        let types: Vec<String> = ledger
            .events(&tenant, id, 0, None)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect();
        assert_eq!(types, ["created", "started", "timed_out"], "{id}");
    }
    assert!(ledger.audit().await.unwrap().is_clean());
}

/// SPEC §2.9: a heartbeat or finish of a run that never started (queued,
/// pending, or cancelled before it started) is `invalid_transition`.
async fn heartbeat_or_finish_of_a_run_that_never_started_is_an_invalid_transition(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let id = RunId::parse("never-started").unwrap();
    ledger
        .create_run(
            &tenant,
            CreateRun::new(Kind::parse("k").unwrap()).id(id.clone()),
        )
        .await
        .unwrap();
    ledger
        .cancel(&tenant, &id, runledger::Cancel::default())
        .await
        .unwrap();
    let before = db.snapshot();
    let heartbeat = ledger
        .heartbeat(&tenant, &id, Heartbeat::new(0))
        .await
        .unwrap_err();
    let finished = ledger
        .finish(&tenant, &id, finish(0), None)
        .await
        .unwrap_err();
    assert_eq!(
        heartbeat.code(),
        ErrorCode::InvalidTransition,
        "{heartbeat}"
    );
    assert_eq!(finished.code(), ErrorCode::InvalidTransition, "{finished}");
    assert_eq!(db.snapshot(), before, "refusals write nothing");
}
