//! `runledger bench --workload batch` and `--workload replace-pending`:
//! both run without errors, in-process and over HTTP, and write what they
//! count (batch: 1,000 runs per operation, reported as runs/s;
//! replace-pending: at most one queued and one pending run per group, the
//! rest cancelled).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod port_server;
mod server;
mod support;

use server::TestServer;
use support::{exit_code, fresh_dir, json, run, runledger, sqlite_url};

fn count(path: &std::path::Path, sql: &str) -> u64 {
    let connection = rusqlite::Connection::open(path).unwrap();
    let count: i64 = connection.query_row(sql, [], |row| row.get(0)).unwrap();
    u64::try_from(count).unwrap()
}

fn bench(target: &[&str], workload: &str) -> serde_json::Value {
    let output = run(runledger()
        .env_remove("RUNLEDGER_TOKEN")
        .arg("bench")
        .args(target)
        .args([
            "--workload",
            workload,
            "--duration",
            "1",
            "--clients",
            "4",
            "--json",
        ]));
    assert_eq!(
        exit_code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = json(&output);
    assert_eq!(summary["workload"], workload);
    assert_eq!(summary["clients"], 4);
    assert_eq!(summary["errors"], 0);
    assert!(summary["ops"].as_u64().unwrap() > 0);
    summary
}

#[test]
fn the_batch_workload_creates_a_thousand_runs_per_operation_and_reports_runs_per_second() {
    let dir = fresh_dir("bench-batch");
    let url = sqlite_url(&dir, "batch.db");
    let summary = bench(&["--db", &url], "batch");
    let ops = summary["ops"].as_u64().unwrap();
    assert_eq!(
        count(&dir.join("batch.db"), "SELECT COUNT(*) FROM runs"),
        ops * 1_000
    );
    let runs_per_sec = summary["runs_per_sec"].as_f64().unwrap();
    let ops_per_sec = summary["ops_per_sec"].as_f64().unwrap();
    assert!((runs_per_sec - ops_per_sec * 1_000.0).abs() < 1.0);

    let dir = fresh_dir("bench-batch-server");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "server.db"));
    let summary = bench(&["--server", &server.base], "batch");
    let ops = summary["ops"].as_u64().unwrap();
    assert_eq!(
        count(&dir.join("server.db"), "SELECT COUNT(*) FROM runs"),
        ops * 1_000
    );
}

#[test]
fn the_replace_pending_workload_keeps_one_pending_run_per_group() {
    let dir = fresh_dir("bench-replace-pending");
    let url = sqlite_url(&dir, "replace.db");
    let summary = bench(&["--db", &url], "replace-pending");
    let path = dir.join("replace.db");
    let ops = summary["ops"].as_u64().unwrap();
    assert_eq!(count(&path, "SELECT COUNT(*) FROM runs"), ops);
    assert!(summary.get("runs_per_sec").is_none());
    let over = "SELECT COUNT(*) FROM (SELECT concurrency_key FROM runs WHERE state = '{s}' \
                GROUP BY concurrency_key HAVING COUNT(*) > 1)";
    for state in ["pending", "queued"] {
        assert_eq!(count(&path, &over.replace("{s}", state)), 0, "{state}");
    }
    let live = count(
        &path,
        "SELECT COUNT(*) FROM runs WHERE state IN ('pending', 'queued')",
    );
    assert!(live <= 2 * 16);
    assert_eq!(
        count(&path, "SELECT COUNT(*) FROM runs WHERE state = 'cancelled'"),
        ops - live
    );
}
