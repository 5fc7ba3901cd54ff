//! SPEC §4 `GET /` (the dashboard) and "Auth" (the `runledger_token`
//! cookie, HttpOnly, SameSite=Strict, set by the dashboard's sign-in to a
//! server-side session id, never the API token).
//! In-process through the router on both backends: `/` is HTML; with tokens
//! it is a sign-in form until a valid session comes; sign-in sets the
//! cookie only for a valid token, sign-out ends the session on the server
//! (a copied cookie stops working) and clears it, a cross-site form is
//! refused; the page shows only the session's tenant, escapes run data,
//! filters, pages (newest first, both ways) and counts like `GET /v1/runs`.
//! The console's other views are in `dashboard_console.rs`. The browser side (live
//! updates) is tested in real Chromium by `runledger-cli/tests/dashboard.rs`.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use axum::http::header;
use runledger::{AppendEvent, EventType, RunId, Tenant};
use serde_json::json;
use support::{Answer, Call, TestApp, fresh_db_url};

async fn token(app: &TestApp, tenant: &str) -> String {
    app.ledger
        .add_tenant_token(&Tenant::parse(tenant).unwrap())
        .await
        .expect("a token is created")
        .token
}

fn header_of(answer: &Answer, name: header::HeaderName) -> String {
    answer
        .headers
        .get(&name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[track_caller]
fn assert_html(answer: &Answer, status: u16) {
    answer.status(status);
    assert_eq!(
        header_of(answer, header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    let policy = header_of(answer, header::CONTENT_SECURITY_POLICY);
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(header_of(answer, header::CACHE_CONTROL), "no-store");
    assert!(
        answer.text().starts_with("<!DOCTYPE html>"),
        "{}",
        answer.text()
    );
}

fn rows(answer: &Answer) -> usize {
    answer.text().matches("<tr data-run-id=").count()
}

/// The run ids of the page's rows, in order.
fn row_ids(answer: &Answer) -> Vec<String> {
    answer
        .text()
        .split("<tr data-run-id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The `href` of the element with `id`, unescaped.
fn link(answer: &Answer, id: &str) -> String {
    answer
        .text()
        .split(&format!(r#"id="{id}" href=""#))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no #{id} link: {}", answer.text()))
        .replace("&amp;", "&")
}

fn sign_in(token: &str) -> Call {
    Call::post("/dashboard/sign-in")
        .raw(
            "application/x-www-form-urlencoded",
            format!("token={token}").into_bytes(),
        )
        .header("host", "127.0.0.1:7878")
        .header("origin", "http://127.0.0.1:7878")
}

/// A browser's page request: it reads HTML, errors included.
fn html_call(uri: &str) -> Call {
    Call::get(uri).header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
}

fn with_cookie(call: Call, session: &str) -> Call {
    call.header("cookie", &format!("theme=dark; runledger_token={session}"))
}

/// Signs in with `token` and answers the session id the cookie holds.
async fn session(app: &TestApp, token: &str) -> String {
    let signed_in = app.send(sign_in(token)).await;
    signed_in.status(303);
    let cookie = header_of(&signed_in, header::SET_COOKIE);
    cookie
        .strip_prefix("runledger_token=")
        .and_then(|rest| rest.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

async fn without_tokens_the_dashboard_is_html_of_the_default_tenant() {
    let app = TestApp::fresh("dash-open").await;
    app.post("/v1/runs", json!({"id": "nightly-1", "kind": "etl"}))
        .await
        .status(201);
    let page = app.get("/").await;
    assert_html(&page, 200);
    let text = page.text();
    assert!(
        text.contains(r#"<strong id="tenant">default</strong>"#),
        "{text}"
    );
    assert!(text.contains(r#"data-run-id="nightly-1""#), "{text}");
    assert!(
        !text.contains("/dashboard/sign-in"),
        "no sign-in without tokens"
    );
    assert!(!text.contains("Sign out"), "nothing to sign out of");
    assert!(text.contains(r#"<script src="/dashboard/app.js" defer>"#));
    // HEAD answers too, for monitors.
    app.send(Call::new(axum::http::Method::HEAD, "/"))
        .await
        .status(200);
}

async fn with_tokens_only_a_valid_token_signs_in_and_the_cookie_is_http_only_and_strict() {
    let app = TestApp::fresh("dash-sign-in").await;
    let acme = token(&app, "acme").await;
    let globex = token(&app, "globex").await;
    for (tenant_token, id) in [(&globex, "globex-run"), (&acme, "acme-run")] {
        app.send(
            Call::post("/v1/runs")
                .json(&json!({"id": id, "kind": "etl"}))
                .token(tenant_token),
        )
        .await
        .status(201);
    }

    let form = app.get("/").await;
    assert_html(&form, 200);
    assert!(form.text().contains(r#"action="/dashboard/sign-in""#));
    assert_eq!(rows(&form), 0, "no runs before sign-in");
    assert!(!form.headers.contains_key(header::SET_COOKIE));

    for bad in ["rl_0000", "", "acme", "rl_0000%3B%20Path%3D%2Fx"] {
        let refused = app.send(sign_in(bad)).await;
        assert_html(&refused, 401);
        assert!(!refused.headers.contains_key(header::SET_COOKIE), "{bad}");
        assert!(refused.text().contains(r#"id="sign-in-error""#), "{bad}");
    }

    let signed_in = app.send(sign_in(&acme)).await;
    signed_in.status(303);
    assert_eq!(header_of(&signed_in, header::LOCATION), "/");
    let cookie = header_of(&signed_in, header::SET_COOKIE);
    let acme_session = cookie
        .strip_prefix("runledger_token=")
        .and_then(|rest| rest.strip_suffix("; Path=/; HttpOnly; SameSite=Strict"))
        .unwrap_or_else(|| panic!("an HttpOnly, Strict session cookie: {cookie}"))
        .to_owned();
    assert_eq!(acme_session.len(), 64, "{cookie}");
    assert!(
        !cookie.contains(&acme),
        "the cookie is not the token: {cookie}"
    );
    assert!(
        acme_session.bytes().all(|byte| byte.is_ascii_hexdigit()),
        "{cookie}"
    );
    // Each sign-in is a session of its own.
    assert_ne!(session(&app, &acme).await, acme_session);

    let page = app.send(with_cookie(Call::get("/"), &acme_session)).await;
    assert_html(&page, 200);
    let text = page.text();
    assert!(
        text.contains(r#"<strong id="tenant">acme</strong>"#),
        "{text}"
    );
    assert!(text.contains(r#"data-run-id="acme-run""#), "{text}");
    assert!(
        !text.contains("globex-run"),
        "another tenant's run is shown"
    );
    // The live stream starts after acme's own newest event (its `created`),
    // whatever globex wrote.
    assert!(text.contains(r#"data-position="1""#), "{text}");
    assert!(text.contains("Sign out"));
    // Another tenant's run is "not found" in the run pane too.
    let other = app
        .send(with_cookie(html_call("/?run=globex-run"), &acme_session))
        .await;
    assert_html(&other, 404);
    assert!(other.text().contains("no run globex-run in this tenant"));

    // The same cookie authenticates the API, as the browser's fetches do.
    let listed = app
        .send(with_cookie(Call::get("/v1/runs"), &acme_session))
        .await;
    listed.status(200);
    assert_eq!(listed.json["runs"][0]["id"], "acme-run");
    assert_eq!(listed.json["runs"].as_array().unwrap().len(), 1);
    // The token itself in the cookie (SPEC §4) is taken as the token, not
    // as a session: it opens no dashboard session.
    app.send(with_cookie(Call::get("/v1/runs"), &acme))
        .await
        .status(200);
}

async fn sign_out_ends_the_session_on_the_server_and_a_stale_cookie_shows_the_form() {
    let app = TestApp::fresh("dash-sign-out").await;
    let acme = token(&app, "acme").await;
    let copied = session(&app, &acme).await;
    let kept = session(&app, &acme).await;
    app.send(with_cookie(Call::get("/v1/runs"), &copied))
        .await
        .status(200);
    let out = app
        .send(
            with_cookie(Call::post("/dashboard/sign-out"), &copied)
                .header("host", "localhost:9")
                .header("origin", "http://localhost:9")
                .header("sec-fetch-site", "same-origin"),
        )
        .await;
    out.status(303);
    assert_eq!(header_of(&out, header::LOCATION), "/");
    assert_eq!(
        header_of(&out, header::SET_COOKIE),
        "runledger_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
    );
    // A copy of the cookie taken before sign-out no longer works anywhere;
    // another session of the same token does.
    app.send(with_cookie(Call::get("/v1/runs"), &copied))
        .await
        .problem(401, "unauthorized");
    app.send(with_cookie(Call::get("/dashboard/counts"), &copied))
        .await
        .problem(401, "unauthorized");
    let page = app.send(with_cookie(Call::get("/"), &copied)).await;
    assert!(page.text().contains("session has ended"), "{}", page.text());
    app.send(with_cookie(Call::get("/v1/runs"), &kept))
        .await
        .status(200);

    let stale = app.send(with_cookie(Call::get("/"), "0123abcd")).await;
    assert_html(&stale, 200);
    assert!(
        stale.text().contains("session has ended"),
        "{}",
        stale.text()
    );
    assert!(header_of(&stale, header::SET_COOKIE).contains("Max-Age=0"));
    assert_eq!(rows(&stale), 0);
    // The form's target, fetched directly, leads back to the dashboard.
    let bookmarked = app.get("/dashboard/sign-in").await;
    bookmarked.status(303);
}

async fn a_sign_in_or_sign_out_from_another_site_is_refused() {
    let app = TestApp::fresh("dash-cross-site").await;
    let acme = token(&app, "acme").await;
    let forged = [
        sign_in(&acme).header("origin", "http://evil.example"),
        Call::post("/dashboard/sign-in")
            .raw(
                "application/x-www-form-urlencoded",
                format!("token={acme}").into_bytes(),
            )
            .header("host", "127.0.0.1:7878")
            .header("origin", "http://127.0.0.1:7879"),
        Call::post("/dashboard/sign-in")
            .raw(
                "application/x-www-form-urlencoded",
                format!("token={acme}").into_bytes(),
            )
            .header("host", "127.0.0.1:7878")
            .header("origin", "null"),
        Call::post("/dashboard/sign-out").header("sec-fetch-site", "cross-site"),
    ];
    for call in forged {
        let refused = app.send(call).await;
        assert_html(&refused, 403);
        assert!(!refused.headers.contains_key(header::SET_COOKIE));
    }
    // Not a form: the page answers, with no cookie.
    let json = app
        .send(
            Call::post("/dashboard/sign-in")
                .json(&json!({"token": acme}))
                .header("host", "127.0.0.1:7878"),
        )
        .await;
    assert_html(&json, 415);
    assert!(!json.headers.contains_key(header::SET_COOKIE));
}

async fn run_data_is_escaped_and_the_run_pane_shows_events() {
    let app = TestApp::fresh("dash-escape").await;
    let hostile = "<script>alert(1)</script>\"'&";
    app.post(
        "/v1/runs",
        json!({"id": "r1", "kind": "etl", "attributes": {"note": hostile},
               "start": {"owner": "<b>worker</b>", "lease_ttl_ms": 60000}}),
    )
    .await
    .status(201);
    app.send(
        Call::post("/v1/runs/r1/events")
            .json(&json!({"type": "log", "data": hostile, "lease_epoch": 1})),
    )
    .await
    .status(201);
    let page = app.get("/?run=r1").await;
    assert_html(&page, 200);
    let text = page.text();
    assert!(!text.contains("<script>alert"), "{text}");
    assert!(!text.contains("<b>worker"), "{text}");
    assert!(
        text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{text}"
    );
    assert!(
        text.contains("&lt;b&gt;worker&lt;/b&gt; · epoch 1"),
        "{text}"
    );
    assert!(
        text.contains(r#"data-run-id="r1" data-last-seq="3""#),
        "{text}"
    );
    // Event data is pretty-printed (and escaped) in the pane.
    assert!(
        text.contains(r#"<pre class="event-data">&quot;&lt;script&gt;"#),
        "{text}"
    );
    for event_type in ["created", "started", "log"] {
        assert!(
            text.contains(&format!(r#"<td class="event-type">{event_type}</td>"#)),
            "{event_type}: {text}"
        );
    }
    let malformed = app.send(html_call("/?run=a%20b")).await;
    assert_html(&malformed, 422);
    assert!(malformed.text().contains(r#"role="alert""#));
}

async fn a_long_log_shows_its_newest_events_with_a_note() {
    let app = TestApp::fresh("dash-long-log").await;
    app.post("/v1/runs", json!({"id": "chatty", "kind": "etl"}))
        .await
        .status(201);
    let tenant = Tenant::default();
    let id = RunId::parse("chatty").unwrap();
    let event_type = EventType::parse("tick").unwrap();
    // 1,001 appends after `created`: seqs 2..=1002, one more than a page.
    let appends = (0..1_001).map(|n| {
        let (ledger, tenant, id) = (app.ledger.clone(), tenant.clone(), id.clone());
        let request = AppendEvent::new(event_type.clone(), json!(n));
        async move { ledger.append_event(&tenant, &id, request).await }
    });
    for appended in futures_util::future::join_all(appends).await {
        appended.expect("an append before the start needs no epoch");
    }
    let page = app.get("/?run=chatty").await;
    assert_html(&page, 200);
    let text = page.text();
    assert_eq!(text.matches("<tr data-seq=").count(), 1_000);
    assert!(
        text.contains(r#"data-last-seq="1002""#),
        "the newest is shown"
    );
    assert!(
        text.contains(r#"<tr data-seq="3">"#),
        "the oldest shown is 3"
    );
    assert!(!text.contains(r#"<tr data-seq="2">"#));
    assert!(text.contains(r#"id="events-earlier""#));

    let short = app.get("/").await;
    assert!(!short.text().contains("events-earlier"));
}

async fn filters_pages_and_counts_follow_the_api() {
    let app = TestApp::fresh("dash-filters").await;
    for n in 0..55 {
        app.post(
            "/v1/runs",
            json!({"id": format!("a-{n:02}"), "kind": "alpha"}),
        )
        .await
        .status(201);
    }
    for n in 0..3 {
        app.post(
            "/v1/runs",
            json!({"id": format!("b-{n}"), "kind": "beta",
                   "start": {"owner": "w", "lease_ttl_ms": 60000}}),
        )
        .await
        .status(201);
    }
    // Newest first: a-54 … a-05, then the older page a-04 … a-00.
    let first = app.get("/?kind=alpha").await;
    assert_html(&first, 200);
    assert_eq!(rows(&first), 50);
    assert_eq!(row_ids(&first)[..2], ["a-54", "a-53"]);
    assert!(first.text().contains(r#"data-newest-page="true""#));
    assert!(!first.text().contains(r#"id="newer-page""#));
    let second = app.get(&link(&first, "older-page")).await;
    assert_html(&second, 200);
    assert_eq!(row_ids(&second), ["a-04", "a-03", "a-02", "a-01", "a-00"]);
    assert!(second.text().contains(r#"data-newest-page="false""#));
    assert!(!second.text().contains(r#"id="older-page""#));
    // Back newer: the 50 runs just above, newest first, and from there the
    // newest page again.
    let back = app.get(&link(&second, "newer-page")).await;
    assert_html(&back, 200);
    let back_ids = row_ids(&back);
    assert_eq!(back_ids.len(), 50);
    assert_eq!(
        (back_ids[0].as_str(), back_ids[49].as_str()),
        ("a-54", "a-05")
    );
    assert_eq!(link(&back, "newer-page"), "/?kind=alpha");
    assert_eq!(
        row_ids(&app.get(&link(&back, "older-page")).await),
        row_ids(&second)
    );
    let bad_newer = app.send(html_call("/?newer=abc")).await;
    assert_html(&bad_newer, 422);
    assert!(
        bad_newer.text().contains("newer is not a cursor"),
        "{}",
        bad_newer.text()
    );

    // 55 `created` + 3 × (`created`, `started`): the stream resumes after 61.
    assert!(first.text().contains(r#"data-position="61""#));
    let running = app.get("/?state=running&kind=").await;
    assert_eq!(rows(&running), 3);
    let text = running.text();
    assert!(text.contains(r#"<span class="count-value" id="count-running">3</span>"#));
    assert!(text.contains(r#"<span class="count-value" id="count-queued">55</span>"#));
    assert!(text.contains(r#"<span class="count-value" id="count-total">58</span>"#));
    assert!(text.contains(r#"<span class="count-value" id="count-timed_out">0</span>"#));

    let refused = app.send(html_call("/?state=sleeping")).await;
    assert_html(&refused, 422);
    assert!(refused.text().contains(r#"id="filter-error""#));
    assert_eq!(rows(&refused), 0);
    let bad_cursor = app.send(html_call("/?cursor=zzz")).await;
    assert_html(&bad_cursor, 422);
    // A client that does not read HTML gets the server's problem+json.
    app.get("/?state=sleeping")
        .await
        .problem(422, "invalid_request");
    app.get("/?run=nope").await.problem(404, "not_found");
    app.get("/?run=a:b:").await.problem(422, "invalid_run_id");
    app.get("/?state=a&state=b")
        .await
        .problem(422, "invalid_request");

    let counts = app.get("/dashboard/counts").await;
    counts.status(200);
    assert_eq!(counts.json["counts"]["queued"], 55);
    assert_eq!(counts.json["counts"]["running"], 3);
    assert_eq!(counts.json["total"], 58);
}

async fn counts_need_the_cookie_once_tokens_exist_and_are_per_tenant() {
    let app = TestApp::fresh("dash-counts").await;
    let acme = token(&app, "acme").await;
    let globex = token(&app, "globex").await;
    app.send(
        Call::post("/v1/runs")
            .json(&json!({"kind": "etl"}))
            .token(&globex),
    )
    .await
    .status(201);
    app.get("/dashboard/counts")
        .await
        .problem(401, "unauthorized");
    let (acme, globex) = (session(&app, &acme).await, session(&app, &globex).await);
    let mine = app
        .send(with_cookie(Call::get("/dashboard/counts"), &acme))
        .await;
    mine.status(200);
    assert_eq!(mine.json["total"], 0);
    let theirs = app
        .send(with_cookie(Call::get("/dashboard/counts"), &globex))
        .await;
    assert_eq!(theirs.json["total"], 1);
}

crate::both_backends!(
    without_tokens_the_dashboard_is_html_of_the_default_tenant,
    with_tokens_only_a_valid_token_signs_in_and_the_cookie_is_http_only_and_strict,
    sign_out_ends_the_session_on_the_server_and_a_stale_cookie_shows_the_form,
    a_sign_in_or_sign_out_from_another_site_is_refused,
    run_data_is_escaped_and_the_run_pane_shows_events,
    a_long_log_shows_its_newest_events_with_a_note,
    filters_pages_and_counts_follow_the_api,
    counts_need_the_cookie_once_tokens_exist_and_are_per_tenant,
);

#[tokio::test]
async fn the_script_and_stylesheet_are_served_from_the_binary() {
    let app = TestApp::start(&fresh_db_url("dash-assets")).await;
    for (path, content_type, needle) in [
        (
            "/dashboard/app.js",
            "text/javascript; charset=utf-8",
            "EventSource",
        ),
        (
            "/dashboard/app.css",
            "text/css; charset=utf-8",
            ".state-running",
        ),
    ] {
        let answer = app.get(path).await;
        answer.status(200);
        assert_eq!(header_of(&answer, header::CONTENT_TYPE), content_type);
        assert!(answer.text().contains(needle), "{path}");
    }
    // The script writes data as text only.
    let script = app.get("/dashboard/app.js").await.text();
    for forbidden in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
    ] {
        assert!(!script.contains(forbidden), "app.js uses {forbidden}");
    }
}

#[test]
fn the_dashboard_is_not_part_of_the_api_document() {
    let document: serde_json::Value =
        serde_json::from_str(&runledger_server::openapi_json()).unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert!(
        paths
            .keys()
            .all(|path| path.starts_with("/v1/") || path == "/metrics" || path == "/healthz"),
        "{:?}",
        paths.keys()
    );
}
