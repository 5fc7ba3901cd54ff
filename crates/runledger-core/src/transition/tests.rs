//! Every state × every operation, as a table.

use super::*;
use crate::{ConcurrencyGroup, OnFull};
use crate::{ConcurrencyKey, ErrorCode, Kind, Owner};

const NOW: i64 = 1_800_000_000_000;

fn record(state: RunState) -> Record {
    let params = CreationParams {
        kind: Kind::parse("etl").unwrap(),
        parent_id: None,
        key: None,
        attributes: json!({}),
        concurrency: None,
    };
    let id = RunId::parse("run-1").unwrap();
    let queued = create(
        Tenant::default(),
        id,
        params,
        RunState::Queued,
        None,
        Timestamp::from_unix_ms(NOW),
    )
    .after;
    let lease = StartLease {
        owner: Owner::parse("w1").unwrap(),
        lease_ttl_ms: 1_000,
    };
    let running = match start(&queued, &lease, Timestamp::from_unix_ms(NOW)).unwrap() {
        Decision::Apply(transition) => transition.after,
        Decision::Unchanged => unreachable!(),
    };
    let mut stored = match state {
        RunState::Pending | RunState::Queued => queued,
        _ => running,
    };
    if state.is_terminal() {
        stored.run.lease = None;
        stored.run.result = None;
        stored.run.error = None;
    }
    stored.run.state = state;
    stored
}

/// What an operation answered, reduced to something a table can hold.
#[derive(Debug, PartialEq)]
enum Answer {
    Apply(RunState),
    Unchanged,
    Refused(ErrorCode),
}

fn answer(result: Result<Decision, Error>) -> Answer {
    match result {
        Ok(Decision::Apply(transition)) => Answer::Apply(transition.after.run.state),
        Ok(Decision::Unchanged) => Answer::Unchanged,
        Err(error) => Answer::Refused(error.code()),
    }
}

fn now() -> Timestamp {
    Timestamp::from_unix_ms(NOW + 10)
}

