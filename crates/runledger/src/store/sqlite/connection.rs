//! The only place SQLite is configured: where the file is, how each
//! connection is opened, and the pool of read connections.

use super::error::storage;
use runledger_core::Error;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Settings of the SQLite backend.
#[derive(Debug, Clone, Default)]
pub(crate) struct SqliteOptions {
    /// `PRAGMA max_page_count`: writes that would grow the file beyond it fail.
    pub(crate) max_page_count: Option<u64>,
}

/// How long a writer waits for another process's write lock before failing.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 30_000;
/// Shortest and longest sleep between two tries for a lock another
/// connection holds (see [`wait_for_lock`]).
const SQLITE_BUSY_SLEEP_US_MIN: u64 = 50;
const SQLITE_BUSY_SLEEP_US_MAX: u64 = 1_000;
/// Idle read connections kept open: more than the callers a process usually
/// has in flight, so reads do not open (and parse the schema) again.
const READERS_IDLE_MAX: usize = 32;
/// Page cache of the writer's connection. The default (2 MiB) let the
/// concurrency-group checks, which read rows all over the table, miss it
/// and read pages again on every batch.
const WRITER_CACHE_KIB: i64 = 16 * 1024;

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

    /// Whether the file was opened with `?mode=ro`.
    pub(crate) fn read_only(&self) -> bool {
        self.read_only
    }

    /// The database file.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }
}

/// Creates the database file readable and writable by its owner only
/// (0600), unless it exists (its mode is then the operator's choice). SQLite
/// gives the `-wal` and `-shm` files the database file's mode.
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
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
    if !location.read_only {
        create_private(&location.path).map_err(|error| {
            Error::storage(format!("cannot create SQLite file {path}: {error}"))
        })?;
    }
    let connection = Connection::open_with_flags(&location.path, flags)
        .map_err(|error| Error::storage(format!("cannot open SQLite file {path}: {error}")))?;
    let configure = || -> Result<(), String> {
        // Other processes hold the write lock for one batch at a time.
        let sqlite = |error: rusqlite::Error| error.to_string();
        connection
            .busy_handler(Some(wait_for_lock))
            .map_err(sqlite)?;
        // Plans must not depend on bound values: SQLite otherwise expires a
        // cached statement whose plan looked at a binding (the partial
        // indexes) each time its bindings change, and compiles it again.
        connection
            .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
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

/// SQLite's busy handler: called while another connection (in practice,
/// another process's writer) holds the lock this one needs; `true` means
/// "try again". SQLite's own handler sleeps ever longer (up to 100 ms a try),
/// so a process that keeps losing sleeps through many other commits, which
/// gave multi-second tails with 8 processes on one file. This one sleeps a
/// short random time, the same at every try, so each waiter keeps trying
/// about as often as the others and a lock is handed on within about a
/// millisecond. It gives up after `SQLITE_BUSY_TIMEOUT_MS` in all.
fn wait_for_lock(attempt: i32) -> bool {
    thread_local! {
        static WAITING_SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
        static RANDOM: Cell<u64> = const { Cell::new(0) };
    }
    let now = Instant::now();
    // SQLite counts tries from 0 for each wait; one connection is used by one
    // thread at a time, so a thread-local start is this wait's start.
    let since = WAITING_SINCE.with(|since| {
        if attempt == 0 || since.get().is_none() {
            since.set(Some(now));
        }
        since.get().unwrap_or(now)
    });
    if now.duration_since(since) >= Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS) {
        return false;
    }
    let random = RANDOM.with(|state| {
        let mut x = state.get();
        if x == 0 {
            // Differs per thread and process; it only spreads sleeps apart.
            let mut seed = [0u8; 8];
            let _ = getrandom::fill(&mut seed);
            x = u64::from_le_bytes(seed) | 1;
        }
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x
    });
    let spread = SQLITE_BUSY_SLEEP_US_MAX - SQLITE_BUSY_SLEEP_US_MIN;
    std::thread::sleep(Duration::from_micros(
        SQLITE_BUSY_SLEEP_US_MIN + random % (spread + 1),
    ));
    true
}

/// Opens the connection of the writer thread: [`open`], plus a larger page
/// cache and its statement journals in memory. A statement that inserts many rows journals every
/// page it changes until it completes; past 64 KiB SQLite moves that journal
/// to a file, and a batch of creates opened, wrote and unlinked a temp file
/// in /var/tmp on every commit. The journal lives for one statement and a
/// batch is bounded, so its memory is too. (Readers keep files for temp
/// data: the audit's sorts over a large file are not bounded.)
pub(crate) fn open_writer(
    location: &Location,
    options: &SqliteOptions,
) -> Result<Connection, Error> {
    let connection = open(location, options)?;
    let configure = || -> rusqlite::Result<()> {
        connection.pragma_update(None, "temp_store", "MEMORY")?;
        // Negative: KiB rather than pages.
        connection.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
    };
    configure().map_err(|error| {
        Error::storage(format!(
            "cannot configure SQLite file {}: {error}",
            location.path.display()
        ))
    })?;
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
            let outcome =
                run_cached(&connection, "BEGIN DEFERRED").and_then(|()| read(&connection));
            let ended = run_cached(&connection, "COMMIT");
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

/// Runs a statement that answers no rows (`BEGIN`, `SAVEPOINT`, `COMMIT`, …)
/// from the connection's statement cache, so it is parsed once per
/// connection rather than at every use (`execute_batch` parses every time).
pub(crate) fn run_cached(connection: &Connection, sql: &str) -> Result<(), Error> {
    connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(drop)
        .map_err(storage)
}
