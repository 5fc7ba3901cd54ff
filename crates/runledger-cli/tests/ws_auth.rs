//! SPEC §4 "Auth": a browser app on another origin cannot set headers on a
//! WebSocket, so it offers its token as the subprotocol
//! `runledger.bearer.<token>` beside `runledger.v1`; the server selects
//! `runledger.v1` (never echoing the token) and the socket acts for the
//! token's tenant. A wrong token is refused with 401, and an origin that is
//! not allowed with 403.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod support;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use server::{Client, TestServer};
use std::time::Duration;
use support::{fresh_dir, runledger, sqlite_url};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn add_tenant(db: &str, name: &str) -> String {
    let output = runledger()
        .args(["tenant", "add", name, "--db", db, "--json"])
        .env_remove("RUNLEDGER_DB")
        .output()
        .unwrap();
    assert!(output.status.success());
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    answer["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_offered_as_a_subprotocol_authenticates_the_websocket() {
    let dir = fresh_dir("ws-subprotocol");
    let db = sqlite_url(&dir, "ws.db");
    let token = add_tenant(&db, "acme");
    let server = TestServer::start_with(&dir, &db, &["--cors-origin", "http://app.example"]);
    let created = Client::new(&server)
        .with_token(&token)
        .post("/v1/runs", &json!({"id": "watched", "kind": "etl"}))
        .await
        .unwrap();
    assert_eq!(created.status, 201);
    let ws_url = server.url("/v1/ws").replace("http://", "ws://");
    let request = |protocols: &str, origin: Option<&str>| {
        let mut request = ws_url.as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocols.parse().unwrap());
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
        }
        request
    };

    let offered = format!("runledger.v1, runledger.bearer.{token}");
    let (mut socket, response) =
        tokio_tungstenite::connect_async(request(&offered, Some("http://app.example")))
            .await
            .expect("the allowed app connects with its token as a subprotocol");
    assert_eq!(response.headers()["sec-websocket-protocol"], "runledger.v1");
    socket
        .send(Message::text(
            json!({"op": "subscribe", "run_id": "watched", "after": 0}).to_string(),
        ))
        .await
        .unwrap();
    let mut ops = Vec::new();
    while ops.len() < 2 {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame in time")
            .expect("the socket stays open")
            .unwrap();
        if let Message::Text(text) = frame {
            let message: Value = serde_json::from_str(&text).unwrap();
            ops.push((message["op"].clone(), message["type"].clone()));
        }
    }
    assert_eq!(ops[0].0, "subscribed");
    assert_eq!(
        ops[1],
        (json!("event"), json!("created")),
        "acme's run is visible"
    );

    let wrong =
        tokio_tungstenite::connect_async(request("runledger.v1, runledger.bearer.rl_wrong", None))
            .await;
    match wrong {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("a wrong token must be refused: {other:?}"),
    }
    let foreign =
        tokio_tungstenite::connect_async(request(&offered, Some("http://evil.example"))).await;
    match foreign {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("a foreign origin must be refused: {other:?}"),
    }
}

/// `runledger_open_websockets` on `/metrics`.
async fn open_websockets(server: &TestServer) -> f64 {
    let text = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("# HELP runledger_open_websockets "),
        "the gauge has its # HELP line:\n{text}"
    );
    text.lines()
        .find_map(|line| line.strip_prefix("runledger_open_websockets "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no runledger_open_websockets sample in:\n{text}"))
}

/// The gauge a browser test reads to prove a page never holds two sockets:
/// each upgraded socket counts while it is open, whatever it subscribes
/// to, and a refused upgrade never counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_websockets_counts_each_socket_while_it_is_open() {
    let dir = fresh_dir("ws-gauge");
    let db = sqlite_url(&dir, "ws.db");
    let server = TestServer::start(&dir, &db);
    assert_eq!(open_websockets(&server).await, 0.0);
    let ws_url = server.url("/v1/ws").replace("http://", "ws://");
    let (mut first, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .unwrap();
    let (second, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .unwrap();
    first
        .send(Message::text(
            json!({"op": "subscribe", "run_id": null, "after": 0}).to_string(),
        ))
        .await
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), first.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(answer.to_text().unwrap().contains("subscribed"));
    assert_eq!(
        open_websockets(&server).await,
        2.0,
        "two sockets, whatever they subscribe to"
    );
    let mut refused = ws_url.as_str().into_client_request().unwrap();
    refused
        .headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(refused).await.is_err());
    drop(second);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let open = open_websockets(&server).await;
        if open == 1.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a closed socket is no longer counted: {open}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.close(None).await.unwrap();
}