#[test]
fn every_state_times_every_operation() {
    use Answer::*;
    use ErrorCode::{InvalidTransition as It, StaleLease as Sl};
    use RunState::*;
    let w1 = StartLease {
        owner: Owner::parse("w1").unwrap(),
        lease_ttl_ms: 1_000,
    };
    let w2 = StartLease {
        owner: Owner::parse("w2").unwrap(),
        lease_ttl_ms: 1_000,
    };
    let finish_1 = Finish {
        lease_epoch: 1,
        outcome: Outcome::Succeeded,
        result: None,
        error: None,
    };
    let finish_2 = Finish {
        lease_epoch: 2,
        ..finish_1.clone()
    };
    let progress = EventType::parse("progress").unwrap();
    // state, start w1, start w2, heartbeat 1, heartbeat 2, finish 1, finish 2, cancel, append none, append 1
    let table = [
        (
            Pending,
            Refused(It),
            Refused(It),
            Refused(It),
            Refused(It),
            Refused(It),
            Refused(It),
            Apply(Cancelled),
            Apply(Pending),
            Apply(Pending),
        ),
        (
            Queued,
            Apply(Running),
            Apply(Running),
            Refused(It),
            Refused(It),
            Refused(It),
            Refused(It),
            Apply(Cancelled),
            Apply(Queued),
            Apply(Queued),
        ),
        (
            Running,
            Unchanged,
            Refused(It),
            Apply(Running),
            Refused(Sl),
            Apply(Succeeded),
            Refused(Sl),
            Apply(Cancelled),
            Refused(Sl),
            Apply(Running),
        ),
        (
            Succeeded,
            Refused(It),
            Refused(It),
            Refused(Sl),
            Refused(Sl),
            Unchanged,
            Refused(Sl),
            Refused(It),
            Refused(Sl),
            Refused(Sl),
        ),
        (
            Failed,
            Refused(It),
            Refused(It),
            Refused(Sl),
            Refused(Sl),
            Refused(Sl),
            Refused(Sl),
            Refused(It),
            Refused(Sl),
            Refused(Sl),
        ),
        (
            Cancelled,
            Refused(It),
            Refused(It),
            Refused(Sl),
            Refused(Sl),
            Refused(Sl),
            Refused(Sl),
            Unchanged,
            Refused(Sl),
            Refused(Sl),
        ),
        (
            TimedOut,
            Refused(It),
            Refused(It),
            Refused(Sl),
            Refused(Sl),
            Refused(Sl),
            Refused(Sl),
            Refused(It),
            Refused(Sl),
            Refused(Sl),
        ),
    ];
    for (state, s1, s2, h1, h2, f1, f2, c, a0, a1) in table {
        let stored = record(state);
        let append_answer = |epoch| match append(&stored, &progress, json!(1), epoch, now()) {
            Ok(transition) => Apply(transition.after.run.state),
            Err(error) => Refused(error.code()),
        };
        assert_eq!(answer(start(&stored, &w1, now())), s1, "{state} start w1");
        assert_eq!(answer(start(&stored, &w2, now())), s2, "{state} start w2");
        assert_eq!(
            answer(heartbeat(&stored, 1, None, now())),
            h1,
            "{state} heartbeat 1"
        );
        assert_eq!(
            answer(heartbeat(&stored, 2, None, now())),
            h2,
            "{state} heartbeat 2"
        );
        assert_eq!(
            answer(finish(&stored, &finish_1, now())),
            f1,
            "{state} finish 1"
        );
        assert_eq!(
            answer(finish(&stored, &finish_2, now())),
            f2,
            "{state} finish 2"
        );
        assert_eq!(
            answer(cancel(&stored, Some("why"), None, now())),
            c,
            "{state} cancel"
        );
        assert_eq!(append_answer(None), a0, "{state} append without epoch");
        assert_eq!(append_answer(Some(1)), a1, "{state} append epoch 1");
        let reaped = reap(&stored, Timestamp::from_unix_ms(NOW + 1_000)).map(|t| t.after.run.state);
        let expected_reap = (state == Running).then_some(TimedOut);
        assert_eq!(reaped, expected_reap, "{state} reap");
    }
}

#[test]
fn changes_bump_version_and_seq_and_say_whether_a_slot_frees() {
    let queued = record(RunState::Queued);
    let lease = StartLease {
        owner: Owner::parse("w").unwrap(),
        lease_ttl_ms: 500,
    };
    let Decision::Apply(started) = start(&queued, &lease, now()).unwrap() else {
        panic!()
    };
    assert_eq!(started.after.run.version, queued.run.version + 1);
    assert_eq!(started.after.epoch, 1);
    assert_eq!(started.events[0].seq, queued.run.last_seq + 1);
    assert_eq!(started.events[0].event_type, "started");
    assert!(!started.frees_slot);
    let Decision::Apply(cancelled) = cancel(&started.after, None, None, now()).unwrap() else {
        panic!()
    };
    assert!(cancelled.frees_slot);
    assert_eq!(cancelled.after.run.lease, None);
    let pending = record(RunState::Pending);
    let Decision::Apply(cancelled) = cancel(&pending, None, None, now()).unwrap() else {
        panic!()
    };
    assert!(!cancelled.frees_slot, "a pending run holds no slot");
}

#[test]
fn a_lease_expires_at_its_instant_not_before() {
    let running = record(RunState::Running);
    let expires_at = running.run.lease.as_ref().unwrap().expires_at;
    assert!(reap(&running, Timestamp::from_unix_ms(expires_at.unix_ms() - 1)).is_none());
    assert!(reap(&running, expires_at).is_some());
}

