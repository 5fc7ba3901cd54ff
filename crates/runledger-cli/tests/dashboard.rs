//! SPEC §4 `GET /` and §10 (the dashboard as an operator console) in real
//! Chromium against a real `runledger serve`: the sign-in form, a bad token
//! refused, an empty tenant shown how to create its first run, sign-in, the
//! runs created beforehand, a run created afterwards through the API
//! appearing live at the top (newest first) and its state changing without
//! a reload, times with their zone and how long ago, durations, a run's
//! events (growing live, data pretty-printed) and children (a tree with
//! counts per state, expandable), another tenant's runs never shown,
//! paging older and newer, a concurrency group's slots and pending queue,
//! the run pane at 1280 px leaving the list readable, cancel with cascade
//! by the dashboard's button while a page on another port and one on
//! another site cannot (form or fetch), and the `runledger_token` cookie:
//! a random session id (not the token), HttpOnly and SameSite=Strict, dead
//! after sign-out (a copy of it is refused) and after its token is revoked.
//! Screenshots of the main views go to `target/dashboard-screenshots/`. The browser is
//! driven by `tests/dashboard/dashboard.mjs` (playwright-core, pinned in its
//! package-lock.json) on Debian's `/usr/bin/chromium`; no browser is
//! downloaded. Missing chromium or node_modules fails the test with what to
//! install: it never skips. Once per backend; one browser at a time.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod support;

use serde_json::{Value, json};
use server::{Client, TestServer};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{fresh_dir, postgres_url, runledger, sqlite_url};

/// How long the browser script may take (it needs ~10 s).
const BROWSER_DEADLINE: Duration = Duration::from_secs(180);

fn driver_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard")
}

