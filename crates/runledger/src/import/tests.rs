//! Table tests of what an import writes: the row, its events and their
//! times, and what a re-import answers.

use super::*;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_ms(seconds * 1000)
}

fn request(state: RunState) -> ImportRun {
    ImportRun {
        id: RunId::parse("250926-124530").unwrap(),
        kind: Kind::parse("nightly").unwrap(),
        parent_id: None,
        key: None,
        attributes: json!({"customer": "acme"}),
        state,
        result: None,
        error: None,
        created_at: Some(at(100)),
        started_at: Some(at(105)),
        finished_at: Some(at(160)),
        owner: Owner::parse("runledger-import").unwrap(),
        lease_ttl_ms: 60_000,
    }
}

fn shape(history: &History) -> Vec<(String, i64)> {
    history
        .events
        .iter()
        .map(|(event, at)| (event.event_type.clone(), at.unix_ms() / 1000))
        .collect()
}

#[test]
fn events_are_stamped_at_the_table_times() {
    let tenant = Tenant::default();
    let now = at(1_000);
    let cases = [
        (
            RunState::Succeeded,
            vec![("created", 100), ("started", 105), ("succeeded", 160)],
        ),
        (
            RunState::Failed,
            vec![("created", 100), ("started", 105), ("failed", 160)],
        ),
        (
            RunState::TimedOut,
            vec![("created", 100), ("started", 105), ("timed_out", 160)],
        ),
        (
            RunState::Cancelled,
            vec![("created", 100), ("started", 105), ("cancelled", 160)],
        ),
        (RunState::Running, vec![("created", 100), ("started", 105)]),
        (RunState::Queued, vec![("created", 100)]),
    ];
    for (state, expected) in cases {
        let history = request(state).history(&tenant, now).unwrap();
        let expected: Vec<(String, i64)> = expected
            .into_iter()
            .map(|(name, seconds)| (name.to_owned(), seconds))
            .collect();
        assert_eq!(shape(&history), expected, "{state:?}");
        let run = &history.record.run;
        assert_eq!(run.version, expected.len() as u64, "{state:?}");
        assert_eq!(run.last_seq, expected.len() as u64, "{state:?}");
        assert_eq!(run.created_at, at(100));
        assert_eq!(run.lease.is_some(), state == RunState::Running, "{state:?}");
        if state == RunState::Running {
            assert_eq!(run.lease.as_ref().unwrap().expires_at, now.plus_ms(60_000));
            assert_eq!(run.finished_at, None);
        }
    }
}

#[test]
fn what_an_import_cannot_write_is_refused() {
    let tenant = Tenant::default();
    let mut pending = request(RunState::Pending);
    pending.finished_at = None;
    let mut backwards = request(RunState::Succeeded);
    backwards.started_at = Some(at(90));
    let mut wrong_child = request(RunState::Queued);
    wrong_child.parent_id = Some(RunId::parse("other").unwrap());
    wrong_child.key = Some(Segment::parse("Dean-Hobin").unwrap());
    let mut short_lease = request(RunState::Running);
    short_lease.lease_ttl_ms = 1;
    for (bad, field) in [
        (pending, "state"),
        (backwards, "started_at"),
        (wrong_child, "id"),
        (short_lease, "lease_ttl_ms"),
    ] {
        match bad.history(&tenant, at(1_000)) {
            Err(Error::InvalidRequest { field: named, .. }) => assert_eq!(named, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn a_reimport_answers_the_same_run_and_names_what_differs() {
    let tenant = Tenant::default();
    let first = request(RunState::Succeeded);
    let stored = first.history(&tenant, at(1_000)).unwrap().record.run;
    let again = first.history(&tenant, at(2_000)).unwrap();
    let answer = first.match_existing(stored.clone(), &again).unwrap();
    assert!(!answer.created);

    let mut later = request(RunState::Failed);
    later.finished_at = Some(at(170));
    let history = later.history(&tenant, at(2_000)).unwrap();
    match later.match_existing(stored, &history) {
        Err(Error::RunConflict { fields, .. }) => assert_eq!(fields, ["state", "finished_at"]),
        other => panic!("{other:?}"),
    }
}