#[test]
fn finish_repeats_only_with_the_same_parameters() {
    let running = record(RunState::Running);
    let finish_ok = Finish {
        lease_epoch: 1,
        outcome: Outcome::Failed,
        result: Some(json!({"a": 1.0})),
        error: Some("boom".into()),
    };
    let Decision::Apply(done) = finish(&running, &finish_ok, now()).unwrap() else {
        panic!()
    };
    let same = Finish {
        result: Some(json!({"a": 1})),
        ..finish_ok.clone()
    };
    assert_eq!(
        finish(&done.after, &same, now()).unwrap(),
        Decision::Unchanged
    );
    let other = Finish {
        error: Some("other".into()),
        ..finish_ok.clone()
    };
    assert_eq!(
        finish(&done.after, &other, now()).unwrap_err().code(),
        ErrorCode::StaleLease
    );
    let succeeded = Finish {
        outcome: Outcome::Succeeded,
        ..finish_ok
    };
    assert_eq!(
        finish(&done.after, &succeeded, now()).unwrap_err().code(),
        ErrorCode::StaleLease
    );
}

#[test]
fn admission_follows_the_policy() {
    let key = ConcurrencyKey::parse("g").unwrap();
    let ids: Vec<RunId> = ["a", "b", "c"]
        .iter()
        .map(|id| RunId::parse(id).unwrap())
        .collect();
    let group = |limit, on_full| ConcurrencyGroup::new(key.clone(), limit, on_full).unwrap();
    assert_eq!(
        admit(&group(3, OnFull::Reject), &ids[..2]).unwrap(),
        Admission::Admit
    );
    let refused = admit(&group(2, OnFull::Reject), &ids).unwrap_err();
    assert!(
        matches!(&refused, Error::ConcurrencyLimit { active_run_ids, .. } if active_run_ids == &ids)
    );
    assert_eq!(
        admit(&group(3, OnFull::Enqueue), &ids).unwrap(),
        Admission::Enqueue
    );
    assert_eq!(
        admit(&group(2, OnFull::CancelActive), &ids).unwrap(),
        Admission::CancelOldest(ids[..2].to_vec())
    );
    assert_eq!(
        admit(&group(3, OnFull::CancelActive), &ids).unwrap(),
        Admission::CancelOldest(ids[..1].to_vec())
    );
    assert_eq!(
        admit(&group(3, OnFull::ReplacePending), &ids).unwrap(),
        Admission::ReplacePending
    );
    assert_eq!(
        admit(&group(4, OnFull::ReplacePending), &ids).unwrap(),
        Admission::Admit
    );
    assert!(may_promote(2, 1));
    assert!(!may_promote(2, 2));
}

#[test]
fn create_with_start_is_one_change_with_two_events() {
    let params = CreationParams {
        kind: Kind::parse("etl").unwrap(),
        parent_id: None,
        key: None,
        attributes: json!({}),
        concurrency: None,
    };
    let lease = StartLease {
        owner: Owner::parse("w").unwrap(),
        lease_ttl_ms: 1_000,
    };
    let id = RunId::parse("r").unwrap();
    let created = create(
        Tenant::default(),
        id.clone(),
        params.clone(),
        RunState::Queued,
        Some(&lease),
        now(),
    );
    assert_eq!(created.after.run.version, 1);
    assert_eq!(created.after.run.state, RunState::Running);
    assert_eq!(created.after.epoch, 1);
    let types: Vec<&str> = created
        .events
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(types, ["created", "started"]);
    let pending = create(
        Tenant::default(),
        id,
        params,
        RunState::Pending,
        Some(&lease),
        now(),
    );
    assert_eq!(
        pending.after.run.state,
        RunState::Pending,
        "an enqueued create does not start"
    );
    assert_eq!(pending.events.len(), 1);
}

#[test]
fn if_match_refuses_another_version() {
    let stored = record(RunState::Queued);
    assert!(check_version(&stored, None).is_ok());
    assert!(check_version(&stored, Some(stored.run.version)).is_ok());
    assert_eq!(
        check_version(&stored, Some(99)).unwrap_err().code(),
        ErrorCode::VersionConflict
    );
}
