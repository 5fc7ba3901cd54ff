//! Appends answered together (SPEC §1 events, §2.5–2.6 when many appends
//! share one write transaction).
//!
//! Many callers released together append to a few runs at once, so their
//! appends land in shared batches (one transaction on SQLite's writer, one
//! batch transaction on PostgreSQL). Some are refused by the state machine —
//! a stale lease epoch, an `If-Match` that cannot match, an unknown run — and
//! must fail alone, writing nothing. Every accepted append gets its own seq:
//! each run's seqs are consecutive from 2 (after `created`, and `started`
//! for the running run), positions are gap-free, and the audit is clean.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{
    AppendEvent, ConcurrencyGroup, ConcurrencyKey, CreateRun, ErrorCode, EventType, Finish, Kind,
    OnFull, Outcome, Owner, RunId, Segment, StartRun, Tenant,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use support::TestDb;
use tokio::sync::Barrier;

conformance!(
    appends_in_shared_batches_get_consecutive_seqs_and_refusals_fail_alone,
    positions_follow_the_order_of_operations_each_awaited_in_turn,
);
postgres_only!(appends_to_a_parent_and_creates_of_its_children_never_deadlock);

/// Rounds of the parent/children race, and callers of each kind per round.
const ROUNDS: usize = 20;
const RACERS: usize = 20;

/// Callers released together.
const CALLERS: usize = 200;
/// Kinds of request, `caller % SHAPES`.
const SHAPES: usize = 5;

fn id(text: &str) -> RunId {
    RunId::parse(text).unwrap()
}

/// What caller `caller` appends, to which run, and whether it must be accepted.
fn request_of(caller: usize) -> (RunId, AppendEvent, Option<ErrorCode>) {
    let event = AppendEvent::new(
        EventType::parse("progress").unwrap(),
        json!({"caller": caller}),
    );
    match caller % SHAPES {
        // Queued runs: no epoch needed.
        0 => (id("q1"), event, None),
        1 => (id("q2"), event, None),
        // The running run with its lease epoch.
        2 => (
            id("running"),
            AppendEvent {
                lease_epoch: Some(1),
                ..event
            },
            None,
        ),
        // The running run with a stale epoch, or an `If-Match` no version has.
        3 if caller.is_multiple_of(2) => (
            id("running"),
            AppendEvent {
                lease_epoch: Some(7),
                ..event
            },
            Some(ErrorCode::StaleLease),
        ),
        3 => (
            id("q1"),
            AppendEvent {
                if_version: Some(1_000_000),
                ..event
            },
            Some(ErrorCode::VersionConflict),
        ),
        // No such run.
        _ => (id("missing"), event, Some(ErrorCode::NotFound)),
    }
}

async fn appends_in_shared_batches_get_consecutive_seqs_and_refusals_fail_alone(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    for run in ["q1", "q2", "running"] {
        ledger
            .create_run(
                &tenant,
                CreateRun::new(Kind::parse("etl").unwrap()).id(id(run)),
            )
            .await
            .unwrap();
    }
    ledger
        .start(
            &tenant,
            &id("running"),
            StartRun::new(Owner::parse("w").unwrap(), 60_000),
        )
        .await
        .unwrap();

    let barrier = Arc::new(Barrier::new(CALLERS));
    let handles: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let (ledger, barrier, tenant) = (ledger.clone(), barrier.clone(), tenant.clone());
            tokio::spawn(async move {
                let (run, request, refusal) = request_of(caller);
                barrier.wait().await;
                let answer = ledger.append_event(&tenant, &run, request).await;
                (caller, run, refusal, answer)
            })
        })
        .collect();
    let mut seqs: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut positions = Vec::new();
    for handle in handles {
        let (caller, run, refusal, answer) = handle.await.unwrap();
        match (refusal, answer) {
            (None, Ok(appended)) => {
                seqs.entry(run.to_string()).or_default().push(appended.seq);
                positions.push(appended.position);
            }
            (Some(code), Err(error)) => assert_eq!(error.code(), code, "caller {caller}"),
            (expected, answer) => panic!("caller {caller}: expected {expected:?}, got {answer:?}"),
        }
    }

    let per_shape = (CALLERS / SHAPES) as u64;
    for (run, first) in [("q1", 2), ("q2", 2), ("running", 3)] {
        let mut got = seqs.remove(run).unwrap_or_default();
        got.sort_unstable();
        let expected: Vec<u64> = (first..first + per_shape).collect();
        assert_eq!(got, expected, "{run}: one seq per accepted append, no gap");
    }
    // Positions: 4 lifecycle events (3 created, 1 started), then the appends.
    positions.sort_unstable();
    let expected: Vec<u64> = (5..5 + 3 * per_shape).collect();
    assert_eq!(positions, expected, "gap-free positions, one per append");
    let events = ledger.tenant_events(&tenant, 0, Some(1_000)).await.unwrap();
    assert_eq!(
        events.len() as u64,
        4 + 3 * per_shape,
        "refusals wrote nothing"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM events WHERE run_id = 'missing'"),
        0
    );
    assert!(ledger.audit().await.unwrap().is_clean());
}

