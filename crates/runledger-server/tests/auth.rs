//! SPEC §1 "Tenant" and §4 "Auth": once a token exists every `/v1` request
//! needs one (Bearer header or the dashboard's `runledger_token` cookie) and the token
//! decides the tenant; without one, `401`. Another tenant's run answers
//! `404` on every route, exactly like a missing one, and the same id lives
//! independently in two tenants. `/healthz` and `/metrics` need no token.
//! The per-token rate limit answers `429` with `Retry-After`.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::Tenant;
use runledger_server::{AUTH_REQUIRED_RECHECK, MetricsToken, ServerConfig};
use serde_json::json;
use std::time::Instant;
use support::{Call, TestApp, fresh_db_url};

async fn token(app: &TestApp, tenant: &str) -> String {
    app.ledger
        .add_tenant_token(&Tenant::parse(tenant).unwrap())
        .await
        .expect("a token is created")
        .token
}

async fn without_tokens_everything_is_the_default_tenant_and_a_new_token_is_noticed() {
    let app = TestApp::fresh("auth-open").await;
    let created = app
        .post("/v1/runs", json!({"id": "r", "kind": "etl"}))
        .await;
    created.status(201);
    assert_eq!(created.json["tenant"], "default");
    // Any token is ignored while none exists.
    app.send(Call::get("/v1/runs/r").token("rl_made_up"))
        .await
        .status(200);

    let acme = token(&app, "acme").await;
    // The "no token" answer is cached at most AUTH_REQUIRED_RECHECK.
    let deadline = Instant::now() + AUTH_REQUIRED_RECHECK * 10;
    loop {
        let answer = app.get("/v1/runs/r").await;
        if answer.status == 401 {
            answer.problem(401, "unauthorized");
            assert!(answer.headers.contains_key("www-authenticate"));
            break;
        }
        assert!(Instant::now() < deadline, "tokens were never required");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mine = app
        .send(
            Call::post("/v1/runs")
                .json(&json!({"id": "r", "kind": "etl"}))
                .token(&acme),
        )
        .await;
    mine.status(201);
    assert_eq!(mine.json["tenant"], "acme");
}

async fn a_missing_or_invalid_token_is_401_on_every_api_route_but_health_is_open() {
    let app = TestApp::fresh("auth-required").await;
    let acme = token(&app, "acme").await;
    let routes = [
        Call::get("/v1/runs"),
        Call::get("/v1/runs/x"),
        Call::get("/v1/runs/x/events"),
        Call::get("/v1/openapi.json"),
        Call::get("/v1/nope"),
        Call::post("/v1/runs").json(&json!({"kind": "etl"})),
        Call::post("/v1/runs/x/start").json(&json!({"owner": "w", "lease_ttl_ms": 1000})),
        Call::post("/v1/runs/x/heartbeat").json(&json!({"lease_epoch": 1})),
        Call::post("/v1/runs/x/finish").json(&json!({"lease_epoch": 1, "outcome": "failed"})),
        Call::post("/v1/runs/x/cancel").json(&json!({})),
        Call::post("/v1/runs/x/events").json(&json!({"type": "a", "data": 1})),
    ];
    for call in routes {
        app.send(call.clone()).await.problem(401, "unauthorized");
        app.send(call.clone().token("rl_0000"))
            .await
            .problem(401, "unauthorized");
        app.send(
            call.clone()
                .header("authorization", &format!("Basic {acme}")),
        )
        .await
        .problem(401, "unauthorized");
        app.send(call.clone().header("authorization", "Bearer "))
            .await
            .problem(401, "unauthorized");
        app.send(call.header_bytes("authorization", b"Bearer \xff\xfe"))
            .await
            .problem(401, "unauthorized");
    }
    app.get("/healthz").await.status(200);

    app.send(Call::get("/v1/runs").token(&acme))
        .await
        .status(200);
    app.send(Call::get("/v1/runs").header("authorization", &format!("bearer {acme}")))
        .await
        .status(200);
    // The dashboard's session cookie stands for the token it signed in
    // with.
    let signed_in = app
        .send(
            Call::post("/dashboard/sign-in")
                .raw(
                    "application/x-www-form-urlencoded",
                    format!("token={acme}").into_bytes(),
                )
                .header("host", "127.0.0.1:7878")
                .header("origin", "http://127.0.0.1:7878"),
        )
        .await;
    signed_in.status(303);
    let cookie = signed_in.headers[axum::http::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("runledger_token="), "{cookie}");
    app.send(Call::get("/v1/runs").header("cookie", &format!("theme=dark; {cookie}")))
        .await
        .status(200);
    // SPEC §4: the cookie may carry the token itself (whoever set it holds
    // the token); the dashboard's own cookie never does.
    assert_ne!(cookie, format!("runledger_token={acme}"));
    app.send(Call::get("/v1/runs").header("cookie", &format!("runledger_token={acme}")))
        .await
        .status(200);
    for refused in [
        "runledger_token=rl_0000".to_owned(),
        "runledger_token=0000".to_owned(),
    ] {
        app.send(Call::get("/v1/runs").header("cookie", &refused))
            .await
            .problem(401, "unauthorized");
    }
    assert_eq!(app.run_count_with(Some(&acme)).await, 0);
}

/// `/metrics` counts every tenant's runs: once API tokens exist it needs the
/// server's `--metrics-token` (Prometheus' bearer auth), never a tenant's
/// token; without any API token it is open like the rest of the server.
async fn metrics_need_the_metrics_token_once_tokens_exist() {
    let config = ServerConfig {
        metrics_token: Some(MetricsToken::new("scrape-secret")),
        ..ServerConfig::default()
    };
    let app = TestApp::start_with(&fresh_db_url("auth-metrics"), config).await;
    app.get("/metrics").await.status(200);
    let acme = token(&app, "acme").await;
    app.get("/metrics").await.problem(401, "unauthorized");
    app.send(Call::get("/metrics").token(&acme))
        .await
        .problem(401, "unauthorized");
    app.send(Call::get("/metrics").token("scrape-secret-not"))
        .await
        .problem(401, "unauthorized");
    let scraped = app.send(Call::get("/metrics").token("scrape-secret")).await;
    scraped.status(200);
    assert!(scraped.text().contains("runledger_"), "{}", scraped.text());
    // Without a --metrics-token, tokens exist: the problem says what to do.
    let unset = TestApp::start(&fresh_db_url("auth-metrics-unset")).await;
    token(&unset, "acme").await;
    let refused = unset.get("/metrics").await;
    refused.problem(401, "unauthorized");
    assert!(
        refused.text().contains("--metrics-token"),
        "{}",
        refused.text()
    );
    assert!(!format!("{:?}", MetricsToken::new("scrape-secret")).contains("scrape"));
}

async fn another_tenants_run_is_404_on_every_route_and_ids_are_per_tenant() {
    let app = TestApp::fresh("auth-tenants").await;
    let acme = token(&app, "acme").await;
    let globex = token(&app, "globex").await;
    let as_acme = |call: Call| call.token(&acme);
    app.send(as_acme(Call::post("/v1/runs").json(
        &json!({"id": "x", "kind": "etl", "concurrency": {"key": "g"},
                "start": {"owner": "w", "lease_ttl_ms": 60000}}),
    )))
    .await
    .status(201);
    app.send(as_acme(
        Call::post("/v1/runs").json(&json!({"parent_id": "x", "key": "c", "kind": "etl"})),
    ))
    .await
    .status(201);
    app.send(as_acme(
        Call::post("/v1/runs/x/events")
            .json(&json!({"type": "progress", "data": 1, "lease_epoch": 1})),
    ))
    .await
    .status(201);
    let before = app.send(as_acme(Call::get("/v1/runs/x"))).await.json;

    let as_globex = |call: Call| call.token(&globex);
    for id in ["x", "x:c"] {
        let missing = app
            .send(as_globex(Call::get(&format!("/v1/runs/{id}"))))
            .await;
        missing.problem(404, "not_found");
        let really_missing = app.send(as_globex(Call::get("/v1/runs/never"))).await;
        assert_eq!(
            missing.json["detail"].as_str().unwrap().replace(id, "ID"),
            really_missing.json["detail"]
                .as_str()
                .unwrap()
                .replace("never", "ID"),
            "another tenant's run reads exactly like a missing one"
        );
        for (action, body) in [
            ("start", json!({"owner": "w", "lease_ttl_ms": 1000})),
            ("heartbeat", json!({"lease_epoch": 1})),
            ("finish", json!({"lease_epoch": 1, "outcome": "failed"})),
            ("cancel", json!({"reason": "hostile"})),
            (
                "events",
                json!({"type": "progress", "data": 1, "lease_epoch": 1}),
            ),
        ] {
            app.send(as_globex(
                Call::post(&format!("/v1/runs/{id}/{action}")).json(&body),
            ))
            .await
            .problem(404, "not_found");
        }
        app.send(as_globex(Call::get(&format!("/v1/runs/{id}/events"))))
            .await
            .problem(404, "not_found");
    }
    app.send(as_globex(
        Call::post("/v1/runs").json(&json!({"parent_id": "x", "key": "d", "kind": "etl"})),
    ))
    .await
    .problem(404, "not_found");
    for query in ["", "?parent_id=x", "?concurrency_key=g", "?kind=etl"] {
        let listed = app
            .send(as_globex(Call::get(&format!("/v1/runs{query}"))))
            .await;
        listed.status(200);
        assert_eq!(listed.json["runs"], json!([]), "{query}");
    }
    // Nothing globex did changed acme's run.
    assert_eq!(
        app.send(as_acme(Call::get("/v1/runs/x"))).await.json,
        before
    );

    // The same id, another kind and a full group of the same key: independent.
    let theirs = app
        .send(as_globex(Call::post("/v1/runs").json(
            &json!({"id": "x", "kind": "other", "concurrency": {"key": "g"}}),
        )))
        .await;
    theirs.status(201);
    assert_eq!(theirs.json["tenant"], "globex");
    assert_eq!(theirs.json["state"], "queued");
    assert_eq!(
        app.send(as_acme(Call::get("/v1/runs/x"))).await.json["kind"],
        "etl"
    );
    assert_eq!(app.run_count_with(Some(&acme)).await, 2);
    assert_eq!(app.run_count_with(Some(&globex)).await, 1);
}

async fn each_token_has_its_own_bucket_and_429_says_when_to_retry() {
    let config = ServerConfig {
        rate_limit_rps: 1,
        rate_limit_burst: 3,
        ..ServerConfig::default()
    };
    let app = TestApp::start_with(&fresh_db_url("auth-rate-limit"), config.clone()).await;
    let acme = token(&app, "acme").await;
    let globex = token(&app, "globex").await;
    for _ in 0..3 {
        app.send(Call::get("/v1/runs").token(&acme))
            .await
            .status(200);
    }
    let limited = app.send(Call::get("/v1/runs").token(&acme)).await;
    limited.problem(429, "rate_limited");
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_eq!(limited.json["retry_after_s"], retry_after);
    app.send(Call::get("/v1/runs").token(&globex))
        .await
        .status(200);
    // Unauthenticated requests are refused before they cost a token anything.
    app.send(Call::get("/v1/runs"))
        .await
        .problem(401, "unauthorized");
    // Health and metrics are never limited.
    for _ in 0..5 {
        app.get("/healthz").await.status(200);
    }

    // Without tokens there is no rate limit, however small the quota.
    let open = TestApp::start_with(&fresh_db_url("auth-rate-limit-open"), config).await;
    for _ in 0..10 {
        open.get("/v1/runs").await.status(200);
    }
    // And 0 turns it off.
    let off = TestApp::start_with(
        &fresh_db_url("auth-rate-limit-off"),
        ServerConfig {
            rate_limit_rps: 0,
            rate_limit_burst: 3,
            ..ServerConfig::default()
        },
    )
    .await;
    let token = token(&off, "acme").await;
    for _ in 0..10 {
        off.send(Call::get("/v1/runs").token(&token))
            .await
            .status(200);
    }
}

crate::both_backends!(
    without_tokens_everything_is_the_default_tenant_and_a_new_token_is_noticed,
    a_missing_or_invalid_token_is_401_on_every_api_route_but_health_is_open,
    metrics_need_the_metrics_token_once_tokens_exist,
    another_tenants_run_is_404_on_every_route_and_ids_are_per_tenant,
    each_token_has_its_own_bucket_and_429_says_when_to_retry,
);
