//! SPEC §4 `POST /v1/runs/{id}/cancel` with `cascade: true`: "also cancels
//! every non-terminal descendant in the same transaction (each with its own
//! `cancelled` event, `error` = `parent <id> cancelled: <reason>`, `<id>`
//! being the run the cancel was called on)".
//!
//! Tested on both backends: a tree of three levels (and a fourth) whose runs
//! sit in concurrency groups with pending runs outside the tree, so the
//! freed slots promote them and no cancelled descendant is promoted on the
//! way; a repeat cancel changing nothing; a cascade on an ended run refused;
//! and a cascade racing other processes that create children and start and
//! finish them: afterwards no descendant whose `created` event comes before
//! the cancel's `cancelled` event in the tenant log is left open.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{
    Cancel, ConcurrencyGroup, ConcurrencyKey, CreateRun, ErrorCode, Event, Finish, Kind, Ledger,
    OnFull, Outcome, Owner, RunId, RunState, Segment, StartRun, Tenant,
};
use std::collections::HashMap;
use support::TestDb;
use support::racer::{CreateSpec, Script, Step, race};

#[test]
fn racer_child_entry_point() {
    support::racer::child_main()
}

conformance!(
    a_cascade_cancels_the_open_descendants_and_promotes_into_freed_slots,
    a_cascade_of_an_ended_run_is_refused_and_a_plain_cancel_leaves_children,
    a_cascade_racing_creates_and_finishes_leaves_no_earlier_descendant_open,
);

fn id(text: &str) -> RunId {
    RunId::parse(text).unwrap()
}

fn cascade(reason: Option<&str>) -> Cancel {
    Cancel {
        reason: reason.map(str::to_owned),
        cascade: true,
        if_version: None,
    }
}

/// A run `run` (top-level) or the child `key` of `parent`, in group `group`
/// (limit 1, enqueue) when given.
fn request(parent: Option<&str>, run: &str, group: Option<&str>) -> CreateRun {
    let mut request = CreateRun::new(Kind::parse("job").unwrap());
    request = match parent {
        Some(parent) => request.child_of(id(parent), Segment::parse(run).unwrap()),
        None => request.id(id(run)),
    };
    if let Some(group) = group {
        let group =
            ConcurrencyGroup::new(ConcurrencyKey::parse(group).unwrap(), 1, OnFull::Enqueue)
                .unwrap();
        request = request.concurrency(group);
    }
    request
}

async fn state(ledger: &Ledger, run: &str) -> RunState {
    ledger
        .get_run(&Tenant::default(), &id(run))
        .await
        .unwrap()
        .state
}

/// The whole tenant log, page by page.
async fn log(ledger: &Ledger) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        let after = events.last().map_or(0, |event: &Event| event.position);
        let page = ledger
            .tenant_events(&Tenant::default(), after, Some(1000))
            .await
            .unwrap();
        if page.is_empty() {
            return events;
        }
        events.extend(page);
    }
}

