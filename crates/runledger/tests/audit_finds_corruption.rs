//! `audit()` finds every kind of invariant violation: each test corrupts a
//! sound database by hand, behind the ledger's back (dropping the constraint
//! that would have stopped it where needed), and expects the audit to name
//! exactly what was broken.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{CreateRun, Kind, OnFull, Owner, ProblemKind, RunId, Segment, Tenant};
use support::TestDb;

conformance!(the_audit_names_each_kind_of_corruption);

/// A small sound ledger: a parent with a child, a running run, a full
/// group of limit 1 with one pending run.
async fn sound(db: &TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    let kind = Kind::parse("k").unwrap();
    let id = |text: &str| RunId::parse(text).unwrap();
    ledger
        .create_run(&tenant, CreateRun::new(kind.clone()).id(id("parent")))
        .await
        .unwrap();
    let child =
        CreateRun::new(kind.clone()).child_of(id("parent"), Segment::parse("acme").unwrap());
    ledger.create_run(&tenant, child).await.unwrap();
    let running = CreateRun::new(kind.clone())
        .id(id("running"))
        .start(Owner::parse("w").unwrap(), 600_000);
    ledger.create_run(&tenant, running).await.unwrap();
    for name in ["active", "waiting"] {
        let grouped = CreateRun::new(kind.clone())
            .id(id(name))
            .concurrency_group(
                runledger::ConcurrencyKey::parse("g").unwrap(),
                1,
                OnFull::Enqueue,
            )
            .unwrap();
        ledger.create_run(&tenant, grouped).await.unwrap();
    }
    assert!(ledger.audit().await.unwrap().is_clean());
}

/// Each corruption and the problem kind it must produce.
const CORRUPTIONS: [(&str, ProblemKind); 11] = [
    (
        "DROP INDEX runs_one_per_id; DROP INDEX runs_created_order; DROP INDEX runs_one_per_child_key;
         INSERT INTO runs SELECT * FROM runs WHERE id = 'parent';",
        ProblemKind::DuplicateRun,
    ),
    (
        "DROP INDEX runs_one_per_id; DROP INDEX runs_created_order; DROP INDEX runs_one_per_child_key;
         INSERT INTO runs SELECT * FROM runs WHERE id = 'parent:acme';",
        ProblemKind::DuplicateChild,
    ),
    ("DELETE FROM events WHERE run_id = 'parent' AND seq = 1;", ProblemKind::MissingCreatedEvent),
    (
        "UPDATE runs SET state = 'succeeded', lease_owner = NULL, lease_expires_at = NULL WHERE id = 'running';",
        ProblemKind::MissingLifecycleEvent,
    ),
    ("UPDATE runs SET last_seq = last_seq + 1 WHERE id = 'parent';", ProblemKind::SeqGap),
    ("UPDATE events SET position = position + 10 WHERE position = (SELECT MAX(position) FROM events);", ProblemKind::PositionGap),
    (
        "INSERT INTO events (tenant, run_id, seq, position, type, data, at) VALUES ('default', 'ghost', 1, 1000, 'created', '{}', 0);",
        ProblemKind::OrphanEvent,
    ),
    (
        "DROP TRIGGER runs_concurrency_limit_on_promote; UPDATE runs SET state = 'queued' WHERE id = 'waiting';",
        ProblemKind::OverLimit,
    ),
    ("UPDATE runs SET state = 'cancelled' WHERE id = 'active';", ProblemKind::StuckPending),
    ("UPDATE runs SET lease_expires_at = lease_expires_at - 100000000 WHERE id = 'running';", ProblemKind::ExpiredLease),
    (
        "PRAGMA ignore_check_constraints = ON; UPDATE runs SET lease_owner = NULL WHERE id = 'running';",
        ProblemKind::LeaseMismatch,
    ),
];

/// The same corruptions in PostgreSQL's dialect (constraints dropped by name).
const POSTGRES_CORRUPTIONS: [(&str, ProblemKind); 11] = [
    (
        "ALTER TABLE events DROP CONSTRAINT events_belong_to_a_run; ALTER TABLE runs DROP CONSTRAINT runs_parent_exists;
         ALTER TABLE runs DROP CONSTRAINT runs_one_per_id; DROP INDEX runs_created_order; DROP INDEX runs_one_per_child_key;
         INSERT INTO runs SELECT * FROM runs WHERE id = 'parent';",
        ProblemKind::DuplicateRun,
    ),
    (
        "ALTER TABLE events DROP CONSTRAINT events_belong_to_a_run; ALTER TABLE runs DROP CONSTRAINT runs_parent_exists;
         ALTER TABLE runs DROP CONSTRAINT runs_one_per_id; DROP INDEX runs_created_order; DROP INDEX runs_one_per_child_key;
         INSERT INTO runs SELECT * FROM runs WHERE id = 'parent:acme';",
        ProblemKind::DuplicateChild,
    ),
    ("DELETE FROM events WHERE run_id = 'parent' AND seq = 1;", ProblemKind::MissingCreatedEvent),
    (
        "UPDATE runs SET state = 'succeeded', lease_owner = NULL, lease_expires_at = NULL WHERE id = 'running';",
        ProblemKind::MissingLifecycleEvent,
    ),
    ("UPDATE runs SET last_seq = last_seq + 1 WHERE id = 'parent';", ProblemKind::SeqGap),
    ("UPDATE events SET position = position + 10 WHERE position = (SELECT MAX(position) FROM events);", ProblemKind::PositionGap),
    (
        "ALTER TABLE events DROP CONSTRAINT events_belong_to_a_run;
         INSERT INTO events (tenant, run_id, seq, position, type, data, at) VALUES ('default', 'ghost', 1, 1000, 'created', '{}', 0);",
        ProblemKind::OrphanEvent,
    ),
    (
        "DROP TRIGGER runs_concurrency_limit_on_promote ON runs; UPDATE runs SET state = 'queued' WHERE id = 'waiting';",
        ProblemKind::OverLimit,
    ),
    ("UPDATE runs SET state = 'cancelled' WHERE id = 'active';", ProblemKind::StuckPending),
    ("UPDATE runs SET lease_expires_at = lease_expires_at - 100000000 WHERE id = 'running';", ProblemKind::ExpiredLease),
    (
        "ALTER TABLE runs DROP CONSTRAINT runs_lease_only_while_running; UPDATE runs SET lease_owner = NULL WHERE id = 'running';",
        ProblemKind::LeaseMismatch,
    ),
];

async fn the_audit_names_each_kind_of_corruption(db: TestDb) {
    let corruptions = match db.backend {
        support::Backend::Sqlite => CORRUPTIONS,
        support::Backend::Postgres => POSTGRES_CORRUPTIONS,
    };
    for (sql, kind) in corruptions {
        let db = TestDb::new(db.backend, &format!("corrupt-{kind:?}"));
        sound(&db).await;
        let sql = match db.backend {
            support::Backend::Sqlite => format!("PRAGMA foreign_keys = OFF; {sql}"),
            support::Backend::Postgres => sql.to_owned(),
        };
        db.execute_sql(&sql);
        let audit = db.open_without_reaper().await.audit().await.unwrap();
        assert!(
            audit.count(kind) >= 1,
            "{kind:?} not found after {sql}: {audit:#?}"
        );
        let problem = audit
            .problems
            .iter()
            .find(|problem| problem.kind == kind)
            .unwrap();
        assert_eq!(problem.tenant, "default");
        assert!(!problem.detail.is_empty());
    }
}
