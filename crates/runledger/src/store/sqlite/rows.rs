//! Mapping between `runs` / `events` rows and the core's types. The database
//! holds only what the parsers accepted, so a value that fails to parse here
//! means the file was changed behind runledger's back: it is an error, never
//! repaired.

use runledger_core::transition::{NewEvent, Record};
use runledger_core::{
    Children, ConcurrencyKey, Error, Event, Kind, Lease, OnFull, Owner, Run, RunId, RunState,
    Segment, Tenant, Timestamp,
};
use rusqlite::{Connection, Row, params};

fn corrupt(column: &str, error: impl std::fmt::Display) -> rusqlite::Error {
    let detail = format!("column {column} holds an invalid value: {error}");
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, detail.into())
}

fn parsed<T>(
    row: &Row,
    index: usize,
    column: &str,
    parse: fn(&str) -> Result<T, Error>,
) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    parse(&text).map_err(|error| corrupt(column, error))
}

fn parsed_optional<T>(
    row: &Row,
    index: usize,
    column: &str,
    parse: fn(&str) -> Result<T, Error>,
) -> rusqlite::Result<Option<T>> {
    let text: Option<String> = row.get(index)?;
    text.map(|text| parse(&text).map_err(|error| corrupt(column, error)))
        .transpose()
}

fn json(row: &Row, index: usize, column: &str) -> rusqlite::Result<Option<serde_json::Value>> {
    let text: Option<String> = row.get(index)?;
    text.map(|text| serde_json::from_str(&text).map_err(|error| corrupt(column, error)))
        .transpose()
}

fn timestamp(row: &Row, index: usize) -> rusqlite::Result<Option<Timestamp>> {
    Ok(row
        .get::<_, Option<i64>>(index)?
        .map(Timestamp::from_unix_ms))
}

fn unsigned(row: &Row, index: usize, column: &str) -> rusqlite::Result<u64> {
    let value: i64 = row.get(index)?;
    u64::try_from(value).map_err(|error| corrupt(column, error))
}

/// A run row (selected with [`RUN_COLUMNS`](crate::store::schema::RUN_COLUMNS)) as a record, children not yet counted.
pub(crate) fn record(row: &Row) -> rusqlite::Result<Record> {
    let state = parsed(row, 5, "state", RunState::parse)?;
    let epoch = unsigned(row, 15, "lease_epoch")?;
    let lease_owner = parsed_optional(row, 14, "lease_owner", Owner::parse)?;
    let lease = match (lease_owner, timestamp(row, 16)?) {
        (Some(owner), Some(expires_at)) => Some(Lease {
            owner,
            epoch,
            expires_at,
        }),
        _ => None,
    };
    let concurrency_limit: Option<i64> = row.get(7)?;
    let run = Run {
        tenant: parsed(row, 0, "tenant", Tenant::parse)?,
        id: parsed(row, 1, "id", RunId::parse)?,
        kind: parsed(row, 2, "kind", Kind::parse)?,
        parent_id: parsed_optional(row, 3, "parent_id", RunId::parse)?,
        key: parsed_optional(row, 4, "key", Segment::parse)?,
        state,
        concurrency_key: parsed_optional(row, 6, "concurrency_key", ConcurrencyKey::parse)?,
        concurrency_limit: concurrency_limit
            .map(|limit| u32::try_from(limit).map_err(|error| corrupt("concurrency_limit", error)))
            .transpose()?,
        concurrency_on_full: parsed_optional(row, 8, "concurrency_on_full", OnFull::parse)?,
        attributes: json(row, 9, "attributes")?.unwrap_or_default(),
        result: json(row, 10, "result")?,
        error: row.get(11)?,
        version: unsigned(row, 12, "version")?,
        last_seq: unsigned(row, 13, "last_seq")?,
        lease,
        children: Children::default(),
        created_at: timestamp(row, 18)?.unwrap_or(Timestamp::from_unix_ms(0)),
        updated_at: timestamp(row, 19)?.unwrap_or(Timestamp::from_unix_ms(0)),
        started_at: timestamp(row, 20)?,
        finished_at: timestamp(row, 21)?,
    };
    Ok(Record {
        run,
        epoch,
        lease_ttl_ms: unsigned(row, 17, "lease_ttl_ms")?,
    })
}

/// An events row (selected with [`EVENT_COLUMNS`](crate::store::schema::EVENT_COLUMNS)).
pub(crate) fn event(row: &Row) -> rusqlite::Result<Event> {
    Ok(Event {
        run_id: parsed(row, 0, "run_id", RunId::parse)?,
        seq: unsigned(row, 1, "seq")?,
        position: unsigned(row, 2, "position")?,
        event_type: row.get(3)?,
        data: json(row, 4, "data")?.unwrap_or_default(),
        at: timestamp(row, 5)?.unwrap_or(Timestamp::from_unix_ms(0)),
    })
}

fn text_json(value: &Option<serde_json::Value>) -> Option<String> {
    value.as_ref().map(serde_json::Value::to_string)
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).expect("counters stay below 2^63")
}

