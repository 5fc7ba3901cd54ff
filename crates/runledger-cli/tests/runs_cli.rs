//! SPEC §5 `runledger runs …`: "talk to a server (`--server URL`, a global
//! flag allowed before or after the subcommand, default
//! `http://127.0.0.1:7878`, env `RUNLEDGER_SERVER`; token from
//! `RUNLEDGER_TOKEN`) … Human tables by default; `--json` prints the API's
//! JSON body. Exit codes: 0 success, 1 the server refused (its problem
//! `detail` is printed), 2 usage error, 3 the server could not be reached."
//!
//! Each test runs the real `runledger` binary against a real `runledger
//! serve` on its own SQLite file, and checks stdout, stderr and the exit
//! code; `--follow` is read line by line while the run changes, and
//! across two SIGKILLs and restarts of the server.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod port_server;
mod server;
mod support;

use port_server::{PortServer, free_port};
use server::TestServer;
use std::borrow::BorrowMut;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use support::{exit_code, fresh_dir, json, run, runledger, sqlite_url};

/// How long a followed event may take to show up.
const LINE_DEADLINE: Duration = Duration::from_secs(20);

/// `runledger --server <server> runs <args…>`, with no server or token
/// from the environment.
fn runs(server: &TestServer, args: &[&str]) -> Command {
    let mut command = runledger();
    command
        .env_remove("RUNLEDGER_SERVER")
        .env_remove("RUNLEDGER_TOKEN")
        .args(["--server", &server.base, "runs"])
        .args(args);
    command
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `command`, asserts exit 0, answers stdout.
fn ok(mut command: impl BorrowMut<Command>) -> String {
    let output = run(command.borrow_mut());
    assert_eq!(exit_code(&output), 0, "stderr: {}", stderr(&output));
    stdout(&output)
}

/// Runs `command` with `--json`, asserts exit 0, answers the JSON.
fn ok_json(mut command: impl BorrowMut<Command>) -> serde_json::Value {
    let output = run(command.borrow_mut().arg("--json"));
    assert_eq!(exit_code(&output), 0, "stderr: {}", stderr(&output));
    json(&output)
}

#[test]
fn every_verb_answers_a_table_and_the_api_json_on_sqlite() {
    let dir = fresh_dir("runs-every-verb-sqlite");
    every_verb_answers_a_table_and_the_api_json(&dir, &sqlite_url(&dir, "runs.db"));
}

#[test]
fn every_verb_answers_a_table_and_the_api_json_on_postgres() {
    let dir = fresh_dir("runs-every-verb-postgres");
    let db = support::postgres_url("runs_every_verb");
    every_verb_answers_a_table_and_the_api_json(&dir, &db.url);
}

fn every_verb_answers_a_table_and_the_api_json(dir: &std::path::Path, db: &str) {
    let server = TestServer::start(dir, db);

    // create: table, then the identical repeat as JSON (200, same run).
    let table = ok(runs(&server, &["create", "--kind", "etl", "--id", "job-1"])
        .args(["--attributes", r#"{"region":"eu"}"#]));
    for text in [
        "created",
        "yes (201)",
        "job-1",
        "queued",
        r#"{"region":"eu"}"#,
    ] {
        assert!(table.contains(text), "{text} missing from:\n{table}");
    }
    let repeat = ok_json(
        runs(&server, &["create", "--kind", "etl", "--id", "job-1"])
            .args(["--attributes", r#"{"region":"eu"}"#]),
    );
    assert_eq!(repeat["id"], "job-1");
    assert_eq!(repeat["version"], 1);
    assert_eq!(repeat["attributes"]["region"], "eu");

    // A child in a group, started at once.
    let child = ok_json(runs(
        &server,
        &[
            "create",
            "--kind",
            "etl-client",
            "--parent",
            "job-1",
            "--key",
            "acme",
            "--concurrency-key",
            "clients",
            "--limit",
            "2",
            "--on-full",
            "enqueue",
            "--start-owner",
            "worker-9",
            "--lease-ttl-ms",
            "60000",
        ],
    ));
    assert_eq!(child["id"], "job-1:acme");
    assert_eq!(child["state"], "running");
    assert_eq!(child["concurrency_key"], "clients");
    assert_eq!(child["concurrency_limit"], 2);
    assert_eq!(child["lease"]["epoch"], 1);

    // get
    let table = ok(runs(&server, &["get", "job-1"]));
    assert!(
        table.contains("children") && table.contains("running 1"),
        "{table}"
    );
    let got = ok_json(runs(&server, &["get", "job-1:acme"]));
    assert_eq!(got["parent_id"], "job-1");
    assert_eq!(got["key"], "acme");

    // list, with a filter and paging
    let table = ok(runs(&server, &["list"]));
    assert!(
        table.contains("job-1:acme") && table.contains("2 runs, last page"),
        "{table}"
    );
    let page = ok_json(runs(&server, &["list", "--limit", "1"]));
    assert_eq!(page["runs"].as_array().expect("runs").len(), 1);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let table = ok(runs(&server, &["list", "--limit", "1"]));
    assert!(
        table.contains(&format!("more: --cursor {cursor}")),
        "{table}"
    );
    let next = ok_json(runs(
        &server,
        &["list", "--limit", "1", "--cursor", &cursor],
    ));
    assert_eq!(next["runs"][0]["id"], "job-1:acme");
    assert!(next["next_cursor"].is_null());
    let running = ok_json(runs(&server, &["list", "--state", "running"]));
    assert_eq!(running["runs"].as_array().expect("runs").len(), 1);

    // start, heartbeat, finish
    let started = ok_json(runs(
        &server,
        &["start", "job-1", "--owner", "w1", "--lease-ttl-ms", "60000"],
    ));
    assert_eq!(started["state"], "running");
    let epoch = started["lease"]["epoch"]
        .as_u64()
        .expect("an epoch")
        .to_string();
    let table = ok(runs(
        &server,
        &["heartbeat", "job-1", "--lease-epoch", &epoch],
    ));
    assert!(table.contains("owner w1, epoch 1"), "{table}");
    let beat = ok_json(runs(
        &server,
        &[
            "heartbeat",
            "job-1",
            "--lease-epoch",
            &epoch,
            "--lease-ttl-ms",
            "120000",
        ],
    ));
    assert_eq!(beat["version"], 4);
    let finished = ok_json(
        runs(&server, &["finish", "job-1", "--lease-epoch", &epoch]).args([
            "--outcome",
            "succeeded",
            "--result",
            r#"{"rows":42}"#,
            "--if-match",
            "4",
        ]),
    );
    assert_eq!(finished["state"], "succeeded");
    assert_eq!(finished["result"]["rows"], 42);

    // cancel: table, then the idempotent repeat as JSON
    let table = ok(runs(
        &server,
        &["cancel", "job-1:acme", "--reason", "not needed"],
    ));
    assert!(
        table.contains("cancelled") && table.contains("not needed"),
        "{table}"
    );
    let again = ok_json(runs(&server, &["cancel", "job-1:acme"]));
    assert_eq!(again["state"], "cancelled");
    assert_eq!(again["error"], "not needed");

    // cancel --cascade: the run, its child and grandchild, in one go
    ok(runs(&server, &["create", "--kind", "etl", "--id", "tree"]));
    for (parent, key) in [("tree", "a"), ("tree:a", "b")] {
        ok(runs(
            &server,
            &["create", "--kind", "step", "--parent", parent, "--key", key],
        ));
    }
    let root = ok_json(runs(
        &server,
        &["cancel", "tree", "--cascade", "--reason", "bad input"],
    ));
    assert_eq!(root["state"], "cancelled");
    for id in ["tree:a", "tree:a:b"] {
        let run = ok_json(runs(&server, &["get", id]));
        assert_eq!(run["state"], "cancelled", "{run}");
        assert_eq!(run["error"], "parent tree cancelled: bad input");
    }

    // events: the whole log, table and JSON
    let table = ok(runs(&server, &["events", "job-1"]));
    for text in ["created", "started", "succeeded"] {
        assert!(table.contains(text), "{text} missing from:\n{table}");
    }
    let events = ok_json(runs(&server, &["events", "job-1"]));
    let types: Vec<&str> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| event["type"].as_str().expect("a type"))
        .collect();
    assert_eq!(types, ["created", "started", "succeeded"]);
    let after = ok_json(runs(&server, &["events", "job-1", "--after", "2"]));
    assert_eq!(after["events"][0]["seq"], 3);
}

#[test]
fn refusals_exit_1_with_the_problem_code_and_detail() {
    let dir = fresh_dir("runs-refusals");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "runs.db"));
    ok(runs(&server, &["create", "--kind", "etl", "--id", "r1"]));

    let cases: [(&[&str], &str, &str); 6] = [
        (&["get", "missing"], "not_found", "run missing not found"),
        (
            &["create", "--kind", "other", "--id", "r1"],
            "run_conflict",
            "different kind",
        ),
        (
            &["heartbeat", "r1", "--lease-epoch", "1"],
            "invalid_transition",
            "cannot heartbeat run r1",
        ),
        (
            &["create", "--kind", "etl", "--attributes", "[1]"],
            "invalid_request",
            "attributes must be a JSON object",
        ),
        (
            &[
                "start",
                "r1",
                "--owner",
                "w",
                "--lease-ttl-ms",
                "60000",
                "--if-match",
                "7",
            ],
            "version_conflict",
            "not 7",
        ),
        (
            &["start", "r1", "--owner", "w", "--lease-ttl-ms", "5"],
            "invalid_request",
            "lease_ttl_ms",
        ),
    ];
    for (args, code, detail) in cases {
        let output = run(&mut runs(&server, args));
        assert_eq!(exit_code(&output), 1, "{args:?}");
        let stderr = stderr(&output);
        assert!(stderr.contains(code), "{args:?}: {stderr}");
        assert!(stderr.contains(detail), "{args:?}: {stderr}");
        assert!(stdout(&output).is_empty(), "{args:?} printed to stdout");
    }
    // Nothing the refusals touched changed.
    let run_json = ok_json(runs(&server, &["get", "r1"]));
    assert_eq!(
        (run_json["version"].as_u64(), run_json["state"].as_str()),
        (Some(1), Some("queued"))
    );
    let listed = ok_json(runs(&server, &["list"]));
    assert_eq!(listed["runs"].as_array().expect("runs").len(), 1);
}

#[test]
fn usage_errors_exit_2_and_send_nothing() {
    let dir = fresh_dir("runs-usage");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "runs.db"));
    let cases: [&[&str]; 8] = [
        &["create"],
        &["create", "--kind", "etl", "--id", "a b"],
        &["create", "--kind", "etl", "--attributes", "{not json"],
        &["create", "--kind", "etl", "--parent", "p"],
        &["create", "--kind", "etl", "--limit", "2"],
        &["finish", "r", "--lease-epoch", "1", "--outcome", "maybe"],
        &["events"],
        &["get", "x:y:z:a:b:c:d:e:f"],
    ];
    for args in cases {
        let output = run(&mut runs(&server, args));
        assert_eq!(exit_code(&output), 2, "{args:?}");
        assert!(!stderr(&output).is_empty(), "{args:?} said nothing");
    }
    let bad_id = run(&mut runs(
        &server,
        &["create", "--kind", "etl", "--id", "a b"],
    ));
    assert!(stderr(&bad_id).contains("U+0020"), "{}", stderr(&bad_id));
    let listed = ok_json(runs(&server, &["list"]));
    assert_eq!(
        listed["runs"],
        serde_json::json!([]),
        "a usage error sent a request"
    );
    // --server belongs to runs and bench only.
    let output = run(runledger().args(["--server", &server.base, "doctor", "--db", "x.db"]));
    assert_eq!(exit_code(&output), 2);
}

#[test]
fn an_unreachable_server_exits_3_with_a_hint() {
    // A port nothing listens on.
    let server = format!("http://127.0.0.1:{}", free_port());
    for args in [
        &["runs", "get", "r1"][..],
        &["runs", "list", "--json"],
        &["runs", "events", "r1", "--follow"],
        &["runs", "events", "--follow"],
    ] {
        let output = run(runledger()
            .env_remove("RUNLEDGER_TOKEN")
            .env("RUNLEDGER_SERVER", &server)
            .args(args));
        assert_eq!(exit_code(&output), 3, "{args:?}");
        let stderr = stderr(&output);
        assert!(stderr.contains(&server), "{args:?}: {stderr}");
        assert!(stderr.contains("runledger serve"), "{args:?}: {stderr}");
    }
}

#[test]
fn server_comes_from_the_flag_before_or_after_the_verb_then_the_environment() {
    let dir = fresh_dir("runs-server-flag");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "runs.db"));
    ok(runs(&server, &["create", "--kind", "etl", "--id", "f1"]));
    let dead = "http://127.0.0.1:9";
    let placements: [Vec<&str>; 4] = [
        vec!["--server", &server.base, "runs", "get", "f1", "--json"],
        vec!["runs", "--server", &server.base, "get", "f1", "--json"],
        vec!["runs", "get", "f1", "--json", "--server", &server.base],
        vec!["runs", "get", "--server", &server.base, "f1", "--json"],
    ];
    for args in placements {
        // The environment points nowhere: the flag must win.
        let output = run(runledger()
            .env("RUNLEDGER_SERVER", dead)
            .env_remove("RUNLEDGER_TOKEN")
            .args(&args));
        assert_eq!(exit_code(&output), 0, "{args:?}: {}", stderr(&output));
        assert_eq!(json(&output)["id"], "f1", "{args:?}");
    }
    let output = run(runledger()
        .env("RUNLEDGER_SERVER", &server.base)
        .env_remove("RUNLEDGER_TOKEN")
        .args(["runs", "get", "f1", "--json"]));
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert_eq!(json(&output)["id"], "f1");
}

