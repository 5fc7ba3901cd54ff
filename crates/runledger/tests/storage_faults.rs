//! Operating faults of the store: a read-only file, a full disk, a file from
//! a newer runledger, many processes opening a new file at once. Each gives
//! the caller an error and never a half write.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{CreateRun, ErrorCode, Kind, Ledger, Options, RunId, Tenant};
use serde_json::json;
use support::TestDb;
use support::racer::{Script, race};

#[test]
fn racer_child_entry_point() {
    support::racer::child_main()
}

conformance!(
    a_database_from_a_newer_runledger_is_refused_untouched,
    processes_opening_a_new_file_at_once_migrate_it_once,
);

// PostgreSQL's faults (a server stopped, a connection killed) have their own tests.
sqlite_only!(
    a_read_only_database_refuses_writes_and_still_answers_reads,
    a_full_database_refuses_the_write_and_keeps_every_acknowledged_one,
);

fn create(id: &str) -> CreateRun {
    CreateRun::new(Kind::parse("k").unwrap()).id(RunId::parse(id).unwrap())
}

async fn a_read_only_database_refuses_writes_and_still_answers_reads(db: TestDb) {
    let tenant = Tenant::default();
    db.open()
        .await
        .create_run(&tenant, create("existing"))
        .await
        .unwrap();
    let before = db.snapshot();
    let read_only = Ledger::open(&format!("{}?mode=ro", db.url)).await.unwrap();
    let error = read_only
        .create_run(&tenant, create("new"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::Internal);
    assert!(error.to_string().contains("readonly"), "{error}");
    assert_eq!(
        read_only
            .get_run(&tenant, &RunId::parse("existing").unwrap())
            .await
            .unwrap()
            .version,
        1
    );
    // A repeat of an existing run is a read, so it still answers.
    assert!(
        !read_only
            .create_run(&tenant, create("existing"))
            .await
            .unwrap()
            .created
    );
    assert_eq!(db.snapshot(), before);
}

async fn a_full_database_refuses_the_write_and_keeps_every_acknowledged_one(db: TestDb) {
    let tenant = Tenant::default();
    db.open().await;
    let pages = db.count("PRAGMA page_count") as u64;
    let options = Options {
        sqlite_max_page_count: Some(pages + 40),
        ..Options::default()
    };
    let ledger = Ledger::open_with(&db.url, options).await.unwrap();
    let filler = json!({"filler": "x".repeat(16 * 1024)});
    let mut acknowledged = Vec::new();
    let error = loop {
        let id = format!("r{}", acknowledged.len());
        match ledger
            .create_run(&tenant, create(&id).attributes(filler.clone()))
            .await
        {
            Ok(_) => acknowledged.push(id),
            Err(error) => break error,
        }
        assert!(
            acknowledged.len() < 1_000,
            "the page limit never refused a write"
        );
    };
    assert_eq!(error.code(), ErrorCode::InsufficientStorage);
    assert!(error.to_string().contains("full"), "{error}");
    assert!(!acknowledged.is_empty());
    drop(ledger);
    let reopened = db.open_without_reaper().await;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM runs") as usize,
        acknowledged.len()
    );
    for id in &acknowledged {
        reopened
            .get_run(&tenant, &RunId::parse(id).unwrap())
            .await
            .unwrap();
    }
    assert!(reopened.audit().await.unwrap().is_clean());
    // With room again, writes go on.
    reopened.create_run(&tenant, create("after")).await.unwrap();
}

async fn a_database_from_a_newer_runledger_is_refused_untouched(db: TestDb) {
    db.open().await;
    db.execute_sql("INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')");
    let before = db.snapshot();
    let error = Ledger::open(&db.url)
        .await
        .err()
        .expect("a newer schema is refused");
    assert!(
        error
            .to_string()
            .contains("newer than this runledger knows"),
        "{error}"
    );
    assert!(error.to_string().contains("upgrade runledger"));
    assert_eq!(db.snapshot(), before);
}

async fn processes_opening_a_new_file_at_once_migrate_it_once(db: TestDb) {
    let scripts = (0..8)
        .map(|_| Script::Steps { steps: Vec::new() })
        .collect();
    for report in race(&db, scripts, &[]).await {
        assert!(report.success, "every process opened the new file");
    }
    let applied = db.count("SELECT COUNT(*) FROM schema_migrations");
    assert_eq!(
        applied,
        db.count("SELECT MAX(version) FROM schema_migrations"),
        "each migration applied once"
    );
    assert!(db.open().await.audit().await.unwrap().is_clean());
}
