//! The only place SQLite is configured: where the file is, how each
//! connection is opened, and the pool of read connections.

use super::SqliteOptions;
use runledger_core::Error;
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// How long a writer waits for another process's write lock before failing.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 30_000;
/// Idle read connections kept open.
const READERS_IDLE_MAX: usize = 8;

/// Where the database file is and whether it may be written.
#[derive(Debug, Clone)]
pub(crate) struct Location {
    path: PathBuf,
    read_only: bool,
}

impl Location {
    /// `sqlite://relative.db`, `sqlite:///abs/path.db`, or a plain path; an
    /// optional `?mode=ro` opens the file read-only.
    pub(crate) fn parse(url: &str) -> Result<Location, Error> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() {
            return Err(Error::invalid(
                "db",
                format!(
                    "database URL {url:?} names no file; use sqlite://runledger.db or sqlite:///abs/path.db"
                ),
            ));
        }
        let read_only = match query {
            "" | "mode=rw" | "mode=rwc" => false,
            "mode=ro" => true,
            other => {
                return Err(Error::invalid(
                    "db",
                    format!("unknown SQLite URL option {other:?}; the only option is mode=ro"),
                ));
            }
        };
        Ok(Location {
            path: PathBuf::from(path),
            read_only,
        })
    }
}

/// Opens one connection with every setting spelled out.
pub(crate) fn open(location: &Location, options: &SqliteOptions) -> Result<Connection, Error> {
    let flags = if location.read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let path = location.path.display();
    let connection = Connection::open_with_flags(&location.path, flags)
        .map_err(|error| Error::storage(format!("cannot open SQLite file {path}: {error}")))?;
    let configure = || -> Result<(), String> {
        // Other processes hold the write lock for one batch at a time.
        let sqlite = |error: rusqlite::Error| error.to_string();
        connection
            .busy_timeout(Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS))
            .map_err(sqlite)?;
        if !location.read_only {
            let mode: String = connection
                .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
                .map_err(|error| error.to_string())?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(format!("journal_mode is {mode}, not wal"));
            }
        }
        // SPEC §7: durable commits.
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(sqlite)?;
        connection
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(sqlite)?;
        if let Some(pages) = options.max_page_count {
            connection
                .pragma_update(None, "max_page_count", pages as i64)
                .map_err(sqlite)?;
        }
        connection.set_prepared_statement_cache_capacity(64);
        Ok(())
    };
    configure()
        .map_err(|error| Error::storage(format!("cannot configure SQLite file {path}: {error}")))?;
    Ok(connection)
}

/// Read connections, opened on demand and reused.
pub(crate) struct ReadPool {
    location: Location,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    pub(crate) fn new(location: Location) -> ReadPool {
        ReadPool {
            location,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` on a pooled connection, inside one read transaction so
    /// that everything it reads comes from one snapshot.
    pub(crate) async fn read<T, F>(self: &std::sync::Arc<Self>, read: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let connection = pool.take()?;
            let outcome = connection
                .execute_batch("BEGIN DEFERRED")
                .map_err(Error::storage)
                .and_then(|()| read(&connection));
            let ended = connection.execute_batch("COMMIT").map_err(Error::storage);
            if ended.is_ok() {
                pool.give_back(connection);
            }
            let value = outcome?;
            ended?;
            Ok(value)
        })
        .await
        .map_err(Error::storage)?
    }

    fn take(&self) -> Result<Connection, Error> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        match idle {
            Some(connection) => Ok(connection),
            None => open(&self.location, &SqliteOptions::default()),
        }
    }

    fn give_back(&self, connection: Connection) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < READERS_IDLE_MAX {
            idle.push(connection);
        }
    }
}
