//! SPEC §4 "Idempotency-Key" and §2.2: a retry with the same key and body
//! replays the first answer (so an id-less create returns the same run every
//! time); the same key with another body is `422 idempotency_key_reused`;
//! a retry while the first is still running is `409
//! idempotency_key_in_flight`. Keys are per tenant. Concurrent identical
//! requests with one key write once.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{IdempotencyKey, Tenant};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use support::{Call, TestApp};
use tokio::sync::Barrier;

fn create(body: serde_json::Value, key: &str) -> Call {
    Call::post("/v1/runs").json(&body).idempotency_key(key)
}

async fn an_id_less_create_replays_the_same_run_and_a_new_body_is_refused() {
    let app = TestApp::fresh("idem-replay").await;
    let first = app.send(create(json!({"kind": "etl"}), "k-1")).await;
    first.status(201);
    assert!(!first.headers.contains_key("idempotent-replayed"));
    for _ in 0..3 {
        let retry = app.send(create(json!({"kind": "etl"}), "k-1")).await;
        retry.status(201);
        assert_eq!(retry.json, first.json);
        assert_eq!(retry.headers["idempotent-replayed"], "true");
        assert_eq!(retry.headers["content-type"], "application/json");
    }
    assert_eq!(app.run_count().await, 1);

    let reused = app.send(create(json!({"kind": "other"}), "k-1")).await;
    reused.problem(422, "idempotency_key_reused");
    // The same body on another path is another request too.
    app.send(
        Call::post("/v1/runs/x/cancel")
            .json(&json!({"kind": "etl"}))
            .idempotency_key("k-1"),
    )
    .await
    .problem(422, "idempotency_key_reused");
    // Another key is another request: a second run.
    app.send(create(json!({"kind": "etl"}), "k-2"))
        .await
        .status(201);
    assert_eq!(app.run_count().await, 2);
}

async fn refusals_are_replayed_and_keys_are_per_tenant() {
    let app = TestApp::fresh("idem-errors").await;
    app.post("/v1/runs", json!({"id": "r", "kind": "etl"}))
        .await
        .status(201);
    let conflict = app
        .send(create(json!({"id": "r", "kind": "other"}), "c"))
        .await;
    conflict.problem(409, "run_conflict");
    let replayed = app
        .send(create(json!({"id": "r", "kind": "other"}), "c"))
        .await;
    replayed.problem(409, "run_conflict");
    assert_eq!(replayed.json, conflict.json);

    // A lifecycle call with a key: the event is appended once.
    let append = || {
        Call::post("/v1/runs/r/events")
            .json(&json!({"type": "progress", "data": 1}))
            .idempotency_key("append-1")
    };
    let first = app.send(append()).await;
    first.status(201);
    assert_eq!(app.send(append()).await.json, first.json);
    let events = app.get("/v1/runs/r/events").await.json;
    assert_eq!(events["events"].as_array().unwrap().len(), 2);

    let acme = app
        .ledger
        .add_tenant_token(&Tenant::parse("acme").unwrap())
        .await
        .unwrap()
        .token;
    let globex = app
        .ledger
        .add_tenant_token(&Tenant::parse("globex").unwrap())
        .await
        .unwrap()
        .token;
    let a = app
        .send(create(json!({"kind": "etl"}), "shared").token(&acme))
        .await;
    let b = app
        .send(create(json!({"kind": "etl"}), "shared").token(&globex))
        .await;
    a.status(201);
    b.status(201);
    assert_ne!(a.json["id"], b.json["id"]);
    assert_eq!(b.json["tenant"], "globex");
}

async fn a_retry_while_the_first_is_running_is_409_and_bad_keys_are_422() {
    let app = TestApp::fresh("idem-in-flight").await;
    let body = br#"{"kind":"etl"}"#;
    // Spaced differently from the retry: bodies compare as canonical JSON.
    let fingerprint = runledger_server::fingerprint(
        &axum::http::Method::POST,
        "/v1/runs",
        br#"{ "kind" : "etl" }"#,
    );
    // The first request holds the key (as a server mid-request would).
    app.ledger
        .idempotency_begin(
            &Tenant::default(),
            &IdempotencyKey::parse("busy").unwrap(),
            &fingerprint,
        )
        .await
        .unwrap();
    let retry = app
        .send(
            Call::post("/v1/runs")
                .raw("application/json", &body[..])
                .idempotency_key("busy"),
        )
        .await;
    retry.problem(409, "idempotency_key_in_flight");
    assert_eq!(app.run_count().await, 0);

    for key in ["", "tab\there", &"k".repeat(256)] {
        app.send(create(json!({"kind": "etl"}), key))
            .await
            .problem(422, "invalid_request");
    }
    app.send(
        Call::post("/v1/runs")
            .json(&json!({"kind": "etl"}))
            .header_bytes("idempotency-key", b"caf\xc3\xa9"),
    )
    .await
    .problem(422, "invalid_request");
    app.send(
        Call::post("/v1/runs")
            .json(&json!({"kind": "etl"}))
            .idempotency_key("a")
            .idempotency_key("b"),
    )
    .await
    .problem(422, "invalid_request");
    assert_eq!(app.run_count().await, 0);
    // GET ignores the header.
    app.send(Call::get("/v1/runs").idempotency_key("busy"))
        .await
        .status(200);
}

async fn concurrent_identical_requests_with_one_key_create_one_run() {
    const CALLERS: usize = 8;
    let app = TestApp::fresh("idem-race").await;
    let barrier = Arc::new(Barrier::new(CALLERS));
    let handles: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (app, barrier) = (app.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                app.send(create(
                    json!({"kind": "etl", "attributes": {"n": 1}}),
                    "race",
                ))
                .await
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for handle in handles {
        let answer = handle.await.expect("a caller finishes");
        match answer.status.as_u16() {
            201 => {
                ids.insert(answer.json["id"].as_str().unwrap().to_owned());
            }
            409 => {
                answer.problem(409, "idempotency_key_in_flight");
            }
            other => panic!("unexpected {other}: {}", answer.text()),
        }
    }
    assert_eq!(ids.len(), 1, "every 201 names the same run");
    assert_eq!(app.run_count().await, 1);
    assert!(app.ledger.audit().await.unwrap().is_clean());
}

crate::both_backends!(
    an_id_less_create_replays_the_same_run_and_a_new_body_is_refused,
    refusals_are_replayed_and_keys_are_per_tenant,
    a_retry_while_the_first_is_running_is_409_and_bad_keys_are_422,
    concurrent_identical_requests_with_one_key_create_one_run,
);
