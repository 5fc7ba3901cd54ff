//! SPEC §4 `GET /v1/openapi.json`: the committed `openapi.json` equals the
//! document generated from the handlers (`UPDATE_OPENAPI=1 cargo test -p
//! runledger-server --test openapi` rewrites it), it is OpenAPI 3.1, the
//! server serves exactly it, and the server-side mirrors of the core's
//! `Run` and `Event` have the same JSON shape as the real ones.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger_server::{EventBody, RunBody, openapi_json};
use serde_json::{Value, json};
use support::{Call, TestApp};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

#[test]
fn committed_document_equals_the_generated_one() {
    let generated = openapi_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).expect("openapi.json is writable");
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "crates/runledger-server/openapi.json is stale; regenerate it with \
         UPDATE_OPENAPI=1 cargo test -p runledger-server --test openapi"
    );
}

#[test]
fn document_is_openapi_3_1_and_describes_every_error_as_a_problem() {
    let document: Value = serde_json::from_str(&openapi_json()).expect("the document is JSON");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    let paths = document["paths"].as_object().expect("paths");
    for path in [
        "/v1/runs",
        "/v1/runs/{id}",
        "/v1/runs/{id}/start",
        "/v1/runs/{id}/heartbeat",
        "/v1/runs/{id}/finish",
        "/v1/runs/{id}/cancel",
        "/v1/runs/{id}/events",
        "/v1/openapi.json",
        "/metrics",
        "/healthz",
    ] {
        assert!(paths.contains_key(path), "{path} is missing");
    }
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("a path item") {
            let responses = operation["responses"].as_object().expect("responses");
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') || status == "default" {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status} is not described as a problem"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn server_serves_the_generated_document() {
    let app = TestApp::fresh("openapi-served").await;
    let answer = app.send(Call::get("/v1/openapi.json")).await;
    answer.status(200);
    assert_eq!(answer.text(), openapi_json());
}

#[tokio::test]
async fn schema_mirrors_match_the_real_json() {
    let app = TestApp::fresh("openapi-mirrors").await;
    app.post("/v1/runs", json!({"id": "p", "kind": "k"}))
        .await
        .status(201);
    let child = app
        .post(
            "/v1/runs",
            json!({"parent_id": "p", "key": "c", "kind": "k", "attributes": {"a": 1},
                   "concurrency": {"key": "g", "limit": 2},
                   "start": {"owner": "w", "lease_ttl_ms": 60000}}),
        )
        .await
        .status(201)
        .json
        .clone();
    let parent = app.get("/v1/runs/p").await.json;
    for run in [child, parent] {
        serde_json::from_value::<RunBody>(run.clone())
            .unwrap_or_else(|error| panic!("{error}: {run}"));
    }
    let events = app.get("/v1/runs/p:c/events").await.json;
    for event in events["events"].as_array().expect("events") {
        serde_json::from_value::<EventBody>(event.clone())
            .unwrap_or_else(|error| panic!("{error}: {event}"));
    }
}