/// Inserts a new run row; `created_order` is its `created` event's position.
pub(crate) fn insert_run(
    connection: &Connection,
    record: &Record,
    created_order: u64,
) -> rusqlite::Result<()> {
    let run = &record.run;
    let mut statement = connection.prepare_cached(
        "INSERT INTO runs (tenant, id, kind, parent_id, key, state, concurrency_key, concurrency_limit, \
         concurrency_on_full, attributes, result, error, version, last_seq, lease_owner, lease_epoch, \
         lease_expires_at, lease_ttl_ms, created_order, created_at, updated_at, started_at, finished_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
    )?;
    statement.execute(params![
        run.tenant.as_str(),
        run.id.as_str(),
        run.kind.as_str(),
        run.parent_id.as_ref().map(RunId::as_str),
        run.key.as_ref().map(Segment::as_str),
        run.state.as_str(),
        run.concurrency_key.as_ref().map(ConcurrencyKey::as_str),
        run.concurrency_limit,
        run.concurrency_on_full.map(OnFull::as_str),
        run.attributes.to_string(),
        text_json(&run.result),
        run.error,
        signed(run.version),
        signed(run.last_seq),
        run.lease.as_ref().map(|lease| lease.owner.as_str()),
        signed(record.epoch),
        run.lease.as_ref().map(|lease| lease.expires_at.unix_ms()),
        signed(record.lease_ttl_ms),
        signed(created_order),
        run.created_at.unix_ms(),
        run.updated_at.unix_ms(),
        run.started_at.map(Timestamp::unix_ms),
        run.finished_at.map(Timestamp::unix_ms),
    ])?;
    Ok(())
}

/// Writes `after` over the row if it is still at `from_version`; returns the
/// rows changed (0 means someone else changed it first).
pub(crate) fn update_run(
    connection: &Connection,
    after: &Record,
    from_version: u64,
) -> rusqlite::Result<usize> {
    let run = &after.run;
    let mut statement = connection.prepare_cached(
        "UPDATE runs SET state = ?3, version = ?4, last_seq = ?5, lease_owner = ?6, lease_epoch = ?7, \
         lease_expires_at = ?8, lease_ttl_ms = ?9, result = ?10, error = ?11, started_at = ?12, \
         finished_at = ?13, updated_at = ?14 \
         WHERE tenant = ?1 AND id = ?2 AND version = ?15",
    )?;
    statement.execute(params![
        run.tenant.as_str(),
        run.id.as_str(),
        run.state.as_str(),
        signed(run.version),
        signed(run.last_seq),
        run.lease.as_ref().map(|lease| lease.owner.as_str()),
        signed(after.epoch),
        run.lease.as_ref().map(|lease| lease.expires_at.unix_ms()),
        signed(after.lease_ttl_ms),
        text_json(&run.result),
        run.error,
        run.started_at.map(Timestamp::unix_ms),
        run.finished_at.map(Timestamp::unix_ms),
        run.updated_at.unix_ms(),
        signed(from_version),
    ])
}

/// The next position of `tenant`'s log. Writers are serialized by SQLite's
/// write lock, so positions are handed out in commit order with no gaps.
pub(crate) fn next_position(connection: &Connection, tenant: &Tenant) -> rusqlite::Result<u64> {
    let mut statement = connection
        .prepare_cached("SELECT COALESCE(MAX(position), 0) + 1 FROM events WHERE tenant = ?1")?;
    let position: i64 = statement.query_row([tenant.as_str()], |row| row.get(0))?;
    Ok(position as u64)
}

/// Inserts one event at `position`.
pub(crate) fn insert_event(
    connection: &Connection,
    tenant: &Tenant,
    run_id: &RunId,
    event: &NewEvent,
    position: u64,
    at: Timestamp,
) -> rusqlite::Result<()> {
    let mut statement = connection.prepare_cached(
        "INSERT INTO events (tenant, run_id, seq, position, type, data, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    statement.execute(params![
        tenant.as_str(),
        run_id.as_str(),
        signed(event.seq),
        signed(position),
        event.event_type,
        event.data.to_string(),
        at.unix_ms(),
    ])?;
    Ok(())
}

/// Most rows one multi-row INSERT binds. Statements exist for each power of
/// two up to it, so a batch of any size is a few statements, each parsed
/// once per connection (the statement cache keeps them).
const INSERT_ROWS_MAX: usize = 32;

