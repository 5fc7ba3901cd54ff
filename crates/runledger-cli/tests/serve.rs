//! `runledger serve` and `runledger tenant add` as real processes (SPEC §4
//! "Auth", §5): the server prints its address and answers, reads its flags
//! from the environment, refuses a non-loopback address while no token
//! exists, notices a token added by another process, and shuts down
//! gracefully on SIGTERM with everything it acknowledged on disk. `tenant
//! add` prints a token once (text or JSON) and refuses a bad name without
//! touching the database.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod support;

use serde_json::json;
use server::{Client, TestServer};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{exit_code, fresh_dir, json, run, runledger, sqlite_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_its_address_and_answers_the_api() {
    let dir = fresh_dir("serve-answers");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "runs.db"));
    assert!(
        server.base.starts_with("http://127.0.0.1:"),
        "{}",
        server.base
    );
    let client = Client::new(&server);
    let health = client.get("/healthz").await.unwrap();
    assert_eq!(
        (health.status, health.json.clone()),
        (200, json!({"status": "ok"}))
    );
    let created = client
        .post("/v1/runs", &json!({"id": "r1", "kind": "etl"}))
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.json);
    let again = client
        .post("/v1/runs", &json!({"id": "r1", "kind": "etl"}))
        .await
        .unwrap();
    assert_eq!(again.status, 200);
    let missing = client.get("/v1/nope").await.unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(missing.content_type, "application/problem+json");
    assert_eq!(missing.json["code"], "not_found");
    let document = client.get("/v1/openapi.json").await.unwrap();
    assert_eq!(document.status, 200);
    assert!(
        document.json["openapi"]
            .as_str()
            .unwrap()
            .starts_with("3.1")
    );
    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("runledger_http_requests_total"),
        "{metrics}"
    );
    // Heads over the limits are problems too, not the HTTP library's empty
    // 414 / 431: 150 header fields (hyper alone would refuse over 100), and
    // a 20 KiB request target.
    let http = reqwest::Client::new();
    let mut crowded = http.get(server.url("/v1/runs"));
    for n in 0..150 {
        crowded = crowded.header(format!("x-filler-{n}"), "1");
    }
    let long = server.url(&format!("/v1/runs/{}", "a".repeat(20 * 1024)));
    for (request, status, code) in [
        (crowded, 431, "headers_too_large"),
        (http.get(long), 414, "uri_too_long"),
    ] {
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status().as_u16(), status);
        let content_type = answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(content_type, "application/problem+json");
        let problem: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(problem["code"], code, "{problem}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_come_from_the_environment_and_sigterm_stops_cleanly() {
    let dir = fresh_dir("serve-env");
    let db = sqlite_url(&dir, "env.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_runledger"))
        .arg("serve")
        .env("RUNLEDGER_DB", &db)
        .env("RUNLEDGER_LISTEN", "127.0.0.1:0")
        .env("RUNLEDGER_LOG_FORMAT", "json")
        .env("RUNLEDGER_REAP_INTERVAL_MS", "100")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .expect("the address line")
        .to_owned();
    let client = Client::for_base(&base);
    for n in 0..20 {
        let reply = client
            .post("/v1/runs", &json!({"id": format!("e{n}"), "kind": "etl"}))
            .await
            .unwrap();
        assert_eq!(reply.status, 201);
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().expect("the server exits");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let logs = String::from_utf8_lossy(&output.stderr);
    let first = logs.lines().next().expect("a log line");
    serde_json::from_str::<serde_json::Value>(first)
        .unwrap_or_else(|_| panic!("not JSON: {first}"));
    assert!(dir.join("env.db").is_file(), "RUNLEDGER_DB was used");
    let ledger = runledger::Ledger::open(&db).await.unwrap();
    let page = ledger
        .list_runs(
            &runledger::Tenant::default(),
            runledger::ListRuns::default(),
        )
        .await
        .unwrap();
    assert_eq!(page.runs.len(), 20);
    assert!(ledger.audit().await.unwrap().is_clean());
}

