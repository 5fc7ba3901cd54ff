//! Mapping between PostgreSQL rows and the core's types, both ways. As on
//! SQLite, a value that does not parse means the database was changed
//! behind runledger's back: an error, never repaired.

use runledger_core::transition::{Record, Transition};
use runledger_core::{
    Children, ConcurrencyKey, Error, Event, Kind, Lease, OnFull, Owner, Run, RunId, RunState,
    Segment, Tenant, Timestamp,
};
use sqlx::Row;
use sqlx::postgres::PgRow;

/// The database clock in milliseconds: every timestamp and lease decision
/// on PostgreSQL reads it, so machines never disagree.
pub(crate) const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

fn corrupt(column: &str, error: impl std::fmt::Display) -> Error {
    Error::storage(format!("column {column} holds an invalid value: {error}"))
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
    row: &'r PgRow,
    index: usize,
) -> Result<T, Error> {
    row.try_get(index).map_err(Error::storage)
}

fn parsed<T>(
    row: &PgRow,
    index: usize,
    column: &str,
    parse: fn(&str) -> Result<T, Error>,
) -> Result<T, Error> {
    let text: String = get(row, index)?;
    parse(&text).map_err(|error| corrupt(column, error))
}

fn parsed_optional<T>(
    row: &PgRow,
    index: usize,
    column: &str,
    parse: fn(&str) -> Result<T, Error>,
) -> Result<Option<T>, Error> {
    let text: Option<String> = get(row, index)?;
    text.map(|text| parse(&text).map_err(|error| corrupt(column, error)))
        .transpose()
}

fn json(row: &PgRow, index: usize, column: &str) -> Result<Option<serde_json::Value>, Error> {
    let text: Option<String> = get(row, index)?;
    text.map(|text| serde_json::from_str(&text).map_err(|error| corrupt(column, error)))
        .transpose()
}

fn timestamp(row: &PgRow, index: usize) -> Result<Option<Timestamp>, Error> {
    Ok(get::<Option<i64>>(row, index)?.map(Timestamp::from_unix_ms))
}

fn unsigned(row: &PgRow, index: usize, column: &str) -> Result<u64, Error> {
    let value: i64 = get(row, index)?;
    u64::try_from(value).map_err(|error| corrupt(column, error))
}

/// A run row (selected with [`RUN_COLUMNS`] from column `offset` on).
///
/// [`RUN_COLUMNS`]: crate::store::schema::RUN_COLUMNS
pub(crate) fn record_at(row: &PgRow, offset: usize) -> Result<Record, Error> {
    let at = |index: usize| offset + index;
    let epoch = unsigned(row, at(15), "lease_epoch")?;
    let lease = match (
        parsed_optional(row, at(14), "lease_owner", Owner::parse)?,
        timestamp(row, at(16))?,
    ) {
        (Some(owner), Some(expires_at)) => Some(Lease {
            owner,
            epoch,
            expires_at,
        }),
        _ => None,
    };
    let concurrency_limit: Option<i64> = get(row, at(7))?;
    let run = Run {
        tenant: parsed(row, at(0), "tenant", Tenant::parse)?,
        id: parsed(row, at(1), "id", RunId::parse)?,
        kind: parsed(row, at(2), "kind", Kind::parse)?,
        parent_id: parsed_optional(row, at(3), "parent_id", RunId::parse)?,
        key: parsed_optional(row, at(4), "key", Segment::parse)?,
        state: parsed(row, at(5), "state", RunState::parse)?,
        concurrency_key: parsed_optional(row, at(6), "concurrency_key", ConcurrencyKey::parse)?,
        concurrency_limit: concurrency_limit
            .map(|limit| u32::try_from(limit).map_err(|error| corrupt("concurrency_limit", error)))
            .transpose()?,
        concurrency_on_full: parsed_optional(row, at(8), "concurrency_on_full", OnFull::parse)?,
        attributes: json(row, at(9), "attributes")?.unwrap_or_default(),
        result: json(row, at(10), "result")?,
        error: get(row, at(11))?,
        version: unsigned(row, at(12), "version")?,
        last_seq: unsigned(row, at(13), "last_seq")?,
        lease,
        children: Children::default(),
        created_at: timestamp(row, at(18))?.unwrap_or(Timestamp::from_unix_ms(0)),
        updated_at: timestamp(row, at(19))?.unwrap_or(Timestamp::from_unix_ms(0)),
        started_at: timestamp(row, at(20))?,
        finished_at: timestamp(row, at(21))?,
    };
    Ok(Record {
        run,
        epoch,
        lease_ttl_ms: unsigned(row, at(17), "lease_ttl_ms")?,
    })
}

/// A run row selected with [`RUN_COLUMNS`] first.
///
/// [`RUN_COLUMNS`]: crate::store::schema::RUN_COLUMNS
pub(crate) fn record(row: &PgRow) -> Result<Record, Error> {
    record_at(row, 0)
}

/// An events row (selected with [`EVENT_COLUMNS`]).
///
/// [`EVENT_COLUMNS`]: crate::store::schema::EVENT_COLUMNS
pub(crate) fn event(row: &PgRow) -> Result<Event, Error> {
    Ok(Event {
        run_id: parsed(row, 0, "run_id", RunId::parse)?,
        seq: unsigned(row, 1, "seq")?,
        position: unsigned(row, 2, "position")?,
        event_type: get(row, 3)?,
        data: json(row, 4, "data")?.unwrap_or_default(),
        at: timestamp(row, 5)?.unwrap_or(Timestamp::from_unix_ms(0)),
    })
}

/// One bound array: `value` of each of `items`.
pub(crate) fn column<I: Iterator, T>(items: I, value: impl FnMut(I::Item) -> T) -> Vec<T> {
    items.map(value).collect()
}

/// Counters stay below 2^63.
pub(crate) fn signed(value: u64) -> i64 {
    i64::try_from(value).expect("counters stay below 2^63")
}

/// A transition's events as three bound arrays: seqs, types and data.
pub(crate) fn event_columns(transition: &Transition) -> (Vec<i64>, Vec<String>, Vec<String>) {
    let events = &transition.events;
    (
        events.iter().map(|event| signed(event.seq)).collect(),
        events
            .iter()
            .map(|event| event.event_type.clone())
            .collect(),
        events.iter().map(|event| event.data.to_string()).collect(),
    )
}
