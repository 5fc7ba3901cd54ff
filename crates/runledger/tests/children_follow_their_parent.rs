//! SPEC §2.9 "Children follow their parent".
//!
//! A create of a new child whose parent has ended is `invalid_transition`
//! naming the parent's state, on every create path (plain, in a group,
//! started at once, batch create atomic or not) and writes nothing; an
//! identical repeat of an existing child still answers it. Processes
//! creating children while another finishes or cancels the parent never
//! get a child created after the parent's terminal event.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{
    Cancel, ConcurrencyGroup, ConcurrencyKey, CreateBatch, CreateRun, Error, ErrorCode, Finish,
    Kind, Ledger, OnFull, Outcome, Owner, RunId, RunState, Segment, StartRun, Tenant,
};
use serde_json::Value;
use std::time::Duration;
use support::TestDb;
use support::racer::{CreateSpec, Script, Step, race};

#[test]
fn racer_child_entry_point() {
    support::racer::child_main()
}

conformance!(
    a_new_child_of_an_ended_parent_is_refused_on_every_path,
    an_identical_repeat_of_an_existing_child_still_answers_it,
    a_child_of_an_active_parent_is_created,
    processes_creating_children_while_the_parent_finishes_create_none_after_it,
    processes_creating_children_while_the_parent_is_cancelled_create_none_after_it,
);

fn id(text: &str) -> RunId {
    RunId::parse(text).unwrap()
}

fn child(parent: &str, key: &str) -> CreateRun {
    CreateRun::new(Kind::parse("child").unwrap()).child_of(id(parent), Segment::parse(key).unwrap())
}

/// Every way a single child create can reach the store.
fn variants(parent: &str, key: &str) -> Vec<CreateRun> {
    let group = |on_full: &str| {
        ConcurrencyGroup::new(
            ConcurrencyKey::parse(&format!("g-{on_full}")).unwrap(),
            1,
            OnFull::parse(on_full).unwrap(),
        )
        .unwrap()
    };
    vec![
        child(parent, &format!("{key}-plain")),
        child(parent, &format!("{key}-group")).concurrency(group("reject")),
        child(parent, &format!("{key}-enqueue")).concurrency(group("enqueue")),
        child(parent, &format!("{key}-replace")).concurrency(group("replace_pending")),
        child(parent, &format!("{key}-cancel")).concurrency(group("cancel_active")),
        child(parent, &format!("{key}-started")).start(Owner::parse("w").unwrap(), 60_000),
    ]
}

/// Creates `parent` and ends it in `state`.
async fn ended_parent(ledger: &Ledger, parent: &str, state: RunState) {
    let tenant = Tenant::default();
    let kind = Kind::parse("parent").unwrap();
    let mut create = CreateRun::new(kind).id(id(parent));
    if state == RunState::TimedOut {
        create = create.start(Owner::parse("w").unwrap(), 100);
    }
    ledger.create_run(&tenant, create).await.unwrap();
    match state {
        RunState::Cancelled => {
            ledger
                .cancel(&tenant, &id(parent), Cancel::default())
                .await
                .unwrap();
        }
        RunState::TimedOut => {
            tokio::time::sleep(Duration::from_millis(150)).await;
            ledger.reap().await.unwrap();
        }
        _ => {
            let run = ledger
                .start(
                    &tenant,
                    &id(parent),
                    StartRun::new(Owner::parse("w").unwrap(), 60_000),
                )
                .await
                .unwrap();
            let outcome = if state == RunState::Failed {
                Outcome::Failed
            } else {
                Outcome::Succeeded
            };
            let finish = Finish {
                lease_epoch: run.lease.unwrap().epoch,
                outcome,
                result: None,
                error: None,
            };
            ledger
                .finish(&tenant, &id(parent), finish, None)
                .await
                .unwrap();
        }
    }
    let run = ledger.get_run(&tenant, &id(parent)).await.unwrap();
    assert_eq!(run.state, state);
}

