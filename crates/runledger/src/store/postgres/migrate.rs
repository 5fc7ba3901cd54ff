//! Versioned, embedded migrations for PostgreSQL, run in one transaction
//! under a transaction-level advisory lock, so several processes starting at
//! once migrate exactly once. A newer schema is refused untouched.

use super::error::storage;
use runledger_core::Error;
use sqlx::{Acquire, AssertSqlSafe, PgPool, Row};

/// Every migration, in order: (version, name, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "runs_and_events",
        include_str!("../../../migrations/postgres/0001_runs_and_events.sql"),
    ),
    (
        2,
        "tenants_tokens_idempotency",
        include_str!("../../../migrations/postgres/0002_tenants_tokens_idempotency.sql"),
    ),
    (
        3,
        "relay",
        include_str!("../../../migrations/postgres/0003_relay.sql"),
    ),
    (
        4,
        "created_order_index_for_lists_only",
        include_str!("../../../migrations/postgres/0004_created_order_index_for_lists_only.sql"),
    ),
    (
        5,
        "queued_runs_for_claims",
        include_str!("../../../migrations/postgres/0005_queued_runs_for_claims.sql"),
    ),
    (
        6,
        "idempotency_marks",
        include_str!("../../../migrations/postgres/0006_idempotency_marks.sql"),
    ),
    (
        7,
        "one_pending_per_replace_group",
        include_str!("../../../migrations/postgres/0007_one_pending_per_replace_group.sql"),
    ),
    (
        8,
        "children_follow_their_parent",
        include_str!("../../../migrations/postgres/0008_children_follow_their_parent.sql"),
    ),
    (
        9,
        "token_lifecycle",
        include_str!("../../../migrations/postgres/0009_token_lifecycle.sql"),
    ),
];

/// Brings the database to the newest schema this build knows.
pub(crate) async fn run(pool: &PgPool) -> Result<(), Error> {
    let newest = MIGRATIONS.last().map_or(0, |(version, _, _)| *version);
    let mut connection = pool.acquire().await.map_err(storage)?;
    let mut transaction = connection.begin().await.map_err(storage)?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('runledger/migrations', 0))")
        .execute(&mut *transaction)
        .await
        .map_err(storage)?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT      PRIMARY KEY,
             name       TEXT        NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .execute(&mut *transaction)
    .await
    .map_err(storage)?;
    let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        .fetch_one(&mut *transaction)
        .await
        .map_err(storage)?
        .try_get(0)
        .map_err(storage)?;
    if current > newest {
        return Err(Error::storage(format!(
            "the database schema is at version {current}, newer than this runledger knows ({newest}); upgrade runledger"
        )));
    }
    for (version, name, sql) in MIGRATIONS
        .iter()
        .filter(|(version, _, _)| *version > current)
    {
        sqlx::raw_sql(AssertSqlSafe(*sql))
            .execute(&mut *transaction)
            .await
            .map_err(|error| {
                Error::storage(format!("migration {version} ({name}) failed: {error}"))
            })?;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
            .bind(version)
            .bind(name)
            .execute(&mut *transaction)
            .await
            .map_err(storage)?;
    }
    transaction.commit().await.map_err(storage)
}
