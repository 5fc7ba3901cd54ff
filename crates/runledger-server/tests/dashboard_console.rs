//! SPEC §10 "the dashboard is an operator console", in-process on both
//! backends: the cancel form (with cascade) works only with the session's
//! CSRF token from this server's own page and cancels nothing otherwise;
//! a concurrency group's page lists its active runs and its pending queue
//! in promotion order; a run's children come as a tree, one level per
//! fragment; an empty tenant is shown how to create its first run; times
//! say their zone; a revoked token ends its dashboard sessions; a new
//! sign-in replaces the browser's session. Bad input
//! to each new endpoint is a 4xx naming what is wrong. The same views in
//! real Chromium: `runledger-cli/tests/dashboard.rs`.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use axum::http::header;
use runledger::Tenant;
use serde_json::json;
use support::{Answer, Call, TestApp};

const HOST: &str = "127.0.0.1:7878";
const ORIGIN: &str = "http://127.0.0.1:7878";

/// A browser's same-origin form post.
fn form(uri: &str, body: &str) -> Call {
    Call::post(uri)
        .raw(
            "application/x-www-form-urlencoded",
            body.as_bytes().to_vec(),
        )
        .header("host", HOST)
        .header("origin", ORIGIN)
        .header("sec-fetch-site", "same-origin")
        .header("accept", "text/html")
}