fn assert_refused(error: &Error, parent: &str, state: RunState) {
    assert_eq!(error.code(), ErrorCode::InvalidTransition, "{error}");
    match error {
        Error::ParentEnded {
            parent_id,
            state: found,
            ..
        } => assert_eq!((parent_id.as_str(), *found), (parent, state)),
        other => panic!("not a parent refusal: {other}"),
    }
    assert!(error.to_string().contains(state.as_str()), "{error}");
}

async fn a_new_child_of_an_ended_parent_is_refused_on_every_path(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let states = [
        RunState::Succeeded,
        RunState::Failed,
        RunState::Cancelled,
        RunState::TimedOut,
    ];
    for state in states {
        let parent = format!("p-{}", state.as_str().replace('_', "-"));
        ended_parent(&ledger, &parent, state).await;
        let runs_before = db.count("SELECT COUNT(*) FROM runs");
        let events_before = db.count("SELECT COUNT(*) FROM events");
        for request in variants(&parent, "single") {
            let error = ledger.create_run(&tenant, request).await.unwrap_err();
            assert_refused(&error, &parent, state);
        }
        for atomic in [false, true] {
            let batch = CreateBatch {
                runs: vec![
                    CreateRun::new(Kind::parse("other").unwrap())
                        .id(id(&format!("{parent}-b{atomic}"))),
                    child(&parent, &format!("batch-{atomic}")),
                ],
                atomic,
            };
            match ledger.create_batch(&tenant, batch).await {
                Ok(answers) => {
                    assert!(!atomic);
                    assert!(answers[0].is_ok());
                    assert_refused(answers[1].as_ref().unwrap_err(), &parent, state);
                }
                Err(refused) => {
                    assert!(atomic, "{refused}");
                    assert_eq!(refused.index, Some(1));
                    assert_refused(&refused.error, &parent, state);
                }
            }
        }
        // Nothing of the refused children was written (the non-atomic
        // batch's first item is one run and its created event).
        assert_eq!(db.count("SELECT COUNT(*) FROM runs"), runs_before + 1);
        assert_eq!(db.count("SELECT COUNT(*) FROM events"), events_before + 1);
        let children = format!("SELECT COUNT(*) FROM runs WHERE parent_id = '{parent}'");
        assert_eq!(db.count(&children), 0);
    }
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn an_identical_repeat_of_an_existing_child_still_answers_it(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let kind = Kind::parse("parent").unwrap();
    ledger
        .create_run(&tenant, CreateRun::new(kind).id(id("p")))
        .await
        .unwrap();
    let first = ledger.create_run(&tenant, child("p", "a")).await.unwrap();
    assert!(first.created);
    ledger
        .cancel(&tenant, &id("p"), Cancel::default())
        .await
        .unwrap();
    // Cancelling the parent leaves its children as they are.
    let again = ledger.create_run(&tenant, child("p", "a")).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.run.id, first.run.id);
    let batch = CreateBatch {
        runs: vec![child("p", "a")],
        atomic: true,
    };
    let answers = ledger.create_batch(&tenant, batch).await.unwrap();
    assert!(!answers[0].as_ref().unwrap().created);
    let error = ledger
        .create_run(&tenant, child("p", "b"))
        .await
        .unwrap_err();
    assert_refused(&error, "p", RunState::Cancelled);
}

async fn a_child_of_an_active_parent_is_created(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let kind = Kind::parse("parent").unwrap();
    ledger
        .create_run(&tenant, CreateRun::new(kind).id(id("p")))
        .await
        .unwrap();
    // Pending and queued parents take children; so does a running one.
    for request in variants("p", "queued") {
        assert!(ledger.create_run(&tenant, request).await.unwrap().created);
    }
    ledger
        .start(
            &tenant,
            &id("p"),
            StartRun::new(Owner::parse("w").unwrap(), 60_000),
        )
        .await
        .unwrap();
    assert!(
        ledger
            .create_run(&tenant, child("p", "running"))
            .await
            .unwrap()
            .created
    );
}

const CREATORS: usize = 4;
const CHILDREN_PER_CREATOR: usize = 150;