#[test]
fn a_non_loopback_address_without_a_token_is_refused_with_the_fix() {
    let dir = fresh_dir("serve-exposed");
    let db = sqlite_url(&dir, "exposed.db");
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let output = run(runledger().args(["serve", "--db", &db, "--listen", listen]));
        assert_eq!(exit_code(&output), 2, "{listen}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("runledger tenant add NAME --db URL"),
            "{stderr}"
        );
        assert!(stderr.contains("--insecure-no-auth"), "{stderr}");
        assert!(output.stdout.is_empty(), "nothing listened");
    }
    let output = run(runledger().args(["serve", "--db", &db, "--listen", "not an address"]));
    assert_eq!(exit_code(&output), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_added_by_another_process_is_required_within_a_second() {
    let dir = fresh_dir("serve-tenant-add");
    let db = sqlite_url(&dir, "tenants.db");
    let server = TestServer::start(&dir, &db);
    let open = Client::new(&server);
    assert_eq!(
        open.post("/v1/runs", &json!({"id": "x", "kind": "etl"}))
            .await
            .unwrap()
            .status,
        201
    );

    let added = run(runledger().args(["tenant", "add", "acme", "--db", &db, "--json"]));
    assert_eq!(exit_code(&added), 0);
    let answer = json(&added);
    assert_eq!(answer["tenant"], "acme");
    let token = answer["token"].as_str().expect("a token").to_owned();
    assert!(token.starts_with("rl_"));

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = open.get("/v1/runs").await.unwrap();
        if reply.status == 401 {
            assert_eq!(reply.json["code"], "unauthorized");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new token was never required"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let acme = Client::new(&server).with_token(&token);
    let created = acme
        .post("/v1/runs", &json!({"id": "x", "kind": "other"}))
        .await
        .unwrap();
    assert_eq!(created.status, 201, "acme's x is not default's x");
    assert_eq!(created.json["tenant"], "acme");
    let bad = Client::new(&server).with_token("rl_nope");
    assert_eq!(bad.get("/v1/runs/x").await.unwrap().status, 401);

    // The text form prints the bare token on stdout, the warning on stderr.
    let text = run(runledger().args(["tenant", "add", "globex", "--db", &db]));
    assert_eq!(exit_code(&text), 0);
    let printed = String::from_utf8_lossy(&text.stdout);
    assert!(
        printed.trim().starts_with("rl_") && printed.trim().len() == 67,
        "{printed}"
    );
    assert!(String::from_utf8_lossy(&text.stderr).contains("only this once"));
}

#[test]
fn tenant_add_refuses_a_bad_name_and_touches_no_file() {
    let dir = fresh_dir("tenant-bad-name");
    let db = sqlite_url(&dir, "never.db");
    for name in ["Acme", "-acme", "a b", "", &"a".repeat(65)] {
        let output = run(runledger().args(["tenant", "add", name, "--db", &db]));
        assert_eq!(exit_code(&output), 2, "{name:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("tenant"), "{stderr}");
    }
    assert!(!dir.join("never.db").exists());
}

#[test]
fn serve_and_tenant_add_have_help_with_examples() {
    for args in [
        &["serve", "--help"][..],
        &["tenant", "add", "--help"],
        &["tenant", "--help"],
    ] {
        let output = run(runledger().args(args));
        assert_eq!(exit_code(&output), 0, "{args:?}");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("Examples:"), "{args:?}: {help}");
    }
    let help = run(runledger().args(["serve", "--help"]));
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--db",
        "--listen",
        "--insecure-no-auth",
        "--rate-limit-rps",
        "--rate-limit-burst",
        "--reap-interval-ms",
        "--log-format",
        "RUNLEDGER_DB",
        "RUNLEDGER_LISTEN",
    ] {
        assert!(text.contains(flag), "{flag} is missing from serve --help");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_exits_cleanly_and_loses_no_acknowledged_create() {
    const CLIENTS: usize = 8;
    let dir = fresh_dir("serve-sigterm-load");
    let db = sqlite_url(&dir, "load.db");
    let mut server = TestServer::start(&dir, &db);
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|me| {
            let (client, acked) = (Client::new(&server), acked.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    let id = format!("t{me}-{n}");
                    match client
                        .post("/v1/runs", &json!({"id": id, "kind": "load"}))
                        .await
                    {
                        Ok(reply) => {
                            assert_eq!(reply.status, 201, "{id}: {}", reply.json);
                            acked.lock().unwrap().push(id);
                        }
                        // The server stopped accepting: this client is done.
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().unwrap().len() < 500 {
        assert!(
            Instant::now() < deadline,
            "too few creates were acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "{}", server.log());
    for handle in handles {
        handle
            .await
            .expect("no client saw anything but 201 or a closed connection");
    }
    let acked = acked.lock().unwrap().clone();
    let ledger = runledger::Ledger::open(&db).await.unwrap();
    for id in &acked {
        let id = runledger::RunId::parse(id).unwrap();
        ledger
            .get_run(&runledger::Tenant::default(), &id)
            .await
            .unwrap_or_else(|error| panic!("acknowledged {id} is missing: {error}"));
    }
    assert!(ledger.audit().await.unwrap().is_clean());
}
