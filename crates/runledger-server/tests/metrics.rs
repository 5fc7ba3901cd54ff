//! SPEC §4 `GET /metrics` and `GET /healthz`: Prometheus text with the
//! HTTP request counter and latency histogram by route template, runs by
//! state, and the ledger's writer metrics; health is `200` while the
//! database answers. Neither needs a token.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::Tenant;
use serde_json::json;
use support::TestApp;
use tokio::sync::Mutex;

/// The metrics recorder is one per process and a scrape sets the runs-by-
/// state gauges from the scraping server's own ledger, so the tests of this
/// file take turns: another test's scrape of its empty database between our
/// create and our scrape would read `queued 0`.
static SCRAPING: Mutex<()> = Mutex::const_new(());

async fn metrics_count_requests_by_route_and_runs_by_state() {
    let _turn = SCRAPING.lock().await;
    let app = TestApp::fresh("metrics").await;
    app.post("/v1/runs", json!({"id": "m1", "kind": "etl"}))
        .await
        .status(201);
    app.post(
        "/v1/runs",
        json!({"id": "m2", "kind": "etl", "start": {"owner": "w", "lease_ttl_ms": 60000}}),
    )
    .await
    .status(201);
    app.get("/v1/runs/m1").await.status(200);
    app.get("/v1/nowhere").await.status(404);
    let scraped = app.get("/metrics").await;
    scraped.status(200);
    assert!(
        scraped.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = scraped.text();
    for expected in [
        r#"runledger_http_requests_total{method="POST",route="/v1/runs",status="201"}"#,
        r#"runledger_http_requests_total{method="GET",route="/v1/runs/{id}",status="200"}"#,
        r#"runledger_http_requests_total{method="GET",route="unmatched",status="404"}"#,
        "runledger_http_request_duration_seconds_bucket{",
        r#"runledger_runs{state="queued"}"#,
        r#"runledger_runs{state="running"}"#,
        r#"runledger_runs{state="timed_out"}"#,
    ] {
        assert!(
            text.contains(expected),
            "{expected} is missing from:\n{text}"
        );
    }
    // Every family has its # HELP line; the build is named.
    for line in text.lines().filter(|line| line.starts_with("# TYPE ")) {
        let family = line.split_whitespace().nth(2).unwrap();
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "{family} has no # HELP line:\n{text}"
        );
    }
    assert!(
        text.contains(&format!(
            "runledger_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    // The SQLite writer's own metrics come through the same recorder.
    if !support::on_postgres() {
        assert!(text.contains("runledger_writer_batch_operations"), "{text}");
    }
    // Counts are process-wide (other tests share the recorder): at least ours.
    let queued: f64 = text
        .lines()
        .find(|line| line.starts_with(r#"runledger_runs{state="queued"}"#))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .expect("a queued gauge");
    assert!(queued >= 1.0, "{queued}");
}

async fn health_needs_no_token_but_metrics_do_once_tokens_exist() {
    let _turn = SCRAPING.lock().await;
    let app = TestApp::fresh("health").await;
    app.ledger
        .add_tenant_token(&Tenant::parse("acme").unwrap())
        .await
        .unwrap();
    let health = app.get("/healthz").await;
    health.status(200);
    assert_eq!(health.json, json!({"status": "ok"}));
    // /metrics counts every tenant's runs: it needs --metrics-token now
    // (auth.rs tests the token itself).
    app.get("/metrics").await.problem(401, "unauthorized");
    app.get("/v1/runs").await.problem(401, "unauthorized");
}

crate::both_backends!(
    metrics_count_requests_by_route_and_runs_by_state,
    health_needs_no_token_but_metrics_do_once_tokens_exist,
);
