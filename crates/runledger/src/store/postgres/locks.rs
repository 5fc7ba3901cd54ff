//! Transactions on PostgreSQL and the locks they take.
//!
//! Lock order, always: the concurrency groups' advisory locks (only for
//! operations that can change a group's active count), several in the order
//! of their lock numbers, then run rows (`FOR NO KEY UPDATE`). The group
//! lock's name is built once here, for the statements that take it
//! ([`take_group_locks`]) and for the `BEGIN` that carries it
//! ([`begin_in_groups`]).

use super::error::storage;
use crate::failpoints;
use runledger_core::{Error, Tenant};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Postgres, Transaction};

/// The advisory lock of the group `key` of `tenant` is named
/// `runledger/group/<tenant>/<key>`.
const GROUP_LOCK_PREFIX: &str = "runledger/group/";

/// SQL: takes, to the end of the transaction, the advisory lock of every
/// group of the rows of `from` (a FROM clause, with its WHERE if any), whose
/// tenant and key are the SQL expressions `tenant` and `key`; in the order
/// of their lock numbers, the one order every locker of several groups
/// uses, so two never deadlock. One row, one column (`taken`).
pub(super) fn take_group_locks(from: &str, tenant: &str, key: &str) -> String {
    format!(
        "SELECT count(pg_advisory_xact_lock(h)) AS taken FROM (
            SELECT DISTINCT hashtextextended('{GROUP_LOCK_PREFIX}' || {tenant} || '/' || {key}, 0) AS h
            FROM {from} ORDER BY h OFFSET 0) AS l"
    )
}

/// Begins a transaction that holds the advisory lock serializing every
/// change of `key`'s active count: one round trip, the lock riding on the
/// `BEGIN`.
pub(super) async fn begin_in_group<'c>(
    connection: &'c mut PgConnection,
    tenant: &Tenant,
    key: &str,
) -> Result<Transaction<'c, Postgres>, Error> {
    begin_in_groups(connection, &[(tenant.as_str(), key)]).await
}

/// Begins a transaction that holds the advisory locks of every `(tenant,
/// key)` of `groups` ([`take_group_locks`]): one round trip, the locks
/// riding on the `BEGIN` (callers use [`begin_or_return!`], which cleans up
/// after a failure). The groups are therefore literals; tenant names and
/// concurrency keys cannot hold a quote (their grammars), and one would be
/// doubled anyway.
pub(super) async fn begin_in_groups<'c>(
    connection: &'c mut PgConnection,
    groups: &[(&str, &str)],
) -> Result<Transaction<'c, Postgres>, Error> {
    let literal = |text: &str| format!("'{}'", text.replace('\'', "''"));
    let rows: Vec<String> = groups
        .iter()
        .map(|(tenant, key)| format!("({}, {})", literal(tenant), literal(key)))
        .collect();
    let from = format!("(VALUES {}) AS g(tenant, key)", rows.join(", "));
    let sql = format!("BEGIN; {}", take_group_locks(&from, "tenant", "key"));
    connection
        .begin_with(AssertSqlSafe(sql))
        .await
        .map_err(storage)
}

/// Ends what a failed [`begin_in_groups`] may leave behind, and answers
/// `error`: its `BEGIN` ran but its lock statement failed (a lock timeout),
/// and sqlx, which rolls back only a `BEGIN` it saw succeed, would hand the
/// connection to its next user inside an aborted transaction.
pub(super) async fn after_failed_begin(connection: &mut PgConnection, error: Error) -> Error {
    // A warning only when no transaction is open; on a broken connection
    // it fails as well, and the pool drops the connection.
    let _ = sqlx::raw_sql("ROLLBACK").execute(connection).await;
    error
}

/// `$begin` (a call of [`begin_in_groups`] borrowing `$connection`),
/// awaited: its transaction, or a return of its error from the calling
/// function after [`after_failed_begin`]. A macro because the failure path
/// needs `$connection` again, which the borrow checker allows only in the
/// body that owns the borrow.
macro_rules! begin_or_return {
    ($connection:expr, $begin:expr) => {{
        let begun = $begin.await;
        let failure = begun.as_ref().err().cloned();
        // `{ begun }` moves the result, so nothing of it (nor of its
        // borrow) is left for the failure path.
        let Ok(transaction) = ({ begun }) else {
            let failure = failure.expect("only a failed begin gets here");
            return Err($crate::store::postgres::locks::after_failed_begin(
                &mut *$connection,
                failure,
            )
            .await);
        };
        transaction
    }};
}
pub(super) use begin_or_return;

/// Commits, with the same failpoint sites as the SQLite writer's batch.
pub(super) async fn commit(transaction: Transaction<'_, Postgres>) -> Result<(), Error> {
    failpoints::hit("batch", "before_commit")?;
    transaction.commit().await.map_err(storage)?;
    failpoints::hit("batch", "after_commit")
}
