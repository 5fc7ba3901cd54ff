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

mod support;

use runledger::{
    AppendEvent, CreateRun, ErrorCode, EventType, Kind, Owner, RunId, StartRun, Tenant,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use support::TestDb;
use tokio::sync::Barrier;

conformance!(appends_in_shared_batches_get_consecutive_seqs_and_refusals_fail_alone);

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
