//! `runledger bench --server URL --workload stream` against a real
//! `runledger serve` on SQLite: SSE subscribers on the tenant stream while
//! events are appended (SPEC §2.7, PERFORMANCE.md P7). The JSON summary has
//! the SPEC §5 keys plus the stream's, and every subscriber got every
//! appended event exactly once, in order. Counts only, no timings.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod support;

use server::TestServer;
use support::{exit_code, fresh_dir, json, run, runledger, sqlite_url};

const SUBSCRIBERS: u64 = 20;

const STREAM_SUMMARY_KEYS: [&str; 16] = [
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
    "subscribers",
    "deliveries",
    "deliveries_per_sec",
    "missing",
    "duplicates",
    "out_of_order",
];

#[test]
fn every_subscriber_gets_every_appended_event_once_in_order() {
    let dir = fresh_dir("bench-stream");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "stream.db"));
    let output = run(runledger().env_remove("RUNLEDGER_TOKEN").args([
        "bench",
        "--server",
        &server.base,
        "--workload",
        "stream",
        "--subscribers",
        &SUBSCRIBERS.to_string(),
        "--rate",
        "200",
        "--clients",
        "4",
        "--duration",
        "2",
        "--json",
    ]));
    assert_eq!(
        exit_code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = json(&output);
    let mut keys: Vec<&str> = summary
        .as_object()
        .expect("the summary is an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected = STREAM_SUMMARY_KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(summary["workload"], "stream");
    assert_eq!(summary["clients"], 4);
    assert_eq!(summary["subscribers"], SUBSCRIBERS);
    assert_eq!(summary["errors"], 0);
    assert_eq!(summary["missing"], 0);
    assert_eq!(summary["duplicates"], 0);
    assert_eq!(summary["out_of_order"], 0);
    let appended = summary["ops"].as_u64().expect("ops is a count");
    assert!(appended > 0);
    assert_eq!(
        summary["deliveries"]
            .as_u64()
            .expect("deliveries is a count"),
        appended * SUBSCRIBERS,
        "each appended event reached each subscriber once"
    );
}

#[test]
fn the_stream_workload_needs_a_server_and_one_process() {
    let dir = fresh_dir("bench-stream-usage");
    let without_server = run(runledger().args([
        "bench",
        "--db",
        &sqlite_url(&dir, "stream.db"),
        "--workload",
        "stream",
    ]));
    assert_eq!(exit_code(&without_server), 2);
    assert!(String::from_utf8_lossy(&without_server.stderr).contains("--server"));

    let processes = run(runledger().args([
        "bench",
        "--server",
        "http://127.0.0.1:9",
        "--workload",
        "stream",
        "--processes",
        "2",
    ]));
    assert_eq!(exit_code(&processes), 2);
}
