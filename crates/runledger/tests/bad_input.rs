//! SPEC §2.8 "Bad input is refused, not absorbed", at the library level.
//!
//! Every parser refuses with a message naming the character or rule, and a
//! refused request writes nothing (the database is compared row by row
//! before and after). Ids are never repaired, truncated or replaced.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use proptest::prelude::*;
use runledger::limits::{ATTRIBUTES_BYTES_MAX, ERROR_BYTES_MAX, EVENT_DATA_BYTES_MAX};
use runledger::{
    AppendEvent, Cancel, ConcurrencyGroup, ConcurrencyKey, CreateRun, Error, ErrorCode, EventType,
    Finish, Kind, ListRuns, OnFull, Outcome, Owner, RunId, Segment, StartRun, Tenant,
};
use serde_json::json;
use support::TestDb;

conformance!(refused_requests_write_nothing_and_name_the_rule);

fn detail(error: Error) -> (ErrorCode, String) {
    (error.code(), error.to_string())
}

#[test]
fn hostile_ids_are_refused_by_name_never_repaired() {
    let cases = [
        ("", "must not be empty"),
        ("a\"b", "'\"' (U+0022) at position 2"),
        ("a/b", "'/' (U+002F) at position 2"),
        ("..", "'.' (U+002E) at position 1"),
        ("a\0b", "U+0000 at position 2"),
        ("é", "'é' (U+00E9) at position 1"),
        ("a b", "U+0020 at position 2"),
        ("a:", "segment 2 of 2: segment must not be empty"),
        ("a::b", "segment 2 of 3"),
    ];
    for (text, expected) in cases {
        let (code, message) = detail(RunId::parse(text).unwrap_err());
        assert_eq!(code, ErrorCode::InvalidRunId);
        assert!(message.contains(expected), "{text:?}: {message}");
    }
    let long = "a".repeat(129);
    assert!(
        RunId::parse(&long)
            .unwrap_err()
            .to_string()
            .contains("129 characters long")
    );
    assert!(
        Segment::parse("a:b")
            .unwrap_err()
            .to_string()
            .contains("':'")
    );
    assert!(Kind::parse("a b").unwrap_err().to_string().contains("kind"));
    assert!(
        ConcurrencyKey::parse("")
            .unwrap_err()
            .to_string()
            .contains("concurrency key must not be empty")
    );
    assert!(
        Tenant::parse("ACME")
            .unwrap_err()
            .to_string()
            .contains("tenant")
    );
    assert!(
        Owner::parse("")
            .unwrap_err()
            .to_string()
            .contains("owner must not be empty")
    );
    assert!(
        EventType::parse("created")
            .unwrap_err()
            .to_string()
            .contains("lifecycle")
    );
    let limit =
        ConcurrencyGroup::new(ConcurrencyKey::parse("g").unwrap(), 0, OnFull::Reject).unwrap_err();
    assert!(
        limit
            .to_string()
            .contains("limit 0 is out of range; expected 1 to 10000")
    );
    assert!(
        OnFull::parse("drop")
            .unwrap_err()
            .to_string()
            .contains("reject, enqueue, cancel_active or replace_pending")
    );
}

proptest! {
    #[test]
    fn any_text_either_parses_to_itself_or_is_refused(text in "\\PC{0,40}|[A-Za-z0-9:._-]{0,200}") {
        match RunId::parse(&text) {
            Ok(id) => prop_assert_eq!(id.as_str(), text.as_str()),
            Err(error) => prop_assert_eq!(error.code(), ErrorCode::InvalidRunId),
        }
        if let Ok(kind) = Kind::parse(&text) {
            prop_assert_eq!(kind.as_str(), text.as_str());
        }
        if let Ok(event_type) = EventType::parse(&text) {
            prop_assert_eq!(event_type.as_str(), text.as_str());
        }
    }
}