#[test]
fn the_token_comes_from_runledger_token() {
    let dir = fresh_dir("runs-token");
    let db = sqlite_url(&dir, "runs.db");
    let added = run(runledger().args(["tenant", "add", "acme", "--db", &db, "--json"]));
    assert_eq!(exit_code(&added), 0, "{}", stderr(&added));
    let token = json(&added)["token"].as_str().expect("a token").to_owned();
    let server = TestServer::start(&dir, &db);

    let refused = run(&mut runs(&server, &["list"]));
    assert_eq!(exit_code(&refused), 1);
    assert!(
        stderr(&refused).contains("unauthorized"),
        "{}",
        stderr(&refused)
    );

    let created = ok_json(
        runs(&server, &["create", "--kind", "etl", "--id", "t1"]).env("RUNLEDGER_TOKEN", &token),
    );
    assert_eq!(created["tenant"], "acme");
    let listed = ok_json(runs(&server, &["list"]).env("RUNLEDGER_TOKEN", &token));
    assert_eq!(listed["runs"][0]["id"], "t1");
    let wrong = run(runs(&server, &["get", "t1"]).env("RUNLEDGER_TOKEN", "rl_not_a_token"));
    assert_eq!(exit_code(&wrong), 1);
    // The follow checks the token before it subscribes.
    let follow = run(&mut runs(&server, &["events", "--follow"]));
    assert_eq!(exit_code(&follow), 1, "{}", stderr(&follow));
}

