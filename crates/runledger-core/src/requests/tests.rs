//! The requests' JSON: absent fields left out, header-borne fields never
//! sent, and what is read back equals what was sent.

use super::*;
use crate::{ConcurrencyKey, EventType, IdempotencyKey, Kind, OnFull, Owner, RunId, Segment};
use serde_json::{Value, json};

fn kind() -> Kind {
    Kind::parse("etl").expect("a kind")
}

fn owner() -> Owner {
    Owner::parse("w1").expect("an owner")
}

#[test]
fn bodies_leave_absent_fields_out() {
    let plain = CreateRun::new(kind());
    assert_eq!(
        serde_json::to_value(&plain).expect("json"),
        json!({"kind": "etl"})
    );
    let mut full = CreateRun::new(kind())
        .child_of(
            RunId::parse("job-1").expect("an id"),
            Segment::parse("acme").expect("a key"),
        )
        .attributes(json!({"a": 1}))
        .start(owner(), 5_000);
    full.concurrency = Some(ConcurrencyRequest {
        key: ConcurrencyKey::parse("g").expect("a key"),
        limit: Some(2),
        on_full: Some(OnFull::CancelActive),
    });
    let sent = serde_json::to_value(&full).expect("json");
    assert_eq!(
        sent,
        json!({"kind": "etl", "parent_id": "job-1", "key": "acme", "attributes": {"a": 1},
            "concurrency": {"key": "g", "limit": 2, "on_full": "cancel_active"},
            "start": {"owner": "w1", "lease_ttl_ms": 5000}})
    );
    assert_eq!(
        serde_json::from_value::<CreateRun>(sent).expect("read back"),
        full
    );
    let append = AppendEvent::new(EventType::parse("progress").expect("a type"), Value::Null);
    assert_eq!(
        serde_json::to_value(&append).expect("json"),
        json!({"type": "progress", "data": null})
    );
    assert_eq!(
        serde_json::to_value(Cancel::default()).expect("json"),
        json!({})
    );
}

#[test]
fn header_borne_fields_are_never_in_the_body() {
    let mut start = StartRun::new(owner(), 1_000);
    start.if_version = Some(3);
    assert_eq!(
        serde_json::to_value(&start).expect("json"),
        json!({"owner": "w1", "lease_ttl_ms": 1000})
    );
    let mut claim = ClaimRun::new(owner(), 1_000).kind(kind()).wait_ms(50);
    claim.idempotency_key = Some(IdempotencyKey::parse("k-1").expect("a key"));
    assert_eq!(
        serde_json::to_value(&claim).expect("json"),
        json!({"owner": "w1", "lease_ttl_ms": 1000, "kind": ["etl"], "wait_ms": 50})
    );
    let mut heartbeat = Heartbeat::new(4);
    heartbeat.if_version = Some(9);
    assert_eq!(
        serde_json::to_value(&heartbeat).expect("json"),
        json!({"lease_epoch": 4})
    );
}

#[test]
fn a_listing_says_desc_only_for_newest_first() {
    let newest = ListRuns {
        newest_first: true,
        limit: Some(1),
        ..ListRuns::default()
    };
    assert_eq!(
        serde_json::to_value(&newest).expect("json"),
        json!({"order": "desc", "limit": 1})
    );
    assert_eq!(
        serde_json::to_value(ListRuns::default()).expect("json"),
        json!({})
    );
    let read: ListRuns = serde_json::from_value(json!({"order": "desc"})).expect("read");
    assert!(read.newest_first);
    assert!(serde_json::from_value::<ListRuns>(json!({"order": "up"})).is_err());
}

#[test]
fn a_malformed_field_or_absent_data_is_refused_on_the_way_in() {
    assert!(serde_json::from_value::<CreateRun>(json!({"kind": "etl", "id": "a b"})).is_err());
    assert!(serde_json::from_value::<AppendEvent>(json!({"type": "progress"})).is_err());
    assert!(
        serde_json::from_value::<AppendEvent>(json!({"type": "created", "data": null})).is_err()
    );
}