/// Signs in with `token`; answers the `Cookie` header value.
async fn sign_in(app: &TestApp, token: &str) -> String {
    let answer = app
        .send(form("/dashboard/sign-in", &format!("token={token}")))
        .await;
    answer.status(303);
    answer.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// The page's CSRF token (`data-csrf`).
fn csrf_of(page: &Answer) -> String {
    page.text()
        .split(r#"data-csrf=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries a CSRF token")
        .to_owned()
}

async fn state_of(app: &TestApp, token: Option<&str>, id: &str) -> String {
    let mut call = Call::get(&format!("/v1/runs/{id}"));
    if let Some(token) = token {
        call = call.token(token);
    }
    let answer = app.send(call).await;
    answer.status(200);
    answer.json["state"].as_str().unwrap().to_owned()
}

async fn the_cancel_form_needs_this_sessions_csrf_token_and_cascades() {
    let app = TestApp::fresh("console-cancel").await;
    let acme = app
        .ledger
        .add_tenant_token(&Tenant::parse("acme").unwrap())
        .await
        .unwrap()
        .token;
    for body in [
        json!({"id": "parent", "kind": "etl"}),
        json!({"parent_id": "parent", "key": "a", "kind": "etl"}),
        json!({"parent_id": "parent:a", "key": "deep", "kind": "etl"}),
        json!({"id": "lonely", "kind": "etl"}),
    ] {
        app.send(Call::post("/v1/runs").json(&body).token(&acme))
            .await
            .status(201);
    }
    let cookie = sign_in(&app, &acme).await;
    let page = app
        .send(Call::get("/?run=parent").header("cookie", &cookie))
        .await;
    page.status(200);
    let text = page.text();
    assert!(text.contains(r#"id="cancel-form""#), "{text}");
    assert!(
        text.contains(r#"name="cascade""#),
        "a parent offers cascade"
    );
    let csrf = csrf_of(&page);
    assert_eq!(csrf.len(), 64);
    assert!(text.contains(&format!(r#"name="csrf" value="{csrf}""#)));

    // Refused, nothing cancelled: another site's form (with the right
    // token even), a wrong or missing token, another session's token, no
    // session at all.
    let other_session = sign_in(&app, &acme).await;
    let other_page = app
        .send(Call::get("/").header("cookie", &other_session))
        .await;
    let other_csrf = csrf_of(&other_page);
    assert_ne!(other_csrf, csrf);
    let cross_site = Call::post("/dashboard/cancel")
        .raw(
            "application/x-www-form-urlencoded",
            format!("csrf={csrf}&run=parent&cascade=true").into_bytes(),
        )
        .header("host", HOST)
        .header("origin", "http://127.0.0.1:9999")
        .header("cookie", &cookie);
    let refused = app.send(cross_site).await;
    refused.status(403);
    for (body, status) in [
        ("run=parent&cascade=true".to_owned(), 403),
        ("csrf=0000&run=parent".to_owned(), 403),
        (format!("csrf={other_csrf}&run=parent"), 403),
    ] {
        let answer = app
            .send(form("/dashboard/cancel", &body).header("cookie", &cookie))
            .await;
        answer.status(status);
        assert!(answer.text().contains("csrf"), "{body}: {}", answer.text());
    }
    let anonymous = app
        .send(form(
            "/dashboard/cancel",
            &format!("csrf={csrf}&run=parent"),
        ))
        .await;
    anonymous.status(401);
    for id in ["parent", "parent:a", "parent:a:deep"] {
        assert_eq!(state_of(&app, Some(&acme), id).await, "queued", "{id}");
    }

    // Bad input names what is wrong and cancels nothing.
    for (body, status, needle) in [
        (format!("csrf={csrf}&run=a%20b"), 422, "run"),
        (format!("csrf={csrf}&run=nope"), 404, "nope"),
        (
            format!("csrf={csrf}&run=parent&cascade=maybe"),
            422,
            "cascade",
        ),
        (
            format!("csrf={csrf}&run=parent&reason=a%00b"),
            422,
            "reason",
        ),
    ] {
        let answer = app
            .send(form("/dashboard/cancel", &body).header("cookie", &cookie))
            .await;
        answer.status(status);
        assert!(answer.text().contains(needle), "{body}: {}", answer.text());
    }
    assert_eq!(state_of(&app, Some(&acme), "parent").await, "queued");

    // This page's own form: a plain cancel leaves the children, a cascade
    // takes every unfinished descendant.
    let done = app
        .send(
            form(
                "/dashboard/cancel",
                &format!("csrf={csrf}&run=lonely&reason=by+hand"),
            )
            .header("cookie", &cookie),
        )
        .await;
    done.status(303);
    assert_eq!(done.headers[header::LOCATION], "/?run=lonely");
    assert_eq!(state_of(&app, Some(&acme), "lonely").await, "cancelled");
    let cascaded = app
        .send(
            form(
                "/dashboard/cancel",
                &format!("csrf={csrf}&run=parent&reason=stop&cascade=true"),
            )
            .header("cookie", &cookie),
        )
        .await;
    cascaded.status(303);
    for id in ["parent", "parent:a", "parent:a:deep"] {
        assert_eq!(state_of(&app, Some(&acme), id).await, "cancelled", "{id}");
    }
    let after = app
        .send(Call::get("/?run=parent").header("cookie", &cookie))
        .await;
    assert!(
        !after.text().contains(r#"id="cancel-form""#),
        "an ended run offers no cancel"
    );
}

async fn without_tokens_the_form_carries_the_servers_own_csrf_token() {
    let app = TestApp::fresh("console-open-cancel").await;
    app.post("/v1/runs", json!({"id": "r", "kind": "etl"}))
        .await
        .status(201);
    let page = app.get("/?run=r").await;
    let csrf = csrf_of(&page);
    app.send(form("/dashboard/cancel", "csrf=abc&run=r"))
        .await
        .status(403);
    assert_eq!(state_of(&app, None, "r").await, "queued");
    app.send(form("/dashboard/cancel", &format!("csrf={csrf}&run=r")))
        .await
        .status(303);
    assert_eq!(state_of(&app, None, "r").await, "cancelled");
}

async fn a_group_page_lists_active_slots_and_the_pending_queue_in_promotion_order() {
    let app = TestApp::fresh("console-group").await;
    let group = json!({"key": "deploy/prod", "limit": 2, "on_full": "enqueue"});
    for id in ["g1", "g2", "g3", "g4", "g5"] {
        app.post(
            "/v1/runs",
            json!({"id": id, "kind": "deploy", "concurrency": group}),
        )
        .await
        .status(201);
    }
    app.post(
        "/v1/runs/g1/start",
        json!({"owner": "w", "lease_ttl_ms": 60000}),
    )
    .await
    .status(200);
    let page = app.get("/dashboard/group?key=deploy%2Fprod").await;
    page.status(200);
    let text = page.text();
    assert!(text.contains("2 of 2 slots in use, 3 pending"), "{text}");
    let section = |id: &str| -> Vec<String> {
        text.split(&format!(r#"id="{id}""#))
            .nth(1)
            .unwrap()
            .split("</table>")
            .next()
            .unwrap()
            .split(r#"<tr data-run-id=""#)
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(section("group-active"), ["g1", "g2"]);
    assert_eq!(section("group-pending"), ["g3", "g4", "g5"]);
    // The runs list and the run pane link to the group.
    let list = app.get("/?run=g3").await.text();
    assert!(
        list.contains(r#"href="/dashboard/group?key=deploy%2Fprod""#),
        "{list}"
    );
    for (uri, needle) in [
        ("/dashboard/group?key=", "concurrency.key"),
        ("/dashboard/group", "concurrency.key"),
        ("/dashboard/group?key=%20bad%20key", "concurrency.key"),
    ] {
        let answer = app.send(Call::get(uri).header("accept", "text/html")).await;
        answer.status(422);
        assert!(answer.text().contains(needle), "{uri}: {}", answer.text());
    }
}

async fn children_come_as_a_tree_one_level_per_fragment() {
    let app = TestApp::fresh("console-tree").await;
    for body in [
        json!({"id": "root", "kind": "etl"}),
        json!({"parent_id": "root", "key": "a", "kind": "etl"}),
        json!({"parent_id": "root", "key": "b", "kind": "etl",
               "start": {"owner": "w", "lease_ttl_ms": 60000}}),
        json!({"parent_id": "root:a", "key": "x", "kind": "leaf"}),
    ] {
        app.post("/v1/runs", body).await.status(201);
    }
    let page = app.get("/?run=root").await;
    let text = page.text();
    assert!(
        text.contains(r#"<span id="children-counts">2 (1 queued, 1 running)</span>"#),
        "{text}"
    );
    assert!(
        text.contains(r#"<details class="subtree" data-run-id="root:a">"#),
        "a child with children can be expanded: {text}"
    );
    let tree = text
        .split(r#"id="detail-children""#)
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
        .unwrap();
    assert!(tree.contains(r#"<li data-run-id="root:b">"#), "{tree}");
    assert!(!tree.contains("root:a:x"), "one level at a time: {tree}");
    let level = app.get("/dashboard/children?run=root%3Aa").await;
    level.status(200);
    assert!(
        level
            .text()
            .starts_with(r#"<ul class="tree" data-parent-id="root:a">"#)
    );
    assert!(level.text().contains(r#"<li data-run-id="root:a:x">"#));
    let pane = app.get("/dashboard/run?run=root").await;
    pane.status(200);
    assert!(pane.text().starts_with("<section "), "{}", pane.text());
    assert!(pane.text().contains(r#"id="run-detail""#));
    assert!(pane.text().contains(r#"id="events-body""#));
    let live = app.get("/dashboard/run?run=root&part=live").await;
    live.status(200);
    assert!(live.text().starts_with(r#"<div id="detail-live""#));
    assert!(!live.text().contains("events-body"));
    for (uri, status, needle) in [
        ("/dashboard/children", 422, "run"),
        ("/dashboard/children?run=a%20b", 422, "run"),
        ("/dashboard/children?run=nope", 404, "nope"),
        ("/dashboard/run?run=root&part=all", 422, "part"),
        ("/dashboard/run?run=", 422, "run"),
    ] {
        app.get(uri).await.status(status);
        assert!(app.get(uri).await.text().contains(needle), "{uri}");
    }
}

async fn an_empty_tenant_is_shown_how_to_create_its_first_run_with_times_in_utc() {
    let app = TestApp::fresh("console-empty").await;
    let empty = app
        .send(Call::get("/").header("host", "127.0.0.1:7000"))
        .await;
    let text = empty.text();
    assert!(text.contains(r#"id="empty-state""#), "{text}");
    assert!(
        text.contains("runledger runs create --kind hello --server http://127.0.0.1:7000"),
        "{text}"
    );
    assert!(
        text.contains("curl -X POST http://127.0.0.1:7000/v1/runs"),
        "{text}"
    );
    assert!(
        !text.contains("Authorization: Bearer"),
        "no token needed yet"
    );
    app.post(
        "/v1/runs",
        json!({"id": "r", "kind": "etl", "start": {"owner": "w", "lease_ttl_ms": 60000}}),
    )
    .await
    .status(201);
    let text = app.get("/?run=r").await.text();
    assert!(!text.contains(r#"id="empty-state""#));
    assert!(text.contains(" UTC</time>"), "{text}");
    assert!(text.contains(r#"<span class="ago" data-at=""#), "{text}");
    assert!(
        text.contains(r#"<td class="duration" data-running-since=""#),
        "{text}"
    );
    // With tokens the curl line carries one.
    let token = app
        .ledger
        .add_tenant_token(&Tenant::parse("fresh").unwrap())
        .await
        .unwrap()
        .token;
    let cookie = sign_in(&app, &token).await;
    let text = app
        .send(Call::get("/").header("cookie", &cookie))
        .await
        .text();
    assert!(
        text.contains("Authorization: Bearer $RUNLEDGER_TOKEN"),
        "{text}"
    );
}

async fn a_revoked_token_ends_its_dashboard_sessions() {
    let app = TestApp::fresh("console-revoke").await;
    let tenant = Tenant::parse("acme").unwrap();
    let revoked = app.ledger.add_tenant_token(&tenant).await.unwrap();
    let kept = app.ledger.add_tenant_token(&tenant).await.unwrap();
    let doomed = sign_in(&app, &revoked.token).await;
    let survivor = sign_in(&app, &kept.token).await;
    for cookie in [&doomed, &survivor] {
        app.send(Call::get("/v1/runs").header("cookie", cookie))
            .await
            .status(200);
    }
    app.ledger.revoke_token(&revoked.id).await.unwrap();
    app.send(Call::get("/v1/runs").header("cookie", &doomed))
        .await
        .problem(401, "unauthorized");
    let page = app.send(Call::get("/").header("cookie", &doomed)).await;
    assert!(page.text().contains("session has ended"), "{}", page.text());
    app.send(Call::get("/v1/runs").header("cookie", &survivor))
        .await
        .status(200);
}

async fn signing_in_again_replaces_the_browsers_session() {
    let app = TestApp::fresh("console-resign").await;
    let token = app
        .ledger
        .add_tenant_token(&Tenant::parse("acme").unwrap())
        .await
        .unwrap()
        .token;
    let first = sign_in(&app, &token).await;
    let again = app
        .send(form("/dashboard/sign-in", &format!("token={token}")).header("cookie", &first))
        .await;
    again.status(303);
    let second = again.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(second, first, "a fresh session id on every sign-in");
    app.send(Call::get("/v1/runs").header("cookie", &first))
        .await
        .problem(401, "unauthorized");
    app.send(Call::get("/v1/runs").header("cookie", &second))
        .await
        .status(200);
}

crate::both_backends!(
    signing_in_again_replaces_the_browsers_session,
    the_cancel_form_needs_this_sessions_csrf_token_and_cascades,
    without_tokens_the_form_carries_the_servers_own_csrf_token,
    a_group_page_lists_active_slots_and_the_pending_queue_in_promotion_order,
    children_come_as_a_tree_one_level_per_fragment,
    an_empty_tenant_is_shown_how_to_create_its_first_run_with_times_in_utc,
    a_revoked_token_ends_its_dashboard_sessions,
);
