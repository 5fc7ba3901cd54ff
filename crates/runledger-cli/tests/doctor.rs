//! `runledger doctor` (SPEC §5) on real SQLite files: a clean ledger exits
//! 0 with `ok: true`; a file broken by hand (a run's `created` event
//! deleted behind the ledger's back, guarantee 3) exits 1 and names the
//! run; an expired lease is a problem that `--fix` repairs, reported with
//! its RFC 3339 expiry and the command that repairs it (SQLite and
//! PostgreSQL); the table counts "1 problem"; a missing file exits 2 and
//! is not created.
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

    let detail = report["problems"][0]["detail"].as_str().unwrap().to_owned();
    assert_eq!(
        detail,
        format!(
            "running with a lease that expired at 1970-01-01T00:00:00.001Z; \
             repair: runledger doctor --db {db} --fix"
        )
    );
    let table = run(runledger()
        .args(["doctor", "--db", &db])
        .env_remove("RUNLEDGER_DB"));
    assert_eq!(exit_code(&table), 1);
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(table.contains(&format!("\n1 problem in {db}\n")), "{table}");
    assert!(table.contains("1970-01-01T00:00:00.001Z"), "{table}");

    let fixed = run(runledger()
        .args(["doctor", "--db", &db, "--fix", "--json"])
        .env_remove("RUNLEDGER_DB"));
    assert_eq!(exit_code(&fixed), 0);
    assert_eq!(json(&fixed)["ok"], true);
    assert!(
        String::from_utf8_lossy(&fixed.stderr).contains("reaped 1 expired lease\n"),
        "{}",
        String::from_utf8_lossy(&fixed.stderr)
    );
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

#[tokio::test]
async fn an_expired_lease_on_postgres_is_reported_in_rfc_3339_with_its_repair() {
    let db = support::postgres_url("doctor_expired_lease");
    create_run(&db.url, "abandoned", true).await;
    support::psql(
        &db.url,
        "UPDATE runs SET lease_expires_at = 1700000000123 WHERE id = 'abandoned'",
    );
    let (code, report) = doctor(&db.url, &[]);
    assert_eq!(code, 1);
    let redacted = runledger::redact_db_url(&db.url);
    assert_eq!(
        report["problems"][0]["detail"],
        format!(
            "running with a lease that expired at 2023-11-14T22:13:20.123Z; \
             repair: runledger doctor --db {redacted} --fix"
        )
    );
    let (code, report) = doctor(&db.url, &["--fix"]);
    assert_eq!((code, &report["ok"]), (0, &serde_json::json!(true)));
}
