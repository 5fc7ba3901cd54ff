//! The commit signal on SQLite: a thread with its own connection watches
//! `PRAGMA data_version`, which changes whenever any other connection — this
//! process's writer or another process's — commits to the file.

use super::SqliteOptions;
use super::connection::{self, Location};
use runledger_core::{Error, Tenant};
use rusqlite::Connection;
use std::time::Duration;
use tokio::sync::watch;

/// How often the file is checked while anyone subscribes.
const POLL_INTERVAL: Duration = Duration::from_millis(2);
/// How often it is checked for subscribers while nobody subscribes.
const IDLE_INTERVAL: Duration = Duration::from_millis(50);

/// Starts the poller; it stops when every receiver of `signal` is gone.
pub(crate) fn spawn_commit_poller(
    url: &str,
    signal: watch::Sender<u64>,
    active: impl Fn() -> bool + Send + 'static,
) -> Result<(), Error> {
    let location = Location::parse(url)?;
    let connection = connection::open(&location, &SqliteOptions::default())?;
    std::thread::Builder::new()
        .name("runledger-sqlite-feed".into())
        .spawn(move || poll(connection, signal, active))
        .map_err(Error::storage)?;
    Ok(())
}

fn poll(connection: Connection, signal: watch::Sender<u64>, active: impl Fn() -> bool) {
    let mut seen: Option<i64> = None;
    while !signal.is_closed() {
        if !active() {
            seen = None;
            std::thread::sleep(IDLE_INTERVAL);
            continue;
        }
        match connection.query_row("PRAGMA data_version", [], |row| row.get::<_, i64>(0)) {
            Ok(version) if seen != Some(version) => {
                seen = Some(version);
                signal.send_modify(|commits| *commits += 1);
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "the SQLite commit poller could not read data_version")
            }
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// The newest position of `tenant`'s log (0 when empty).
pub(crate) fn last_position(connection: &Connection, tenant: &Tenant) -> Result<u64, Error> {
    let mut statement = connection
        .prepare_cached("SELECT COALESCE(MAX(position), 0) FROM events WHERE tenant = ?1")
        .map_err(Error::storage)?;
    let position: i64 = statement
        .query_row([tenant.as_str()], |row| row.get(0))
        .map_err(Error::storage)?;
    Ok(position as u64)
}
