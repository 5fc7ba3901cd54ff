//! The audit's queries on SQLite. Each looks for one kind of violation and
//! reports every instance; none trusts a constraint to have held.

use super::error::storage;
use crate::audit::{Audit, EXPIRED_LEASE_GRACE_MS, Problem, ProblemKind, missing_lifecycle_event};
use crate::store::schema::{
    LEASE_MISMATCH_CHECK, MISSING_CREATED_EVENT_CHECK, NEWEST_LIFECYCLE_EVENTS, OVER_LIMIT_CHECK,
    STUCK_PENDING_CHECK,
};
use runledger_core::{Error, Timestamp};
use rusqlite::{Connection, params};

/// Runs every check.
pub(crate) fn run(connection: &Connection, now: Timestamp) -> Result<Audit, Error> {
    let mut problems = Vec::new();
    let mut check =
        |kind: ProblemKind, sql: &str, values: &[&dyn rusqlite::ToSql]| -> Result<(), Error> {
            let mut statement = connection.prepare(sql).map_err(storage)?;
            let found = statement
                .query_map(values, |row| {
                    Ok(Problem {
                        kind,
                        tenant: row.get(0)?,
                        run_id: row.get(1)?,
                        detail: row.get(2)?,
                    })
                })
                .map_err(storage)?;
            for problem in found {
                problems.push(problem.map_err(storage)?);
            }
            Ok(())
        };
    check(
        ProblemKind::DuplicateRun,
        "SELECT tenant, id, COUNT(*) || ' rows for one run id' FROM runs GROUP BY tenant, id HAVING COUNT(*) > 1",
        &[],
    )?;
    check(
        ProblemKind::DuplicateChild,
        "SELECT tenant, parent_id || ':' || key, COUNT(*) || ' children of ' || parent_id || ' with key ' || key \
         FROM runs WHERE parent_id IS NOT NULL GROUP BY tenant, parent_id, key HAVING COUNT(*) > 1",
        &[],
    )?;
    check(
        ProblemKind::MissingCreatedEvent,
        MISSING_CREATED_EVENT_CHECK,
        &[],
    )?;
    check(
        ProblemKind::SeqGap,
        "SELECT r.tenant, r.id, 'last_seq is ' || r.last_seq || ' but events hold ' || COUNT(e.seq) || \
         ' seqs from ' || IFNULL(MIN(e.seq), 'none') || ' to ' || IFNULL(MAX(e.seq), 'none') \
         FROM runs r LEFT JOIN events e ON e.tenant = r.tenant AND e.run_id = r.id \
         GROUP BY r.tenant, r.id \
         HAVING COUNT(e.seq) <> r.last_seq OR IFNULL(MAX(e.seq), 0) <> r.last_seq OR IFNULL(MIN(e.seq), 1) <> 1",
        &[],
    )?;
    check(
        ProblemKind::PositionGap,
        "SELECT tenant, NULL, COUNT(*) || ' events hold positions ' || MIN(position) || ' to ' || MAX(position) \
         FROM events GROUP BY tenant HAVING COUNT(*) <> MAX(position) OR MIN(position) <> 1 \
         OR COUNT(DISTINCT position) <> COUNT(*)",
        &[],
    )?;
    check(
        ProblemKind::OrphanEvent,
        "SELECT e.tenant, e.run_id, COUNT(*) || ' events of a run that does not exist' FROM events e \
         WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.tenant = e.tenant AND r.id = e.run_id) \
         GROUP BY e.tenant, e.run_id",
        &[],
    )?;
    check(ProblemKind::OverLimit, OVER_LIMIT_CHECK, &[])?;
    check(ProblemKind::StuckPending, STUCK_PENDING_CHECK, &[])?;
    let expired_before = now.unix_ms() - EXPIRED_LEASE_GRACE_MS;
    check(
        ProblemKind::ExpiredLease,
        "SELECT tenant, id, 'running with a lease that expired at ' || \
         strftime('%Y-%m-%dT%H:%M:%fZ', lease_expires_at / 1000.0, 'unixepoch') \
         FROM runs WHERE state = 'running' AND lease_expires_at < ?1",
        &[&expired_before],
    )?;
    check(ProblemKind::LeaseMismatch, LEASE_MISMATCH_CHECK, &[])?;
    problems.extend(lifecycle_problems(connection)?);
    Ok(Audit { problems })
}

/// Runs whose newest lifecycle event does not lead to their state.
fn lifecycle_problems(connection: &Connection) -> Result<Vec<Problem>, Error> {
    let mut statement = connection
        .prepare(NEWEST_LIFECYCLE_EVENTS)
        .map_err(storage)?;
    let rows = statement
        .query_map(params![], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
            ))
        })
        .map_err(storage)?;
    let mut problems = Vec::new();
    for row in rows {
        let (tenant, id, state, newest) = row.map_err(storage)?;
        problems.extend(missing_lifecycle_event(tenant, id, &state, newest)?);
    }
    Ok(problems)
}
