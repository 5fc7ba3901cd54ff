//! The audit's queries on PostgreSQL: the same checks as on SQLite, plus
//! events the sequencer has not stamped in time.

use super::rows::NOW_MS;
use super::write::storage;
use crate::audit::{Audit, EXPIRED_LEASE_GRACE_MS, Problem, ProblemKind};
use runledger_core::{Error, LifecycleEvent, RunState};
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
        "SELECT r.tenant, r.id, 'no created event at seq 1' FROM runs r WHERE NOT EXISTS \
         (SELECT 1 FROM events e WHERE e.tenant = r.tenant AND e.run_id = r.id AND e.seq = 1 AND e.type = 'created')",
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
    (
        ProblemKind::OverLimit,
        "SELECT tenant, NULL, 'group ' || concurrency_key || ' has ' || COUNT(*) || \
         ' active runs; the largest limit among them is ' || MAX(concurrency_limit) \
         FROM runs WHERE concurrency_key IS NOT NULL AND state IN ('queued', 'running') \
         GROUP BY tenant, concurrency_key HAVING COUNT(*) > MAX(concurrency_limit)",
    ),
    (
        ProblemKind::StuckPending,
        "SELECT p.tenant, p.id, 'pending although group ' || p.concurrency_key || ' has ' || \
         (SELECT COUNT(*) FROM runs a WHERE a.tenant = p.tenant AND a.concurrency_key = p.concurrency_key \
          AND a.state IN ('queued', 'running')) || ' active runs of its limit ' || p.concurrency_limit \
         FROM runs p WHERE p.state = 'pending' \
         AND p.created_order = (SELECT MIN(o.created_order) FROM runs o WHERE o.tenant = p.tenant \
             AND o.concurrency_key = p.concurrency_key AND o.state = 'pending') \
         AND (SELECT COUNT(*) FROM runs a WHERE a.tenant = p.tenant AND a.concurrency_key = p.concurrency_key \
              AND a.state IN ('queued', 'running')) < p.concurrency_limit",
    ),
    (
        ProblemKind::LeaseMismatch,
        "SELECT tenant, id, state || ' run ' || CASE WHEN lease_owner IS NULL THEN 'without' ELSE 'with' END || ' a lease' \
         FROM runs WHERE (state = 'running') <> (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)",
    ),
];

/// Runs every check.
pub(crate) async fn run(connection: &mut PgConnection) -> Result<Audit, Error> {
    let mut problems = Vec::new();
    let timed = [
        (
            ProblemKind::ExpiredLease,
            format!(
                "SELECT tenant, id, 'running with a lease that expired at ' || lease_expires_at || ' ms' \
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
    let rows = sqlx::query(
        "SELECT r.tenant, r.id, r.state, (SELECT e.type FROM events e WHERE e.tenant = r.tenant \
         AND e.run_id = r.id AND e.type IN ('created', 'promoted', 'started', 'succeeded', 'failed', \
         'cancelled', 'timed_out') ORDER BY e.seq DESC LIMIT 1) FROM runs r",
    )
    .fetch_all(&mut *connection)
    .await
    .map_err(storage)?;
    for row in rows {
        let (tenant, id, state, newest): (String, String, String, Option<String>) = (
            row.try_get(0).map_err(storage)?,
            row.try_get(1).map_err(storage)?,
            row.try_get(2).map_err(storage)?,
            row.try_get(3).map_err(storage)?,
        );
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
    Ok(Audit { problems })
}
