//! Creates answered together (SPEC §2.1–2.3 when many creates share one
//! write transaction).
//!
//! The SQLite writer inserts the creates of one batch that have no parent
//! and no concurrency group with one statement per table, and runs every
//! other operation, or any create whose set-based attempt failed, in its own
//! savepoint. On PostgreSQL, creates without a group from concurrent callers
//! are read and inserted together, one statement each per batch, and a
//! batch whose insert fails is written again one create at a time. Many callers released together land in a few batches, mixing
//! new runs, repeats, conflicts, duplicates, children, group members and
//! creates that start the run, on two tenants. Whatever the mix, every caller
//! gets exactly its own answer, positions stay gap-free per tenant, each
//! run's seqs start at 1, and the audit is clean. A create the database
//! refuses inside a batch fails alone.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{
    ConcurrencyGroup, ConcurrencyKey, CreateRun, Created, Error, ErrorCode, Kind, OnFull, Owner,
    RunId, RunState, Segment, Tenant,
};
use std::sync::Arc;
use support::{Backend, TestDb};
use tokio::sync::Barrier;

conformance!(
    a_mixed_batch_answers_every_caller_its_own_outcome,
    a_create_the_database_refuses_in_a_batch_fails_alone,
);

/// Callers released together.
const CALLERS: usize = 240;
/// Kinds of request, `caller % SHAPES`.
const SHAPES: usize = 8;

fn kind(text: &str) -> Kind {
    Kind::parse(text).unwrap()
}

fn id(text: &str) -> RunId {
    RunId::parse(text).unwrap()
}

fn tenant_of(caller: usize) -> Tenant {
    if caller % SHAPES == 1 {
        Tenant::parse("acme").unwrap()
    } else {
        Tenant::default()
    }
}

fn request_of(caller: usize) -> CreateRun {
    let new = || CreateRun::new(kind("etl")).id(id(&format!("n{caller}")));
    match caller % SHAPES {
        // New runs, on the default tenant and on another one.
        0 | 1 => new(),
        // A repeat with equal parameters.
        2 => CreateRun::new(kind("etl")).id(id("existing")),
        // A repeat with other parameters.
        3 => CreateRun::new(kind("other")).id(id("existing")),
        // Every one of these names the same new run.
        4 => CreateRun::new(kind("etl")).id(id("shared")),
        5 => CreateRun::new(kind("child"))
            .child_of(id("parent"), Segment::parse(&format!("k{caller}")).unwrap()),
        6 => new().concurrency(
            ConcurrencyGroup::new(ConcurrencyKey::parse("g").unwrap(), 1_000, OnFull::Reject)
                .unwrap(),
        ),
        _ => new().start(Owner::parse("w").unwrap(), 60_000),
    }
}

fn check_answer(caller: usize, answer: &Result<Created, Error>) {
    match (caller % SHAPES, answer) {
        (0 | 1 | 6, Ok(created)) => {
            assert!(created.created, "{caller}: {created:?}");
            assert_eq!(created.run.id.as_str(), format!("n{caller}"));
            assert_eq!(created.run.tenant, tenant_of(caller));
            assert_eq!(created.run.state, RunState::Queued);
            assert_eq!(created.run.last_seq, 1);
        }
        (2, Ok(created)) => {
            assert!(!created.created, "{caller}: a repeat creates nothing");
            assert_eq!(created.run.id.as_str(), "existing");
        }
        (3, Err(error)) => assert_eq!(error.code(), ErrorCode::RunConflict, "{caller}"),
        (4, Ok(created)) => assert_eq!(created.run.id.as_str(), "shared"),
        (5, Ok(created)) => {
            assert!(created.created, "{caller}: {created:?}");
            assert_eq!(created.run.id.as_str(), format!("parent:k{caller}"));
        }
        (7, Ok(created)) => {
            assert!(created.created, "{caller}: {created:?}");
            assert_eq!(created.run.state, RunState::Running);
            assert_eq!(created.run.last_seq, 2, "created and started");
        }
        (_, answer) => panic!("caller {caller} got {answer:?}"),
    }
}

