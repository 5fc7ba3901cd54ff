//! SPEC §5 `runledger runs create --from-file runs.jsonl [--atomic]`: one
//! JSON create per line, sent as `POST /v1/runs/batch` in chunks of up to
//! 1,000; a table or one JSON line per line of the file; refusals name the
//! line and exit 1; a line that is not a create is a usage error (exit 2)
//! and nothing is sent. Against a real `runledger serve`.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod port_server;
mod server;
mod support;

use server::TestServer;
use std::process::Command;
use support::{exit_code, fresh_dir, run, runledger, sqlite_url};

fn runs(server: &TestServer, args: &[&str]) -> Command {
    let mut command = runledger();
    command
        .env_remove("RUNLEDGER_SERVER")
        .env_remove("RUNLEDGER_TOKEN")
        .args(["--server", &server.base, "runs"])
        .args(args);
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    text(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn a_file_of_creates_is_sent_in_chunks_and_every_line_is_answered() {
    let dir = fresh_dir("runs-batch-file");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "runs.db"));
    let file = dir.join("runs.jsonl");
    // 2,500 creates (three requests), a blank line, a child of an earlier
    // line, and a conflicting repeat at the end.
    let mut lines: Vec<String> = (0..2_500)
        .map(|n| format!(r#"{{"id":"r{n}","kind":"etl"}}"#))
        .collect();
    lines.push(String::new());
    lines.push(r#"{"kind":"etl-client","parent_id":"r0","key":"acme"}"#.into());
    lines.push(r#"{"id":"r1","kind":"other"}"#.into());
    std::fs::write(&file, lines.join("\n")).unwrap();
    let output = run(runs(&server, &["create", "--from-file"])
        .arg(&file)
        .arg("--json"));
    assert_eq!(exit_code(&output), 1, "stderr: {}", text(&output.stderr));
    assert!(text(&output.stderr).contains("1 of 2502 lines refused"));
    let answers = json_lines(&output.stdout);
    assert_eq!(answers.len(), 2_502);
    assert_eq!(answers[0]["line"], 1);
    assert_eq!(answers[0]["created"], true);
    assert_eq!(answers[0]["run"]["id"], "r0");
    assert_eq!(answers[2_499]["run"]["id"], "r2499");
    assert_eq!(answers[2_500]["line"], 2_502);
    assert_eq!(answers[2_500]["run"]["id"], "r0:acme");
    assert_eq!(answers[2_501]["line"], 2_503);
    assert_eq!(answers[2_501]["problem"]["code"], "run_conflict");
    // Again, as a table: every run existed, the conflict is still refused.
    let output = run(runs(&server, &["create", "--from-file"]).arg(&file));
    assert_eq!(exit_code(&output), 1);
    let table = text(&output.stdout);
    assert_eq!(table.matches("existed").count(), 2_501, "{table}");
    assert!(table.contains("run_conflict"), "{table}");
    let got = run(&mut runs(&server, &["get", "r2499", "--json"]));
    assert_eq!(exit_code(&got), 0);
}

#[test]
fn an_atomic_file_writes_nothing_when_a_line_is_refused_and_names_it() {
    let dir = fresh_dir("runs-batch-atomic");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "runs.db"));
    let file = dir.join("runs.jsonl");
    std::fs::write(
        &file,
        "{\"id\":\"a\",\"kind\":\"etl\"}\n\n{\"kind\":\"c\",\"parent_id\":\"nope\",\"key\":\"k\"}\n",
    )
    .unwrap();
    let output = run(runs(&server, &["create", "--atomic", "--from-file"]).arg(&file));
    assert_eq!(exit_code(&output), 1);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("not_found"), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
    let missing = run(&mut runs(&server, &["get", "a"]));
    assert_eq!(exit_code(&missing), 1, "nothing was created");
    std::fs::write(
        &file,
        "{\"id\":\"a\",\"kind\":\"etl\"}\n{\"id\":\"b\",\"kind\":\"etl\"}\n",
    )
    .unwrap();
    let output = run(runs(&server, &["create", "--atomic", "--from-file"]).arg(&file));
    assert_eq!(exit_code(&output), 0, "stderr: {}", text(&output.stderr));
    assert_eq!(text(&output.stdout).matches("created").count(), 2);
}

#[test]
fn a_line_that_is_not_a_create_is_a_usage_error_naming_it_and_sends_nothing() {
    let dir = fresh_dir("runs-batch-usage");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "runs.db"));
    let file = dir.join("runs.jsonl");
    std::fs::write(
        &file,
        "{\"id\":\"a\",\"kind\":\"etl\"}\n{\"id\":\"b\",\"kynd\":\"etl\"}\n",
    )
    .unwrap();
    let output = run(runs(&server, &["create", "--from-file"]).arg(&file));
    assert_eq!(exit_code(&output), 2);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
    assert_eq!(exit_code(&run(&mut runs(&server, &["get", "a"]))), 1);
    let output = run(&mut runs(&server, &["create", "--kind", "etl", "--atomic"]));
    assert_eq!(exit_code(&output), 2, "--atomic needs --from-file");
    let help = run(&mut runs(&server, &["create", "--help"]));
    assert!(text(&help.stdout).contains("--from-file runs.jsonl"));
}
