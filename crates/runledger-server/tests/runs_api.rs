//! SPEC §4 over `router(state).oneshot(request)`: every run route's happy
//! path and each refusal the ledger can give (guarantees 2, 4, 5, 6):
//! 201 then 200 for an identical create, `run_conflict` naming the fields,
//! `concurrency_limit` listing the active runs, a missing parent, lifecycle
//! with `stale_lease`, `invalid_transition` and `If-Match`'s
//! `version_conflict`, events (a run's, and the tenant's with its newest
//! position), and listing with filters and cursors.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use serde_json::{Value, json};
use support::{Call, TestApp};

async fn started(app: &TestApp, id: &str) -> Value {
    app.post(
        "/v1/runs",
        json!({"id": id, "kind": "etl", "start": {"owner": "w1", "lease_ttl_ms": 60000}}),
    )
    .await
    .status(201)
    .json
    .clone()
}

async fn create_is_201_then_200_for_identical_and_409_naming_differing_fields() {
    let app = TestApp::fresh("create-idempotent").await;
    let body = json!({"id": "job-1", "kind": "etl", "attributes": {"b": 1.0, "a": [1]}});
    let first = app.post("/v1/runs", body).await;
    first.status(201);
    assert_eq!(first.headers["location"], "/v1/runs/job-1");
    assert_eq!(first.headers["content-type"], "application/json");
    let run = &first.json;
    assert_eq!(run["id"], "job-1");
    assert_eq!(run["tenant"], "default");
    assert_eq!(run["state"], "queued");
    assert_eq!(run["version"], 1);
    assert_eq!(run["last_seq"], 1);
    assert_eq!(run["children"], json!({"total": 0}));
    assert!(run.get("concurrency_on_full").is_none());

    // Same parameters, another key order and 1 instead of 1.0: the same run.
    let again = app
        .post(
            "/v1/runs",
            json!({"id": "job-1", "kind": "etl", "attributes": {"a": [1], "b": 1}}),
        )
        .await;
    again.status(200);
    assert_eq!(again.json, first.json);

    let conflict = app
        .post(
            "/v1/runs",
            json!({"id": "job-1", "kind": "other", "attributes": {"a": [2]}}),
        )
        .await;
    conflict.problem(409, "run_conflict");
    assert_eq!(conflict.json["fields"], json!(["kind", "attributes"]));
    assert_eq!(conflict.json["run_id"], "job-1");
    assert_eq!(app.run_count().await, 1);
}

async fn create_without_id_generates_one_and_children_derive_theirs() {
    let app = TestApp::fresh("create-ids").await;
    let generated = app.post("/v1/runs", json!({"kind": "etl"})).await;
    generated.status(201);
    let id = generated.json["id"].as_str().expect("an id").to_owned();
    assert_eq!(id.len(), 36, "a UUIDv7: {id}");

    app.post("/v1/runs", json!({"id": "parent", "kind": "etl"}))
        .await
        .status(201);
    let child = app
        .post(
            "/v1/runs",
            json!({"parent_id": "parent", "key": "acme", "kind": "etl"}),
        )
        .await;
    child.status(201);
    assert_eq!(child.json["id"], "parent:acme");
    assert_eq!(child.json["parent_id"], "parent");
    assert_eq!(child.json["key"], "acme");
    let explicit = app
        .post(
            "/v1/runs",
            json!({"id": "parent:acme", "parent_id": "parent", "key": "acme", "kind": "etl"}),
        )
        .await;
    explicit.status(200);
    let parent = app.get("/v1/runs/parent").await;
    assert_eq!(parent.json["children"], json!({"total": 1, "queued": 1}));
    let grandchild = app
        .post(
            "/v1/runs",
            json!({"parent_id": "parent:acme", "key": "eu", "kind": "etl"}),
        )
        .await;
    grandchild.status(201);
    app.get("/v1/runs/parent:acme:eu").await.status(200);

    let missing_parent = app
        .post(
            "/v1/runs",
            json!({"parent_id": "nobody", "key": "k", "kind": "etl"}),
        )
        .await;
    missing_parent.problem(404, "not_found");
    assert_eq!(missing_parent.json["parent_id"], "nobody");

    for body in [
        json!({"id": "a:b", "kind": "etl"}),
        json!({"parent_id": "parent", "kind": "etl"}),
        json!({"key": "k", "kind": "etl"}),
        json!({"id": "parent:zzz", "parent_id": "parent", "key": "acme", "kind": "etl"}),
        json!({"id": "bad id", "kind": "etl"}),
        json!({"parent_id": "1:2:3:4:5:6:7:8", "key": "9", "kind": "etl"}),
    ] {
        app.post("/v1/runs", body)
            .await
            .problem(422, "invalid_run_id");
    }
    assert_eq!(app.run_count().await, 4);
}