fn chromium() -> PathBuf {
    std::env::var_os("RUNLEDGER_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Fails (never skips) with the install steps when a tool is missing.
fn assert_browser_tools_installed() {
    let chromium = chromium();
    assert!(
        chromium.exists(),
        "{} is missing: install Chromium with `apt-get install -y chromium` \
         (or point RUNLEDGER_CHROMIUM at a Chromium binary)",
        chromium.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|output| output.status.success()),
        "node is missing: install Node.js (`apt-get install -y nodejs npm`)"
    );
    assert!(
        driver_dir().join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run \
         `(cd crates/runledger-cli/tests/dashboard && npm ci --no-audit --no-fund)`"
    );
}

/// `runledger tenant add NAME --db URL --json` → the token.
fn add_tenant(db_url: &str, name: &str) -> String {
    let output = runledger()
        .args(["tenant", "add", name, "--db", db_url, "--json"])
        .env_remove("RUNLEDGER_DB")
        .output()
        .expect("runledger tenant add runs");
    assert!(
        output.status.success(),
        "tenant add failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).expect("tenant add --json is JSON");
    assert_eq!(answer["tenant"], name);
    answer["token"].as_str().expect("a token").to_owned()
}

/// `runledger tenant token add NAME --db URL --json` → (id, token).
fn add_token(db_url: &str, name: &str) -> (String, String) {
    let output = runledger()
        .args(["tenant", "token", "add", name, "--db", db_url, "--json"])
        .env_remove("RUNLEDGER_DB")
        .output()
        .expect("runledger tenant token add runs");
    assert!(
        output.status.success(),
        "tenant token add failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).expect("--json is JSON");
    (
        answer["id"].as_str().expect("an id").to_owned(),
        answer["token"].as_str().expect("a token").to_owned(),
    )
}

/// Where the dashboard's screenshots go: `target/dashboard-screenshots/`.
fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the tmp dir is inside target/")
        .join("dashboard-screenshots")
}

/// Runs a browser script of `tests/dashboard/` with `args`.
fn run_script(script: &str, args: &[&str]) -> (bool, String) {
    run_script_with(script, args, &[])
}

/// Runs a browser script with `args` and extra environment `vars`.
fn run_script_with(script: &str, args: &[&str], vars: &[(&str, String)]) -> (bool, String) {
    let mut child = Command::new("node")
        .arg(script)
        .args(args)
        .envs(vars.iter().map(|(name, value)| (*name, value.as_str())))
        .current_dir(driver_dir())
        .env("RUNLEDGER_CHROMIUM", chromium())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let deadline = Instant::now() + BROWSER_DEADLINE;
    let mut timed_out = false;
    while child.try_wait().expect("node can be waited on").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("node's output is read");
    let transcript = format!(
        "{}{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        if timed_out {
            "\nthe browser script ran past its deadline and was killed"
        } else {
            ""
        }
    );
    (output.status.success() && !timed_out, transcript)
}

/// Two Chromiums at once on two cores would only make both slow.
static ONE_BROWSER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_signs_in_and_shows_runs_live_in_chromium_on_sqlite() {
    let dir = fresh_dir("dashboard-chromium-sqlite");
    let db_url = sqlite_url(&dir, "dashboard.db");
    signs_in_and_shows_runs_live(&dir, &db_url, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_signs_in_and_shows_runs_live_in_chromium_on_postgres() {
    let dir = fresh_dir("dashboard-chromium-postgres");
    let db = postgres_url("dashboard_chromium");
    signs_in_and_shows_runs_live(&dir, &db.url, "postgres").await;
}

async fn signs_in_and_shows_runs_live(dir: &Path, db_url: &str, backend: &str) {
    assert_browser_tools_installed();
    let _browser = ONE_BROWSER_AT_A_TIME.lock().await;
    let acme = add_tenant(db_url, "acme");
    let globex = add_tenant(db_url, "globex");
    let empty = add_tenant(db_url, "empty");
    let (revoke_id, revoke_token) = add_token(db_url, "acme");
    let server = TestServer::start(dir, db_url);

    let acme_client = Client::new(&server).with_token(&acme);
    for id in ["before-1", "before-2"] {
        let created = acme_client
            .post("/v1/runs", &json!({"id": id, "kind": "etl"}))
            .await
            .expect("the server answers");
        assert_eq!(created.status, 201, "{}", created.json);
    }
    let other = Client::new(&server)
        .with_token(&globex)
        .post(
            "/v1/runs",
            &json!({"id": "other-tenant-run", "kind": "etl"}),
        )
        .await
        .expect("the server answers");
    assert_eq!(other.status, 201, "{}", other.json);

    let base = server.base.clone();
    let shots = screenshot_dir();
    let vars = [
        ("RUNLEDGER_EMPTY_TOKEN", empty),
        ("RUNLEDGER_REVOKE_TOKEN", revoke_token),
        ("RUNLEDGER_REVOKE_ID", revoke_id),
        ("RUNLEDGER_BIN", env!("CARGO_BIN_EXE_runledger").to_owned()),
        ("RUNLEDGER_DB", db_url.to_owned()),
        ("RUNLEDGER_SCREENSHOTS", shots.display().to_string()),
        ("RUNLEDGER_BACKEND", backend.to_owned()),
    ];
    let started = Instant::now();
    let (passed, transcript) = tokio::task::spawn_blocking(move || {
        run_script_with("dashboard.mjs", &[&base, &acme, &globex], &vars)
    })
    .await
    .expect("the browser task finishes");
    assert!(
        passed,
        "the browser checks failed:\n{transcript}\nserver log:\n{}",
        server.log()
    );
    assert!(transcript.contains(" passed, 0 failed"), "{transcript}");
    eprintln!("the browser checks took {:?}", started.elapsed());

    // What the browser did went through the API: the run it watched is
    // finished, with the 4 events the page showed; the run it cancelled
    // took its descendants with it.
    let runs = acme_client.all_run_ids().await;
    let watched = runs
        .iter()
        .find(|id| id.starts_with("after-") && !id.contains(':'))
        .expect("the browser script created its run");
    let cancelled: Vec<&String> = runs
        .iter()
        .filter(|id| id.starts_with("cancel-me-"))
        .collect();
    assert_eq!(cancelled.len(), 3, "{cancelled:?}");
    for id in cancelled {
        let run = acme_client.get(&format!("/v1/runs/{id}")).await.unwrap();
        assert_eq!(run.json["state"], "cancelled", "{}", run.json);
    }
    for view in ["empty", "list", "run-with-tree", "group"] {
        let shot = screenshot_dir().join(format!("{backend}-{view}.png"));
        assert!(
            std::fs::metadata(&shot).is_ok_and(|file| file.len() > 1_000),
            "{} was not written",
            shot.display()
        );
    }
    let run = acme_client
        .get(&format!("/v1/runs/{watched}"))
        .await
        .expect("the server answers");
    assert_eq!(run.json["state"], "succeeded");
    assert_eq!(run.json["last_seq"], 4);
}

/// SPEC §4 "Browsers": a page on another port of the same host (same site,
/// so the SameSite=Strict cookie is sent) and a page of another site try to
/// cancel a run and read the tenant's events with the signed-in operator's
/// cookie, against a server with tokens and one without any; nothing is
/// cancelled, nothing is read, and the dashboard itself still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_page_cannot_act_with_the_operators_cookie_in_chromium() {
    assert_browser_tools_installed();
    let _browser = ONE_BROWSER_AT_A_TIME.lock().await;
    let dir = fresh_dir("dashboard-cross-site");
    let db_url = sqlite_url(&dir, "guarded.db");
    let token = add_tenant(&db_url, "acme");
    let guarded = TestServer::start(&dir, &db_url);
    let open = TestServer::start(&dir, &sqlite_url(&dir, "open.db"));
    let guarded_client = Client::new(&guarded).with_token(&token);
    let open_client = Client::new(&open);
    for client in [&guarded_client, &open_client] {
        let created = client
            .post("/v1/runs", &json!({"id": "victim", "kind": "etl"}))
            .await
            .expect("the server answers");
        assert_eq!(created.status, 201, "{}", created.json);
    }
    let (base, open_base) = (guarded.base.clone(), open.base.clone());
    let (passed, transcript) = tokio::task::spawn_blocking(move || {
        run_script(
            "cross_site.mjs",
            &[&base, &token, "victim", &open_base, "victim"],
        )
    })
    .await
    .expect("the browser task finishes");
    assert!(
        passed,
        "the cross-site checks failed:\n{transcript}\nserver log:\n{}",
        guarded.log()
    );
    assert!(transcript.contains(" passed, 0 failed"), "{transcript}");
    for client in [&guarded_client, &open_client] {
        let run = client.get("/v1/runs/victim").await.unwrap();
        assert_eq!(run.json["state"], "queued", "{}", run.json);
        assert_eq!(run.json["version"], 1, "nothing changed: {}", run.json);
    }
}