/// Inserts many new run rows, `INSERT_ROWS_MAX` per statement; each is
/// `(record, created_order)` as for [`insert_run`]. Answers the rows inserted.
pub(crate) fn insert_many_runs(
    connection: &Connection,
    records: &[(&Record, u64)],
) -> rusqlite::Result<usize> {
    const HEAD: &str = "INSERT INTO runs (tenant, id, kind, parent_id, key, state, concurrency_key, \
         concurrency_limit, concurrency_on_full, attributes, result, error, version, last_seq, \
         lease_owner, lease_epoch, lease_expires_at, lease_ttl_ms, created_order, created_at, \
         updated_at, started_at, finished_at) VALUES ";
    insert_rows(
        connection,
        HEAD,
        23,
        records,
        |bind, (record, created_order)| {
            let run = &record.run;
            bind.text(run.tenant.as_str())?;
            bind.text(run.id.as_str())?;
            bind.text(run.kind.as_str())?;
            bind.value(run.parent_id.as_ref().map(RunId::as_str))?;
            bind.value(run.key.as_ref().map(Segment::as_str))?;
            bind.text(run.state.as_str())?;
            bind.value(run.concurrency_key.as_ref().map(ConcurrencyKey::as_str))?;
            bind.value(run.concurrency_limit)?;
            bind.value(run.concurrency_on_full.map(OnFull::as_str))?;
            bind.value(run.attributes.to_string())?;
            bind.value(text_json(&run.result))?;
            bind.value(run.error.as_deref())?;
            bind.value(signed(run.version))?;
            bind.value(signed(run.last_seq))?;
            bind.value(run.lease.as_ref().map(|lease| lease.owner.as_str()))?;
            bind.value(signed(record.epoch))?;
            bind.value(run.lease.as_ref().map(|lease| lease.expires_at.unix_ms()))?;
            bind.value(signed(record.lease_ttl_ms))?;
            bind.value(signed(*created_order))?;
            bind.value(run.created_at.unix_ms())?;
            bind.value(run.updated_at.unix_ms())?;
            bind.value(run.started_at.map(Timestamp::unix_ms))?;
            bind.value(run.finished_at.map(Timestamp::unix_ms))
        },
    )
}

/// One event of [`insert_many_events`]: whose it is, the event, its position.
pub(crate) struct EventRow<'a> {
    pub(crate) tenant: &'a Tenant,
    pub(crate) run_id: &'a RunId,
    pub(crate) event: &'a NewEvent,
    pub(crate) position: u64,
}

/// Inserts many events, `INSERT_ROWS_MAX` per statement; answers the rows
/// inserted.
pub(crate) fn insert_many_events(
    connection: &Connection,
    events: &[EventRow],
    at: Timestamp,
) -> rusqlite::Result<usize> {
    const HEAD: &str = "INSERT INTO events (tenant, run_id, seq, position, type, data, at) VALUES ";
    insert_rows(connection, HEAD, 7, events, |bind, row| {
        bind.text(row.tenant.as_str())?;
        bind.text(row.run_id.as_str())?;
        bind.value(signed(row.event.seq))?;
        bind.value(signed(row.position))?;
        bind.text(&row.event.event_type)?;
        bind.value(row.event.data.to_string())?;
        bind.value(at.unix_ms())
    })
}

/// Binds one row's values, left to right, into a multi-row statement.
struct RowBinder<'s, 'c> {
    statement: &'s mut rusqlite::CachedStatement<'c>,
    next_index: usize,
}

impl RowBinder<'_, '_> {
    fn value(&mut self, value: impl rusqlite::ToSql) -> rusqlite::Result<()> {
        self.statement.raw_bind_parameter(self.next_index, value)?;
        self.next_index += 1;
        Ok(())
    }

    fn text(&mut self, value: &str) -> rusqlite::Result<()> {
        self.value(value)
    }
}

/// Runs `head` followed by `(?, …)` rows: the largest power of two of rows
/// that fits (at most `INSERT_ROWS_MAX`) per statement until all are in.
fn insert_rows<R>(
    connection: &Connection,
    head: &str,
    columns: usize,
    rows: &[R],
    bind_row: impl Fn(&mut RowBinder, &R) -> rusqlite::Result<()>,
) -> rusqlite::Result<usize> {
    let mut inserted = 0;
    let mut rest = rows;
    while !rest.is_empty() {
        let chunk = rest.len().min(INSERT_ROWS_MAX);
        let chunk = 1 << chunk.ilog2();
        let (now, later) = rest.split_at(chunk);
        let mut statement = connection.prepare_cached(&values_sql(head, columns, chunk))?;
        let mut binder = RowBinder {
            statement: &mut statement,
            next_index: 1,
        };
        for row in now {
            bind_row(&mut binder, row)?;
        }
        assert_eq!(
            binder.next_index,
            chunk * columns + 1,
            "every column is bound"
        );
        inserted += statement.raw_execute()?;
        rest = later;
    }
    Ok(inserted)
}

/// `head` followed by `rows` groups of `columns` anonymous parameters.
fn values_sql(head: &str, columns: usize, rows: usize) -> String {
    let mut row = String::with_capacity(2 * columns + 1);
    row.push('(');
    row.push_str(&vec!["?"; columns].join(","));
    row.push(')');
    let mut sql = String::with_capacity(head.len() + rows * (row.len() + 1));
    sql.push_str(head);
    sql.push_str(&vec![row; rows].join(","));
    sql
}