async fn a_full_group_rejects_with_the_active_ids_or_enqueues_or_cancels() {
    let app = TestApp::fresh("groups").await;
    let group = |id: &str, on_full: &str| json!({"id": id, "kind": "etl", "concurrency": {"key": "g", "limit": 2, "on_full": on_full}});
    app.post("/v1/runs", group("a", "reject")).await.status(201);
    app.post("/v1/runs", group("b", "reject")).await.status(201);
    let full = app.post("/v1/runs", group("c", "reject")).await;
    full.problem(409, "concurrency_limit");
    assert_eq!(full.json["active_run_ids"], json!(["a", "b"]));
    assert_eq!(full.json["concurrency_key"], "g");
    assert_eq!(full.json["limit"], 2);
    app.get("/v1/runs/c").await.problem(404, "not_found");

    let queued = app.post("/v1/runs", group("d", "enqueue")).await;
    queued.status(201);
    assert_eq!(queued.json["state"], "pending");

    let bumped = app.post("/v1/runs", group("e", "cancel_active")).await;
    bumped.status(201);
    assert_eq!(bumped.json["state"], "queued");
    let victim = app.get("/v1/runs/a").await;
    assert_eq!(victim.json["state"], "cancelled");

    // replace_pending: the new run is the group's only pending run.
    let replacing = app.post("/v1/runs", group("f", "replace_pending")).await;
    replacing.status(201);
    assert_eq!(replacing.json["state"], "pending");
    let replaced = app.get("/v1/runs/d").await;
    assert_eq!(replaced.json["state"], "cancelled");
    assert!(replaced.json["error"].as_str().unwrap().contains("run f"));

    // Limit and policy defaults: {key} alone is limit 1, reject.
    app.post(
        "/v1/runs",
        json!({"id": "solo", "kind": "etl", "concurrency": {"key": "h"}}),
    )
    .await
    .status(201);
    let solo = app
        .post(
            "/v1/runs",
            json!({"id": "solo2", "kind": "etl", "concurrency": {"key": "h"}}),
        )
        .await;
    solo.problem(409, "concurrency_limit");
    assert_eq!(solo.json["active_run_ids"], json!(["solo"]));
}

