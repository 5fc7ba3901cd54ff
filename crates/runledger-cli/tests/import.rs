//! `runledger import` (SPEC §5) as a real process, on SQLite and on
//! PostgreSQL: legacy records (CSV, JSON lines) are mapped to runs with
//! their states and lifecycle events, ids normalized and de-duplicated,
//! every record that cannot be mapped reported with its line and reason,
//! nothing silently dropped; a second import changes nothing; without
//! `--apply` (or with the old `--dry-run`) nothing is written; the audit is
//! clean afterwards.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{Ledger, ListRuns, RunId, RunState, Tenant};
use serde_json::Value;
use std::path::Path;
use support::{exit_code, fresh_dir, json, postgres_url, run, runledger, sqlite_url};

const LEGACY_CSV: &str = "\
id,kind,state,parent_id,error,team
 nightly-1 ,etl,success,,,data
nightly-2,etl,FAILED,,disk full,data
nightly-3,etl,canceled,,,ops
nightly-4,etl,running,,,ops
nightly-5,etl,queued,,,ops
nightly-6,etl,timeout,,,ops
step-a,etl,done,nightly-1,,data
nightly-1,etl,success,,,data
nightly-2,etl,succeeded,,,data
bad id,etl,success,,,data
nightly-7,etl,half-done,,,data
";

/// What the file above must give: (run id, state).
const EXPECTED: [(&str, RunState); 7] = [
    ("nightly-1", RunState::Succeeded),
    ("nightly-2", RunState::Failed),
    ("nightly-3", RunState::Cancelled),
    ("nightly-4", RunState::Running),
    ("nightly-5", RunState::Queued),
    ("nightly-6", RunState::TimedOut),
    ("nightly-1:step-a", RunState::Succeeded),
];

fn import(db: &str, file: &Path, extra: &[&str]) -> (i32, Value) {
    let output = run(runledger()
        .arg("import")
        .arg(file)
        .args(["--db", db, "--json", "--lease-ttl-ms", "600000"])
        .args(extra)
        .env_remove("RUNLEDGER_DB"));
    (exit_code(&output), json(&output))
}

async fn open(db: &str) -> Ledger {
    let options = runledger::Options {
        reap_interval: None,
        ..runledger::Options::default()
    };
    Ledger::open_with(db, options)
        .await
        .expect("the ledger opens")
}

async fn event_count(ledger: &Ledger) -> usize {
    ledger
        .tenant_events(&Tenant::default(), 0, Some(1000))
        .await
        .expect("events")
        .len()
}

