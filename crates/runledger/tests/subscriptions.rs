//! SPEC §2.7 "Streams lose nothing", live: a subscription resuming from a
//! position (tenant) or seq (run) receives every later event exactly once,
//! in order — while writer processes race, and when it reads too slowly and
//! overflows its buffer (it then catches up from the database).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{
    AppendEvent, CreateRun, ErrorCode, EventType, Kind, RunId, SUBSCRIBER_BUFFER_EVENTS_MAX,
    Subscription, Tenant,
};
use serde_json::json;
use std::time::Duration;
use support::TestDb;
use support::racer::{Script, race};

#[test]
fn racer_child_entry_point() {
    support::racer::child_main()
}

conformance!(
    a_subscriber_gets_every_event_once_in_order_while_processes_write,
    a_slow_subscriber_catches_up_from_the_database,
    a_run_subscription_follows_one_run_by_seq,
);

async fn next(subscription: &mut Subscription) -> runledger::Event {
    tokio::time::timeout(Duration::from_secs(30), subscription.next())
        .await
        .expect("the next event arrives")
        .expect("the subscription works")
}

async fn create_runs(db: &TestDb, count: usize) -> Vec<String> {
    let ledger = db.open_without_reaper().await;
    let ids: Vec<String> = (0..count).map(|n| format!("run-{n}")).collect();
    for id in &ids {
        let request =
            CreateRun::new(Kind::parse("streamed").unwrap()).id(RunId::parse(id).unwrap());
        ledger
            .create_run(&Tenant::default(), request)
            .await
            .unwrap();
    }
    ids
}

async fn a_subscriber_gets_every_event_once_in_order_while_processes_write(db: TestDb) {
    let ids = create_runs(&db, 10).await;
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    // Resume after position 4: the first delivery is position 5.
    let mut subscription = ledger.subscribe(&tenant, 4).await.unwrap();
    let scripts = (0..4)
        .map(|_| Script::Appender {
            run_ids: ids.clone(),
            count: 250,
        })
        .collect();
    let writers = race(&db, scripts, &[]);
    let reader = async {
        let mut seen = Vec::new();
        while seen.len() < 10 + 1_000 - 4 {
            seen.push(next(&mut subscription).await);
        }
        seen
    };
    let (reports, seen) = tokio::join!(writers, reader);
    assert!(reports.iter().all(|report| report.success));
    let positions: Vec<u64> = seen.iter().map(|event| event.position).collect();
    assert_eq!(
        positions,
        (5..=1_010).collect::<Vec<u64>>(),
        "every event once, in order"
    );
    let log = [
        ledger.tenant_events(&tenant, 4, Some(1_000)).await.unwrap(),
        ledger
            .tenant_events(&tenant, 1_004, Some(1_000))
            .await
            .unwrap(),
    ]
    .concat();
    assert_eq!(seen, log);
    assert_eq!(subscription.last_delivered(), 1_010);
}

async fn a_slow_subscriber_catches_up_from_the_database(db: TestDb) {
    let ids = create_runs(&db, 1).await;
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    let mut subscription = ledger.subscribe(&tenant, 0).await.unwrap();
    let first = next(&mut subscription).await;
    assert_eq!((first.position, first.event_type.as_str()), (1, "created"));
    // Fall far behind: more events than the buffer holds, none read.
    let total = SUBSCRIBER_BUFFER_EVENTS_MAX * 2;
    let run = RunId::parse(&ids[0]).unwrap();
    for n in 0..total {
        let event = AppendEvent::new(EventType::parse("tick").unwrap(), json!(n));
        ledger.append_event(&tenant, &run, event).await.unwrap();
    }
    for expected in 2..=(total as u64 + 1) {
        let event = next(&mut subscription).await;
        assert_eq!(event.position, expected);
        assert_eq!(event.seq, expected);
    }
}

async fn a_run_subscription_follows_one_run_by_seq(db: TestDb) {
    create_runs(&db, 2).await;
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    let (mine, other) = (
        RunId::parse("run-0").unwrap(),
        RunId::parse("run-1").unwrap(),
    );
    let mut subscription = ledger.subscribe_run(&tenant, &mine, 1).await.unwrap();
    for n in 0..20 {
        for id in [&other, &mine] {
            let event = AppendEvent::new(EventType::parse("tick").unwrap(), json!(n));
            ledger.append_event(&tenant, id, event).await.unwrap();
        }
    }
    for seq in 2..=21 {
        let event = next(&mut subscription).await;
        assert_eq!((event.run_id.as_str(), event.seq), ("run-0", seq));
    }
    let missing = ledger
        .subscribe_run(&tenant, &RunId::parse("nope").unwrap(), 0)
        .await
        .err()
        .unwrap();
    assert_eq!(missing.code(), ErrorCode::NotFound);
    // Another tenant's run is just as missing.
    let elsewhere = ledger
        .subscribe_run(&Tenant::parse("acme").unwrap(), &mine, 0)
        .await
        .err()
        .unwrap();
    assert_eq!(elsewhere.code(), ErrorCode::NotFound);
}