async fn a_cascade_cancels_the_open_descendants_and_promotes_into_freed_slots(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    let create = |parent: Option<&'static str>, run: &'static str, group: Option<&'static str>| {
        let ledger = ledger.clone();
        async move {
            ledger
                .create_run(&Tenant::default(), request(parent, run, group))
                .await
                .unwrap()
                .run
        }
    };
    create(None, "r", None).await;
    // Level 1: r:a holds g1's slot (running), r:b waits for it; x, outside
    // the tree, waits behind r:b.
    assert_eq!(
        create(Some("r"), "a", Some("g1")).await.state,
        RunState::Queued
    );
    assert_eq!(
        create(Some("r"), "b", Some("g1")).await.state,
        RunState::Pending
    );
    assert_eq!(create(None, "x", Some("g1")).await.state, RunState::Pending);
    let owner = || StartRun::new(Owner::parse("w").unwrap(), 60_000);
    ledger.start(&tenant, &id("r:a"), owner()).await.unwrap();
    // Level 2: r:a:one holds g2's slot, r:a:two waits; y, outside, behind it.
    assert_eq!(
        create(Some("r:a"), "one", Some("g2")).await.state,
        RunState::Queued
    );
    assert_eq!(
        create(Some("r:a"), "two", Some("g2")).await.state,
        RunState::Pending
    );
    assert_eq!(create(None, "y", Some("g2")).await.state, RunState::Pending);
    // Level 3, and an ended child whose own child is still open.
    create(Some("r:a:one"), "deep", None).await;
    create(Some("r"), "done", None).await;
    create(Some("r:done"), "late", None).await;
    ledger.start(&tenant, &id("r:done"), owner()).await.unwrap();
    let finish = Finish {
        lease_epoch: 1,
        outcome: Outcome::Succeeded,
        result: None,
        error: None,
    };
    ledger
        .finish(&tenant, &id("r:done"), finish, None)
        .await
        .unwrap();
    let before = log(&ledger).await.len();

    let root = ledger
        .cancel(&tenant, &id("r"), cascade(Some("stop")))
        .await
        .unwrap();
    assert_eq!(root.state, RunState::Cancelled);
    assert_eq!(root.error.as_deref(), Some("stop"));
    let cascaded = [
        "r:a",
        "r:b",
        "r:a:one",
        "r:a:two",
        "r:a:one:deep",
        "r:done:late",
    ];
    for run in cascaded {
        let run = ledger.get_run(&tenant, &id(run)).await.unwrap();
        assert_eq!(run.state, RunState::Cancelled, "{}", run.id);
        assert_eq!(run.error.as_deref(), Some("parent r cancelled: stop"));
        assert!(run.lease.is_none() && run.finished_at.is_some(), "{run:?}");
        let events = ledger.events(&tenant, &run.id, 0, None).await.unwrap();
        let last = events.last().unwrap();
        assert_eq!(last.event_type, "cancelled");
        assert_eq!(last.data["reason"], "parent r cancelled: stop");
        assert_eq!(last.data["cancelled_by"], "r");
        assert!(
            events.iter().all(|event| event.event_type != "promoted"),
            "a cancelled descendant is not promoted on the way: {events:?}"
        );
    }
    assert_eq!(state(&ledger, "r:done").await, RunState::Succeeded);
    // The freed slots go to the pending runs outside the tree.
    assert_eq!(state(&ledger, "x").await, RunState::Queued);
    assert_eq!(state(&ledger, "y").await, RunState::Queued);
    // One transaction: the cancels then the promotions, nothing between.
    let after = log(&ledger).await;
    let written: Vec<(String, String)> = after[before..]
        .iter()
        .map(|event| (event.run_id.to_string(), event.event_type.clone()))
        .collect();
    assert_eq!(written.len(), 1 + cascaded.len() + 2, "{written:?}");
    assert_eq!(written[0], ("r".to_owned(), "cancelled".to_owned()));
    assert!(
        written[1..=cascaded.len()]
            .iter()
            .all(|(_, event_type)| event_type == "cancelled")
    );
    let mut promoted: Vec<&str> = written[1 + cascaded.len()..]
        .iter()
        .map(|(run, event_type)| {
            assert_eq!(event_type, "promoted");
            run.as_str()
        })
        .collect();
    promoted.sort_unstable();
    assert_eq!(promoted, ["x", "y"]);

    // A repeat changes nothing and writes nothing.
    let repeat = ledger
        .cancel(&tenant, &id("r"), cascade(Some("again")))
        .await
        .unwrap();
    assert_eq!((repeat.version, repeat.error), (root.version, root.error));
    assert_eq!(log(&ledger).await.len(), after.len());
    // Without a reason the descendants' error still names the parent.
    create(None, "q", None).await;
    create(Some("q"), "c", None).await;
    ledger
        .cancel(&tenant, &id("q"), cascade(None))
        .await
        .unwrap();
    let child = ledger.get_run(&tenant, &id("q:c")).await.unwrap();
    assert_eq!(child.error.as_deref(), Some("parent q cancelled"));
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn a_cascade_of_an_ended_run_is_refused_and_a_plain_cancel_leaves_children(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    for (parent, run) in [(None, "s"), (Some("s"), "c"), (None, "p"), (Some("p"), "c")] {
        ledger
            .create_run(&tenant, request(parent, run, None))
            .await
            .unwrap();
    }
    let start = StartRun::new(Owner::parse("w").unwrap(), 60_000);
    ledger.start(&tenant, &id("s"), start).await.unwrap();
    let finish = Finish {
        lease_epoch: 1,
        outcome: Outcome::Failed,
        result: None,
        error: Some("boom".into()),
    };
    ledger
        .finish(&tenant, &id("s"), finish, None)
        .await
        .unwrap();
    let refused = ledger
        .cancel(&tenant, &id("s"), cascade(Some("late")))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::InvalidTransition);
    assert_eq!(
        state(&ledger, "s:c").await,
        RunState::Queued,
        "nothing written"
    );
    // If-Match is checked on the run the cancel names, before anything.
    let stale = Cancel {
        if_version: Some(99),
        ..cascade(None)
    };
    let refused = ledger.cancel(&tenant, &id("p"), stale).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::VersionConflict);
    assert_eq!(state(&ledger, "p").await, RunState::Queued);
    assert_eq!(state(&ledger, "p:c").await, RunState::Queued);
    let missing = ledger
        .cancel(&tenant, &id("nope"), cascade(None))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), ErrorCode::NotFound);
    // A plain cancel leaves the children alone.
    ledger
        .cancel(&tenant, &id("p"), Cancel::default())
        .await
        .unwrap();
    assert_eq!(state(&ledger, "p:c").await, RunState::Queued);
}

