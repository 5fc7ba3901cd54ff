//! SPEC §4 "Limits" and "Auth" for streams, against real `runledger serve`
//! processes: a subscriber that does not read holds at most about 1 MiB of
//! events on the server (8 of them, SSE and WebSocket, on a run with 150 MB
//! of events: the server's RSS grows by at most 64 MiB, read from
//! `/proc/<pid>/status`), and one that starts reading again gets every
//! event once, in order; open streams per token are capped (`429
//! too_many_streams`, per tenant while no token exists); a client that
//! trickles a request head forever is cut off by the header-read timeout,
//! while a live stream outlives a short idle timeout; and deleting a
//! token's row closes its SSE and WebSocket streams within about a second —
//! also a stream whose client reads nothing — and no other token's.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod streams_support;
mod support;

use futures_util::future::join_all;
use runledger::{AppendEvent, CreateRun, EventType, Kind, Ledger, Options, RunId, Tenant};
use serde_json::{Value, json};
use server::{Client, TestServer};
use std::time::{Duration, Instant};
use streams_support::{Backend, StreamDb, Ws, WsItem};
use support::fresh_dir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Events of the memory scenario: 600 × ~256 KiB = 150 MiB.
const BIG_EVENTS: usize = 600;
/// Data of each: a string just under the 256 KiB limit once serialized.
const BIG_DATA_CHARS: usize = 256 * 1024 - 16;
/// The SPEC's figure for 8 readers that read nothing.
const RSS_GROWTH_MAX_KIB: u64 = 64 * 1024;

/// The server's resident set, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc is readable");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS is in /proc/<pid>/status")
}

/// Sockets the server holds open (its listener and its connections).
fn server_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc is readable")
        .filter_map(Result::ok)
        .filter(|entry| {
            std::fs::read_link(entry.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

/// Polls `check` every 50 ms until it holds or `deadline` passes.
async fn eventually(deadline: Duration, mut check: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + deadline;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An HTTP/1.1 request on a raw socket: the test decides what is read.
async fn raw_get(base: &str, path: &str, token: Option<&str>) -> TcpStream {
    let address = base.trim_start_matches("http://");
    let mut socket = TcpStream::connect(address)
        .await
        .expect("the server accepts");
    let auth = token.map_or(String::new(), |token| {
        format!("Authorization: Bearer {token}\r\n")
    });
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\n{auth}\r\n"
    );
    socket
        .write_all(request.as_bytes())
        .await
        .expect("the request is sent");
    socket
}

/// [`raw_get`], then reads the answer's head: the socket and the status.
async fn open_stream(base: &str, path: &str, token: Option<&str>) -> (TcpStream, u16) {
    let mut socket = raw_get(base, path, token).await;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), socket.read(&mut byte))
            .await
            .expect("the server answers in time")
            .expect("the answer reads");
        assert_eq!(n, 1, "the connection closed in the head: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head}"));
    (socket, status)
}

/// [`open_stream`], which must answer 200.
async fn open_ok(base: &str, path: &str, token: Option<&str>) -> TcpStream {
    let (socket, status) = open_stream(base, path, token).await;
    assert_eq!(status, 200, "GET {path}");
    socket
}

