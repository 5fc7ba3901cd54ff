//! Versioned, embedded migrations. All of them run in one `BEGIN IMMEDIATE`
//! transaction, so several processes opening a new file at once migrate it
//! exactly once; a file from a newer runledger is refused, never touched.

use super::error::storage;
use runledger_core::Error;
use rusqlite::Connection;

/// Every migration, in order: (version, name, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "runs_and_events",
        include_str!("../../../migrations/sqlite/0001_runs_and_events.sql"),
    ),
    (
        2,
        "tenants_tokens_idempotency",
        include_str!("../../../migrations/sqlite/0002_tenants_tokens_idempotency.sql"),
    ),
    (
        3,
        "relay",
        include_str!("../../../migrations/sqlite/0003_relay.sql"),
    ),
    (
        4,
        "queued_runs_for_claims",
        include_str!("../../../migrations/sqlite/0004_queued_runs_for_claims.sql"),
    ),
    (
        5,
        "idempotency_marks",
        include_str!("../../../migrations/sqlite/0005_idempotency_marks.sql"),
    ),
    (
        6,
        "one_pending_per_replace_group",
        include_str!("../../../migrations/sqlite/0006_one_pending_per_replace_group.sql"),
    ),
    (
        7,
        "token_lifecycle",
        include_str!("../../../migrations/sqlite/0007_token_lifecycle.sql"),
    ),
];

/// Brings the file to the newest schema this build knows.
pub(crate) fn run(connection: &Connection) -> Result<(), Error> {
    let newest = MIGRATIONS.last().map_or(0, |(version, _, _)| *version);
    // Most opens find the schema current: check without taking the write lock.
    match applied_version(connection)? {
        Some(current) if current == newest => return Ok(()),
        Some(current) if current > newest => return Err(newer_schema(current, newest)),
        _ => {}
    }
    connection
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(storage)?;
    let outcome = migrate_locked(connection, newest);
    let end = if outcome.is_ok() {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    connection.execute_batch(end).map_err(storage)?;
    outcome
}

fn migrate_locked(connection: &Connection, newest: i64) -> Result<(), Error> {
    connection
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    INTEGER PRIMARY KEY,
                 name       TEXT    NOT NULL,
                 applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
             )",
        )
        .map_err(storage)?;
    let current = applied_version(connection)?.unwrap_or(0);
    if current > newest {
        return Err(newer_schema(current, newest));
    }
    for (version, name, sql) in MIGRATIONS
        .iter()
        .filter(|(version, _, _)| *version > current)
    {
        connection.execute_batch(sql).map_err(|error| {
            Error::storage(format!("migration {version} ({name}) failed: {error}"))
        })?;
        connection
            .execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
                (version, name),
            )
            .map_err(storage)?;
    }
    Ok(())
}

/// The newest applied version, or `None` on a file without the table.
fn applied_version(connection: &Connection) -> Result<Option<i64>, Error> {
    let has_table: bool = connection
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')",
            [],
            |row| row.get(0),
        )
        .map_err(storage)?;
    if !has_table {
        return Ok(None);
    }
    connection
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |row| {
            row.get(0)
        })
        .map_err(storage)
}

fn newer_schema(current: i64, newest: i64) -> Error {
    Error::storage(format!(
        "the database schema is at version {current}, newer than this runledger knows ({newest}); upgrade runledger"
    ))
}
