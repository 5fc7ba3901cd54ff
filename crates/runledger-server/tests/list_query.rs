//! SPEC §4 `GET /v1/runs?order=&created_after=&created_before=`: `desc` is
//! newest first, the window bounds are RFC 3339 instants, and a bad value
//! is `422` naming its parameter.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use serde_json::json;
use support::TestApp;

async fn order_and_creation_window_over_http() {
    let app = TestApp::fresh("list-query").await;
    for id in ["a", "b", "c"] {
        app.post("/v1/runs", json!({"id": id, "kind": "etl"}))
            .await
            .status(201);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let listed = |answer: &support::Answer| -> Vec<String> {
        answer.json["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|run| run["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let newest = app.get("/v1/runs?order=desc").await;
    assert_eq!(listed(newest.status(200)), ["c", "b", "a"]);
    let oldest = app.get("/v1/runs?order=asc&limit=2").await;
    assert_eq!(listed(oldest.status(200)), ["a", "b"]);
    let b_at = app.get("/v1/runs/b").await.json["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let after_b = app.get(&format!("/v1/runs?created_after={b_at}")).await;
    assert_eq!(listed(after_b.status(200)), ["c"]);
    let before_b = app
        .get(&format!("/v1/runs?created_before={b_at}&order=desc"))
        .await;
    assert_eq!(listed(before_b.status(200)), ["a"]);
    for (query, field) in [
        ("order=newest", "order"),
        ("created_after=yesterday", "created_after"),
        ("created_before=2026-13-01T00:00:00Z", "created_before"),
    ] {
        let refused = app.get(&format!("/v1/runs?{query}")).await;
        refused.problem(422, "invalid_request");
        assert_eq!(refused.json["field"], field, "{query}");
    }
}

crate::both_backends!(order_and_creation_window_over_http);