/// Reads until the server closes the socket (EOF or reset), or `deadline`:
/// the bytes read, or `None` if it stayed open.
async fn read_until_closed(socket: &mut TcpStream, deadline: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let until = tokio::time::Instant::now() + deadline;
    loop {
        match tokio::time::timeout_at(until, socket.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// `runledger tenant add NAME --json`: the token.
fn add_tenant(db_url: &str, name: &str) -> String {
    let output = support::runledger()
        .args(["tenant", "add", name, "--json", "--db", db_url])
        .output()
        .expect("runledger tenant add runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    answer["token"].as_str().expect("a token").to_owned()
}

/// Writes 150 MB of events to one run with the library, before any server runs.
async fn write_big_run(db_url: &str) {
    let options = Options {
        reap_interval: None,
        ..Options::default()
    };
    let ledger = Ledger::open_with(db_url, options)
        .await
        .expect("the test opens the database");
    let tenant = Tenant::default();
    let run = RunId::parse("big").unwrap();
    ledger
        .create_run(
            &tenant,
            CreateRun::new(Kind::parse("etl").unwrap()).id(run.clone()),
        )
        .await
        .expect("the run is created");
    let data = Value::String("x".repeat(BIG_DATA_CHARS));
    let writers = (0..8).map(|_| {
        let (ledger, tenant, run, data) =
            (ledger.clone(), tenant.clone(), run.clone(), data.clone());
        async move {
            for _ in 0..BIG_EVENTS / 8 {
                let append = AppendEvent::new(EventType::parse("blob").unwrap(), data.clone());
                ledger
                    .append_event(&tenant, &run, append)
                    .await
                    .expect("the append is written");
            }
        }
    });
    join_all(writers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_subscribers_that_read_nothing_of_150_mb_cost_at_most_64_mib() {
    let dir = fresh_dir("stream-limits-memory");
    let db = StreamDb::fresh(Backend::Sqlite, &dir, "memory");
    write_big_run(&db.url).await;
    let server = TestServer::start(&dir, &db.url);
    let pid = server.pid();
    // Warm the server up with the paths the readers take, then measure.
    let client = Client::new(&server);
    assert_eq!(client.get("/v1/runs/big").await.unwrap().status, 200);
    let mut warm = Ws::connect(&server.base, None).await;
    warm.send(&json!({"op": "subscribe", "run_id": "none"}))
        .await;
    assert_eq!(warm.recv().await["code"], "not_found");
    warm.close().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = rss_kib(pid);
    // 8 readers from the start that never read: 4 SSE (run and tenant), 4
    // WebSocket (run and tenant).
    let mut sse = Vec::new();
    for path in [
        "/v1/runs/big/events/stream?after=0",
        "/v1/runs/big/events/stream?after=0",
        "/v1/events/stream?after=0",
        "/v1/events/stream?after=0",
    ] {
        sse.push(open_ok(&server.base, path, None).await);
    }
    let mut sockets = Vec::new();
    for run_id in [json!("big"), json!("big"), Value::Null, Value::Null] {
        let mut ws = Ws::connect(&server.base, None).await;
        ws.send(&json!({"op": "subscribe", "run_id": run_id, "after": 0}))
            .await;
        sockets.push(ws);
    }
    // The server pushes what the sockets take, then must hold still.
    let mut peak = baseline;
    let watch_until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < watch_until {
        peak = peak.max(rss_kib(pid));
        assert!(
            peak - baseline <= RSS_GROWTH_MAX_KIB,
            "8 readers that read nothing grew the server from {baseline} KiB to {peak} KiB (over {RSS_GROWTH_MAX_KIB} KiB)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "RSS: baseline {baseline} KiB, peak {peak} KiB, growth {} KiB with 8 readers that read nothing",
        peak - baseline
    );
    // One of them reads again: it gets every event once, in order.
    let mut reader = sse.remove(0);
    let mut text = String::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut ids = Vec::new();
    let until = Instant::now() + Duration::from_secs(60);
    while ids.len() < BIG_EVENTS + 1 {
        assert!(Instant::now() < until, "only {} events arrived", ids.len());
        let n = tokio::time::timeout(Duration::from_secs(30), reader.read(&mut buffer))
            .await
            .expect("the stream goes on")
            .expect("the stream reads");
        assert!(n > 0, "the stream ended after {} events", ids.len());
        text.push_str(std::str::from_utf8(&buffer[..n]).expect("UTF-8"));
        // Keep only what follows the last complete `id:` line.
        while let Some(start) = text.find("\nid: ") {
            let rest = &text[start + 5..];
            let Some(end) = rest.find('\n') else { break };
            ids.push(rest[..end].trim().parse::<u64>().expect("a numeric id"));
            text.drain(..start + 5 + end);
        }
        if text.len() > 1024 * 1024 {
            let keep = text.len() - 64;
            let cut = (keep..text.len())
                .find(|&index| text.is_char_boundary(index))
                .unwrap_or(text.len());
            text.drain(..cut);
        }
    }
    let expected: Vec<u64> = (1..=(BIG_EVENTS as u64 + 1)).collect();
    assert_eq!(ids, expected, "every event once, in seq order");
    drop((sse, sockets));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streams_past_the_cap_are_429_too_many_streams() {
    let dir = fresh_dir("stream-limits-cap");
    let db = StreamDb::fresh(Backend::Sqlite, &dir, "cap");
    // Without tokens the cap applies to the tenant's tokenless caller.
    let server = TestServer::start_with(&dir, &db.url, &["--max-streams-per-token", "2"]);
    let first = open_ok(&server.base, "/v1/events/stream", None).await;
    let mut ws = Ws::connect(&server.base, None).await;
    let refused = Client::new(&server).get("/v1/events/stream").await.unwrap();
    assert_eq!(refused.status, 429, "{}", refused.json);
    assert_eq!(refused.content_type, "application/problem+json");
    assert_eq!(refused.json["code"], "too_many_streams");
    assert_eq!(refused.json["limit"], 2);
    assert_eq!(
        Ws::try_connect(&server.base, None).await.err(),
        Some(429),
        "the upgrade is refused too"
    );
    // A subscription counts one more: refused on the open connection, which stays open.
    ws.send(&json!({"op": "subscribe", "run_id": null})).await;
    let answer = ws.recv().await;
    assert_eq!(answer["op"], "error", "{answer}");
    assert_eq!(answer["code"], "too_many_streams", "{answer}");
    assert_eq!(
        answer.get("run_id"),
        Some(&Value::Null),
        "the refusal names the tenant's subscription: {answer}"
    );
    // Closing a stream frees its slot.
    drop(first);
    let client = Client::new(&server);
    let mut freed = false;
    for _ in 0..100 {
        ws.send(&json!({"op": "subscribe", "run_id": null})).await;
        if ws.recv().await["op"] == "subscribed" {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(freed, "the closed stream's slot was not given back");
    assert_eq!(client.get("/v1/events/stream").await.unwrap().status, 429);
    ws.close().await;
    drop(server);

    // With tokens: per token.
    let db = StreamDb::fresh(Backend::Sqlite, &dir, "cap-tokens");
    let acme = add_tenant(&db.url, "acme");
    let acme_again = add_tenant(&db.url, "acme");
    let server = TestServer::start_with(&dir, &db.url, &["--max-streams-per-token", "1"]);
    let _held = open_ok(&server.base, "/v1/events/stream", Some(&acme)).await;
    let second = Client::new(&server)
        .with_token(&acme)
        .get("/v1/events/stream")
        .await
        .unwrap();
    assert_eq!(second.status, 429, "{}", second.json);
    assert_eq!(second.json["code"], "too_many_streams");
    // Another token of the same tenant has its own budget.
    let _other = open_ok(&server.base, "/v1/events/stream", Some(&acme_again)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slowloris_is_cut_off_and_a_live_stream_outlives_the_idle_timeout() {
    let dir = fresh_dir("stream-limits-timeouts");
    let db = StreamDb::fresh(Backend::Sqlite, &dir, "timeouts");
    let server = TestServer::start_with(
        &dir,
        &db.url,
        &[
            "--header-read-timeout-ms",
            "1000",
            "--idle-timeout-ms",
            "1500",
            "--stream-keep-alive-ms",
            "200",
        ],
    );
    let address = server.base.trim_start_matches("http://").to_owned();
    // A head sent one header line every 200 ms, never finished.
    let slow = TcpStream::connect(&address).await.unwrap();
    let (mut read_half, mut write_half) = slow.into_split();
    let started = Instant::now();
    let closed = tokio::spawn(async move {
        // hyper may answer 408 first; then it closes.
        let mut buffer = [0u8; 1024];
        loop {
            match read_half.read(&mut buffer).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => continue,
            }
        }
    });
    write_half
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    for n in 0..50 {
        if closed.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if write_half
            .write_all(format!("X-Slow-{n}: 1\r\n").as_bytes())
            .await
            .is_err()
        {
            break;
        }
    }
    let closed_after = tokio::time::timeout(Duration::from_secs(10), closed)
        .await
        .expect("the slowloris connection was closed")
        .unwrap();
    assert!(
        closed_after >= Duration::from_millis(800) && closed_after < Duration::from_secs(5),
        "closed after {closed_after:?}"
    );
    // A connection that sends nothing at all is closed too.
    let mut silent = TcpStream::connect(&address).await.unwrap();
    assert!(
        read_until_closed(&mut silent, Duration::from_secs(5))
            .await
            .is_some(),
        "a silent connection stayed open"
    );
    // Ordinary requests are unaffected.
    let client = Client::new(&server);
    assert_eq!(client.get("/healthz").await.unwrap().status, 200);
    // A live stream (keep-alives every 200 ms) outlives the 1.5 s idle
    // timeout and the 1 s header timeout.
    let mut stream = open_ok(&server.base, "/v1/events/stream", None).await;
    assert!(
        read_until_closed(&mut stream, Duration::from_secs(4))
            .await
            .is_none(),
        "a live stream was closed"
    );
}

/// Deletes every token row of `tenant`, straight in the database.
fn delete_tokens(db: &StreamDb, backend: Backend, tenant: &str) {
    let sql = format!("DELETE FROM api_tokens WHERE tenant = '{tenant}'");
    match backend {
        Backend::Sqlite => {
            let path = db.url.trim_start_matches("sqlite://");
            let connection = rusqlite::Connection::open(path).expect("the file opens");
            connection
                .busy_timeout(Duration::from_secs(30))
                .expect("a busy timeout");
            let deleted = connection
                .execute(&sql, [])
                .expect("the tokens are deleted");
            assert!(deleted > 0);
        }
        Backend::Postgres => {
            support::psql(&db.url, &sql);
        }
    }
}

async fn revoking_a_token_closes_its_streams_within_a_second(backend: Backend) {
    let dir = fresh_dir(&format!("stream-limits-revoke-{backend:?}"));
    let db = StreamDb::fresh(backend, &dir, "revoke");
    let acme = add_tenant(&db.url, "acme");
    let other = add_tenant(&db.url, "other");
    let server = TestServer::start(&dir, &db.url);
    let pid = server.pid();
    let acme_client = Client::new(&server).with_token(&acme);
    let created = acme_client
        .post("/v1/runs", &json!({"id": "job", "kind": "etl"}))
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.json);
    // 12 MiB of events, so a stream that reads nothing fills its socket.
    let data = "y".repeat(BIG_DATA_CHARS);
    for _ in 0..48 {
        let appended = acme_client
            .post(
                "/v1/runs/job/events",
                &json!({"type": "blob", "data": data}),
            )
            .await
            .unwrap();
        assert_eq!(appended.status, 201, "{}", appended.json);
    }
    // acme: an SSE stream that reads, one that reads nothing, a WebSocket
    // that reads; other: an SSE stream that must stay.
    let mut reading = open_ok(&server.base, "/v1/events/stream?after=50", Some(&acme)).await;
    let mut stuck = open_ok(&server.base, "/v1/runs/job/events/stream", Some(&acme)).await;
    let mut ws = Ws::connect(&server.base, Some(&acme)).await;
    ws.send(&json!({"op": "subscribe", "run_id": null, "after": 50}))
        .await;
    assert_eq!(ws.recv().await["op"], "subscribed");
    let mut bystander = open_ok(&server.base, "/v1/events/stream", Some(&other)).await;
    // Let the stuck stream fill its socket.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let open = server_sockets(pid);
    delete_tokens(&db, backend, "acme");
    let revoked_at = Instant::now();
    let reading_closed = tokio::spawn(async move {
        read_until_closed(&mut reading, Duration::from_secs(10)).await?;
        Some(revoked_at.elapsed())
    });
    let ws_closed = tokio::spawn(async move {
        loop {
            match ws.next_item().await {
                WsItem::Closed => return revoked_at.elapsed(),
                WsItem::Ping | WsItem::Pong | WsItem::Json(_) => continue,
            }
        }
    });
    let reading_after = reading_closed
        .await
        .unwrap()
        .expect("the reading SSE stream was not closed");
    let ws_after = ws_closed.await.unwrap();
    eprintln!("closed after revocation: SSE {reading_after:?}, WebSocket {ws_after:?}");
    for after in [reading_after, ws_after] {
        assert!(
            after < Duration::from_millis(2_000),
            "closed after {after:?}"
        );
    }
    if backend == Backend::Sqlite {
        // The server let go of the stuck connection too (PostgreSQL's pool
        // sockets come and go, so the count is read on SQLite only).
        assert!(
            eventually(Duration::from_secs(1), || server_sockets(pid) <= open - 3).await,
            "acme's connections were not all closed: {} sockets of {open}",
            server_sockets(pid)
        );
    }
    assert!(
        read_until_closed(&mut stuck, Duration::from_secs(30))
            .await
            .is_some(),
        "the stream that read nothing stayed open"
    );
    // The token is refused; the other tenant's stream is untouched.
    assert_eq!(acme_client.get("/v1/runs/job").await.unwrap().status, 401);
    assert!(
        read_until_closed(&mut bystander, Duration::from_millis(500))
            .await
            .is_none(),
        "another token's stream was closed"
    );
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn revoking_a_token_closes_its_streams_within_a_second() {
        super::revoking_a_token_closes_its_streams_within_a_second(super::Backend::Sqlite).await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn revoking_a_token_closes_its_streams_within_a_second() {
        super::revoking_a_token_closes_its_streams_within_a_second(super::Backend::Postgres).await
    }
}