/// On PostgreSQL an append batch locks its runs and then its tenant's
/// position counter; a create batch takes the counter and then, at the end
/// of its statement, checks each child's parent (`FOR KEY SHARE`). Two
/// ledgers (two pools, as two processes) race appends to a parent against
/// creates of its children: every operation succeeds, and PostgreSQL counts
/// no deadlock (it would break one after `deadlock_timeout` and fail or
/// retry a whole batch).
async fn appends_to_a_parent_and_creates_of_its_children_never_deadlock(db: TestDb) {
    let (appender, creator) = (
        db.open_without_reaper().await,
        db.open_without_reaper().await,
    );
    let tenant = Tenant::default();
    let kind = Kind::parse("etl").unwrap();
    let parent = id("parent");
    appender
        .create_run(&tenant, CreateRun::new(kind.clone()).id(parent.clone()))
        .await
        .unwrap();
    let deadlocks = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()";
    let before = db.count(deadlocks);
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(2 * RACERS));
        let mut handles = Vec::new();
        for racer in 0..RACERS {
            let (ledger, ready, tenant_) = (appender.clone(), barrier.clone(), tenant.clone());
            let parent_ = parent.clone();
            handles.push(tokio::spawn(async move {
                let event = AppendEvent::new(EventType::parse("progress").unwrap(), json!({}));
                ready.wait().await;
                ledger
                    .append_event(&tenant_, &parent_, event)
                    .await
                    .map(drop)
            }));
            let (ledger, ready, tenant_) = (creator.clone(), barrier.clone(), tenant.clone());
            let key = Segment::parse(&format!("k{round}-{racer}")).unwrap();
            let child = CreateRun::new(kind.clone()).child_of(parent.clone(), key);
            handles.push(tokio::spawn(async move {
                ready.wait().await;
                ledger.create_run(&tenant_, child).await.map(drop)
            }));
        }
        for handle in handles {
            handle
                .await
                .unwrap()
                .expect("every append and create succeeds");
        }
    }
    let runs = (ROUNDS * RACERS) as i64;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM runs WHERE parent_id = 'parent'"),
        runs
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM events WHERE run_id = 'parent'"),
        1 + runs,
        "created, then one event per append"
    );
    // The statistics reach pg_stat_database within a second or so.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    assert_eq!(db.count(deadlocks), before, "no deadlock was broken");
    assert!(appender.audit().await.unwrap().is_clean());
}

/// Operations each awaited before the next begins, on several runs and of
/// every kind (creates and appends are batched and, on PostgreSQL, stamp
/// their own events; starts and finishes leave theirs to the sequencer):
/// the tenant's log, in position order, is the events in the order their
/// operations were answered. An event answered earlier never gets a later
/// position, even when the sequencer has not stamped it yet.
async fn positions_follow_the_order_of_operations_each_awaited_in_turn(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    let kind = Kind::parse("etl").unwrap();
    let progress = || AppendEvent::new(EventType::parse("progress").unwrap(), json!({}));
    let mut expected = Vec::new();
    for round in 0..25 {
        let (a, b) = (id(&format!("a{round}")), id(&format!("b{round}")));
        ledger
            .create_run(&tenant, CreateRun::new(kind.clone()).id(a.clone()))
            .await
            .unwrap();
        expected.push((a.clone(), "created"));
        ledger
            .start(
                &tenant,
                &a,
                StartRun::new(Owner::parse("w").unwrap(), 60_000),
            )
            .await
            .unwrap();
        expected.push((a.clone(), "started"));
        let with_epoch = AppendEvent {
            lease_epoch: Some(1),
            ..progress()
        };
        ledger.append_event(&tenant, &a, with_epoch).await.unwrap();
        expected.push((a.clone(), "progress"));
        ledger
            .create_run(&tenant, CreateRun::new(kind.clone()).id(b.clone()))
            .await
            .unwrap();
        expected.push((b.clone(), "created"));
        let finish = Finish {
            lease_epoch: 1,
            outcome: Outcome::Succeeded,
            result: None,
            error: None,
        };
        ledger.finish(&tenant, &a, finish, None).await.unwrap();
        expected.push((a.clone(), "succeeded"));
        // Group creates: batched as well, and stamped by their own
        // statement only when nothing before them waits for a position.
        for grouped in [format!("c{round}"), format!("d{round}")] {
            let group =
                ConcurrencyGroup::new(ConcurrencyKey::parse("g").unwrap(), 1_000, OnFull::Reject)
                    .unwrap();
            let request = CreateRun::new(kind.clone())
                .id(id(&grouped))
                .concurrency(group);
            ledger.create_run(&tenant, request).await.unwrap();
            expected.push((id(&grouped), "created"));
        }
        ledger.append_event(&tenant, &b, progress()).await.unwrap();
        expected.push((b, "progress"));
    }
    let events = ledger.tenant_events(&tenant, 0, Some(1_000)).await.unwrap();
    let got: Vec<(RunId, &str)> = events
        .iter()
        .map(|event| (event.run_id.clone(), event.event_type.as_str()))
        .collect();
    assert_eq!(
        got, expected,
        "the log in the order the operations were answered"
    );
    let positions: Vec<u64> = events.iter().map(|event| event.position).collect();
    assert_eq!(positions, (1..=expected.len() as u64).collect::<Vec<_>>());
    assert!(ledger.audit().await.unwrap().is_clean());
}