/// A `runs events … --follow` process whose stdout lines arrive on a channel.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Follower {
    fn start(mut command: impl BorrowMut<Command>) -> Follower {
        let mut child = command
            .borrow_mut()
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the follower starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Follower { child, lines }
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(LINE_DEADLINE)
            .expect("the follower printed the next line in time")
    }

    fn json_line(&self) -> serde_json::Value {
        let line = self.line();
        serde_json::from_str(&line).unwrap_or_else(|error| panic!("{error}: {line}"))
    }

    /// Waits for the exit (with a deadline) and answers the code.
    fn exit(&mut self) -> i32 {
        let deadline = std::time::Instant::now() + LINE_DEADLINE;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .expect("the follower can be waited on")
            {
                return status.code().expect("the follower exited, not killed");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the follower did not end"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn follow_prints_events_as_they_happen_and_ends_on_the_terminal_event() {
    let dir = fresh_dir("runs-follow");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "runs.db"));
    ok(runs(&server, &["create", "--kind", "etl", "--id", "live"]));

    let mut follower = Follower::start(runs(&server, &["events", "live", "--follow", "--json"]));
    let created = follower.json_line();
    assert_eq!(
        (created["seq"].as_u64(), created["type"].as_str()),
        (Some(1), Some("created"))
    );
    // Only now does the run move on: each event shows up as it happens.
    ok(runs(
        &server,
        &["start", "live", "--owner", "w", "--lease-ttl-ms", "60000"],
    ));
    let started = follower.json_line();
    assert_eq!(
        (started["seq"].as_u64(), started["type"].as_str()),
        (Some(2), Some("started"))
    );
    ok(runs(
        &server,
        &[
            "finish",
            "live",
            "--lease-epoch",
            "1",
            "--outcome",
            "failed",
        ],
    )
    .args(["--error", "boom"]));
    let failed = follower.json_line();
    assert_eq!(
        (failed["seq"].as_u64(), failed["type"].as_str()),
        (Some(3), Some("failed"))
    );
    assert_eq!(failed["run_id"], "live");
    assert_eq!(
        follower.exit(),
        0,
        "the follow ends after the terminal event"
    );
    assert!(
        follower
            .lines
            .recv_timeout(Duration::from_millis(200))
            .is_err(),
        "nothing after the end"
    );

    // A table follow of the ended run prints its log from --after and ends at once.
    let table = ok(runs(
        &server,
        &["events", "live", "--follow", "--after", "1"],
    ));
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(
        rows[0].contains("seq") && rows[0].contains("type"),
        "{table}"
    );
    assert!(
        rows[1].contains("started") && rows[2].contains("failed"),
        "{table}"
    );
    // Past the terminal event there is nothing to wait for.
    let past = ok(runs(
        &server,
        &["events", "live", "--follow", "--after", "3", "--json"],
    ));
    assert!(past.is_empty(), "{past}");
    // A run that does not exist is refused.
    let missing = run(&mut runs(&server, &["events", "nope", "--follow"]));
    assert_eq!(exit_code(&missing), 1);
    assert!(
        stderr(&missing).contains("not_found"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn follow_survives_a_server_restart_without_a_repeat_or_a_gap() {
    let dir = fresh_dir("runs-follow-restart");
    let db = sqlite_url(&dir, "runs.db");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = PortServer::start(&dir, &db, port);
    let cli = |args: &[&str]| {
        let mut command = runledger();
        command
            .env("RUNLEDGER_SERVER", &base)
            .env_remove("RUNLEDGER_TOKEN")
            .arg("runs")
            .args(args);
        command
    };
    ok(cli(&["create", "--kind", "etl", "--id", "r"]));
    let mut follower = Follower::start(cli(&["events", "r", "--follow", "--json"]));
    assert_eq!(follower.json_line()["seq"], 1);

    server.kill9();
    server = PortServer::start(&dir, &db, port);
    ok(cli(&[
        "start",
        "r",
        "--owner",
        "w",
        "--lease-ttl-ms",
        "60000",
    ]));
    server.kill9();
    server = PortServer::start(&dir, &db, port);
    ok(cli(&[
        "finish",
        "r",
        "--lease-epoch",
        "1",
        "--outcome",
        "succeeded",
    ]));

    let rest: Vec<(u64, String)> = (0..2)
        .map(|_| {
            let event = follower.json_line();
            (
                event["seq"].as_u64().expect("a seq"),
                event["type"].as_str().expect("a type").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rest,
        [(2, "started".to_owned()), (3, "succeeded".to_owned())]
    );
    assert_eq!(follower.exit(), 0);
    assert!(
        follower
            .lines
            .recv_timeout(Duration::from_millis(200))
            .is_err(),
        "nothing repeated after the end"
    );
    drop(server);
}

#[test]
fn tenant_follow_prints_every_run_in_position_order_until_interrupted() {
    let dir = fresh_dir("runs-follow-tenant");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "runs.db"));
    ok(runs(&server, &["create", "--kind", "etl", "--id", "t1"]));

    let mut follower = Follower::start(runs(&server, &["events", "--follow"]));
    let header = follower.line();
    assert!(
        header.contains("position") && header.contains("run_id"),
        "{header}"
    );
    assert!(follower.line().contains("t1"));
    ok(runs(&server, &["create", "--kind", "etl", "--id", "t2"]));
    ok(runs(&server, &["cancel", "t1", "--reason", "done"]));
    let second = follower.line();
    assert!(
        second.contains("t2") && second.contains("created"),
        "{second}"
    );
    let third = follower.line();
    assert!(
        third.contains("t1") && third.contains("cancelled"),
        "{third}"
    );
    let positions: Vec<u64> = [&second, &third]
        .iter()
        .map(|line| {
            line.split_whitespace()
                .next()
                .expect("a position")
                .parse()
                .expect("a number")
        })
        .collect();
    assert_eq!(positions, [2, 3]);

    // Ctrl-C ends the follow cleanly.
    let status = Command::new("kill")
        .args(["-INT", &follower.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    assert_eq!(follower.exit(), 0);

    // Resuming from a position replays only what came after it, as JSON lines.
    let mut resumed = Follower::start(runs(
        &server,
        &["events", "--follow", "--json", "--after", "2"],
    ));
    let event = resumed.json_line();
    assert_eq!(
        (event["position"].as_u64(), event["run_id"].as_str()),
        (Some(3), Some("t1"))
    );
    let _ = resumed.child.kill();
}

#[test]
fn runs_help_shows_examples_for_every_verb() {
    for verb in [
        "create",
        "get",
        "list",
        "start",
        "heartbeat",
        "finish",
        "cancel",
        "events",
    ] {
        let output = run(runledger().args(["runs", verb, "--help"]));
        assert_eq!(exit_code(&output), 0, "{verb}");
        let help = stdout(&output);
        assert!(
            help.contains("Examples:"),
            "runs {verb} --help has no examples: {help}"
        );
        assert!(
            help.contains("--server"),
            "runs {verb} --help omits --server"
        );
    }
}
