//! SPEC §4 `POST /v1/runs/batch` over `router(state).oneshot(request)`:
//! per-item answers in request order (201, 200, problems), an atomic batch
//! refused whole with the first refused item's `index`, and bad input
//! (0 or 1,001 items, an item that is not an object, a parent that is a
//! later item, one id twice with different parameters) as `422` naming the
//! item, nothing written.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use serde_json::json;
use support::TestApp;

async fn a_batch_answers_each_item_in_request_order() {
    let app = TestApp::fresh("batch-items").await;
    app.post("/v1/runs", json!({"id": "taken", "kind": "other"}))
        .await
        .status(201);
    let runs = json!([
        {"id": "job", "kind": "etl"},
        {"parent_id": "job", "key": "acme", "kind": "client"},
        {"id": "taken", "kind": "etl"},
        {"id": "job", "kind": "etl"},
        {"id": "bad id!", "kind": "etl"},
    ]);
    let answer = app
        .post("/v1/runs/batch", json!({"runs": runs}))
        .await
        .status(200)
        .json
        .clone();
    let statuses: Vec<u64> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| result["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 201, 409, 200, 422]);
    assert_eq!(answer["results"][1]["run"]["id"], "job:acme");
    assert_eq!(answer["results"][2]["problem"]["code"], "run_conflict");
    assert_eq!(answer["results"][4]["problem"]["code"], "invalid_run_id");
    let job = app.get("/v1/runs/job").await.status(200).json.clone();
    assert_eq!(job["children"]["total"], 1);
}

async fn an_atomic_batch_is_refused_whole_with_the_index() {
    let app = TestApp::fresh("batch-atomic").await;
    app.post("/v1/runs", json!({"id": "taken", "kind": "other"}))
        .await
        .status(201);
    let runs = json!([{"id": "new", "kind": "etl"}, {"id": "taken", "kind": "etl"}]);
    let refused = app
        .post("/v1/runs/batch", json!({"runs": runs, "atomic": true}))
        .await;
    refused.problem(409, "run_conflict");
    assert_eq!(refused.json["index"], 1);
    app.get("/v1/runs/new").await.problem(404, "not_found");
    // A run may be named `batch` or `claim`: the static POST routes do
    // not shadow reading it, nor its sub-routes (#17).
    for name in ["batch", "claim"] {
        app.post("/v1/runs", json!({"id": name, "kind": "etl"}))
            .await
            .status(201);
        let read = app.get(&format!("/v1/runs/{name}")).await;
        read.status(200);
        assert_eq!(read.json["id"], name);
        assert_eq!(read.json["kind"], "etl");
        let events = app.get(&format!("/v1/runs/{name}/events")).await;
        events.status(200);
        assert_eq!(
            events.json["events"][0]["type"], "created",
            "{}",
            events.json
        );
        app.post(&format!("/v1/runs/{name}/cancel"), json!({}))
            .await
            .status(200);
        let cancelled = app.get(&format!("/v1/runs/{name}")).await;
        assert_eq!(cancelled.json["state"], "cancelled");
    }
    app.get("/v1/runs/batch-not")
        .await
        .problem(404, "not_found");
}

async fn bad_batches_are_422_naming_the_item() {
    let app = TestApp::fresh("batch-bad").await;
    app.post("/v1/runs/batch", json!({"runs": []}))
        .await
        .problem(422, "invalid_request");
    let many: Vec<_> = (0..1_001)
        .map(|n| json!({"id": format!("r{n}"), "kind": "etl"}))
        .collect();
    app.post("/v1/runs/batch", json!({"runs": many}))
        .await
        .problem(422, "invalid_request");
    let not_object = app
        .post(
            "/v1/runs/batch",
            json!({"runs": [{"id": "a", "kind": "etl"}, 7]}),
        )
        .await;
    not_object.problem(422, "invalid_request");
    assert_eq!(not_object.json["index"], 1);
    let later = app
        .post(
            "/v1/runs/batch",
            json!({"runs": [{"parent_id": "p", "key": "k", "kind": "etl"}, {"id": "p", "kind": "etl"}]}),
        )
        .await;
    later.problem(422, "invalid_request");
    assert_eq!(
        (later.json["index"].clone(), later.json["field"].clone()),
        (json!(0), json!("parent_id"))
    );
    let twice = app
        .post(
            "/v1/runs/batch",
            json!({"runs": [{"id": "a", "kind": "etl"}, {"id": "a", "kind": "other"}], "atomic": true}),
        )
        .await;
    twice.problem(422, "invalid_request");
    assert_eq!(
        (twice.json["index"].clone(), twice.json["field"].clone()),
        (json!(1), json!("kind"))
    );
    app.get("/v1/runs/a").await.problem(404, "not_found");
    app.get("/v1/runs/p").await.problem(404, "not_found");
}

both_backends!(
    a_batch_answers_each_item_in_request_order,
    an_atomic_batch_is_refused_whole_with_the_index,
    bad_batches_are_422_naming_the_item,
);