async fn refused_requests_write_nothing_and_name_the_rule(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let kind = Kind::parse("k").unwrap();
    let run = RunId::parse("r").unwrap();
    ledger
        .create_run(&tenant, CreateRun::new(kind.clone()).id(run.clone()))
        .await
        .unwrap();
    let running = RunId::parse("running").unwrap();
    ledger
        .create_run(
            &tenant,
            CreateRun::new(kind.clone())
                .id(running.clone())
                .start(Owner::parse("w").unwrap(), 60_000),
        )
        .await
        .unwrap();
    let before = db.snapshot();
    let big = "x".repeat(ATTRIBUTES_BYTES_MAX);
    let refused: Vec<(Error, &str)> = vec![
        (
            ledger
                .create_run(&tenant, CreateRun::new(kind.clone()).attributes(json!([1])))
                .await
                .unwrap_err(),
            "must be a JSON object",
        ),
        (
            ledger
                .create_run(
                    &tenant,
                    CreateRun::new(kind.clone()).attributes(json!({"a": big})),
                )
                .await
                .unwrap_err(),
            "at most 65536",
        ),
        (
            ledger
                .create_run(
                    &tenant,
                    CreateRun::new(kind.clone()).start(Owner::parse("w").unwrap(), 99),
                )
                .await
                .unwrap_err(),
            "lease_ttl_ms 99 is out of range",
        ),
        (
            ledger
                .create_run(
                    &tenant,
                    CreateRun::new(kind.clone())
                        .child_of(run.clone(), Segment::parse("k").unwrap())
                        .id(RunId::parse("x").unwrap()),
                )
                .await
                .unwrap_err(),
            "contradicts parent_id and key",
        ),
        (
            ledger
                .start(
                    &tenant,
                    &run,
                    StartRun::new(Owner::parse("w").unwrap(), 86_400_001),
                )
                .await
                .unwrap_err(),
            "out of range",
        ),
        (
            ledger
                .append_event(
                    &tenant,
                    &run,
                    AppendEvent::new(
                        EventType::parse("log").unwrap(),
                        json!("y".repeat(EVENT_DATA_BYTES_MAX)),
                    ),
                )
                .await
                .unwrap_err(),
            "at most 262144",
        ),
        (
            ledger
                .cancel(
                    &tenant,
                    &run,
                    Cancel {
                        reason: Some("z".repeat(ERROR_BYTES_MAX + 1)),
                        if_version: None,
                        cascade: false,
                    },
                )
                .await
                .unwrap_err(),
            "reason is 65537 bytes",
        ),
        (
            ledger
                .finish(
                    &tenant,
                    &running,
                    Finish {
                        lease_epoch: 1,
                        outcome: Outcome::Failed,
                        result: None,
                        error: Some("e".repeat(ERROR_BYTES_MAX + 1)),
                    },
                    None,
                )
                .await
                .unwrap_err(),
            "error is 65537 bytes",
        ),
        // SPEC §4 "Limits": no string may hold U+0000, on every backend
        // alike (PostgreSQL cannot store it; it used to answer 500 there).
        (
            ledger
                .cancel(
                    &tenant,
                    &run,
                    Cancel {
                        reason: Some("stop\0now".into()),
                        if_version: None,
                        cascade: false,
                    },
                )
                .await
                .unwrap_err(),
            "reason contains U+0000",
        ),
        (
            ledger
                .finish(
                    &tenant,
                    &running,
                    Finish {
                        lease_epoch: 1,
                        outcome: Outcome::Failed,
                        result: None,
                        error: Some("boom\0".into()),
                    },
                    None,
                )
                .await
                .unwrap_err(),
            "error contains U+0000",
        ),
        (
            ledger
                .finish(
                    &tenant,
                    &running,
                    Finish {
                        lease_epoch: 1,
                        outcome: Outcome::Succeeded,
                        result: Some(json!({"rows": ["a", "b\u{0}"]})),
                        error: None,
                    },
                    None,
                )
                .await
                .unwrap_err(),
            "U+0000 (NUL) at /rows/1",
        ),
        (
            ledger
                .append_event(
                    &tenant,
                    &running,
                    AppendEvent {
                        lease_epoch: Some(1),
                        ..AppendEvent::new(
                            EventType::parse("log").unwrap(),
                            json!({"line": "\u{0}"}),
                        )
                    },
                )
                .await
                .unwrap_err(),
            "data holds a string with U+0000",
        ),
        (
            ledger
                .create_run(
                    &tenant,
                    CreateRun::new(kind.clone()).attributes(json!({"k\u{0}ey": 1})),
                )
                .await
                .unwrap_err(),
            "attributes holds a string with U+0000",
        ),
        (
            ledger
                .list_runs(
                    &tenant,
                    ListRuns {
                        limit: Some(0),
                        ..ListRuns::default()
                    },
                )
                .await
                .unwrap_err(),
            "limit 0 is out of range",
        ),
        (
            ledger
                .list_runs(
                    &tenant,
                    ListRuns {
                        limit: Some(1_001),
                        ..ListRuns::default()
                    },
                )
                .await
                .unwrap_err(),
            "expected 1 to 1000",
        ),
        (
            ledger
                .list_runs(
                    &tenant,
                    ListRuns {
                        cursor: Some("abc".into()),
                        ..ListRuns::default()
                    },
                )
                .await
                .unwrap_err(),
            "cursor",
        ),
        (
            ledger
                .events(&tenant, &run, 0, Some(5_000))
                .await
                .unwrap_err(),
            "limit 5000",
        ),
    ];
    for (error, expected) in refused {
        assert!(
            matches!(
                error.code(),
                ErrorCode::InvalidRequest | ErrorCode::InvalidRunId
            ),
            "{error}"
        );
        assert!(
            error.to_string().contains(expected),
            "{error} should say {expected}"
        );
    }
    assert_eq!(db.snapshot(), before, "refused requests wrote nothing");
}
