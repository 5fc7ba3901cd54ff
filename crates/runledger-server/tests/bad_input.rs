//! SPEC §2.8 "Bad input is refused, not absorbed": every malformed request
//! gets a 4xx problem with a code and a message, nothing is written, and no
//! client input causes a 5xx. A corpus of hostile requests is checked one by
//! one (the run count, the target run and its events are unchanged after
//! each), then a seeded mutation fuzz sends thousands of mangled variants of
//! valid requests and asserts zero 5xx and a clean audit.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use axum::http::Method;
use runledger_server::JSON_DEPTH_MAX;
use serde_json::{Value, json};
use support::{Answer, Call, TestApp, assert_problem_shape};

/// What the target run and the tenant look like; equal before and after a
/// refused request.
async fn snapshot(app: &TestApp) -> (usize, Value, Value) {
    (
        app.run_count().await,
        app.get("/v1/runs/target").await.json,
        app.get("/v1/runs/target/events").await.json,
    )
}

#[track_caller]
fn refused(answer: &Answer, what: &str) {
    assert!(
        answer.status.is_client_error(),
        "{what}: expected a 4xx, got {} {}",
        answer.status,
        answer.text()
    );
    assert_problem_shape(answer);
}

fn create_raw(body: impl Into<Vec<u8>>) -> Call {
    Call::post("/v1/runs").raw("application/json", body)
}

fn hostile_ids() -> Vec<String> {
    [
        "",
        " ",
        "a b",
        "a\"b",
        "a'b",
        "a/b",
        "..",
        ".",
        "./a",
        "a:b",
        ":a",
        "a:",
        "a\u{0}b",
        "\u{0}",
        "ünïcode",
        "😀",
        "a\nb",
        "a\tb",
        "-a",
        "_a",
        ".a",
        "a%2Fb",
        "a\\b",
        "<script>",
        "a;b",
        "a?b",
        "a#b",
        "a*b",
        "a,b",
        "\u{202e}abc",
        "a\u{200b}b",
    ]
    .iter()
    .map(|id| (*id).to_owned())
    .chain([
        "a".repeat(129),
        "a:".repeat(8) + "a",
        format!("{}:b", "a".repeat(129)),
    ])
    .collect()
}

fn nested(levels: usize) -> String {
    format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
}

