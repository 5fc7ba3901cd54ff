//! What the HTTP tests share: an app over a database of the test's own, a
//! request builder, and answers with their JSON parsed.
//!
//! `TestApp::start(db_url)` takes any URL `Ledger::open` does. Every test
//! body runs twice, through [`both_backends!`]: once over a fresh SQLite
//! file under Cargo's tmpdir, once over a fresh PostgreSQL database on the
//! server `RUNLEDGER_TEST_PG` names (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). Databases a finished
//! test process left behind are dropped by the next one.

#![allow(dead_code)] // each test file uses its own part of this

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use runledger::{Ledger, Options};
use runledger_server::{ServerConfig, ServerState, router};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use tower::ServiceExt;

/// The router and the ledger behind it.
#[derive(Clone)]
pub struct TestApp {
    /// The ledger, for checks behind the API's back.
    pub ledger: Ledger,
    router: Router,
}

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The backend a test body runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file under Cargo's tmpdir.
    Sqlite,
    /// A database of its own on the test PostgreSQL server.
    Postgres,
}

tokio::task_local! {
    /// The backend of the test body running in this task.
    pub static BACKEND: Backend;
}

/// Runs each named async test body (a private `async fn name()` of the
/// test file) once per backend: `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::support::BACKEND
                        .scope($crate::support::Backend::Sqlite, super::$name())
                        .await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::support::BACKEND
                        .scope($crate::support::Backend::Postgres, super::$name())
                        .await;
                }
            )*
        }
    };
}

/// Whether this test body runs on PostgreSQL.
pub fn on_postgres() -> bool {
    BACKEND.try_with(|backend| *backend == Backend::Postgres) == Ok(true)
}

