//! Shared by every conformance test: a fresh database per test on each
//! backend, the `conformance!` macro that runs one test body per backend, a
//! deadline poll, and racer processes (this test binary re-executed) that
//! are released together with a `go` line on stdin.

#![allow(dead_code)] // each test binary uses a different part

pub mod racer;

use runledger::{Ledger, Options};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The backends the conformance suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file under `target/`.
    Sqlite,
    /// A fresh database on the PostgreSQL server named by `RUNLEDGER_TEST_PG`
    /// (default `postgres://postgres@127.0.0.1:5432/postgres`).
    Postgres,
}

/// The PostgreSQL server the tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("RUNLEDGER_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Runs SQL with `psql` and answers its unaligned output.
pub fn psql(url: &str, sql: &str) -> String {
    let output = std::process::Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
            url,
        ])
        .output()
        .expect("psql runs (PostgreSQL client tools are installed)");
    assert!(
        output.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("psql prints UTF-8")
}

/// A database owned by one test; a PostgreSQL one is dropped with it.
#[derive(Debug)]
pub struct TestDb {
    /// Which backend.
    pub backend: Backend,
    /// The URL `Ledger::open` takes.
    pub url: String,
    /// The SQLite file, for tests that corrupt it by hand.
    pub path: Option<PathBuf>,
}

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// A new, empty database named after the test.
    pub fn new(backend: Backend, test: &str) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("conformance");
                std::fs::create_dir_all(&dir).expect("target dir is writable");
                let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
                let path = dir.join(format!("{test}-{}-{n}.db", std::process::id()));
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                TestDb {
                    backend,
                    url: format!("sqlite://{}", path.display()),
                    path: Some(path),
                }
            }
            Backend::Postgres => {
                let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
                let mut name: String = format!("rl_{}_{}_{test}", std::process::id(), n)
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
                let admin = postgres_admin_url();
                psql(
                    &admin,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                );
                psql(&admin, &format!("CREATE DATABASE {name}"));
                let base = admin
                    .rsplit_once('/')
                    .map_or(admin.as_str(), |(base, _)| base);
                TestDb {
                    backend,
                    url: format!("{base}/{name}"),
                    path: None,
                }
            }
        }
    }

    /// Opens the ledger with the default options (reaper on).
    pub async fn open(&self) -> Ledger {
        Ledger::open(&self.url)
            .await
            .expect("the test database opens")
    }

    /// Opens the ledger without a background reaper.
    pub async fn open_without_reaper(&self) -> Ledger {
        let options = Options {
            reap_interval: None,
            ..Options::default()
        };
        Ledger::open_with(&self.url, options)
            .await
            .expect("the test database opens")
    }

    /// Runs SQL on the database directly, behind the ledger's back.
    pub fn execute_sql(&self, sql: &str) {
        if self.backend == Backend::Postgres {
            psql(&self.url, sql);
            return;
        }
        let path = self.path.as_ref().expect("a SQLite test database");
        let connection = rusqlite::Connection::open(path).expect("open sqlite");
        connection
            .busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        connection
            .execute_batch(sql)
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    /// Every row of `runs` and `events`, as text: equal snapshots, equal data.
    pub fn snapshot(&self) -> Vec<String> {
        if self.backend == Backend::Postgres {
            let rows = psql(
                &self.url,
                "SELECT r::text FROM runs r UNION ALL SELECT e::text FROM events e \
                 UNION ALL SELECT t::text FROM tenant_positions t ORDER BY 1",
            );
            return rows.lines().map(str::to_owned).collect();
        }
        let path = self.path.as_ref().expect("a SQLite test database");
        let connection = rusqlite::Connection::open(path).expect("open sqlite");
        let mut rows = Vec::new();
        for sql in [
            "SELECT * FROM runs ORDER BY tenant, id",
            "SELECT * FROM events ORDER BY tenant, position",
        ] {
            let mut statement = connection.prepare(sql).expect("prepare snapshot");
            let columns = statement.column_count();
            let mut found = statement.query([]).expect("query snapshot");
            while let Some(row) = found.next().expect("row") {
                let values: Vec<String> = (0..columns)
                    .map(|index| format!("{:?}", row.get_ref(index).expect("value")))
                    .collect();
                rows.push(values.join("|"));
            }
        }
        rows
    }

    /// A single number from SQL run directly on the database.
    pub fn count(&self, sql: &str) -> i64 {
        if self.backend == Backend::Postgres {
            let text = psql(&self.url, sql);
            return text
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{sql} answered {text:?}, not a number"));
        }
        let path = self.path.as_ref().expect("a SQLite test database");
        let connection = rusqlite::Connection::open(path).expect("open sqlite");
        connection
            .busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        connection
            .query_row(sql, [], |row| row.get(0))
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.backend == Backend::Postgres && !std::thread::panicking() {
            let name = self.url.rsplit_once('/').map_or("", |(_, name)| name);
            psql(
                &postgres_admin_url(),
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

/// Runs each named async test body once per backend, in a module per backend.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        $crate::on_backend!(sqlite, Sqlite, $($name),*);
        $crate::on_backend!(postgres, Postgres, $($name),*);
    };
}

/// Runs each named async test body on SQLite only (file-level faults).
#[macro_export]
macro_rules! sqlite_only {
    ($($name:ident),* $(,)?) => {
        $crate::on_backend!(sqlite_only, Sqlite, $($name),*);
    };
}

/// Runs each named async test body on PostgreSQL only (server-level faults).
#[macro_export]
macro_rules! postgres_only {
    ($($name:ident),* $(,)?) => {
        $crate::on_backend!(postgres_only, Postgres, $($name),*);
    };
}

/// One module of tests for one backend.
#[macro_export]
macro_rules! on_backend {
    ($module:ident, $backend:ident, $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = $crate::support::TestDb::new($crate::support::Backend::$backend, stringify!($name));
                    super::$name(db).await;
                }
            )*
        }
    };
}

/// Polls `check` until it answers `Some` or `deadline` passes.
pub async fn eventually<T, F, Fut>(deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "condition not met within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
