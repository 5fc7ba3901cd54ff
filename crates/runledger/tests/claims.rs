//! SPEC §4 `POST /v1/runs/claim`, at the library level, on both backends:
//! a claim starts the oldest queued run matching its filters exactly as
//! `start` would; pending and running runs are never claimed; a waiting
//! claim wakes when a matching run is queued or promoted by another ledger;
//! and claimer processes racing over a full queue claim every run exactly
//! once.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{
    ClaimRun, ConcurrencyGroup, ConcurrencyKey, CreateRun, ErrorCode, Finish, Kind, OnFull,
    Outcome, Owner, RunId, RunState, Tenant,
};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::TestDb;
use support::racer::{Script, race};

#[test]
fn racer_child_entry_point() {
    support::racer::child_main()
}

conformance!(
    a_claim_starts_the_oldest_matching_queued_run,
    a_waiting_claim_wakes_when_another_ledger_queues_a_run,
    claimer_processes_racing_over_a_full_queue_claim_each_run_once,
    bad_claims_are_refused,
);

fn create(id: &str, kind: &str) -> CreateRun {
    CreateRun::new(Kind::parse(kind).unwrap()).id(RunId::parse(id).unwrap())
}

fn claim(owner: &str) -> ClaimRun {
    ClaimRun::new(Owner::parse(owner).unwrap(), 60_000)
}

async fn a_claim_starts_the_oldest_matching_queued_run(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let group =
        ConcurrencyGroup::new(ConcurrencyKey::parse("g").unwrap(), 1, OnFull::Enqueue).unwrap();
    for (id, kind) in [("a", "etl"), ("b", "report"), ("c", "etl")] {
        ledger.create_run(&tenant, create(id, kind)).await.unwrap();
    }
    // A running run and a pending run: neither is ever claimed.
    ledger
        .create_run(
            &tenant,
            create("g-active", "etl")
                .concurrency(group.clone())
                .start(Owner::parse("other").unwrap(), 60_000),
        )
        .await
        .unwrap();
    let pending = ledger
        .create_run(&tenant, create("g-pending", "etl").concurrency(group))
        .await
        .unwrap();
    assert_eq!(pending.run.state, RunState::Pending);

    let report = ledger
        .claim(&tenant, claim("w1").kind(Kind::parse("report").unwrap()))
        .await
        .unwrap()
        .expect("the report run is claimed");
    assert_eq!(report.id.as_str(), "b");
    let first = ledger.claim(&tenant, claim("w1")).await.unwrap().unwrap();
    assert_eq!(first.id.as_str(), "a", "oldest first");
    assert_eq!(first.state, RunState::Running);
    let lease = first.lease.as_ref().unwrap();
    assert_eq!((lease.owner.as_str(), lease.epoch), ("w1", 1));
    assert_eq!(first.version, 2);
    let types: Vec<String> = ledger
        .events(&tenant, &first.id, 0, None)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.event_type)
        .collect();
    assert_eq!(types, ["created", "started"]);
    let mut by_group = claim("w2");
    by_group.concurrency_key = Some(ConcurrencyKey::parse("g").unwrap());
    assert_eq!(ledger.claim(&tenant, by_group.clone()).await.unwrap(), None);
    let last = ledger.claim(&tenant, claim("w2")).await.unwrap().unwrap();
    assert_eq!(last.id.as_str(), "c");
    assert_eq!(ledger.claim(&tenant, claim("w2")).await.unwrap(), None);

    // The active run ends: its pending run is promoted, and claimable in its group.
    let active = RunId::parse("g-active").unwrap();
    ledger
        .finish(
            &tenant,
            &active,
            Finish {
                lease_epoch: 1,
                outcome: Outcome::Succeeded,
                result: None,
                error: None,
            },
            None,
        )
        .await
        .unwrap();
    let promoted = ledger.claim(&tenant, by_group).await.unwrap().unwrap();
    assert_eq!(promoted.id.as_str(), "g-pending");
    // Another tenant's queue is its own.
    let other = Tenant::parse("other").unwrap();
    ledger.create_run(&other, create("x", "etl")).await.unwrap();
    assert_eq!(ledger.claim(&tenant, claim("w3")).await.unwrap(), None);
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn a_waiting_claim_wakes_when_another_ledger_queues_a_run(db: TestDb) {
    let waiting = db.open().await;
    let other = db.open().await;
    let tenant = Tenant::default();
    // Nothing queued: the claim waits its whole wait, then answers none.
    let started = Instant::now();
    let none = waiting
        .claim(&tenant, claim("w").wait_ms(300))
        .await
        .unwrap();
    assert_eq!(none, None);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let claimer = {
        let (waiting, tenant) = (waiting.clone(), tenant.clone());
        tokio::spawn(async move {
            let answer = waiting
                .claim(
                    &tenant,
                    claim("w")
                        .kind(Kind::parse("wanted").unwrap())
                        .wait_ms(20_000),
                )
                .await;
            (answer, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A run of another kind does not satisfy it.
    other
        .create_run(&tenant, create("unwanted", "etl"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!claimer.is_finished());
    other
        .create_run(&tenant, create("wanted-1", "wanted"))
        .await
        .unwrap();
    let queued_at = Instant::now();
    let (answer, answered_at) = claimer.await.unwrap();
    assert_eq!(answer.unwrap().unwrap().id.as_str(), "wanted-1");
    let took = answered_at - queued_at;
    assert!(
        took < Duration::from_secs(1),
        "woke {took:?} after the run was queued"
    );
    assert!(waiting.audit().await.unwrap().is_clean());
}

const QUEUED: usize = 200;

async fn claimer_processes_racing_over_a_full_queue_claim_each_run_once(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    for n in 0..QUEUED {
        ledger
            .create_run(&tenant, create(&format!("q{n:03}"), "job"))
            .await
            .unwrap();
    }
    let scripts = (0..4)
        .map(|n| Script::Claimer {
            owner: format!("claimer-{n}"),
            wait_ms: 0,
        })
        .collect();
    let reports = race(&db, scripts, &[]).await;
    let mut all = Vec::new();
    for report in &reports {
        let claimed = report.result.as_ref().unwrap()["claimed"]
            .as_array()
            .unwrap();
        all.extend(claimed.iter().map(|id| id.as_str().unwrap().to_owned()));
    }
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "no run was claimed twice");
    assert_eq!(all.len(), QUEUED, "every queued run was claimed");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM runs WHERE state = 'running' AND lease_epoch = 1"),
        QUEUED as i64
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM events WHERE type = 'started'"),
        QUEUED as i64,
        "one started event per run"
    );
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn bad_claims_are_refused(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    ledger
        .create_run(&tenant, create("a", "etl"))
        .await
        .unwrap();
    let before = db.snapshot();
    let mut too_many = claim("w");
    too_many.kinds = (0..101)
        .map(|n| Kind::parse(&format!("k{n}")).unwrap())
        .collect();
    let refusals = [
        (
            ClaimRun::new(Owner::parse("w").unwrap(), 99),
            "lease_ttl_ms",
        ),
        (claim("w").wait_ms(30_001), "wait_ms"),
        (too_many, "kind"),
    ];
    for (request, field) in refusals {
        let error = ledger.claim(&tenant, request).await.unwrap_err();
        assert_eq!(error.code(), ErrorCode::InvalidRequest, "{error}");
        assert!(error.to_string().contains(field), "{error}");
    }
    assert_eq!(db.snapshot(), before, "refused claims write nothing");
}
