//! The one statement that decides and writes a batch of creates in
//! concurrency groups (groups.rs says which creates it may take: no
//! lease to start, one create per id, one limit per group).
//!
//! It reads the clock, the runs that exist and each group's active runs;
//! admits, per group in arrival order, as many new runs as the group has
//! free slots in that snapshot; takes the advisory locks of the groups it
//! admits into (in lock-number order, as every locker of several groups);
//! inserts the admitted runs — the `runs_concurrency_limit` trigger counts
//! each group again with a fresh snapshot under those locks, so a group
//! that filled up since the snapshot fails the statement whole — and their
//! `created` events, stamped from the tenants' counter rows when the
//! snapshot shows no unstamped event of those tenants (the rule of
//! positions/stamping.rs), else unstamped for the sequencer.

use crate::requests::ResolvedCreate;
use crate::store::postgres::error::storage;
use crate::store::postgres::locks::take_group_locks;
use crate::store::postgres::lookup;
use crate::store::postgres::positions::{CHANNEL, created_events_ctes};
use crate::store::postgres::rows::NOW_MS;
use runledger_core::transition;
use runledger_core::{Error, Run, RunId, RunState, Tenant, Timestamp};
use sqlx::{AssertSqlSafe, PgConnection, Row};

/// What the statement found or did for one create.
pub(super) enum Outcome {
    /// The run existed already (a repeat, or a conflict).
    Existing(Box<Run>),
    /// The run was inserted at this clock reading.
    Inserted(Timestamp),
    /// Admitted, but another transaction inserted the id after the
    /// statement's snapshot; read again.
    Raced,
    /// Not admitted: the group had no free slot for it; these were its
    /// active runs as committed, oldest first (the batch's own admissions
    /// into the group come after them).
    Full(Vec<RunId>),
}

/// The statement's answer: one outcome per create, in order, and whether
/// the new events were stamped.
pub(super) struct Written {
    pub(super) outcomes: Vec<Outcome>,
    pub(super) stamped: bool,
}

/// Decides and writes `creates` (each in a concurrency group, without a
/// lease to start; one per `(tenant, id)`; one limit per group) with one
/// autocommit statement.
pub(super) async fn create_in_groups(
    connection: &mut PgConnection,
    creates: &[(&Tenant, &ResolvedCreate)],
) -> Result<Written, Error> {
    let sql = format!(
        "WITH clock AS MATERIALIZED (SELECT {NOW_MS} AS now),
        input AS MATERIALIZED (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[])
            WITH ORDINALITY AS i(tenant, id, kind, parent_id, key, attributes, type, data,
                ckey, on_full, climit, n)),
        found AS MATERIALIZED (
            SELECT r.*, k.states, k.counts, input.n AS n,
                (SELECT array_agg(a.id ORDER BY a.created_order) FROM runs AS a
                 WHERE a.tenant = input.tenant AND a.concurrency_key = input.ckey
                 AND a.state IN ('queued', 'running')) AS active
            FROM input {run_and_children}),
        admitted AS MATERIALIZED (
            SELECT * FROM (
                SELECT input.*, coalesce(cardinality(found.active), 0)
                    + row_number() OVER (PARTITION BY input.tenant, input.ckey ORDER BY input.n) AS slot
                FROM input JOIN found ON found.n = input.n AND found.id IS NULL) AS candidates
            WHERE slot <= climit),
        locks AS MATERIALIZED ({locks}),
        settled AS MATERIALIZED (
            SELECT NOT EXISTS (SELECT 1 FROM events
                WHERE events.tenant = ANY ($1::text[]) AND events.position IS NULL) AS ok),
        inserted AS (
            INSERT INTO runs (tenant, id, kind, parent_id, key, state, concurrency_key,
                concurrency_limit, concurrency_on_full, attributes, version, last_seq,
                created_at, updated_at)
            SELECT admitted.tenant, admitted.id, admitted.kind, admitted.parent_id, admitted.key,
                'queued', admitted.ckey, admitted.climit, admitted.on_full, admitted.attributes,
                1, 1, clock.now, clock.now
            FROM admitted CROSS JOIN clock
            WHERE (SELECT taken FROM locks) >= 0
            ORDER BY admitted.tenant, admitted.id
            ON CONFLICT DO NOTHING
            RETURNING tenant, id),
        {created_events}
        SELECT clock.now, found.*, admitted.n IS NOT NULL AS admitted,
            numbered.id IS NOT NULL AS inserted, settled.ok
        FROM found CROSS JOIN clock CROSS JOIN settled
        JOIN input ON input.n = found.n
        LEFT JOIN admitted ON admitted.n = found.n
        LEFT JOIN numbered ON numbered.tenant = input.tenant AND numbered.id = input.id
        ORDER BY found.n",
        run_and_children = lookup::run_and_children("input.tenant", "input.id"),
        locks = take_group_locks("admitted", "tenant", "ckey"),
        created_events = created_events_ctes("$12"),
    );
    let mut text: [Vec<Option<String>>; 10] = Default::default();
    let mut limits: Vec<i64> = Vec::with_capacity(creates.len());
    for (tenant, request) in creates {
        // The row as it would be created, queued; times come from the
        // statement's clock.
        let created = transition::create(
            (*tenant).clone(),
            request.id.clone(),
            request.params.clone(),
            RunState::Queued,
            None,
            Timestamp::from_unix_ms(0),
        );
        let (run, event) = (&created.after.run, &created.events[0]);
        debug_assert!(run.version == 1 && created.events.len() == 1);
        let group = request
            .params
            .concurrency
            .as_ref()
            .expect("only creates in a group are written here");
        let row = [
            Some(run.tenant.as_str().to_owned()),
            Some(run.id.as_str().to_owned()),
            Some(run.kind.as_str().to_owned()),
            run.parent_id.as_ref().map(|id| id.as_str().to_owned()),
            run.key.as_ref().map(|key| key.as_str().to_owned()),
            Some(run.attributes.to_string()),
            Some(event.event_type.clone()),
            Some(event.data.to_string()),
            Some(group.key.as_str().to_owned()),
            Some(group.on_full.as_str().to_owned()),
        ];
        for (column, value) in text.iter_mut().zip(row) {
            column.push(value);
        }
        limits.push(i64::from(group.limit));
    }
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for column in text {
        query = query.bind(column);
    }
    let rows = query
        .bind(limits)
        .bind(CHANNEL)
        .fetch_all(&mut *connection)
        .await
        .map_err(storage)?;
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut stamped = false;
    for row in &rows {
        let columns = row.len();
        stamped = row.try_get(columns - 1).map_err(storage)?;
        let inserted: bool = row.try_get(columns - 2).map_err(storage)?;
        let admitted: bool = row.try_get(columns - 3).map_err(storage)?;
        let active: Option<Vec<String>> = row.try_get(columns - 4).map_err(storage)?;
        let (now, existing) = lookup::now_and_run_row(row, 5)?;
        outcomes.push(match (existing, admitted, inserted) {
            (Some(run), _, _) => Outcome::Existing(Box::new(run)),
            (None, true, true) => Outcome::Inserted(now),
            (None, true, false) => Outcome::Raced,
            (None, false, _) => Outcome::Full(
                active
                    .unwrap_or_default()
                    .iter()
                    .map(|id| RunId::parse(id))
                    .collect::<Result<_, _>>()?,
            ),
        });
    }
    Ok(Written { outcomes, stamped })
}
