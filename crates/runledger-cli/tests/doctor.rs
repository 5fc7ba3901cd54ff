//! `runledger doctor` (SPEC §5) on real SQLite files: a clean ledger exits
//! 0 with `ok: true`; a file broken by hand (a run's `created` event
//! deleted behind the ledger's back, guarantee 3) exits 1 and names the
//! run; an expired lease is a problem that `--fix` repairs; a missing file
//! exits 2 and is not created.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{CreateRun, Kind, Ledger, Options, Owner, RunId, Tenant};
use std::path::Path;
use support::{exit_code, fresh_dir, json, run, runledger, sqlite_url};

/// Creates one run `id` through the library, started when `start` is set.
async fn create_run(db: &str, id: &str, start: bool) {
    let options = Options {
        reap_interval: None,
        ..Options::default()
    };
    let ledger = Ledger::open_with(db, options)
        .await
        .expect("the ledger opens");
    let mut request = CreateRun::new(Kind::parse("doctor-test").expect("a valid kind"))
        .id(RunId::parse(id).expect("a valid id"));
    if start {
        request = request.start(Owner::parse("doctor-test").expect("a valid owner"), 60_000);
    }
    ledger
        .create_run(&Tenant::default(), request)
        .await
        .expect("the run is created");
}

fn sql(path: &Path, statements: &str) {
    let connection = rusqlite::Connection::open(path).expect("the ledger file opens");
    connection
        .execute_batch(statements)
        .expect("the statements run");
}

fn doctor(db: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let output = run(runledger()
        .args(["doctor", "--db", db, "--json"])
        .args(extra)
        .env_remove("RUNLEDGER_DB"));
    (exit_code(&output), json(&output))
}

fn problem_kinds(report: &serde_json::Value) -> Vec<(String, String)> {
    report["problems"]
        .as_array()
        .expect("problems is a list")
        .iter()
        .map(|problem| {
            (
                problem["kind"].as_str().unwrap_or_default().to_owned(),
                problem["run_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn clean_ledger_is_ok() {
    let dir = fresh_dir("doctor-clean");
    let db = sqlite_url(&dir, "ledger.db");
    create_run(&db, "clean-1", false).await;
    create_run(&db, "clean-2", true).await;
    let (code, report) = doctor(&db, &[]);
    assert_eq!(code, 0);
    assert_eq!(report, serde_json::json!({"ok": true, "problems": []}));
}

#[tokio::test]
async fn deleted_created_event_is_reported_and_exits_1() {
    let dir = fresh_dir("doctor-missing-created");
    let db = sqlite_url(&dir, "ledger.db");
    create_run(&db, "intact", false).await;
    create_run(&db, "broken", false).await;
    sql(
        &dir.join("ledger.db"),
        "PRAGMA foreign_keys = OFF;
         DELETE FROM events WHERE seq = 1 AND run_id = 'broken';",
    );
    let (code, report) = doctor(&db, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["ok"], false);
    let kinds = problem_kinds(&report);
    assert!(
        kinds.contains(&("missing_created_event".to_owned(), "broken".to_owned())),
        "{kinds:?}"
    );
    assert!(
        kinds.iter().all(|(_, run_id)| run_id != "intact"),
        "{kinds:?}"
    );

    // --fix repairs only leases: the missing event is still reported.
    let (code, report) = doctor(&db, &["--fix"]);
    assert_eq!(code, 1);
    assert!(
        problem_kinds(&report).contains(&("missing_created_event".to_owned(), "broken".to_owned()))
    );
}

#[tokio::test]
async fn expired_lease_is_a_problem_that_fix_repairs() {
    let dir = fresh_dir("doctor-expired-lease");
    let db = sqlite_url(&dir, "ledger.db");
    create_run(&db, "abandoned", true).await;
    // Expire the lease by moving it back in time, never by sleeping.
    sql(
        &dir.join("ledger.db"),
        "UPDATE runs SET lease_expires_at = 1 WHERE id = 'abandoned';",
    );
    let (code, report) = doctor(&db, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        problem_kinds(&report),
        vec![("expired_lease".to_owned(), "abandoned".to_owned())]
    );

    let (code, report) = doctor(&db, &["--fix"]);
    assert_eq!(code, 0);
    assert_eq!(report["ok"], true);
    let connection = rusqlite::Connection::open(dir.join("ledger.db")).expect("the file opens");
    let state: String = connection
        .query_row("SELECT state FROM runs WHERE id = 'abandoned'", [], |row| {
            row.get(0)
        })
        .expect("the run is there");
    assert_eq!(state, "timed_out");
}

#[test]
fn missing_file_exits_2_and_is_not_created() {
    let dir = fresh_dir("doctor-missing-file");
    let path = dir.join("nothing.db");
    let output = run(runledger()
        .args(["doctor", "--db", &sqlite_url(&dir, "nothing.db")])
        .env_remove("RUNLEDGER_DB"));
    assert_eq!(exit_code(&output), 2);
    assert!(!path.exists());
}
