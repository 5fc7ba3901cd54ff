//! Request bodies are read straight into the core's request types
//! (`json.rs`): a refused field is named by its path, a refused run id is
//! `invalid_run_id` as in a URL, a claim's `kind` is one kind or a list of
//! kinds each checked, and a batch item whose field text is refused is
//! answered alone while an item of the wrong shape refuses the batch.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use serde_json::json;
use support::TestApp;

async fn a_refused_field_is_named_by_its_path_and_nothing_is_written() {
    let app = TestApp::fresh("body-fields-paths").await;
    for (body, field) in [
        (
            json!({"kind": "etl", "start": {"owner": "", "lease_ttl_ms": 1000}}),
            "start.owner",
        ),
        (
            json!({"kind": "etl", "concurrency": {"key": "g", "on_full": "nope"}}),
            "concurrency.on_full",
        ),
        (json!({"kind": "a b"}), "kind"),
        (
            json!({"kind": "etl", "key": "a b", "parent_id": "p"}),
            "key",
        ),
    ] {
        let answer = app.post("/v1/runs", body.clone()).await;
        answer.problem(422, "invalid_request");
        assert_eq!(answer.json["field"], field, "{body}");
        let detail = answer.json["detail"].as_str().unwrap();
        assert!(detail.starts_with(&format!("{field}: ")), "{detail}");
    }
    for body in [
        json!({"id": "-x", "kind": "etl"}),
        json!({"kind": "etl", "parent_id": "a:", "key": "k"}),
    ] {
        app.post("/v1/runs", body)
            .await
            .problem(422, "invalid_run_id");
    }
    assert_eq!(app.run_count().await, 0);
}

async fn a_claim_takes_one_kind_or_a_list_each_checked() {
    let app = TestApp::fresh("body-fields-claim").await;
    for body in [
        json!({"owner": "w", "lease_ttl_ms": 1000, "kind": ["etl", "a b"]}),
        json!({"owner": "w", "lease_ttl_ms": 1000, "kind": 5}),
        json!({"owner": "w", "lease_ttl_ms": 1000, "kind": [5]}),
    ] {
        let answer = app.post("/v1/runs/claim", body.clone()).await;
        answer.problem(422, "invalid_request");
        assert_eq!(answer.json["field"], "kind", "{body}");
    }
    let unknown = app
        .post(
            "/v1/runs/claim",
            json!({"owner": "w", "lease_ttl_ms": 1000, "bogus": 1}),
        )
        .await;
    unknown.problem(422, "invalid_request");
    assert_eq!(unknown.json["field"], "bogus");
    for id in ["one", "two"] {
        app.post("/v1/runs", json!({"id": id, "kind": "etl"}))
            .await
            .status(201);
    }
    for (kind, id) in [(json!("etl"), "one"), (json!(["report", "etl"]), "two")] {
        let claimed = app
            .post(
                "/v1/runs/claim",
                json!({"owner": "w", "lease_ttl_ms": 1000, "kind": kind}),
            )
            .await;
        claimed.status(200);
        assert_eq!(claimed.json["id"], id);
        assert_eq!(claimed.json["state"], "running");
    }
}

async fn a_batch_item_with_a_refused_field_is_answered_alone() {
    let app = TestApp::fresh("body-fields-batch").await;
    let runs = json!([
        {"id": "a", "kind": "etl"},
        {"id": "b", "kind": "etl", "concurrency": {"key": "g", "on_full": "nope"}},
        {"id": "-c", "kind": "etl"},
    ]);
    let answer = app.post("/v1/runs/batch", json!({"runs": runs})).await;
    answer.status(200);
    let results = &answer.json["results"];
    assert_eq!(results[0]["status"], 201);
    assert_eq!(results[1]["status"], 422);
    assert_eq!(results[1]["problem"]["field"], "concurrency.on_full");
    assert_eq!(results[2]["status"], 422);
    assert_eq!(results[2]["problem"]["code"], "invalid_run_id");
    // Atomic: the first refused field refuses the batch, naming its item.
    let atomic = app
        .post(
            "/v1/runs/batch",
            json!({"runs": [{"id": "d", "kind": "etl"}, {"id": "e", "kind": "a b"}], "atomic": true}),
        )
        .await;
    atomic.problem(422, "invalid_request");
    assert_eq!(atomic.json["index"], 1);
    assert_eq!(atomic.json["field"], "kind");
    // An item of the wrong shape refuses even a plain batch, naming it.
    let shape = app
        .post(
            "/v1/runs/batch",
            json!({"runs": [{"id": "f", "kind": "etl"}, {"id": "g", "kind": 5}]}),
        )
        .await;
    shape.problem(422, "invalid_request");
    assert_eq!(shape.json["index"], 1);
    assert_eq!(shape.json["field"], "runs");
    assert_eq!(app.run_count().await, 1, "only item a was created");
}

crate::both_backends!(
    a_refused_field_is_named_by_its_path_and_nothing_is_written,
    a_claim_takes_one_kind_or_a_list_each_checked,
    a_batch_item_with_a_refused_field_is_answered_alone,
);
