//! The commit signal on SQLite: a thread with its own connection watches
//! `PRAGMA data_version`, which changes whenever any other connection — this
//! process's writer or another process's — commits to the file. Plus the
//! pages subscriptions catch up with, bounded in bytes as well as in events.

use super::connection::{self, Location, SqliteOptions};
use super::error::storage;
use super::rows;
use crate::requests::LogPage;
use crate::store::schema::{EVENT_COLUMNS, EVENT_ENVELOPE_BYTES};
use runledger_core::{Error, Event, Tenant};
use rusqlite::{Connection, params};
use std::time::Duration;
use tokio::sync::watch;

/// How often the file is checked while anyone subscribes.
const POLL_INTERVAL: Duration = Duration::from_millis(2);
/// How often it is checked for subscribers while nobody subscribes.
const IDLE_INTERVAL: Duration = Duration::from_millis(50);

/// Starts the poller; it stops when every receiver of `signal` is gone.
pub(crate) fn spawn_commit_poller(
    location: &Location,
    signal: watch::Sender<u64>,
    active: impl Fn() -> bool + Send + 'static,
) -> Result<(), Error> {
    let connection = connection::open(location, &SqliteOptions::default())?;
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
        .map_err(storage)?;
    let position: i64 = statement
        .query_row([tenant.as_str()], |row| row.get(0))
        .map_err(storage)?;
    Ok(position as u64)
}

/// The events of `tenant`'s log that `page` names, each with its size
/// ([`EVENT_ENVELOPE_BYTES`] more than its data's). Rows past the bound are
/// never read.
pub(crate) fn event_page(
    connection: &Connection,
    tenant: &Tenant,
    page: &LogPage,
) -> Result<Vec<(Event, usize)>, Error> {
    let (after, limit) = (i64::try_from(page.after).unwrap_or(i64::MAX), page.limit);
    let mut statement;
    let mut found = match &page.run {
        Some(run) => {
            statement = connection
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS}, octet_length(data) FROM events \
                     WHERE tenant = ?1 AND run_id = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4"
                ))
                .map_err(storage)?;
            statement.query(params![tenant.as_str(), run.as_str(), after, limit])
        }
        None => {
            statement = connection
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS}, octet_length(data) FROM events \
                     WHERE tenant = ?1 AND position > ?2 ORDER BY position LIMIT ?3"
                ))
                .map_err(storage)?;
            statement.query(params![tenant.as_str(), after, limit])
        }
    }
    .map_err(storage)?;
    let mut events = Vec::new();
    let mut bytes = 0usize;
    while let Some(row) = found.next().map_err(storage)? {
        let data_bytes: i64 = row.get(6).map_err(storage)?;
        let size = usize::try_from(data_bytes).unwrap_or(usize::MAX) + EVENT_ENVELOPE_BYTES;
        if !events.is_empty() && bytes.saturating_add(size) > page.bytes_max {
            break;
        }
        bytes = bytes.saturating_add(size);
        events.push((rows::event(row).map_err(storage)?, size));
    }
    Ok(events)
}