async fn a_legacy_csv_is_imported_once_and_every_bad_record_is_reported(dir: &Path, db: &str) {
    let file = dir.join("legacy.csv");
    std::fs::write(&file, LEGACY_CSV).unwrap();

    let (code, report) = import(db, &file, &["--apply"]);
    assert_eq!(code, 1, "some records are refused: {report}");
    assert_eq!(report["read"], 11, "{report}");
    assert_eq!(report["imported"], 7, "{report}");
    assert_eq!(report["existing"], 0, "{report}");
    assert_eq!(report["duplicates"], 1, "{report}");
    let rejected = report["rejected"].as_array().unwrap();
    let lines: Vec<u64> = rejected
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [10, 11, 12], "{report}");
    let reason = |line: u64| {
        rejected
            .iter()
            .find(|r| r["line"] == line)
            .and_then(|r| r["reason"].as_str())
            .unwrap()
            .to_owned()
    };
    assert!(
        reason(10).contains("line 3") && reason(10).contains("state"),
        "{}",
        reason(10)
    );
    assert!(
        reason(11).contains("id:") && reason(11).contains("U+0020"),
        "{}",
        reason(11)
    );
    assert!(reason(12).contains("half-done"), "{}", reason(12));

    let ledger = open(db).await;
    let tenant = Tenant::default();
    for (id, state) in EXPECTED {
        let stored = ledger
            .get_run(&tenant, &RunId::parse(id).unwrap())
            .await
            .unwrap_or_else(|error| panic!("{id}: {error}"));
        assert_eq!(stored.state, state, "{id}");
    }
    let failed = ledger
        .get_run(&tenant, &RunId::parse("nightly-2").unwrap())
        .await
        .unwrap();
    assert_eq!(failed.error.as_deref(), Some("disk full"));
    assert_eq!(failed.attributes, serde_json::json!({"team": "data"}));
    let page = ledger
        .list_runs(&tenant, ListRuns::default())
        .await
        .unwrap();
    assert_eq!(page.runs.len(), EXPECTED.len(), "nothing else was written");
    let events = event_count(&ledger).await;
    assert!(events >= 2 * EXPECTED.len(), "lifecycle events: {events}");
    assert!(ledger.audit().await.unwrap().is_clean());

    // Again: everything is there already; nothing is written.
    let (code, again) = import(db, &file, &["--apply"]);
    assert_eq!(code, 1, "{again}");
    assert_eq!(again["imported"], 0, "{again}");
    assert_eq!(again["existing"], 7, "{again}");
    assert_eq!(again["rejected"].as_array().unwrap().len(), 3, "{again}");
    assert_eq!(
        event_count(&ledger).await,
        events,
        "a repeat import wrote events"
    );
    assert!(ledger.audit().await.unwrap().is_clean());
}

