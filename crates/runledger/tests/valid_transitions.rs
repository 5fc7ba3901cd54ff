//! SPEC §2.6 "Valid transitions only", through the ledger (the core's table
//! test covers every state × operation in pure code).
//!
//! Invalid transitions answer `invalid_transition` or `stale_lease` as the
//! SPEC assigns them and change nothing; a repeat of the transition that
//! already happened answers the run unchanged; `If-Match` (`if_version`)
//! refuses a change of any other version.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{
    AppendEvent, Cancel, CreateRun, ErrorCode, EventType, Finish, Heartbeat, Kind, Outcome, Owner,
    RunId, RunState, StartRun, Tenant,
};
use serde_json::json;
use support::TestDb;

conformance!(
    create_with_start_is_one_change_with_two_events,
    repeats_of_finish_cancel_and_start_answer_the_run_unchanged,
    invalid_transitions_are_refused_and_change_nothing,
    if_match_refuses_another_version_and_changes_nothing,
);

fn id(text: &str) -> RunId {
    RunId::parse(text).unwrap()
}

fn owner(text: &str) -> Owner {
    Owner::parse(text).unwrap()
}

async fn create_with_start_is_one_change_with_two_events(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let request = CreateRun::new(Kind::parse("k").unwrap())
        .id(id("r"))
        .start(owner("w"), 60_000);
    let created = ledger.create_run(&tenant, request).await.unwrap();
    assert_eq!(
        (created.run.state, created.run.version, created.run.last_seq),
        (RunState::Running, 1, 2)
    );
    assert!(created.run.started_at.is_some());
    let types: Vec<String> = ledger
        .events(&tenant, &id("r"), 0, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(types, ["created", "started"]);
}

async fn repeats_of_finish_cancel_and_start_answer_the_run_unchanged(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    ledger
        .create_run(
            &tenant,
            CreateRun::new(Kind::parse("k").unwrap()).id(id("a")),
        )
        .await
        .unwrap();
    let started = ledger
        .start(&tenant, &id("a"), StartRun::new(owner("w"), 60_000))
        .await
        .unwrap();
    let again = ledger
        .start(&tenant, &id("a"), StartRun::new(owner("w"), 60_000))
        .await
        .unwrap();
    assert_eq!(
        again, started,
        "the same owner's repeat start changes nothing"
    );
    let other = ledger
        .start(&tenant, &id("a"), StartRun::new(owner("w2"), 60_000))
        .await
        .unwrap_err();
    assert_eq!(other.code(), ErrorCode::InvalidTransition);
    let finish = Finish {
        lease_epoch: 1,
        outcome: Outcome::Failed,
        result: None,
        error: Some("boom".into()),
    };
    let finished = ledger
        .finish(&tenant, &id("a"), finish.clone(), None)
        .await
        .unwrap();
    assert_eq!(
        ledger
            .finish(&tenant, &id("a"), finish, None)
            .await
            .unwrap(),
        finished
    );
    ledger
        .create_run(
            &tenant,
            CreateRun::new(Kind::parse("k").unwrap()).id(id("b")),
        )
        .await
        .unwrap();
    let reason = |text: &str| Cancel {
        reason: Some(text.into()),
        if_version: None,
        cascade: false,
    };
    let cancelled = ledger
        .cancel(&tenant, &id("b"), reason("first"))
        .await
        .unwrap();
    assert_eq!(cancelled.error.as_deref(), Some("first"));
    assert_eq!(
        ledger
            .cancel(&tenant, &id("b"), reason("second"))
            .await
            .unwrap(),
        cancelled
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM events"),
        5,
        "created, started, failed, created, cancelled"
    );
}

async fn invalid_transitions_are_refused_and_change_nothing(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    ledger
        .create_run(
            &tenant,
            CreateRun::new(Kind::parse("k").unwrap()).id(id("q")),
        )
        .await
        .unwrap();
    let finish = Finish {
        lease_epoch: 1,
        outcome: Outcome::Succeeded,
        result: None,
        error: None,
    };
    let before = db.snapshot();
    let refusals = [
        ledger
            .finish(&tenant, &id("q"), finish.clone(), None)
            .await
            .unwrap_err(),
        ledger
            .heartbeat(&tenant, &id("q"), Heartbeat::new(1))
            .await
            .unwrap_err(),
    ];
    for refusal in refusals {
        assert_eq!(refusal.code(), ErrorCode::InvalidTransition, "{refusal}");
        assert!(refusal.to_string().contains("it is queued"), "{refusal}");
    }
    ledger
        .start(&tenant, &id("q"), StartRun::new(owner("w"), 60_000))
        .await
        .unwrap();
    ledger
        .finish(&tenant, &id("q"), finish, None)
        .await
        .unwrap();
    let before_finished = db.snapshot();
    assert_ne!(before, before_finished);
    let cancel = ledger
        .cancel(&tenant, &id("q"), Cancel::default())
        .await
        .unwrap_err();
    assert_eq!(cancel.code(), ErrorCode::InvalidTransition);
    let start = ledger
        .start(&tenant, &id("q"), StartRun::new(owner("w"), 60_000))
        .await
        .unwrap_err();
    assert_eq!(start.code(), ErrorCode::InvalidTransition);
    let append = ledger
        .append_event(
            &tenant,
            &id("q"),
            AppendEvent::new(EventType::parse("log").unwrap(), json!(1)),
        )
        .await
        .unwrap_err();
    assert_eq!(
        append.code(),
        ErrorCode::StaleLease,
        "appends after the end are refused"
    );
    let missing = ledger
        .start(&tenant, &id("nope"), StartRun::new(owner("w"), 60_000))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), ErrorCode::NotFound);
    assert_eq!(db.snapshot(), before_finished);
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn if_match_refuses_another_version_and_changes_nothing(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let created = ledger
        .create_run(
            &tenant,
            CreateRun::new(Kind::parse("k").unwrap()).id(id("r")),
        )
        .await
        .unwrap();
    let before = db.snapshot();
    let mut start = StartRun::new(owner("w"), 60_000);
    start.if_version = Some(created.run.version + 1);
    let refused = ledger
        .start(&tenant, &id("r"), start.clone())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::VersionConflict);
    let mut append = AppendEvent::new(EventType::parse("log").unwrap(), json!(1));
    append.if_version = Some(7);
    assert_eq!(
        ledger
            .append_event(&tenant, &id("r"), append)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::VersionConflict
    );
    let cancel = Cancel {
        reason: None,
        if_version: Some(9),
        cascade: false,
    };
    assert_eq!(
        ledger
            .cancel(&tenant, &id("r"), cancel)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::VersionConflict
    );
    assert_eq!(db.snapshot(), before);
    start.if_version = Some(created.run.version);
    let started = ledger.start(&tenant, &id("r"), start).await.unwrap();
    assert_eq!(started.version, 2);
    let mut heartbeat = Heartbeat::new(1);
    heartbeat.if_version = Some(2);
    assert_eq!(
        ledger
            .heartbeat(&tenant, &id("r"), heartbeat)
            .await
            .unwrap()
            .version,
        3
    );
}
