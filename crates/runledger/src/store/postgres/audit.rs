//! The audit's queries on PostgreSQL: the same checks as on SQLite, plus
//! events the sequencer has not stamped in time.

use super::error::storage;
use super::rows::NOW_MS;
use crate::audit::{Audit, EXPIRED_LEASE_GRACE_MS, Problem, ProblemKind, missing_lifecycle_event};
use crate::store::schema::{
    LEASE_MISMATCH_CHECK, MISSING_CREATED_EVENT_CHECK, NEWEST_LIFECYCLE_EVENTS, OVER_LIMIT_CHECK,
    STUCK_PENDING_CHECK,
};
use runledger_core::Error;
use sqlx::{AssertSqlSafe, PgConnection, Row};

/// How long an event may stay unstamped before the audit reports it.
const UNSTAMPED_GRACE_MS: i64 = 5_000;

/// Every check, each query reporting `(tenant, run_id, detail)`.
const CHECKS: [(ProblemKind, &str); 9] = [
    (
        ProblemKind::DuplicateRun,
        "SELECT tenant, id, COUNT(*)::text || ' rows for one run id' FROM runs GROUP BY tenant, id HAVING COUNT(*) > 1",
    ),
    (
        ProblemKind::DuplicateChild,
        "SELECT tenant, parent_id || ':' || key, COUNT(*)::text || ' children of ' || parent_id || ' with key ' || key \
         FROM runs WHERE parent_id IS NOT NULL GROUP BY tenant, parent_id, key HAVING COUNT(*) > 1",
    ),
    (
        ProblemKind::MissingCreatedEvent,
        MISSING_CREATED_EVENT_CHECK,
    ),
    (
        ProblemKind::SeqGap,
        "SELECT r.tenant, r.id, 'last_seq is ' || r.last_seq || ' but events hold ' || COUNT(e.seq) || \
         ' seqs from ' || COALESCE(MIN(e.seq)::text, 'none') || ' to ' || COALESCE(MAX(e.seq)::text, 'none') \
         FROM runs r LEFT JOIN events e ON e.tenant = r.tenant AND e.run_id = r.id \
         GROUP BY r.tenant, r.id, r.last_seq \
         HAVING COUNT(e.seq) <> r.last_seq OR COALESCE(MAX(e.seq), 0) <> r.last_seq OR COALESCE(MIN(e.seq), 1) <> 1",
    ),
    (
        ProblemKind::PositionGap,
        "SELECT tenant, NULL, COUNT(position)::text || ' stamped events hold positions ' || MIN(position) || ' to ' || MAX(position) \
         FROM events WHERE position IS NOT NULL GROUP BY tenant \
         HAVING COUNT(position) <> MAX(position) OR MIN(position) <> 1 OR COUNT(DISTINCT position) <> COUNT(position)",
    ),
    (
        ProblemKind::OrphanEvent,
        "SELECT e.tenant, e.run_id, COUNT(*)::text || ' events of a run that does not exist' FROM events e \
         WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.tenant = e.tenant AND r.id = e.run_id) \
         GROUP BY e.tenant, e.run_id",
    ),
    (ProblemKind::OverLimit, OVER_LIMIT_CHECK),
    (ProblemKind::StuckPending, STUCK_PENDING_CHECK),
    (ProblemKind::LeaseMismatch, LEASE_MISMATCH_CHECK),
];

/// Runs every check.
pub(crate) async fn run(connection: &mut PgConnection) -> Result<Audit, Error> {
    let mut problems = Vec::new();
    let timed = [
        (
            ProblemKind::ExpiredLease,
            format!(
                "SELECT tenant, id, 'running with a lease that expired at ' || \
                 to_char(to_timestamp(lease_expires_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') \
                 FROM runs WHERE state = 'running' AND lease_expires_at < {NOW_MS} - {EXPIRED_LEASE_GRACE_MS}"
            ),
        ),
        (
            ProblemKind::PositionGap,
            format!(
                "SELECT tenant, run_id, 'event ' || seq || ' has had no position for more than {UNSTAMPED_GRACE_MS} ms' \
                 FROM events WHERE position IS NULL AND at < {NOW_MS} - {UNSTAMPED_GRACE_MS}"
            ),
        ),
    ];
    let checks = CHECKS
        .iter()
        .map(|(kind, sql)| (*kind, sql.to_string()))
        .chain(timed);
    for (kind, sql) in checks {
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut *connection)
            .await
            .map_err(storage)?;
        for row in rows {
            problems.push(Problem {
                kind,
                tenant: row.try_get(0).map_err(storage)?,
                run_id: row.try_get(1).map_err(storage)?,
                detail: row.try_get(2).map_err(storage)?,
            });
        }
    }
    let rows = sqlx::query(NEWEST_LIFECYCLE_EVENTS)
        .fetch_all(&mut *connection)
        .await
        .map_err(storage)?;
    for row in rows {
        problems.extend(missing_lifecycle_event(
            row.try_get(0).map_err(storage)?,
            row.try_get(1).map_err(storage)?,
            &row.try_get::<String, _>(2).map_err(storage)?,
            row.try_get(3).map_err(storage)?,
        )?);
    }
    Ok(Audit { problems })
}
