//! The insert of runs decided in Rust, with their events: one statement
//! for one run or a batch of them, each inserted only when its id is
//! free, its events stamped when the statement may (positions/stamping.rs).
//! Events are numbered, and inserted, in input order (a batch create's
//! events follow its items).

use crate::store::postgres::error::storage;
use crate::store::postgres::locks::take_group_locks;
use crate::store::postgres::positions::{CHANNEL, counter_cte};
use crate::store::postgres::rows::{event_columns, signed};
use runledger_core::transition::{Record, Transition};
use runledger_core::{ConcurrencyKey, Error, OnFull, RunId, Timestamp};
use sqlx::{AssertSqlSafe, PgConnection, Row};

/// One statement: the run row and its events (unstamped), or nothing when
/// the id exists.
pub(super) async fn insert_run_with_events(
    connection: &mut PgConnection,
    created: &Transition,
) -> Result<bool, Error> {
    let inserted = insert_runs_with_events(connection, &[created], Stamp::Never).await?;
    Ok(inserted.inserted[0])
}

/// Whether [`insert_runs_with_events`] stamps the events it inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stamp {
    /// Inserted unstamped, for the sequencer (after commit).
    Never,
    /// Stamped from the tenants' counters (held to the commit) when the
    /// statement's snapshot shows no unstamped event of those tenants;
    /// otherwise inserted unstamped, like the events before them, since an
    /// event committed earlier must not get a later position
    /// (positions/stamping.rs).
    IfSettled,
}

/// What [`insert_runs_with_events`] wrote.
pub(super) struct Inserted {
    /// For each run, in order: whether it was inserted.
    pub(super) inserted: Vec<bool>,
    /// Whether its events were stamped.
    pub(super) stamped: bool,
}

/// One statement: the rows of `created` (one per `(tenant, id)`) and their
/// events, each run only when its id does not exist yet, the events stamped
/// as `stamp` says.
///
/// The statement first takes the advisory lock of every concurrency group
/// of its rows (as `BEGIN` in groups does, locks.rs; a no-op in a
/// transaction that holds them), so the `runs_concurrency_limit` trigger,
/// whose count takes a fresh snapshot, counts exactly: a batch that decided
/// its admissions on an unlocked read (groups.rs) is refused as a whole if
/// a group filled up meanwhile. Rows are inserted in `(tenant, id)` order,
/// so that concurrent statements take their unique-index entries in one
/// order and cannot deadlock each other. `ON CONFLICT` names no index on purpose: two
/// racing creates of one child collide on `runs_one_per_child_key` as well
/// as on `runs_one_per_id`, and either collision means "it exists".
pub(super) async fn insert_runs_with_events(
    connection: &mut PgConnection,
    created: &[&Transition],
    stamp: Stamp,
) -> Result<Inserted, Error> {
    let sql = format!(
        "WITH input AS MATERIALIZED (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[], $11::text[],
                $12::text[], $13::bigint[], $14::bigint[], $15::text[], $16::bigint[],
                $17::bigint[], $18::bigint[], $19::bigint[], $20::bigint[], $21::bigint[],
                $22::bigint[])
            WITH ORDINALITY AS i(tenant, id, kind, parent_id, key, state, concurrency_key,
                concurrency_limit, concurrency_on_full, attributes, result, error, version,
                last_seq, lease_owner, lease_epoch, lease_expires_at, lease_ttl_ms, created_at,
                updated_at, started_at, finished_at, n)),
        locks AS MATERIALIZED ({locks}),
        settled AS MATERIALIZED (
            SELECT $28::bool AND NOT EXISTS (SELECT 1 FROM events
                WHERE events.tenant = ANY ($1::text[]) AND events.position IS NULL) AS ok),
        inserted AS (
            INSERT INTO runs (tenant, id, kind, parent_id, key, state, concurrency_key, concurrency_limit,
                concurrency_on_full, attributes, result, error, version, last_seq, lease_owner, lease_epoch,
                lease_expires_at, lease_ttl_ms, created_at, updated_at, started_at, finished_at)
            SELECT tenant, id, kind, parent_id, key, state, concurrency_key, concurrency_limit,
                concurrency_on_full, attributes, result, error, version, last_seq, lease_owner, lease_epoch,
                lease_expires_at, lease_ttl_ms, created_at, updated_at, started_at, finished_at
            FROM input WHERE (SELECT taken FROM locks) >= 0 ORDER BY tenant, id
            ON CONFLICT DO NOTHING
            RETURNING tenant, id),
        fresh AS MATERIALIZED (
            SELECT inserted.tenant, inserted.id, e.seq, e.type, e.data, input.created_at AS at,
                row_number() OVER (PARTITION BY inserted.tenant ORDER BY input.n, e.seq) AS k
            FROM inserted
            JOIN input ON input.tenant = inserted.tenant AND input.id = inserted.id
            JOIN unnest($23::bigint[], $24::bigint[], $25::text[], $26::text[]) AS e(n, seq, type, data)
                ON e.n = input.n),
        stampable AS (SELECT fresh.* FROM fresh WHERE (SELECT ok FROM settled)),
        {counter},
        written AS (
            INSERT INTO events (tenant, run_id, seq, type, data, at, position)
            SELECT fresh.tenant, fresh.id, fresh.seq, fresh.type, fresh.data, fresh.at,
                counter.base + fresh.k
            FROM fresh LEFT JOIN counter ON counter.tenant = fresh.tenant
            ORDER BY fresh.tenant, fresh.k)
        SELECT inserted.id IS NOT NULL, settled.ok FROM input
        LEFT JOIN inserted ON inserted.tenant = input.tenant AND inserted.id = input.id
        CROSS JOIN settled
        ORDER BY input.n",
        counter = counter_cte("stampable", "$27"),
        locks = take_group_locks("input WHERE concurrency_key IS NOT NULL", "tenant", "concurrency_key"),
    );
    let mut columns: Vec<Column> = Vec::new();
    let mut events: (Vec<i64>, Vec<i64>, Vec<String>, Vec<String>) = Default::default();
    for (n, created) in created.iter().enumerate() {
        for (index, value) in row_values(&created.after).into_iter().enumerate() {
            if columns.len() == index {
                columns.push(Column::empty_like(&value));
            }
            columns[index].push(value);
        }
        let (seqs, types, datas) = event_columns(created);
        events
            .0
            .extend(std::iter::repeat_n(n as i64 + 1, seqs.len()));
        events.1.extend(seqs);
        events.2.extend(types);
        events.3.extend(datas);
    }
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for column in columns {
        query = match column {
            Column::Text(values) => query.bind(values),
            Column::Number(values) => query.bind(values),
        };
    }
    let found = query
        .bind(events.0)
        .bind(events.1)
        .bind(events.2)
        .bind(events.3)
        .bind(CHANNEL)
        .bind(stamp == Stamp::IfSettled)
        .fetch_all(&mut *connection)
        .await
        .map_err(storage)?;
    Ok(Inserted {
        inserted: found
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(storage)?,
        stamped: match found.first() {
            Some(row) => row.try_get(1).map_err(storage)?,
            None => false,
        },
    })
}

