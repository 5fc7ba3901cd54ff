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
}

/// A database owned by one test.
#[derive(Debug, Clone)]
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

/// Runs each named async test body once per backend, in a module per backend.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = $crate::support::TestDb::new($crate::support::Backend::Sqlite, stringify!($name));
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
