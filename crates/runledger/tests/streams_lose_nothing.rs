//! SPEC §1 "Event" and §2.7 "Streams lose nothing", at the library level.
//!
//! `seq` is per run, from 1, without gaps; `position` is per tenant, from 1,
//! without gaps, in commit order: a reader that has seen position p and
//! reads "after p" later never misses an event. Proven by a reader process
//! polling the tenant log while writer processes append.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{AppendEvent, CreateRun, EventType, Kind, RunId, Tenant};
use serde_json::json;
use std::collections::BTreeMap;
use support::TestDb;
use support::racer::{Script, race};

#[test]
fn racer_child_entry_point() {
    support::racer::child_main()
}

conformance!(
    a_reader_polling_after_its_position_sees_every_event_once_in_order,
    reading_after_a_seq_resumes_exactly_there,
    each_tenant_has_its_own_gap_free_positions,
);

const RUNS: usize = 20;
const WRITERS: usize = 4;
const EVENTS_PER_WRITER: usize = 250;

async fn a_reader_polling_after_its_position_sees_every_event_once_in_order(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    let run_ids: Vec<String> = (0..RUNS).map(|n| format!("run-{n}")).collect();
    for id in &run_ids {
        let request =
            CreateRun::new(Kind::parse("streamed").unwrap()).id(RunId::parse(id).unwrap());
        ledger.create_run(&tenant, request).await.unwrap();
    }
    let total = (RUNS + WRITERS * EVENTS_PER_WRITER) as u64;
    let mut scripts: Vec<Script> = (0..WRITERS)
        .map(|writer| {
            let mut ids = run_ids.clone();
            ids.rotate_left(writer * 5);
            Script::Appender {
                run_ids: ids,
                count: EVENTS_PER_WRITER,
            }
        })
        .collect();
    scripts.push(Script::TenantReader {
        until_position: total,
        deadline_ms: 60_000,
    });
    scripts.push(Script::TenantReader {
        until_position: total,
        deadline_ms: 60_000,
    });
    let reports = race(&db, scripts, &[]).await;
    let final_log: Vec<(String, u64, u64)> = ledger
        .tenant_events(&tenant, 0, Some(1_000))
        .await
        .unwrap()
        .into_iter()
        .chain(
            ledger
                .tenant_events(&tenant, 1_000, Some(1_000))
                .await
                .unwrap(),
        )
        .map(|event| (event.run_id.to_string(), event.seq, event.position))
        .collect();
    assert_eq!(final_log.len() as u64, total);
    for (index, (_, _, position)) in final_log.iter().enumerate() {
        assert_eq!(*position, index as u64 + 1, "positions are 1..=n");
    }
    let mut next_seq = BTreeMap::<&str, u64>::new();
    for (run_id, seq, _) in &final_log {
        let expected = next_seq.entry(run_id).or_insert(1);
        assert_eq!(
            *seq, *expected,
            "{run_id}: seqs are 1..=n in position order"
        );
        *expected += 1;
    }
    for reader in &reports[WRITERS..] {
        let seen: Vec<(String, u64, u64)> =
            serde_json::from_value(reader.result.as_ref().unwrap()["seen"].clone()).unwrap();
        assert_eq!(
            seen, final_log,
            "the polling reader saw exactly the final log"
        );
    }
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn reading_after_a_seq_resumes_exactly_there(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let id = RunId::parse("r").unwrap();
    ledger
        .create_run(
            &tenant,
            CreateRun::new(Kind::parse("k").unwrap()).id(id.clone()),
        )
        .await
        .unwrap();
    for n in 0..10 {
        let event = AppendEvent::new(EventType::parse("progress").unwrap(), json!({"n": n}));
        let appended = ledger.append_event(&tenant, &id, event).await.unwrap();
        assert_eq!(appended.seq, n + 2);
    }
    let page = ledger.events(&tenant, &id, 4, Some(3)).await.unwrap();
    assert_eq!(
        page.iter().map(|event| event.seq).collect::<Vec<_>>(),
        [5, 6, 7]
    );
    assert_eq!(page[0].data, json!({"n": 3}));
    assert!(
        ledger
            .events(&tenant, &id, 11, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(ledger.get_run(&tenant, &id).await.unwrap().last_seq, 11);
    let missing = ledger
        .events(&tenant, &RunId::parse("nope").unwrap(), 0, None)
        .await
        .unwrap_err();
    assert_eq!(missing.code(), runledger::ErrorCode::NotFound);
}

async fn each_tenant_has_its_own_gap_free_positions(db: TestDb) {
    let ledger = db.open().await;
    let (acme, globex) = (
        Tenant::parse("acme").unwrap(),
        Tenant::parse("globex").unwrap(),
    );
    for n in 0..5 {
        for tenant in [&acme, &globex] {
            let request = CreateRun::new(Kind::parse("k").unwrap())
                .id(RunId::parse(&format!("r{n}")).unwrap());
            ledger.create_run(tenant, request).await.unwrap();
        }
    }
    for tenant in [&acme, &globex] {
        let positions: Vec<u64> = ledger
            .tenant_events(tenant, 0, None)
            .await
            .unwrap()
            .iter()
            .map(|e| e.position)
            .collect();
        assert_eq!(positions, [1, 2, 3, 4, 5]);
    }
    assert!(
        ledger
            .tenant_events(&Tenant::default(), 0, None)
            .await
            .unwrap()
            .is_empty()
    );
}