async fn lifecycle_start_heartbeat_finish_with_fencing() {
    let app = TestApp::fresh("lifecycle").await;
    app.post("/v1/runs", json!({"id": "r", "kind": "etl"}))
        .await
        .status(201);
    let start = json!({"owner": "w1", "lease_ttl_ms": 60000});
    let running = app.post("/v1/runs/r/start", start.clone()).await;
    running.status(200);
    assert_eq!(running.json["state"], "running");
    assert_eq!(running.json["lease"]["epoch"], 1);
    assert_eq!(running.json["lease"]["owner"], "w1");
    let second = app
        .post(
            "/v1/runs/r/start",
            json!({"owner": "w2", "lease_ttl_ms": 60000}),
        )
        .await;
    second.problem(409, "invalid_transition");
    assert_eq!(second.json["state"], "running");

    app.post("/v1/runs/r/heartbeat", json!({"lease_epoch": 1}))
        .await
        .status(200);
    app.post(
        "/v1/runs/r/heartbeat",
        json!({"lease_epoch": 1, "lease_ttl_ms": 120000}),
    )
    .await
    .status(200);
    let stale = app
        .post("/v1/runs/r/heartbeat", json!({"lease_epoch": 7}))
        .await;
    stale.problem(409, "stale_lease");
    assert_eq!(stale.json["current_epoch"], 1);
    app.post("/v1/runs/r/heartbeat", json!({}))
        .await
        .problem(422, "invalid_request");
    app.post("/v1/runs/r/finish", json!({"outcome": "succeeded"}))
        .await
        .problem(422, "invalid_request");
    app.post(
        "/v1/runs/r/finish",
        json!({"lease_epoch": 2, "outcome": "succeeded"}),
    )
    .await
    .problem(409, "stale_lease");

    let finish = json!({"lease_epoch": 1, "outcome": "succeeded", "result": {"rows": 3}});
    let done = app.post("/v1/runs/r/finish", finish.clone()).await;
    done.status(200);
    assert_eq!(done.json["state"], "succeeded");
    assert_eq!(done.json["result"], json!({"rows": 3}));
    assert_eq!(done.json["lease"], Value::Null);
    // A repeat of the same finish is the run unchanged; another is stale.
    let repeat = app.post("/v1/runs/r/finish", finish).await;
    repeat.status(200);
    assert_eq!(repeat.json, done.json);
    app.post(
        "/v1/runs/r/finish",
        json!({"lease_epoch": 1, "outcome": "failed", "error": "x"}),
    )
    .await
    .problem(409, "stale_lease");
    app.post("/v1/runs/r/heartbeat", json!({"lease_epoch": 1}))
        .await
        .problem(409, "stale_lease");
    app.post("/v1/runs/r/cancel", json!({}))
        .await
        .problem(409, "invalid_transition");

    // Heartbeat or finish of a run that never started.
    app.post("/v1/runs", json!({"id": "q", "kind": "etl"}))
        .await
        .status(201);
    app.post("/v1/runs/q/heartbeat", json!({"lease_epoch": 1}))
        .await
        .problem(409, "invalid_transition");
    app.post(
        "/v1/runs/q/finish",
        json!({"lease_epoch": 1, "outcome": "failed"}),
    )
    .await
    .problem(409, "invalid_transition");
}

async fn actions_on_a_missing_run_are_404() {
    let app = TestApp::fresh("missing-run").await;
    let cases = [
        ("start", json!({"owner": "w", "lease_ttl_ms": 1000})),
        ("heartbeat", json!({"lease_epoch": 1})),
        ("finish", json!({"lease_epoch": 1, "outcome": "failed"})),
        ("cancel", json!({})),
        ("events", json!({"type": "progress", "data": 1})),
    ];
    for (action, body) in cases {
        app.post(&format!("/v1/runs/nope/{action}"), body)
            .await
            .problem(404, "not_found");
    }
    app.get("/v1/runs/nope").await.problem(404, "not_found");
    app.get("/v1/runs/nope/events")
        .await
        .problem(404, "not_found");
}

async fn cancel_is_idempotent_and_if_match_guards_every_change() {
    let app = TestApp::fresh("cancel-if-match").await;
    let run = started(&app, "r").await;
    let version = run["version"].as_u64().expect("a version");
    assert_eq!(version, 1, "create with start is one change");
    // GET answers the version as the run's entity tag, for If-Match.
    let got = app.get("/v1/runs/r").await;
    assert_eq!(got.headers["etag"], "\"1\"");

    for (action, body) in [
        ("heartbeat", json!({"lease_epoch": 1})),
        ("finish", json!({"lease_epoch": 1, "outcome": "succeeded"})),
        ("cancel", json!({"reason": "x"})),
        (
            "events",
            json!({"type": "progress", "data": null, "lease_epoch": 1}),
        ),
    ] {
        let refused = app
            .send(
                Call::post(&format!("/v1/runs/r/{action}"))
                    .json(&body)
                    .if_match(version + 5),
            )
            .await;
        refused.problem(412, "version_conflict");
        assert_eq!(refused.json["current_version"], version);
        assert_eq!(refused.json["expected_version"], version + 5);
    }
    app.send(
        Call::post("/v1/runs/r/events")
            .json(&json!({"type": "progress", "data": {"pct": 50}, "lease_epoch": 1}))
            .if_match(version),
    )
    .await
    .status(201);
    app.send(
        Call::post("/v1/runs/r/cancel")
            .json(&json!({}))
            .header("if-match", "not-a-version"),
    )
    .await
    .problem(422, "invalid_request");
    let cancelled = app
        .send(
            Call::post("/v1/runs/r/cancel")
                .json(&json!({"reason": "operator"}))
                .if_match(version + 1),
        )
        .await;
    cancelled.status(200);
    assert_eq!(cancelled.json["state"], "cancelled");
    assert_eq!(cancelled.json["error"], "operator");
    let repeat = app
        .send(Call::post("/v1/runs/r/cancel").json(&json!({"reason": "other"})))
        .await;
    repeat.status(200);
    assert_eq!(repeat.json, cancelled.json);
    // An empty body is an empty cancel.
    app.post("/v1/runs", json!({"id": "s", "kind": "etl"}))
        .await
        .status(201);
    let empty = app.send(Call::post("/v1/runs/s/cancel")).await;
    empty.status(200);
    assert_eq!(empty.json["state"], "cancelled");
    assert_eq!(empty.json["error"], Value::Null);

    let start_with_if_match = app
        .send(Call::post("/v1/runs").json(&json!({"id": "t", "kind": "etl"})))
        .await;
    start_with_if_match.status(201);
    app.send(
        Call::post("/v1/runs/t/start")
            .json(&json!({"owner": "w", "lease_ttl_ms": 1000}))
            .if_match(2),
    )
    .await
    .problem(412, "version_conflict");
    app.send(
        Call::post("/v1/runs/t/start")
            .json(&json!({"owner": "w", "lease_ttl_ms": 1000}))
            .header("if-match", "*"),
    )
    .await
    .status(200);
}