/// A fresh, empty database for `test` on this body's backend.
pub fn fresh_db_url(test: &str) -> String {
    if on_postgres() {
        return fresh_postgres_url(test);
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("runledger-server");
    std::fs::create_dir_all(&dir).expect("the test directory can be created");
    let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("{test}-{}-{n}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    format!("sqlite://{}", path.display())
}

/// A fresh PostgreSQL database for `test`, created with `psql`.
fn fresh_postgres_url(test: &str) -> String {
    let admin = std::env::var("RUNLEDGER_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
    let mut name: String = format!("rls_{}_{n}_{test}", std::process::id())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    name.truncate(63);
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| drop_databases_of_finished_processes(&admin));
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        let output = std::process::Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", &sql, &admin])
            .output()
            .expect("psql runs (PostgreSQL client tools are installed)");
        assert!(
            output.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    format!("{base}/{name}")
}

/// Drops the `rls_<pid>_…` databases whose test process has ended.
fn drop_databases_of_finished_processes(admin: &str) {
    let listed = std::process::Command::new("psql")
        .args([
            "-X",
            "-At",
            "-c",
            r"SELECT datname FROM pg_database WHERE datname LIKE 'rls\_%'",
            admin,
        ])
        .output()
        .expect("psql runs (PostgreSQL client tools are installed)");
    for name in String::from_utf8_lossy(&listed.stdout).lines() {
        let pid = name.split('_').nth(1).unwrap_or("");
        if pid.is_empty() || std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let _ = std::process::Command::new("psql")
            .args([
                "-X",
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                admin,
            ])
            .output();
    }
}

impl TestApp {
    /// The app over `db_url` with the default settings.
    pub async fn start(db_url: &str) -> TestApp {
        TestApp::start_with(db_url, ServerConfig::default()).await
    }

    /// The app over a fresh database named after `test` (see [`fresh_db_url`]).
    pub async fn fresh(test: &str) -> TestApp {
        TestApp::start(&fresh_db_url(test)).await
    }

    /// The app over `db_url` with `config`.
    pub async fn start_with(db_url: &str, config: ServerConfig) -> TestApp {
        let options = Options {
            reap_interval: None,
            ..Options::default()
        };
        let ledger = Ledger::open_with(db_url, options)
            .await
            .expect("the test database opens");
        TestApp::over(ledger, config)
    }

    /// The app over an open `ledger` with `config`.
    pub fn over(ledger: Ledger, config: ServerConfig) -> TestApp {
        let router = router(ServerState::new(ledger.clone(), config));
        TestApp { ledger, router }
    }

    /// Sends `call` through the router and answers the response as it is,
    /// its body unread (a stream stays open while it is held).
    pub async fn open(&self, call: Call) -> axum::response::Response {
        self.router
            .clone()
            .oneshot(call.build())
            .await
            .expect("the router answers")
    }

    /// Sends `call` through the router.
    pub async fn send(&self, call: Call) -> Answer {
        let response = self
            .router
            .clone()
            .oneshot(call.build())
            .await
            .expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("the body reads");
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            json,
        }
    }

    /// `GET uri`.
    pub async fn get(&self, uri: &str) -> Answer {
        self.send(Call::get(uri)).await
    }

    /// `POST uri` with a JSON body.
    pub async fn post(&self, uri: &str, body: Value) -> Answer {
        self.send(Call::post(uri).json(&body)).await
    }

    /// How many runs the default tenant has, counted through the API.
    pub async fn run_count(&self) -> usize {
        self.run_count_with(None).await
    }

    /// How many runs the tenant of `token` has (all pages).
    pub async fn run_count_with(&self, token: Option<&str>) -> usize {
        let mut count = 0;
        let mut cursor: Option<String> = None;
        loop {
            let uri = match &cursor {
                Some(cursor) => format!("/v1/runs?limit=1000&cursor={cursor}"),
                None => "/v1/runs?limit=1000".to_owned(),
            };
            let mut call = Call::get(&uri);
            if let Some(token) = token {
                call = call.token(token);
            }
            let answer = self.send(call).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
            count += answer.json["runs"]
                .as_array()
                .expect("runs is a list")
                .len();
            match answer.json["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return count,
            }
        }
    }
}

/// A request under construction.
#[derive(Debug, Clone)]
pub struct Call {
    method: Method,
    uri: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Vec<u8>,
}

impl Call {
    /// A request of `method` to `uri`, no body.
    pub fn new(method: Method, uri: &str) -> Call {
        Call {
            method,
            uri: uri.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `GET uri`.
    pub fn get(uri: &str) -> Call {
        Call::new(Method::GET, uri)
    }

    /// `POST uri`.
    pub fn post(uri: &str) -> Call {
        Call::new(Method::POST, uri)
    }

    /// With a JSON body and `Content-Type: application/json`.
    pub fn json(self, body: &Value) -> Call {
        self.raw(
            "application/json",
            serde_json::to_vec(body).expect("JSON serializes"),
        )
    }

    /// With `bytes` as the body and `content_type`.
    pub fn raw(mut self, content_type: &str, bytes: impl Into<Vec<u8>>) -> Call {
        self.body = bytes.into();
        self.header(header::CONTENT_TYPE.as_str(), content_type)
    }

    /// With `bytes` as the body and no content type.
    pub fn bytes(mut self, bytes: impl Into<Vec<u8>>) -> Call {
        self.body = bytes.into();
        self
    }

    /// With a header.
    pub fn header(mut self, name: &str, value: &str) -> Call {
        self.headers.push((
            HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            HeaderValue::from_str(value).expect("a header value"),
        ));
        self
    }

    /// With a header whose value is raw bytes (possibly not UTF-8).
    pub fn header_bytes(mut self, name: &str, value: &[u8]) -> Call {
        self.headers.push((
            HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            HeaderValue::from_bytes(value).expect("a header value"),
        ));
        self
    }

    /// With `Authorization: Bearer token`.
    pub fn token(self, token: &str) -> Call {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// With `Idempotency-Key: key`.
    pub fn idempotency_key(self, key: &str) -> Call {
        self.header("idempotency-key", key)
    }

    /// With `If-Match: "version"`.
    pub fn if_match(self, version: u64) -> Call {
        self.header("if-match", &format!("\"{version}\""))
    }

    fn build(self) -> Request<Body> {
        let mut request = Request::builder()
            .method(self.method)
            .uri(self.uri)
            .body(Body::from(self.body))
            .expect("a request");
        for (name, value) in self.headers {
            request.headers_mut().append(name, value);
        }
        request
    }
}

/// What the server answered.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
    /// The body as JSON (`null` when it is not JSON).
    pub json: Value,
}

impl Answer {
    /// The body as text, for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts a problem+json answer of `status` and `code`; answers `self`.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Answer {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_problem_shape(self);
        assert_eq!(self.json["code"], code, "{}", self.text());
        self
    }

    /// Asserts `status`; answers `self`.
    #[track_caller]
    pub fn status(&self, status: u16) -> &Answer {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        self
    }
}

/// Asserts `answer` is RFC 9457 problem+json with every member and a code.
#[track_caller]
pub fn assert_problem_shape(answer: &Answer) {
    assert_eq!(
        answer
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{}",
        answer.text()
    );
    let body = &answer.json;
    assert!(body["type"].is_string(), "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert_eq!(body["status"], answer.status.as_u16(), "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    assert!(
        body["code"].as_str().is_some_and(|c| !c.is_empty()),
        "{body}"
    );
}