async fn a_cascade_racing_creates_and_finishes_leaves_no_earlier_descendant_open(db: TestDb) {
    const CHILDREN: usize = 120;
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    ledger
        .create_run(&tenant, request(None, "r", None))
        .await
        .unwrap();
    // One process creates children (every third in a group) and a
    // grandchild under each; another starts and finishes the children; a
    // third creates a few unrelated runs, then cancels the tree.
    let mut creates = Vec::new();
    for n in 0..CHILDREN {
        let mut child = CreateSpec::child("r", &format!("k{n}"));
        if n % 3 == 0 {
            child.group = Some(("rg".into(), 2, "enqueue".into()));
        }
        creates.push(Step::Create(child));
        let grandchild = CreateSpec::child(&format!("r:k{n}"), "g");
        creates.push(Step::Create(grandchild));
    }
    let mut finishes = Vec::new();
    for n in 0..CHILDREN {
        let run = format!("r:k{n}");
        finishes.push(Step::Start {
            id: run.clone(),
            owner: "finisher".into(),
            lease_ttl_ms: 60_000,
        });
        finishes.push(Step::Finish {
            id: run,
            lease_epoch: 1,
            outcome: "succeeded".into(),
        });
    }
    let mut cancel: Vec<Step> = (0..CHILDREN / 3)
        .map(|n| Step::Create(CreateSpec::id(&format!("pad-{n}"))))
        .collect();
    cancel.push(Step::CancelCascade {
        id: "r".into(),
        reason: "race".into(),
    });
    let reports = race(
        &db,
        vec![
            Script::Steps { steps: creates },
            Script::Steps { steps: finishes },
            Script::Steps { steps: cancel },
        ],
        &[],
    )
    .await;
    assert!(reports.iter().all(|report| report.success));
    let answer = reports[2].acks.last().unwrap();
    assert_eq!(answer["answer"]["state"], "cancelled", "{answer}");

    let log = log(&ledger).await;
    let cancelled_at = log
        .iter()
        .find(|event| event.run_id.as_str() == "r" && event.event_type == "cancelled")
        .unwrap()
        .position;
    let created_at: HashMap<String, u64> = log
        .iter()
        .filter(|event| event.event_type == "created" && event.run_id.as_str().starts_with("r:"))
        .map(|event| (event.run_id.to_string(), event.position))
        .collect();
    let mut earlier = 0;
    for (run, position) in &created_at {
        if *position < cancelled_at {
            earlier += 1;
            let state = state(&ledger, run).await;
            assert!(
                state.is_terminal(),
                "{run} was created at {position}, before the cancel at {cancelled_at}, and is {state:?}"
            );
        }
    }
    eprintln!(
        "{earlier} of {} descendants were created before the cancel",
        created_at.len()
    );
    assert!(ledger.audit().await.unwrap().is_clean());
}
