//! The audit's queries on SQLite. Each looks for one kind of violation and
//! reports every instance; none trusts a constraint to have held.

use super::error::storage;
use crate::audit::{Audit, EXPIRED_LEASE_GRACE_MS, Problem, ProblemKind};
use runledger_core::{Error, LifecycleEvent, RunState, Timestamp};
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
        "SELECT r.tenant, r.id, 'no created event at seq 1' FROM runs r WHERE NOT EXISTS \
         (SELECT 1 FROM events e WHERE e.tenant = r.tenant AND e.run_id = r.id AND e.seq = 1 AND e.type = 'created')",
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
    check(
        ProblemKind::OverLimit,
        "SELECT tenant, NULL, 'group ' || concurrency_key || ' has ' || COUNT(*) || \
         ' active runs; the largest limit among them is ' || MAX(concurrency_limit) \
         FROM runs WHERE concurrency_key IS NOT NULL AND state IN ('queued', 'running') \
         GROUP BY tenant, concurrency_key HAVING COUNT(*) > MAX(concurrency_limit)",
        &[],
    )?;
    check(
        ProblemKind::StuckPending,
        "SELECT p.tenant, p.id, 'pending although group ' || p.concurrency_key || ' has ' || \
         (SELECT COUNT(*) FROM runs a WHERE a.tenant = p.tenant AND a.concurrency_key = p.concurrency_key \
          AND a.state IN ('queued', 'running')) || ' active runs of its limit ' || p.concurrency_limit \
         FROM runs p WHERE p.state = 'pending' \
         AND p.created_order = (SELECT MIN(o.created_order) FROM runs o WHERE o.tenant = p.tenant \
             AND o.concurrency_key = p.concurrency_key AND o.state = 'pending') \
         AND (SELECT COUNT(*) FROM runs a WHERE a.tenant = p.tenant AND a.concurrency_key = p.concurrency_key \
              AND a.state IN ('queued', 'running')) < p.concurrency_limit",
        &[],
    )?;
    let expired_before = now.unix_ms() - EXPIRED_LEASE_GRACE_MS;
    check(
        ProblemKind::ExpiredLease,
        "SELECT tenant, id, 'running with a lease that expired at ' || lease_expires_at || ' ms' \
         FROM runs WHERE state = 'running' AND lease_expires_at < ?1",
        &[&expired_before],
    )?;
    check(
        ProblemKind::LeaseMismatch,
        "SELECT tenant, id, state || ' run ' || CASE WHEN lease_owner IS NULL THEN 'without' ELSE 'with' END || ' a lease' \
         FROM runs WHERE (state = 'running') <> (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)",
        &[],
    )?;
    problems.extend(lifecycle_problems(connection)?);
    Ok(Audit { problems })
}

/// Runs whose newest lifecycle event does not lead to their state.
fn lifecycle_problems(connection: &Connection) -> Result<Vec<Problem>, Error> {
    let mut statement = connection
        .prepare(
            "SELECT r.tenant, r.id, r.state, (SELECT e.type FROM events e WHERE e.tenant = r.tenant \
             AND e.run_id = r.id AND e.type IN ('created', 'promoted', 'started', 'succeeded', 'failed', \
             'cancelled', 'timed_out') ORDER BY e.seq DESC LIMIT 1) FROM runs r",
        )
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
        let state = RunState::parse(&state)?;
        let leads_to_state = newest
            .as_deref()
            .and_then(LifecycleEvent::from_name)
            .is_some_and(|event| event.states_after().contains(&state));
        if !leads_to_state {
            problems.push(Problem {
                kind: ProblemKind::MissingLifecycleEvent,
                tenant,
                run_id: Some(id),
                detail: format!(
                    "state is {state} but the newest lifecycle event is {}",
                    newest.as_deref().unwrap_or("none")
                ),
            });
        }
    }
    Ok(problems)
}