async fn a_mixed_batch_answers_every_caller_its_own_outcome(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    for run in ["existing", "parent"] {
        ledger
            .create_run(&tenant, CreateRun::new(kind("etl")).id(id(run)))
            .await
            .unwrap();
    }
    let barrier = Arc::new(Barrier::new(CALLERS));
    let handles: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let (ledger, barrier) = (ledger.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                ledger
                    .create_run(&tenant_of(caller), request_of(caller))
                    .await
            })
        })
        .collect();
    let mut shared_created = 0;
    for (caller, handle) in handles.into_iter().enumerate() {
        let answer = handle.await.unwrap();
        check_answer(caller, &answer);
        if caller % SHAPES == 4 && answer.unwrap().created {
            shared_created += 1;
        }
    }
    assert_eq!(shared_created, 1, "one caller created the shared run");

    let per_shape = CALLERS / SHAPES;
    // existing, parent, shared, and the new runs of shapes 0, 5, 6 and 7.
    let default_runs = 3 + 4 * per_shape;
    let default_events = default_runs + per_shape; // shape 7 also started
    assert_eq!(
        db.count("SELECT COUNT(*) FROM runs WHERE tenant = 'default'"),
        default_runs as i64
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM runs WHERE tenant = 'acme'"),
        per_shape as i64
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM events WHERE tenant = 'default'"),
        default_events as i64
    );
    if db.backend == Backend::Sqlite {
        // Gap-free positions from 1 per tenant, in one sequence per tenant.
        for (tenant, events) in [("default", default_events), ("acme", per_shape)] {
            assert_eq!(
                db.count(&format!(
                    "SELECT COUNT(DISTINCT position) FROM events WHERE tenant = '{tenant}' \
                     AND position BETWEEN 1 AND {events}"
                )),
                events as i64,
                "{tenant}: positions 1..={events}"
            );
        }
        assert_eq!(
            db.count(
                "SELECT COUNT(*) FROM runs r JOIN events e ON e.tenant = r.tenant \
                 AND e.run_id = r.id AND e.type = 'created' \
                 WHERE e.seq <> 1 OR e.position <> r.created_order"
            ),
            0,
            "created_order is the created event's position, at seq 1"
        );
    }
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn a_create_the_database_refuses_in_a_batch_fails_alone(db: TestDb) {
    db.open_without_reaper().await;
    // Behind the ledger's back: the database refuses one id. The batch's
    // set-based insert fails as a whole, and each create runs again alone.
    db.execute_sql(match db.backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON runs WHEN NEW.id = 'poison' \
             BEGIN SELECT RAISE(ABORT, 'poison refused'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.id = 'poison' THEN RAISE EXCEPTION 'poison refused'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER refuse_poison BEFORE INSERT ON runs \
             FOR EACH ROW EXECUTE FUNCTION refuse_poison();"
        }
    });
    let ledger = db.open_without_reaper().await;
    let callers = 64;
    let barrier = Arc::new(Barrier::new(callers));
    let handles: Vec<_> = (0..callers)
        .map(|caller| {
            let (ledger, barrier) = (ledger.clone(), barrier.clone());
            let run = if caller == callers / 2 {
                "poison".to_owned()
            } else {
                format!("r{caller}")
            };
            tokio::spawn(async move {
                barrier.wait().await;
                let request = CreateRun::new(kind("etl")).id(id(&run));
                (run, ledger.create_run(&Tenant::default(), request).await)
            })
        })
        .collect();
    for handle in handles {
        match handle.await.unwrap() {
            (run, Err(error)) if run == "poison" => {
                assert_eq!(error.code(), ErrorCode::Internal);
                assert!(error.to_string().contains("poison refused"), "{error}");
            }
            (run, answer) => assert!(answer.unwrap().created, "{run}"),
        }
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM runs"), callers as i64 - 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM events"), callers as i64 - 1);
    // Gap-free positions (read through the ledger, which waits for
    // PostgreSQL's stamps).
    let events = ledger
        .tenant_events(&Tenant::default(), 0, Some(1_000))
        .await
        .unwrap();
    let positions: Vec<u64> = events.iter().map(|event| event.position).collect();
    assert_eq!(positions, (1..callers as u64).collect::<Vec<_>>());
    assert!(ledger.audit().await.unwrap().is_clean());
}
