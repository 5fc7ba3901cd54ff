//! `runledger bench` against real SQLite files: the JSON summary has the
//! SPEC §5 keys, a clean load counts no errors, and the race across three
//! processes leaves no duplicate, no over-limit group and no orphan
//! (guarantees 1, 3 and 4, checked by the audit). Counts only, no timings.

mod support;

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