async fn events_append_and_page_with_epochs() {
    let app = TestApp::fresh("events").await;
    app.post("/v1/runs", json!({"id": "r", "kind": "etl"}))
        .await
        .status(201);
    // Before the run starts an append needs no epoch.
    let first = app
        .post(
            "/v1/runs/r/events",
            json!({"type": "log.line", "data": "hello"}),
        )
        .await;
    first.status(201);
    assert_eq!(first.json, json!({"seq": 2, "position": 2}));
    app.post(
        "/v1/runs/r/start",
        json!({"owner": "w", "lease_ttl_ms": 60000}),
    )
    .await
    .status(200);
    app.post("/v1/runs/r/events", json!({"type": "progress", "data": 1}))
        .await
        .problem(409, "stale_lease");
    app.post(
        "/v1/runs/r/events",
        json!({"type": "progress", "data": 1, "lease_epoch": 9}),
    )
    .await
    .problem(409, "stale_lease");
    for pct in [10, 20, 30] {
        app.post(
            "/v1/runs/r/events",
            json!({"type": "progress", "data": {"pct": pct}, "lease_epoch": 1}),
        )
        .await
        .status(201);
    }
    app.post(
        "/v1/runs/r/events",
        json!({"type": "started", "data": 1, "lease_epoch": 1}),
    )
    .await
    .problem(422, "invalid_request");
    app.post(
        "/v1/runs/r/events",
        json!({"type": "progress", "lease_epoch": 1}),
    )
    .await
    .problem(422, "invalid_request");
    app.post(
        "/v1/runs/r/events",
        json!({"type": "progress", "data": null, "lease_epoch": 1}),
    )
    .await
    .status(201);

    let all = app.get("/v1/runs/r/events").await;
    all.status(200);
    let events = all.json["events"].as_array().expect("events").clone();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "created", "log.line", "started", "progress", "progress", "progress", "progress"
        ]
    );
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
    assert_eq!(events[0]["run_id"], "r");

    let page = app.get("/v1/runs/r/events?after=3&limit=2").await;
    let seqs: Vec<u64> = page.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [4, 5]);
    for query in [
        "after=-1",
        "after=x",
        "limit=0",
        "limit=1001",
        "limit=x",
        "bogus=1",
        "after=1&after=2",
    ] {
        app.get(&format!("/v1/runs/r/events?{query}"))
            .await
            .problem(422, "invalid_request");
    }

    app.post(
        "/v1/runs/r/finish",
        json!({"lease_epoch": 1, "outcome": "failed", "error": "boom"}),
    )
    .await
    .status(200);
    app.post(
        "/v1/runs/r/events",
        json!({"type": "progress", "data": 1, "lease_epoch": 1}),
    )
    .await
    .problem(409, "stale_lease");
}