/// One value of a run row, as bound.
enum Value {
    Text(Option<String>),
    Number(Option<i64>),
}

/// One column of several run rows, bound as one array.
enum Column {
    Text(Vec<Option<String>>),
    Number(Vec<Option<i64>>),
}

impl Column {
    fn empty_like(value: &Value) -> Column {
        match value {
            Value::Text(_) => Column::Text(Vec::new()),
            Value::Number(_) => Column::Number(Vec::new()),
        }
    }

    fn push(&mut self, value: Value) {
        match (self, value) {
            (Column::Text(values), Value::Text(value)) => values.push(value),
            (Column::Number(values), Value::Number(value)) => values.push(value),
            _ => unreachable!("every row has the same columns"),
        }
    }
}

/// A run's row, in the column order of [`insert_runs_with_events`].
fn row_values(record: &Record) -> [Value; 22] {
    let run = &record.run;
    let text = |value: Option<&str>| Value::Text(value.map(str::to_owned));
    let number = Value::Number;
    [
        text(Some(run.tenant.as_str())),
        text(Some(run.id.as_str())),
        text(Some(run.kind.as_str())),
        text(run.parent_id.as_ref().map(RunId::as_str)),
        text(run.key.as_ref().map(|key| key.as_str())),
        text(Some(run.state.as_str())),
        text(run.concurrency_key.as_ref().map(ConcurrencyKey::as_str)),
        number(run.concurrency_limit.map(i64::from)),
        text(run.concurrency_on_full.map(OnFull::as_str)),
        Value::Text(Some(run.attributes.to_string())),
        Value::Text(run.result.as_ref().map(serde_json::Value::to_string)),
        text(run.error.as_deref()),
        number(Some(signed(run.version))),
        number(Some(signed(run.last_seq))),
        text(run.lease.as_ref().map(|lease| lease.owner.as_str())),
        number(Some(signed(record.epoch))),
        number(run.lease.as_ref().map(|lease| lease.expires_at.unix_ms())),
        number(Some(signed(record.lease_ttl_ms))),
        number(Some(run.created_at.unix_ms())),
        number(Some(run.updated_at.unix_ms())),
        number(run.started_at.map(Timestamp::unix_ms)),
        number(run.finished_at.map(Timestamp::unix_ms)),
    ]
}
