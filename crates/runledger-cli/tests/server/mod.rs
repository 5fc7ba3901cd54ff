//! A real `runledger serve` process for the tests that need one:
//! `TestServer::start(db_url)` spawns the binary on `127.0.0.1:0`, reads the
//! port from its first stdout line, and kills it when dropped. Any URL
//! `runledger serve --db` takes works, so a PostgreSQL URL plugs in when
//! that backend is tested here too. Plus a small JSON HTTP client.

#![allow(dead_code)] // each test file uses its own part of this

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server may take to print its address.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A running `runledger serve`.
pub struct TestServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The database it serves.
    pub db_url: String,
    stderr_path: PathBuf,
}

impl TestServer {
    /// `runledger serve --db db_url --listen 127.0.0.1:0`, logs in `dir`.
    pub fn start(dir: &Path, db_url: &str) -> TestServer {
        TestServer::start_with(dir, db_url, &[])
    }

    /// As [`TestServer::start`], with extra arguments.
    pub fn start_with(dir: &Path, db_url: &str, extra: &[&str]) -> TestServer {
        TestServer::start_with_env(dir, db_url, extra, &[])
    }

    /// As [`TestServer::start_with`], with extra environment variables
    /// (for example `RUNLEDGER_FAILPOINTS`).
    pub fn start_with_env(
        dir: &Path,
        db_url: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> TestServer {
        let stderr_path = dir.join(format!("serve-{}.log", unique()));
        let stderr = std::fs::File::create(&stderr_path).expect("the log file can be created");
        let mut child = Command::new(env!("CARGO_BIN_EXE_runledger"))
            .args(["serve", "--db", db_url, "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("RUNLEDGER_DB")
            .env_remove("RUNLEDGER_LISTEN")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("runledger serve starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let base = wait_for_address(stdout).unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the server printed no address; its log:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            )
        });
        TestServer {
            child,
            base,
            db_url: db_url.to_owned(),
            stderr_path,
        }
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// kill -9, and waits for the process to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (with a deadline) for the process to end on its own; `None`
    /// when it is still running at the deadline.
    pub fn wait_for_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().expect("the child can be waited on") {
                return Some(status);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits (with a deadline) for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("the child can be waited on") {
                return status;
            }
            assert!(Instant::now() < deadline, "the server ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Reads stdout until `listening on http://…`, then keeps draining it in
/// the background so the server never blocks on a full pipe.
fn wait_for_address(stdout: std::process::ChildStdout) -> Option<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent && let Some(address) = line.strip_prefix("listening on ") {
                let _ = sender.send(address.trim().to_owned());
                sent = true;
            }
        }
    });
    receiver.recv_timeout(START_DEADLINE).ok()
}

/// A status and a JSON body (`null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: String,
    /// The body, parsed.
    pub json: Value,
}

/// A JSON HTTP client with its own connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client of `server`.
    pub fn new(server: &TestServer) -> Client {
        Client::for_base(&server.base)
    }

    /// A client of the server at `base`.
    pub fn for_base(base: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("a client"),
            base: base.to_owned(),
            token: None,
        }
    }

    /// The same client acting with `token`.
    pub fn with_token(mut self, token: &str) -> Client {
        self.token = Some(token.to_owned());
        self
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Reply, reqwest::Error> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Reply, reqwest::Error> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// `POST path` with a JSON body and extra headers.
    pub async fn post_with_headers(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Result<Reply, reqwest::Error> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    async fn send(&self, mut request: reqwest::RequestBuilder) -> Result<Reply, reqwest::Error> {
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response.bytes().await?;
        Ok(Reply {
            status,
            content_type,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        })
    }

    /// Every run id of the tenant, through the list pages.
    pub async fn all_run_ids(&self) -> Vec<String> {
        self.all_runs()
            .await
            .iter()
            .map(|run| run["id"].as_str().expect("an id").to_owned())
            .collect()
    }

    /// Every event of run `id`, through the pages.
    pub async fn all_events(&self, id: &str) -> Vec<Value> {
        let mut events: Vec<Value> = Vec::new();
        loop {
            let after = events
                .last()
                .map_or(0, |event| event["seq"].as_u64().unwrap_or(0));
            let path = format!("/v1/runs/{id}/events?after={after}&limit=1000");
            let reply = self.get(&path).await.expect("the server answers");
            assert_eq!(reply.status, 200, "{}", reply.json);
            let page = reply.json["events"].as_array().expect("events").clone();
            if page.is_empty() {
                return events;
            }
            events.extend(page);
        }
    }

    /// Every run of the tenant, through the list pages.
    pub async fn all_runs(&self) -> Vec<Value> {
        let mut runs = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(cursor) => format!("/v1/runs?limit=1000&cursor={cursor}"),
                None => "/v1/runs?limit=1000".to_owned(),
            };
            let reply = self.get(&path).await.expect("the server answers");
            assert_eq!(reply.status, 200, "{}", reply.json);
            runs.extend(reply.json["runs"].as_array().expect("runs").iter().cloned());
            match reply.json["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return runs,
            }
        }
    }
}