async fn list_filters_pages_and_refuses_unknown_values() {
    let app = TestApp::fresh("list").await;
    for n in 0..5 {
        app.post(
            "/v1/runs",
            json!({"id": format!("r{n}"), "kind": if n % 2 == 0 { "even" } else { "odd" },
                   "concurrency": {"key": format!("g{n}")}}),
        )
        .await
        .status(201);
    }
    app.post(
        "/v1/runs",
        json!({"parent_id": "r0", "key": "c", "kind": "even"}),
    )
    .await
    .status(201);
    app.post("/v1/runs/r1/cancel", json!({})).await.status(200);

    let ids = |answer: &support::Answer| -> Vec<String> {
        answer.json["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .map(|run| run["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = app.get("/v1/runs").await;
    all.status(200);
    assert_eq!(ids(&all), ["r0", "r1", "r2", "r3", "r4", "r0:c"]);
    assert_eq!(all.json["next_cursor"], Value::Null);
    assert_eq!(ids(&app.get("/v1/runs?kind=odd").await), ["r1", "r3"]);
    assert_eq!(ids(&app.get("/v1/runs?state=cancelled").await), ["r1"]);
    assert_eq!(ids(&app.get("/v1/runs?parent_id=r0").await), ["r0:c"]);
    assert_eq!(ids(&app.get("/v1/runs?concurrency_key=g3").await), ["r3"]);
    assert_eq!(
        ids(&app.get("/v1/runs?kind=even&state=queued").await),
        ["r0", "r2", "r4", "r0:c"]
    );

    let mut seen = Vec::new();
    let mut uri = "/v1/runs?limit=2".to_owned();
    loop {
        let page = app.get(&uri).await;
        page.status(200);
        seen.extend(ids(&page));
        match page.json["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/v1/runs?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["r0", "r1", "r2", "r3", "r4", "r0:c"]);

    for query in [
        "state=done",
        "state=",
        "kind=a%20b",
        "parent_id=a%2Fb",
        "concurrency_key=-x",
        "limit=0",
        "limit=1001",
        "limit=ten",
        "cursor=garbage",
        "cursor=-5",
        "color=red",
        "state=queued&state=running",
    ] {
        app.get(&format!("/v1/runs?{query}")).await.problem(
            422,
            if query.starts_with("parent_id") {
                "invalid_run_id"
            } else {
                "invalid_request"
            },
        );
    }
}

crate::both_backends!(
    create_is_201_then_200_for_identical_and_409_naming_differing_fields,
    create_without_id_generates_one_and_children_derive_theirs,
    a_full_group_rejects_with_the_active_ids_or_enqueues_or_cancels,
    lifecycle_start_heartbeat_finish_with_fencing,
    actions_on_a_missing_run_are_404,
    cancel_is_idempotent_and_if_match_guards_every_change,
    events_append_and_page_with_epochs,
    list_filters_pages_and_refuses_unknown_values,
);

#[tokio::test]
async fn tenant_events_page_by_position_and_name_the_newest_position() {
    let app = TestApp::fresh("tenant-events").await;
    let empty = app.get("/v1/events").await;
    empty.status(200);
    assert_eq!(empty.json, json!({"events": [], "last_position": 0}));
    for run in ["a", "b"] {
        app.post("/v1/runs", json!({"id": run, "kind": "etl"}))
            .await
            .status(201);
    }
    app.post("/v1/runs/a/events", json!({"type": "progress", "data": 1}))
        .await
        .status(201);

    let all = app.get("/v1/events").await;
    all.status(200);
    let events = all.json["events"].as_array().expect("events");
    let seen: Vec<(u64, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["position"].as_u64().unwrap(),
                e["run_id"].as_str().unwrap(),
                e["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (1, "a", "created"),
            (2, "b", "created"),
            (3, "a", "progress")
        ]
    );
    assert_eq!(all.json["last_position"], 3);
    // A page names the newest position however little it holds.
    let page = app.get("/v1/events?after=1&limit=1").await;
    assert_eq!(page.json["events"][0]["position"], 2);
    assert_eq!(page.json["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(page.json["last_position"], 3);
    let past = app.get("/v1/events?after=3").await;
    assert_eq!(past.json, json!({"events": [], "last_position": 3}));
    for query in ["after=-1", "limit=0", "limit=1001", "bogus=1"] {
        app.get(&format!("/v1/events?{query}"))
            .await
            .problem(422, "invalid_request");
    }
}