/// Creator `n`'s steps: its children of `p`, each by its own path.
fn creator(n: usize) -> Script {
    let steps = (0..CHILDREN_PER_CREATOR)
        .map(|i| {
            let mut spec = CreateSpec::child("p", &format!("c{n}-{i}"));
            match n % 4 {
                0 => Step::Create(spec),
                1 => {
                    spec.group = Some((format!("g{i}"), 1000, "reject".into()));
                    Step::Create(spec)
                }
                2 => Step::Batch {
                    runs: vec![spec, CreateSpec::child("p", &format!("c{n}-{i}-b"))],
                    atomic: i % 2 == 0,
                },
                _ => {
                    spec.start = Some(("w".into(), 60_000));
                    Step::Create(spec)
                }
            }
        })
        .collect();
    Script::Steps { steps }
}

/// Races creators against one process that ends `p` after a few creates
/// of its own, then checks positions: every child's `created` event comes
/// before `p`'s terminal event, and every refusal names that state.
async fn race_against(db: &TestDb, end: Step, state: RunState) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    let kind = Kind::parse("parent").unwrap();
    ledger
        .create_run(&tenant, CreateRun::new(kind).id(id("p")))
        .await
        .unwrap();
    ledger
        .start(
            &tenant,
            &id("p"),
            StartRun::new(Owner::parse("w").unwrap(), 60_000),
        )
        .await
        .unwrap();
    let mut scripts: Vec<Script> = (0..CREATORS).map(creator).collect();
    let mut ender: Vec<Step> = (0..20)
        .map(|i| Step::Create(CreateSpec::id(&format!("delay-{i}"))))
        .collect();
    ender.push(end);
    scripts.push(Script::Steps { steps: ender });
    let reports = race(db, scripts, &[]).await;
    let mut refused = 0;
    for report in &reports {
        assert!(report.success);
        for answer in report.result.as_ref().unwrap().as_array().unwrap() {
            for answer in answers_in(answer) {
                if let Some(code) = answer.get("code") {
                    assert_eq!(code, "invalid_transition", "{answer}");
                    let detail = answer["detail"].as_str().unwrap();
                    assert!(detail.contains(state.as_str()), "{detail}");
                    refused += 1;
                }
            }
        }
    }
    assert!(
        refused > 0,
        "the parent ended before the creators were done"
    );
    let run = ledger.get_run(&tenant, &id("p")).await.unwrap();
    assert_eq!(run.state, state);
    support::eventually(Duration::from_secs(10), || async {
        (db.count("SELECT COUNT(*) FROM events WHERE position IS NULL") == 0).then_some(())
    })
    .await;
    let late = format!(
        "SELECT COUNT(*) FROM events AS c JOIN runs AS r ON r.tenant = c.tenant AND r.id = c.run_id \
         WHERE r.parent_id = 'p' AND c.type = 'created' AND c.position > \
         (SELECT position FROM events WHERE run_id = 'p' AND type = '{}')",
        state.as_str()
    );
    assert_eq!(
        db.count(&late),
        0,
        "a child was created after its parent ended"
    );
    let children = db.count("SELECT COUNT(*) FROM runs WHERE parent_id = 'p'");
    eprintln!("children created before the parent ended: {children}, refused: {refused}");
    assert!(ledger.audit().await.unwrap().is_clean());
}

/// The answers inside one step's answer (a batch has several).
fn answers_in(answer: &Value) -> Vec<&Value> {
    match answer.get("results").and_then(Value::as_array) {
        Some(results) => results.iter().collect(),
        None => vec![answer],
    }
}

async fn processes_creating_children_while_the_parent_finishes_create_none_after_it(db: TestDb) {
    let end = Step::Finish {
        id: "p".into(),
        lease_epoch: 1,
        outcome: "succeeded".into(),
    };
    race_against(&db, end, RunState::Succeeded).await;
}

async fn processes_creating_children_while_the_parent_is_cancelled_create_none_after_it(
    db: TestDb,
) {
    race_against(&db, Step::Cancel { id: "p".into() }, RunState::Cancelled).await;
}
