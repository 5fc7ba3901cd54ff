//! `runledger bench --server URL` (SPEC §5): the load generator over HTTP
//! against a real `runledger serve`. The JSON summary has exactly the SPEC
//! keys (plus `duplicates`, `over_limit`, `orphans` for the race), the
//! counted operations are really on the server, and the race audit — from
//! the server's run list, or with `--db` from the library on the server's
//! own file — finds no duplicate, no over-limit group and no orphan.

mod server;
mod support;

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
const RACE_KEYS: [&str; 3] = ["duplicates", "over_limit", "orphans"];

/// `runledger bench --server <server> --workload <workload> …  --json`.
fn bench(server: &TestServer, workload: &str, extra: &[&str]) -> serde_json::Value {
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
    let created = bench(&server, "create", &[]);
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

    let repeated = bench(&server, "repeat", &[]);
    assert_eq!(sorted_keys(&repeated), expected_keys(false));
    assert_eq!(repeated["errors"], 0);
    let stored_after = runtime.block_on(client.all_run_ids()).len() as u64;
    assert_eq!(
        stored_after,
        ops + 10_000,
        "repeats add nothing past the prepared runs"
    );
}

#[test]
fn race_over_http_audits_clean_from_the_run_list_and_from_the_database() {
    let dir = fresh_dir("bench-server-race");
    let db = sqlite_url(&dir, "bench.db");
    let server = TestServer::start(&dir, &db);
    let listed = bench(&server, "race", &[]);
    assert_eq!(sorted_keys(&listed), expected_keys(true));
    assert!(listed["ops"].as_u64().expect("ops") > 0);
    assert_eq!(listed["errors"], 0);
    for key in RACE_KEYS {
        assert_eq!(listed[key], 0, "{key}");
    }
    let audited = bench(&server, "race", &["--db", &db]);
    assert_eq!(sorted_keys(&audited), expected_keys(true));
    for key in RACE_KEYS {
        assert_eq!(audited[key], 0, "{key}");
    }
}

#[test]
fn bench_against_no_server_exits_3() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
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