async fn json_lines_with_a_mapping_and_a_dry_run(dir: &Path, db: &str) {
    let file = dir.join("legacy.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"job_id": "j-1", "status": "completed", "meta": {"rows": 10}}"#,
            "\n\n",
            r#"{"job_id": "j-2", "status": "in-progress"}"#,
            "\n",
            r#"{"status": "done"}"#,
            "\n",
        ),
    )
    .unwrap();
    let mapping = [
        "--map",
        "id=job_id",
        "--map",
        "state=status",
        "--kind",
        "sync",
    ];

    // Without --apply, and with the old --dry-run: nothing is written.
    let mut dry = mapping.to_vec();
    dry.push("--dry-run");
    for extra in [&mapping[..], &dry[..]] {
        let (code, report) = import(db, &file, extra);
        assert_eq!(code, 1, "{report}");
        assert_eq!(report["dry_run"], true);
        assert_eq!(report["runs"].as_array().unwrap().len(), 2, "{report}");
    }
    let ledger = open(db).await;
    assert_eq!(event_count(&ledger).await, 0, "a dry run wrote");

    let mut apply = mapping.to_vec();
    apply.push("--apply");
    let (code, report) = import(db, &file, &apply);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["read"], 3, "{report}");
    assert_eq!(report["imported"], 2, "{report}");
    let lines: Vec<u64> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [4], "{report}");
    let tenant = Tenant::default();
    let first = ledger
        .get_run(&tenant, &RunId::parse("j-1").unwrap())
        .await
        .unwrap();
    assert_eq!(first.state, RunState::Succeeded);
    assert_eq!(first.kind.as_str(), "sync");
    assert_eq!(first.attributes, serde_json::json!({"meta": {"rows": 10}}));
    assert!(ledger.audit().await.unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_on_sqlite() {
    let dir = fresh_dir("import-csv");
    a_legacy_csv_is_imported_once_and_every_bad_record_is_reported(&dir, &sqlite_url(&dir, "i.db"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_on_postgres() {
    let dir = fresh_dir("import-csv-postgres");
    let db = postgres_url("import_csv");
    a_legacy_csv_is_imported_once_and_every_bad_record_is_reported(&dir, &db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_on_sqlite() {
    let dir = fresh_dir("import-jsonl");
    json_lines_with_a_mapping_and_a_dry_run(&dir, &sqlite_url(&dir, "j.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_on_postgres() {
    let dir = fresh_dir("import-jsonl-postgres");
    let db = postgres_url("import_jsonl");
    json_lines_with_a_mapping_and_a_dry_run(&dir, &db.url).await;
}

#[test]
fn usage_errors_exit_2_and_write_nothing() {
    let dir = fresh_dir("import-usage");
    let db = sqlite_url(&dir, "u.db");
    let file = dir.join("runs.csv");
    std::fs::write(&file, "id,kind\na,etl\n").unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--map", "owner=x"], "unknown field"),
        (&["--kind", "bad kind"], "--kind"),
        (&["--format", "xml"], "xml"),
        (&["--tenant", "Not A Tenant!"], "--tenant"),
    ];
    for (extra, expected) in cases {
        let output = run(runledger()
            .arg("import")
            .arg(&file)
            .args(["--db", &db])
            .args(extra)
            .env_remove("RUNLEDGER_DB"));
        assert_eq!(exit_code(&output), 2, "{extra:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
    }
    let missing = run(runledger()
        .args(["import", "/nonexistent/runs.csv", "--db", &db])
        .env_remove("RUNLEDGER_DB"));
    assert_eq!(exit_code(&missing), 2);
    let unknown_extension = dir.join("runs.txt");
    std::fs::write(&unknown_extension, "id,kind\n").unwrap();
    let output = run(runledger()
        .arg("import")
        .arg(&unknown_extension)
        .args(["--db", &db])
        .env_remove("RUNLEDGER_DB"));
    assert_eq!(exit_code(&output), 2);
    assert!(
        !dir.join("u.db").exists(),
        "a refused import created the database"
    );
}

/// An imported `running` run holds a lease of `--lease-ttl-ms` from the
/// import: the reaper times it out, and importing the file again still
/// answers that run (nothing is written).
async fn an_imported_running_run_is_reaped(dir: &Path, db: &str) {
    let file = dir.join("running.csv");
    std::fs::write(
        &file,
        "id,kind,state,created_at,started_at\nstuck-1,etl,Running,2025-09-26T12:45:30Z,2025-09-26T12:45:35Z\n",
    )
    .unwrap();
    let apply = ["--apply", "--lease-ttl-ms", "100"];
    let output = run(runledger()
        .arg("import")
        .arg(&file)
        .args(["--db", db, "--json"])
        .args(apply)
        .env_remove("RUNLEDGER_DB"));
    assert_eq!(exit_code(&output), 0, "{}", json(&output));
    let ledger = open(db).await;
    let tenant = Tenant::default();
    let id = RunId::parse("stuck-1").unwrap();
    let imported = ledger.get_run(&tenant, &id).await.unwrap();
    assert_eq!(imported.state, RunState::Running);
    assert!(imported.lease.is_some());
    assert_eq!(
        imported.started_at.unwrap().to_rfc3339(),
        "2025-09-26T12:45:35.000Z"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(ledger.reap().await.unwrap(), 1);
    let reaped = ledger.get_run(&tenant, &id).await.unwrap();
    assert_eq!(reaped.state, RunState::TimedOut);
    let events = event_count(&ledger).await;
    let output = run(runledger()
        .arg("import")
        .arg(&file)
        .args(["--db", db, "--json"])
        .args(apply)
        .env_remove("RUNLEDGER_DB"));
    assert_eq!(exit_code(&output), 0, "{}", json(&output));
    assert_eq!(json(&output)["existing"], 1);
    assert_eq!(event_count(&ledger).await, events);
    assert!(ledger.audit().await.unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_reaped_on_sqlite() {
    let dir = fresh_dir("import-reaped");
    an_imported_running_run_is_reaped(&dir, &sqlite_url(&dir, "r.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_reaped_on_postgres() {
    let dir = fresh_dir("import-reaped-postgres");
    let db = postgres_url("import_reaped");
    an_imported_running_run_is_reaped(&dir, &db.url).await;
}
