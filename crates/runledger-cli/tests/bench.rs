//! `runledger bench` against real SQLite files, in-process (`--db`) and
//! over HTTP against a real `runledger serve` (`--server`): the JSON
//! summary has the SPEC §5 keys (plus `duplicates`, `over_limit`, `orphans`
//! for the race), a clean load counts no errors, the counted operations are
//! really stored, and the race — across three processes, or over HTTP
//! audited from the run list or with `--db` by the library — leaves no
//! duplicate, no over-limit group and no orphan (guarantees 1, 3 and 4).
//! Counts only, no timings.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod port_server;
mod server;
mod support;

use port_server::free_port;
use server::TestServer;
use support::{exit_code, fresh_dir, json, run, runledger, sqlite_url};

const SUMMARY_KEYS: [&str; 10] = [
    "workload",
    "clients",
    "duration_s",
    "ops",
    "ops_per_sec",
    "errors",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
];

#[test]
fn create_bench_prints_the_summary_keys_and_no_errors() {
    let dir = fresh_dir("bench-create");
    let output = run(runledger().args([
        "bench",
        "--db",
        &sqlite_url(&dir, "bench.db"),
        "--workload",
        "create",
        "--duration",
        "1",
        "--clients",
        "4",
        "--json",
    ]));
    assert_eq!(exit_code(&output), 0);
    let summary = json(&output);
    let keys: Vec<&str> = summary
        .as_object()
        .expect("the summary is an object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = SUMMARY_KEYS.to_vec();
    expected.sort_unstable();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(keys_sorted, expected);
    assert_eq!(summary["workload"], "create");
    assert_eq!(summary["clients"], 4);
    let ops = summary["ops"].as_u64().expect("ops is a count");
    assert!(ops > 0);
    assert_eq!(summary["errors"], 0);
    assert_eq!(
        stored_runs(&dir.join("bench.db")),
        ops,
        "each create made one run"
    );
}

#[test]
fn race_across_three_processes_leaves_no_duplicate_over_limit_or_orphan() {
    let dir = fresh_dir("bench-race");
    let db = sqlite_url(&dir, "race.db");
    let output = run(runledger().args([
        "bench",
        "--db",
        &db,
        "--workload",
        "race",
        "--processes",
        "3",
        "--clients",
        "8",
        "--duration",
        "2",
        "--json",
    ]));
    assert_eq!(exit_code(&output), 0);
    let summary = json(&output);
    assert_eq!(summary["workload"], "race");
    assert_eq!(summary["clients"], 24);
    assert!(summary["ops"].as_u64().expect("ops is a count") > 0);
    assert_eq!(summary["errors"], 0);
    assert_eq!(summary["duplicates"], 0);
    assert_eq!(summary["over_limit"], 0);
    assert_eq!(summary["orphans"], 0);
}

#[test]
fn every_workload_runs_without_errors() {
    let dir = fresh_dir("bench-every-workload");
    for workload in ["repeat", "append", "group"] {
        let output = run(runledger().args([
            "bench",
            "--db",
            &sqlite_url(&dir, &format!("{workload}.db")),
            "--workload",
            workload,
            "--duration",
            "0.5",
            "--clients",
            "2",
            "--json",
        ]));
        assert_eq!(exit_code(&output), 0, "{workload}");
        let summary = json(&output);
        assert_eq!(summary["workload"], workload);
        assert!(
            summary["ops"].as_u64().expect("ops is a count") > 0,
            "{workload}"
        );
        assert_eq!(summary["errors"], 0, "{workload}");
        assert!(
            summary.get("duplicates").is_none(),
            "race keys only for race"
        );
    }
}

/// One hot group (limit 3) decided by callers in three processes at once:
/// admissions, refusals and cancels, and the audit finds the group never
/// over its limit (P8's second half, counted rather than timed).
#[test]
fn a_hot_group_across_processes_is_never_over_its_limit() {
    let dir = fresh_dir("bench-hot-group");
    let output = run(runledger().args([
        "bench",
        "--db",
        &sqlite_url(&dir, "hot.db"),
        "--workload",
        "hot-group",
        "--processes",
        "3",
        "--clients",
        "4",
        "--duration",
        "1",
        "--json",
    ]));
    assert_eq!(
        exit_code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = json(&output);
    assert_eq!(summary["workload"], "hot-group");
    assert_eq!(summary["clients"], 12);
    assert!(summary["ops"].as_u64().expect("ops is a count") > 0);
    assert_eq!(summary["errors"], 0);
    assert_eq!(summary["duplicates"], 0);
    assert_eq!(summary["over_limit"], 0);
    assert_eq!(summary["orphans"], 0);
}

#[test]
fn processes_add_up_their_callers() {
    let dir = fresh_dir("bench-processes");
    let output = run(runledger().args([
        "bench",
        "--db",
        &sqlite_url(&dir, "bench.db"),
        "--workload",
        "create",
        "--processes",
        "2",
        "--clients",
        "2",
        "--duration",
        "0.5",
        "--json",
    ]));
    assert_eq!(exit_code(&output), 0);
    let summary = json(&output);
    assert_eq!(summary["clients"], 4);
    let ops = summary["ops"].as_u64().expect("ops is a count");
    assert!(ops > 0);
    assert_eq!(summary["errors"], 0);
    assert_eq!(
        stored_runs(&dir.join("bench.db")),
        ops,
        "each create made one run"
    );
}

fn stored_runs(path: &std::path::Path) -> u64 {
    let connection = rusqlite::Connection::open(path).expect("the bench file opens");
    let runs: i64 = connection
        .query_row("SELECT COUNT(*) FROM runs", [], |row| row.get(0))
        .expect("runs can be counted");
    u64::try_from(runs).expect("a count is not negative")
}

const RACE_KEYS: [&str; 3] = ["duplicates", "over_limit", "orphans"];

/// `runledger bench --server <server> --workload <workload> …  --json`.
fn bench_server(server: &TestServer, workload: &str, extra: &[&str]) -> serde_json::Value {
    let output = run(runledger()
        .env_remove("RUNLEDGER_TOKEN")
        .args(["bench", "--server", &server.base, "--workload", workload])
        .args(["--duration", "1", "--clients", "4", "--json"])
        .args(extra));
    assert_eq!(
        exit_code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    json(&output)
}

fn sorted_keys(summary: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = summary
        .as_object()
        .expect("the summary is an object")
        .keys()
        .cloned()
        .collect();
    keys.sort_unstable();
    keys
}

fn expected_keys(race: bool) -> Vec<String> {
    let mut keys: Vec<String> = SUMMARY_KEYS.iter().map(|key| key.to_string()).collect();
    if race {
        keys.extend(RACE_KEYS.iter().map(|key| key.to_string()));
    }
    keys.sort_unstable();
    keys
}

#[test]
fn create_and_repeat_over_http_print_the_summary_keys_and_write_what_they_count() {
    let dir = fresh_dir("bench-server-create");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "bench.db"));
    let created = bench_server(&server, "create", &[]);
    assert_eq!(sorted_keys(&created), expected_keys(false));
    assert_eq!(created["workload"], "create");
    assert_eq!(created["clients"], 4);
    assert_eq!(created["errors"], 0);
    let ops = created["ops"].as_u64().expect("ops is a count");
    assert!(ops > 0);
    for key in ["p50_ms", "p90_ms", "p99_ms", "max_ms", "ops_per_sec"] {
        assert!(created[key].as_f64().expect("a number") > 0.0, "{key}");
    }
    let client = server::Client::new(&server);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let stored = runtime.block_on(client.all_run_ids()).len() as u64;
    assert_eq!(
        stored, ops,
        "each counted create made one run on the server"
    );

    let repeated = bench_server(&server, "repeat", &[]);
    assert_eq!(sorted_keys(&repeated), expected_keys(false));
    assert_eq!(repeated["errors"], 0);
    let stored_after = runtime.block_on(client.all_run_ids()).len() as u64;
    assert_eq!(
        stored_after,
        ops + 10_000,
        "repeats add nothing past the prepared runs"
    );

    // Two worker processes against the same server add their figures up.
    let workers = bench_server(&server, "create", &["--processes", "2"]);
    assert_eq!(workers["clients"], 8);
    assert_eq!(workers["errors"], 0);
    let worker_ops = workers["ops"].as_u64().expect("ops is a count");
    let stored_last = runtime.block_on(client.all_run_ids()).len() as u64;
    assert_eq!(stored_last, stored_after + worker_ops);
}

#[test]
fn race_over_http_audits_clean_from_the_run_list_and_from_the_database() {
    let dir = fresh_dir("bench-server-race");
    let db = sqlite_url(&dir, "bench.db");
    let server = TestServer::start(&dir, &db);
    let listed = bench_server(&server, "race", &[]);
    assert_eq!(sorted_keys(&listed), expected_keys(true));
    assert!(listed["ops"].as_u64().expect("ops") > 0);
    assert_eq!(listed["errors"], 0);
    for key in RACE_KEYS {
        assert_eq!(listed[key], 0, "{key}");
    }
    let audited = bench_server(&server, "race", &["--db", &db]);
    assert_eq!(sorted_keys(&audited), expected_keys(true));
    for key in RACE_KEYS {
        assert_eq!(audited[key], 0, "{key}");
    }
}

#[test]
fn bench_against_no_server_exits_3() {
    let port = free_port();
    let output = run(runledger().args([
        "bench",
        "--server",
        &format!("http://127.0.0.1:{port}"),
        "--workload",
        "create",
    ]));
    assert_eq!(exit_code(&output), 3);
    assert!(String::from_utf8_lossy(&output.stderr).contains("runledger serve"));
}