/// Create bodies that must all be refused.
fn bad_creates() -> Vec<(String, Vec<u8>)> {
    let mut corpus: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |what: &str, body: Vec<u8>| corpus.push((what.to_owned(), body));
    // Malformed JSON.
    for text in [
        "{",
        "}",
        "{\"kind\":}",
        "{\"kind\":\"etl\",}",
        "nul",
        "{'kind':'etl'}",
        "{\"kind\" \"etl\"}",
        "{\"kind\":\"etl\"} {}",
        "{\"kind\":\"etl\"}]",
        "\"etl\"",
        "[]",
        "[{\"kind\":\"etl\"}]",
        "123",
        "null",
        "true",
        "{\"kind\":\"etl\"\u{0}}",
        "{\"kind\":\"\\ud800\"}",
        "{\"kind\":\"\\x41\"}",
        "{\"kind\":NaN}",
        "{\"kind\":\"etl\",\"attributes\":{\"n\":1e999}}",
        "{\"kind\":\"etl\",\"attributes\":{\"n\":\"a\\u0000b\"}}",
        "{\"kind\":\"etl\",\"attributes\":{\"\\u0000\":1}}",
        "\u{feff}{\"kind\":\"etl\"}",
        "{} ",
        " ",
        "{}",
    ] {
        add(&format!("malformed {text:?}"), text.as_bytes().to_vec());
    }
    // Invalid UTF-8, inside and outside strings.
    for bytes in [
        &b"{\"kind\":\"\xff\"}"[..],
        b"{\"kind\":\"etl\xc3\"}",
        b"{\"kind\":\"\xc0\xaf\"}",
        b"{\"kind\":\"\xed\xa0\x80\"}",
        b"\xff\xfe{\"kind\":\"etl\"}",
        b"{\"ki\xffnd\":\"etl\"}",
    ] {
        add("invalid UTF-8", bytes.to_vec());
    }
    // Wrong types and nulls.
    for body in [
        json!({"kind": 1}),
        json!({"kind": []}),
        json!({"kind": null}),
        json!({"kind": true}),
        json!({"kind": "etl", "id": 5}),
        json!({"kind": "etl", "id": true}),
        json!({"kind": "etl", "id": []}),
        json!({"kind": "etl", "attributes": []}),
        json!({"kind": "etl", "attributes": "x"}),
        json!({"kind": "etl", "attributes": 1}),
        json!({"kind": "etl", "concurrency": "g"}),
        json!({"kind": "etl", "concurrency": {"key": 1}}),
        json!({"kind": "etl", "concurrency": {"key": null}}),
        json!({"kind": "etl", "concurrency": {}}),
        json!({"kind": "etl", "concurrency": {"key": "g", "limit": "1"}}),
        json!({"kind": "etl", "concurrency": {"key": "g", "limit": -1}}),
        json!({"kind": "etl", "concurrency": {"key": "g", "limit": 1.5}}),
        json!({"kind": "etl", "concurrency": {"key": "g", "limit": 0}}),
        json!({"kind": "etl", "concurrency": {"key": "g", "limit": 10001}}),
        json!({"kind": "etl", "concurrency": {"key": "g", "limit": 1e10}}),
        json!({"kind": "etl", "concurrency": {"key": "g", "limit": 4294967297u64}}),
        json!({"kind": "etl", "concurrency": {"key": "g", "on_full": "drop"}}),
        json!({"kind": "etl", "concurrency": {"key": "g", "on_full": "REJECT"}}),
        json!({"kind": "etl", "concurrency": {"key": "/g"}}),
        json!({"kind": "etl", "concurrency": {"key": "g".repeat(257)}}),
        json!({"kind": "etl", "start": {"owner": "", "lease_ttl_ms": 1000}}),
        json!({"kind": "etl", "start": {"owner": null, "lease_ttl_ms": 1000}}),
        json!({"kind": "etl", "start": {"owner": "w\n", "lease_ttl_ms": 1000}}),
        json!({"kind": "etl", "start": {"owner": "o".repeat(257), "lease_ttl_ms": 1000}}),
        json!({"kind": "etl", "start": {"owner": "w", "lease_ttl_ms": 99}}),
        json!({"kind": "etl", "start": {"owner": "w", "lease_ttl_ms": 86400001}}),
        json!({"kind": "etl", "start": {"owner": "w", "lease_ttl_ms": -1}}),
        json!({"kind": "etl", "start": {"owner": "w", "lease_ttl_ms": "1000"}}),
        json!({"kind": "etl", "start": {"owner": "w"}}),
        json!({"kind": "etl", "start": []}),
        json!({"kind": "etl", "start": "now"}),
        json!({"kind": ""}),
        json!({"kind": "a b"}),
        json!({"kind": "a:b"}),
        json!({"kind": "k".repeat(129)}),
        json!({"kind": "etl", "attributes": {"pad": "x".repeat(64 * 1024)}}),
        json!({"id": "ok"}),
        json!({}),
    ] {
        add(&format!("wrong {body}"), serde_json::to_vec(&body).unwrap());
    }
    // Unknown fields and duplicate keys.
    for text in [
        r#"{"kind":"etl","foo":1}"#,
        r#"{"kind":"etl","Kind":"etl"}"#,
        r#"{"kind":"etl","state":"running"}"#,
        r#"{"kind":"etl","tenant":"other"}"#,
        r#"{"kind":"etl","version":7}"#,
        r#"{"kind":"etl","start":{"owner":"w","lease_ttl_ms":1000,"epoch":5}}"#,
        r#"{"kind":"etl","concurrency":{"key":"g","extra":true}}"#,
        r#"{"kind":"etl","kind":"etl"}"#,
        r#"{"kind":"a","kind":"b"}"#,
        r#"{"id":"x","kind":"etl","id":"y"}"#,
        r#"{"kind":"etl","attributes":{"a":1,"a":2}}"#,
        r#"{"kind":"etl","attributes":{"deep":{"b":[{"c":1,"c":1}]}}}"#,
        r#"{"kind":"etl","concurrency":{"key":"g","key":"h"}}"#,
    ] {
        add(&format!("strict {text}"), text.as_bytes().to_vec());
    }
    // Deep nesting.
    for levels in [JSON_DEPTH_MAX, JSON_DEPTH_MAX + 10, 200, 100_000] {
        let body = format!(
            r#"{{"kind":"etl","attributes":{{"x":{}}}}}"#,
            nested(levels)
        );
        add(&format!("nested {levels}"), body.into_bytes());
    }
    let objects = format!("{}{}", r#"{"a":"#.repeat(70), "}".repeat(70));
    add(
        "nested objects",
        format!(r#"{{"kind":"etl","attributes":{objects}}}"#).into_bytes(),
    );
    // Hostile ids, as id, parent_id and key.
    for id in hostile_ids() {
        add(
            &format!("id {id:?}"),
            serde_json::to_vec(&json!({"id": id, "kind": "etl"})).unwrap(),
        );
        add(
            &format!("parent_id {id:?}"),
            serde_json::to_vec(&json!({"parent_id": id, "key": "k", "kind": "etl"})).unwrap(),
        );
        add(
            &format!("key {id:?}"),
            serde_json::to_vec(&json!({"parent_id": "target", "key": id, "kind": "etl"})).unwrap(),
        );
    }
    corpus
}

async fn a_corpus_of_bad_creates_is_refused_and_writes_nothing() {
    let app = TestApp::fresh("bad-creates").await;
    app.post("/v1/runs", json!({"id": "target", "kind": "etl"}))
        .await
        .status(201);
    let before = snapshot(&app).await;
    let corpus = bad_creates();
    assert!(corpus.len() > 150, "{}", corpus.len());
    for (what, body) in corpus {
        let answer = app.send(create_raw(body)).await;
        refused(&answer, &what);
        assert_eq!(snapshot(&app).await, before, "{what} wrote something");
    }
    // The same hostile ids in paths and query strings (those that are not
    // valid ids of child runs, like `a:b`).
    for id in hostile_ids()
        .into_iter()
        .filter(|id| runledger::RunId::parse(id).is_err())
    {
        let encoded: String = id
            .bytes()
            .map(|byte| {
                if byte.is_ascii_alphanumeric() {
                    (byte as char).to_string()
                } else {
                    format!("%{byte:02X}")
                }
            })
            .collect();
        for uri in [
            format!("/v1/runs/{encoded}"),
            format!("/v1/runs/{encoded}/events"),
            format!("/v1/runs?parent_id={encoded}"),
        ] {
            let answer = app.get(&uri).await;
            refused(&answer, &uri);
        }
        let answer = app
            .send(Call::post(&format!("/v1/runs/{encoded}/cancel")).json(&json!({})))
            .await;
        refused(&answer, &id);
    }
    for uri in [
        "/v1/runs/%FF",
        "/v1/runs/%C3%28/events",
        "/v1/runs?kind=%FF",
        "/v1/runs?state=%00",
    ] {
        refused(&app.get(uri).await, uri);
    }
    assert_eq!(snapshot(&app).await, before);
    assert!(app.ledger.audit().await.unwrap().is_clean());
}

async fn bad_lifecycle_and_event_bodies_change_nothing() {
    let app = TestApp::fresh("bad-actions").await;
    app.post(
        "/v1/runs",
        json!({"id": "target", "kind": "etl", "start": {"owner": "w", "lease_ttl_ms": 60000}}),
    )
    .await
    .status(201);
    let before = snapshot(&app).await;
    let cases: Vec<(&str, Value)> = vec![
        ("start", json!({})),
        ("start", json!({"owner": "w"})),
        ("start", json!({"owner": "w", "lease_ttl_ms": 1000, "x": 1})),
        ("heartbeat", json!({})),
        ("heartbeat", json!({"lease_epoch": null})),
        ("heartbeat", json!({"lease_epoch": "1"})),
        ("heartbeat", json!({"lease_epoch": -1})),
        ("heartbeat", json!({"lease_epoch": 1.0})),
        ("heartbeat", json!({"lease_epoch": 1, "lease_ttl_ms": 5})),
        ("heartbeat", json!({"lease_epoch": 1, "owner": "w"})),
        ("finish", json!({"outcome": "succeeded"})),
        ("finish", json!({"lease_epoch": 1})),
        ("finish", json!({"lease_epoch": 1, "outcome": "done"})),
        ("finish", json!({"lease_epoch": 1, "outcome": "cancelled"})),
        ("finish", json!({"lease_epoch": 1, "outcome": null})),
        (
            "finish",
            json!({"lease_epoch": 1, "outcome": "failed", "error": 5}),
        ),
        (
            "finish",
            json!({"lease_epoch": 1, "outcome": "failed", "error": "e".repeat(64 * 1024 + 1)}),
        ),
        (
            "finish",
            json!({"lease_epoch": 1, "outcome": "succeeded", "result": {"x": "r".repeat(256 * 1024)}}),
        ),
        (
            "finish",
            json!({"lease_epoch": 1, "outcome": "succeeded", "state": "failed"}),
        ),
        // U+0000 in any string: 422 on both backends (PostgreSQL used to 500).
        ("cancel", json!({"reason": "stop\u{0}"})),
        (
            "finish",
            json!({"lease_epoch": 1, "outcome": "failed", "error": "boom\u{0}"}),
        ),
        (
            "finish",
            json!({"lease_epoch": 1, "outcome": "succeeded", "result": {"k": ["\u{0}"]}}),
        ),
        (
            "events",
            json!({"type": "log", "data": {"\u{0}": 1}, "lease_epoch": 1}),
        ),
        ("cancel", json!({"reason": 5})),
        ("cancel", json!({"reason": "r".repeat(64 * 1024 + 1)})),
        ("cancel", json!({"why": "x"})),
        ("events", json!({"data": 1, "lease_epoch": 1})),
        ("events", json!({"type": "progress", "lease_epoch": 1})),
        (
            "events",
            json!({"type": "Progress", "data": 1, "lease_epoch": 1}),
        ),
        (
            "events",
            json!({"type": "created", "data": 1, "lease_epoch": 1}),
        ),
        (
            "events",
            json!({"type": "timed_out", "data": 1, "lease_epoch": 1}),
        ),
        ("events", json!({"type": "", "data": 1, "lease_epoch": 1})),
        (
            "events",
            json!({"type": "t".repeat(65), "data": 1, "lease_epoch": 1}),
        ),
        (
            "events",
            json!({"type": "a b", "data": 1, "lease_epoch": 1}),
        ),
        (
            "events",
            json!({"type": "progress", "data": "d".repeat(256 * 1024), "lease_epoch": 1}),
        ),
        (
            "events",
            json!({"type": "progress", "data": 1, "lease_epoch": 1, "seq": 9}),
        ),
        (
            "events",
            json!({"type": "progress", "data": 1, "lease_epoch": "1"}),
        ),
    ];
    for (action, body) in cases {
        let answer = app
            .post(&format!("/v1/runs/target/{action}"), body.clone())
            .await;
        let what = format!(
            "{action} {}",
            body.to_string().chars().take(120).collect::<String>()
        );
        refused(&answer, &what);
        assert_eq!(answer.status, 422, "{what}: {}", answer.text());
        assert_eq!(snapshot(&app).await, before, "{what} wrote something");
    }
    for (name, value) in [
        ("if-match", "W/\"1\""),
        ("if-match", "\"1\", \"2\""),
        ("if-match", "one"),
    ] {
        let answer = app
            .send(
                Call::post("/v1/runs/target/cancel")
                    .json(&json!({}))
                    .header(name, value),
            )
            .await;
        refused(&answer, value);
    }
    assert_eq!(snapshot(&app).await, before);
}

/// A small seeded generator (xorshift64*): the fuzz is the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const FUZZ_REQUESTS: usize = 2_400;

fn mutate(rng: &mut Rng, body: &[u8]) -> Vec<u8> {
    let mut bytes = body.to_vec();
    let interesting: [&[u8]; 16] = [
        b"\"",
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
        b":",
        b"null",
        b"-1",
        b"1e999",
        b"\\u0000",
        b"\xff",
        b"\"kind\":\"x\"",
        b"0.5",
        b"18446744073709551616",
        b"\"\xc3\x28\"",
    ];
    for _ in 0..=rng.below(4) {
        let at = if bytes.is_empty() {
            0
        } else {
            rng.below(bytes.len() + 1)
        };
        match rng.below(6) {
            0 if !bytes.is_empty() => {
                let end = (at + rng.below(8)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            1 => {
                let chunk = rng.pick(&interesting);
                bytes.splice(at..at, chunk.iter().copied());
            }
            2 if at < bytes.len() => bytes[at] = rng.next() as u8,
            3 if !bytes.is_empty() => {
                let start = rng.below(bytes.len());
                let end = (start + rng.below(16)).min(bytes.len());
                let copy = bytes[start..end].to_vec();
                bytes.splice(at..at, copy);
            }
            4 => bytes.truncate(at),
            _ => {}
        }
    }
    bytes
}

/// `bytes` as a URI: bytes a URI may hold stay, the rest are %-escaped.
fn uri_safe(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&byte| {
            if byte.is_ascii_alphanumeric() || b"/?&=%:._-~".contains(&byte) {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// A JSON value of a random type, for field replacement.
fn random_value(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => json!(rng.next().is_multiple_of(3)),
        2 => json!(rng.next() as i64),
        3 => json!(-(rng.below(5) as i64)),
        4 => json!(0.5),
        5 => json!("x".repeat(rng.below(300))),
        6 => json!([1, "a", null]),
        7 => json!({"nested": {"deep": [1, 2, {"k": "v"}]}}),
        8 => json!("nul\u{0}inside"),
        _ => json!(""),
    }
}

async fn seeded_mutation_fuzz_never_gets_a_5xx() {
    let app = TestApp::fresh("fuzz").await;
    for id in ["f1", "f2", "f3"] {
        app.post(
            "/v1/runs",
            json!({"id": id, "kind": "etl", "concurrency": {"key": "g", "limit": 3},
                   "start": {"owner": "w", "lease_ttl_ms": 60000}}),
        )
        .await
        .status(201);
    }
    let templates: Vec<(Method, &str, Value)> = vec![
        (
            Method::POST,
            "/v1/runs",
            json!({"id": "n1", "kind": "etl", "parent_id": "f1", "key": "c",
            "attributes": {"a": [1, {"b": 2}]}, "concurrency": {"key": "g", "limit": 2, "on_full": "enqueue"},
            "start": {"owner": "w", "lease_ttl_ms": 1000}}),
        ),
        (
            Method::POST,
            "/v1/runs/f1/start",
            json!({"owner": "w", "lease_ttl_ms": 1000}),
        ),
        (
            Method::POST,
            "/v1/runs/f2/heartbeat",
            json!({"lease_epoch": 1, "lease_ttl_ms": 60000}),
        ),
        (
            Method::POST,
            "/v1/runs/f3/finish",
            json!({"lease_epoch": 1, "outcome": "failed", "result": {"x": 1}, "error": "e"}),
        ),
        (
            Method::POST,
            "/v1/runs/f1/cancel",
            json!({"reason": "fuzz"}),
        ),
        (
            Method::POST,
            "/v1/runs/f2/events",
            json!({"type": "progress", "data": {"pct": 1}, "lease_epoch": 1}),
        ),
        (
            Method::GET,
            "/v1/runs?state=running&kind=etl&limit=5",
            Value::Null,
        ),
        (
            Method::GET,
            "/v1/runs/f1/events?after=1&limit=2",
            Value::Null,
        ),
        (Method::GET, "/v1/runs/f1", Value::Null),
    ];
    let content_types = [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "",
        "application/problem+json",
    ];
    let paths = [
        "/v1/runs/f1",
        "/v1/runs/f1%00",
        "/v1/runs/..%2F",
        "/v1/runs/f1:c",
        "/v1/runs/%E2%82",
        "/v1/runs/f1/events/x",
    ];
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for n in 0..FUZZ_REQUESTS {
        let (method, uri, template) = rng.pick(&templates).clone();
        let mut uri = uri.to_owned();
        let mut call;
        if method == Method::GET {
            match rng.below(3) {
                0 => uri = uri_safe(&mutate(&mut rng, uri.as_bytes())),
                1 => {
                    uri = format!(
                        "{}?{}",
                        rng.pick(&paths),
                        ["after=x", "limit=99999", "cursor=%FF", "state=", "a=b"][rng.below(5)]
                    )
                }
                _ => {}
            }
            if !uri.starts_with('/') {
                uri.insert(0, '/');
            }
            call = Call::get(&uri);
        } else {
            let mut body = template.clone();
            if rng.below(3) == 0
                && let Some(object) = body.as_object_mut()
            {
                let keys: Vec<String> = object.keys().cloned().collect();
                let key = rng.pick(&keys).clone();
                object.insert(key, random_value(&mut rng));
            }
            let mut bytes = serde_json::to_vec(&body).unwrap();
            if rng.below(4) != 0 {
                bytes = mutate(&mut rng, &bytes);
            }
            if rng.below(10) == 0 {
                uri = rng.pick(&paths).to_string() + "/cancel";
            }
            call = Call::post(&uri);
            let content_type = rng.pick(&content_types);
            call = if content_type.is_empty() {
                call.bytes(bytes)
            } else {
                call.raw(content_type, bytes)
            };
            match rng.below(8) {
                0 => {
                    call = call.header(
                        "if-match",
                        ["\"1\"", "\"99\"", "*", "x", "\"\""][rng.below(5)],
                    )
                }
                1 => call = call.idempotency_key(&format!("fuzz-{}", rng.below(20))),
                2 => call = call.header_bytes("idempotency-key", b"\xff\xfe"),
                _ => {}
            }
        }
        let answer = app.send(call).await;
        *statuses.entry(answer.status.as_u16()).or_default() += 1;
        assert!(
            !answer.status.is_server_error(),
            "request {n} ({method} {uri}) got {}: {}",
            answer.status,
            answer.text()
        );
        // The dashboard's pages (`/`, `/?state=…`) answer a person, in HTML,
        // with the error shown in the page; every other refusal is a problem.
        let dashboard_page = (uri == "/" || uri.starts_with("/?"))
            && answer.headers["content-type"]
                .to_str()
                .is_ok_and(|value| value.starts_with("text/html"));
        if !answer.status.is_success() && !dashboard_page {
            assert_problem_shape(&answer);
        }
    }
    eprintln!("fuzz statuses: {statuses:?}");
    assert!(
        statuses.keys().any(|status| *status >= 400),
        "the fuzz reached no refusal"
    );
    assert!(app.ledger.audit().await.unwrap().is_clean());
}

crate::both_backends!(
    a_corpus_of_bad_creates_is_refused_and_writes_nothing,
    bad_lifecycle_and_event_bodies_change_nothing,
    seeded_mutation_fuzz_never_gets_a_5xx,
);
