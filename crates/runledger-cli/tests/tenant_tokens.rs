//! Token lifecycle: `runledger tenant token add`, `tenant list` (ids and
//! visible prefixes, never the whole token; `last_used_at`) and `tenant
//! token revoke`: a revoked token is refused by every server on the
//! database within a second — two `runledger serve` processes on one
//! PostgreSQL database here. The first token, created while tenant
//! `default` has runs, warns and prints the command that makes a `default`
//! token.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod support;

use serde_json::{Value, json};
use server::{Client, TestServer};
use std::time::{Duration, Instant};
use support::{exit_code, fresh_dir, json, run, runledger, sqlite_url};

fn tenant(args: &[&str], db: &str) -> std::process::Output {
    run(runledger()
        .env_remove("RUNLEDGER_DB")
        .arg("tenant")
        .args(args)
        .args(["--db", db]))
}

/// Polls `client` until `GET /v1/runs` answers `status`; answers how long it took.
async fn until_status(client: &Client, status: u16, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let reply = client.get("/v1/runs").await.unwrap();
        if reply.status == status {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "still {} after {within:?}: {}",
            reply.status,
            reply.json
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_refused_by_every_server_within_a_second() {
    let dir = fresh_dir("tenant-tokens-two-servers");
    let db = support::postgres_url("tenant_tokens_two_servers");
    let (one, two) = (
        TestServer::start(&dir, &db.url),
        TestServer::start(&dir, &db.url),
    );
    // A run of tenant default, made while no token exists.
    let open = Client::new(&one);
    let created = open
        .post("/v1/runs", &json!({"id": "legacy", "kind": "etl"}))
        .await
        .unwrap();
    assert_eq!(created.status, 201);

    // The first token warns that default's runs now need a token of their own.
    let added = tenant(&["token", "add", "acme", "--json"], &db.url);
    assert_eq!(exit_code(&added), 0);
    let warning = String::from_utf8_lossy(&added.stderr).into_owned();
    assert!(
        warning.contains("runledger tenant token add default")
            && warning.contains("the 1 run of tenant default is reachable only"),
        "{warning}"
    );
    assert!(
        !warning.contains(&db.url),
        "a URL with credentials is never printed: {warning}"
    );
    let answer = json(&added);
    let token = answer["token"].as_str().unwrap().to_owned();
    let id = answer["id"].as_str().unwrap().to_owned();
    assert_eq!(answer["prefix"], token[..11]);
    // A second token warns no more.
    let second = tenant(&["token", "add", "globex"], &db.url);
    assert_eq!(exit_code(&second), 0);
    assert!(!String::from_utf8_lossy(&second.stderr).contains("warning"));

    let clients = [
        Client::new(&one).with_token(&token),
        Client::new(&two).with_token(&token),
    ];
    for client in &clients {
        until_status(client, 200, Duration::from_secs(5)).await;
    }
    // Listed by id and prefix, with its last use; never whole.
    let listed = tenant(&["list", "--json"], &db.url);
    assert_eq!(exit_code(&listed), 0);
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(&token));
    // One entry per tenant, in name order, each with its tokens.
    let tenants: Vec<Value> = json(&listed).as_array().unwrap().clone();
    let names: Vec<&str> = tenants
        .iter()
        .map(|entry| entry["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme", "globex"]);
    let tokens: Vec<Value> = tenants
        .iter()
        .flat_map(|entry| entry["tokens"].as_array().unwrap().clone())
        .collect();
    assert_eq!(tokens.len(), 2);
    let acme = tokens
        .iter()
        .find(|entry| entry["id"] == id.as_str())
        .unwrap();
    assert_eq!(acme["tenant"], "acme");
    assert_eq!(acme["prefix"], token[..11]);
    assert!(acme["last_used_at"].is_string(), "{acme}");
    assert!(acme["revoked_at"].is_null());
    let table = tenant(&["list"], &db.url);
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(table.contains(&id) && !table.contains(&token), "{table}");

    let revoked = tenant(&["token", "revoke", &id], &db.url);
    assert_eq!(
        exit_code(&revoked),
        0,
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let revoked_at = Instant::now();
    for client in &clients {
        until_status(client, 401, Duration::from_secs(1)).await;
    }
    assert!(revoked_at.elapsed() < Duration::from_secs(1));
    // Tokens stay required: the revoked one was the only one of acme, not
    // the last one, and even so nothing opens up.
    assert_eq!(open.get("/v1/runs").await.unwrap().status, 401);
    let listed = json(&tenant(&["list", "--json"], &db.url));
    let acme = listed[0]["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["id"] == id.as_str())
        .unwrap()
        .clone();
    assert!(acme["revoked_at"].is_string(), "{acme}");
    // Revoking again is harmless.
    assert_eq!(exit_code(&tenant(&["token", "revoke", &id], &db.url)), 0);
}

#[test]
fn revoke_names_a_bad_or_unknown_id_and_the_first_default_token_does_not_warn() {
    let dir = fresh_dir("tenant-tokens-sqlite");
    let db = sqlite_url(&dir, "tokens.db");
    let none = tenant(&["list"], &db);
    assert_eq!(exit_code(&none), 0);
    assert!(String::from_utf8_lossy(&none.stdout).contains("no tokens"));
    let added = tenant(&["token", "add", "default", "--json"], &db);
    assert_eq!(exit_code(&added), 0);
    assert!(!String::from_utf8_lossy(&added.stderr).contains("warning"));
    // A malformed id is a usage error; a well-formed unknown one is refused.
    for (id, says, code) in [
        ("xyz", "not a token id", 2),
        ("000000000000", "no token has the id 000000000000", 1),
    ] {
        let refused = tenant(&["token", "revoke", id], &db);
        assert_eq!(exit_code(&refused), code, "{id}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(says), "{id}: {stderr}");
    }
}
