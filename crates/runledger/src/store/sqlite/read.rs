//! Queries. Each takes a connection, so the writer (inside its transaction)
//! and the read pool (inside a read snapshot) share them.

use super::error::storage;
use super::rows;
use crate::requests::RunPage;
use crate::store::schema::{EVENT_COLUMNS, RUN_COLUMNS};
use runledger_core::requests::{ClaimRun, ListRuns};
use runledger_core::transition::Record;
use runledger_core::{
    Children, ConcurrencyKey, Error, Event, Run, RunId, RunState, Tenant, Timestamp,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use std::collections::HashMap;

/// The stored record of `id`, children not counted.
pub(crate) fn record(
    connection: &Connection,
    tenant: &Tenant,
    id: &RunId,
) -> Result<Option<Record>, Error> {
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE tenant = ?1 AND id = ?2"
        ))
        .map_err(storage)?;
    statement
        .query_row(params![tenant.as_str(), id.as_str()], rows::record)
        .optional()
        .map_err(storage)
}

/// Counts of `parent`'s direct children per state.
pub(crate) fn children(
    connection: &Connection,
    tenant: &Tenant,
    parent: &RunId,
) -> Result<Children, Error> {
    let mut statement = connection
        .prepare_cached(
            "SELECT state, COUNT(*) FROM runs WHERE tenant = ?1 AND parent_id = ?2 GROUP BY state",
        )
        .map_err(storage)?;
    let counts = statement
        .query_map(params![tenant.as_str(), parent.as_str()], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .map_err(storage)?
        .map(|row| {
            let (state, count) = row.map_err(storage)?;
            Ok((RunState::parse(&state)?, count as u64))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Children::from_counts(counts))
}

/// The records of `root`'s descendants (at any depth) that have not ended,
/// in creation order: what a cascading cancel cancels.
pub(crate) fn open_descendants(
    connection: &Connection,
    tenant: &Tenant,
    root: &RunId,
) -> Result<Vec<Record>, Error> {
    let mut statement = connection
        .prepare_cached(&format!(
            "WITH RECURSIVE tree(id) AS ( \
                 SELECT id FROM runs WHERE tenant = ?1 AND parent_id = ?2 \
                 UNION ALL \
                 SELECT runs.id FROM runs JOIN tree ON runs.tenant = ?1 AND runs.parent_id = tree.id) \
             SELECT {RUN_COLUMNS} FROM runs WHERE tenant = ?1 AND id IN (SELECT id FROM tree) \
             AND state IN ('pending', 'queued', 'running') ORDER BY created_order"
        ))
        .map_err(storage)?;
    statement
        .query_map(params![tenant.as_str(), root.as_str()], rows::record)
        .map_err(storage)?
        .map(|record| record.map_err(storage))
        .collect()
}

/// `record` with its children counted: the run as the API shows it.
pub(crate) fn with_children(connection: &Connection, record: Record) -> Result<Run, Error> {
    let mut run = record.run;
    run.children = children(connection, &run.tenant, &run.id)?;
    Ok(run)
}

/// The run `id` as the API shows it.
pub(crate) fn run(
    connection: &Connection,
    tenant: &Tenant,
    id: &RunId,
) -> Result<Option<Run>, Error> {
    record(connection, tenant, id)?
        .map(|record| with_children(connection, record))
        .transpose()
}

/// The state of run `id`, if it exists.
pub(crate) fn state(
    connection: &Connection,
    tenant: &Tenant,
    id: &RunId,
) -> Result<Option<RunState>, Error> {
    let mut statement = connection
        .prepare_cached("SELECT state FROM runs WHERE tenant = ?1 AND id = ?2")
        .map_err(storage)?;
    let state: Option<String> = statement
        .query_row(params![tenant.as_str(), id.as_str()], |row| row.get(0))
        .optional()
        .map_err(storage)?;
    state.as_deref().map(RunState::parse).transpose()
}

/// Whether `id` exists.
pub(crate) fn exists(connection: &Connection, tenant: &Tenant, id: &RunId) -> Result<bool, Error> {
    let mut statement = connection
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM runs WHERE tenant = ?1 AND id = ?2)")
        .map_err(storage)?;
    statement
        .query_row(params![tenant.as_str(), id.as_str()], |row| row.get(0))
        .map_err(storage)
}

/// The active runs of a group, oldest first.
pub(crate) fn active_ids(
    connection: &Connection,
    tenant: &Tenant,
    key: &ConcurrencyKey,
) -> Result<Vec<RunId>, Error> {
    let mut statement = connection
        .prepare_cached(
            "SELECT id FROM runs WHERE tenant = ?1 AND concurrency_key = ?2 \
             AND state IN ('queued', 'running') ORDER BY created_order",
        )
        .map_err(storage)?;
    statement
        .query_map(params![tenant.as_str(), key.as_str()], |row| {
            row.get::<_, String>(0)
        })
        .map_err(storage)?
        .map(|id| RunId::parse(&id.map_err(storage)?))
        .collect()
}

/// The oldest pending run of a group.
pub(crate) fn pending_head(
    connection: &Connection,
    tenant: &Tenant,
    key: &ConcurrencyKey,
) -> Result<Option<Record>, Error> {
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE tenant = ?1 AND concurrency_key = ?2 \
             AND state = 'pending' ORDER BY created_order LIMIT 1"
        ))
        .map_err(storage)?;
    statement
        .query_row(params![tenant.as_str(), key.as_str()], rows::record)
        .optional()
        .map_err(storage)
}

/// Every pending run of a group, oldest first.
pub(crate) fn pending(
    connection: &Connection,
    tenant: &Tenant,
    key: &ConcurrencyKey,
) -> Result<Vec<Record>, Error> {
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE tenant = ?1 AND concurrency_key = ?2 \
             AND state = 'pending' ORDER BY created_order"
        ))
        .map_err(storage)?;
    statement
        .query_map(params![tenant.as_str(), key.as_str()], rows::record)
        .map_err(storage)?
        .map(|record| record.map_err(storage))
        .collect()
}

/// Running runs whose lease expired at or before `now`, soonest expiry first.
pub(crate) fn expired(
    connection: &Connection,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<Record>, Error> {
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE state = 'running' AND lease_expires_at <= ?1 \
             ORDER BY lease_expires_at LIMIT ?2"
        ))
        .map_err(storage)?;
    statement
        .query_map(params![now.unix_ms(), limit], rows::record)
        .map_err(storage)?
        .map(|record| record.map_err(storage))
        .collect()
}

/// Whether any lease expired at or before `now` (the reaper's cheap check).
pub(crate) fn has_expired_leases(connection: &Connection, now: Timestamp) -> Result<bool, Error> {
    let mut statement = connection
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE state = 'running' AND lease_expires_at <= ?1)",
        )
        .map_err(storage)?;
    statement
        .query_row([now.unix_ms()], |row| row.get(0))
        .map_err(storage)
}

/// One page of a tenant's runs, oldest first, filtered.
pub(crate) fn list(
    connection: &Connection,
    tenant: &Tenant,
    filter: &ListRuns,
) -> Result<RunPage, Error> {
    let limit = filter.page_limit()?;
    let after = filter.after_order()?;
    let (beyond, direction) = if filter.newest_first {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let mut sql = format!(
        "SELECT {RUN_COLUMNS}, created_order FROM runs WHERE tenant = ?1 AND created_order {beyond} ?2"
    );
    let mut values: Vec<SqlValue> = vec![tenant.as_str().to_owned().into(), after.into()];
    let mut filter_on = |column: &str, value: Option<String>| {
        if let Some(value) = value {
            values.push(value.into());
            sql.push_str(&format!(" AND {column} = ?{}", values.len()));
        }
    };
    filter_on("state", filter.state.map(|state| state.as_str().to_owned()));
    filter_on(
        "kind",
        filter.kind.as_ref().map(|kind| kind.as_str().to_owned()),
    );
    filter_on(
        "parent_id",
        filter.parent_id.as_ref().map(|id| id.as_str().to_owned()),
    );
    filter_on(
        "concurrency_key",
        filter
            .concurrency_key
            .as_ref()
            .map(|key| key.as_str().to_owned()),
    );
    for (bound, instant) in [(">", filter.created_after), ("<", filter.created_before)] {
        if let Some(instant) = instant {
            values.push(instant.unix_ms().into());
            sql.push_str(&format!(" AND created_at {bound} ?{}", values.len()));
        }
    }
    values.push(i64::from(limit + 1).into());
    sql.push_str(&format!(
        " ORDER BY created_order {direction} LIMIT ?{}",
        values.len()
    ));
    let mut statement = connection.prepare_cached(&sql).map_err(storage)?;
    let rows: Vec<(Record, i64)> = statement
        .query_map(params_from_iter(values), |row| {
            Ok((rows::record(row)?, row.get(22)?))
        })
        .map_err(storage)?
        .collect::<Result<_, _>>()
        .map_err(storage)?;
    let more = rows.len() > limit as usize;
    let mut runs = Vec::with_capacity(rows.len().min(limit as usize));
    let mut last_order = None;
    for (record, order) in rows.into_iter().take(limit as usize) {
        runs.push(with_children(connection, record)?);
        last_order = Some(order);
    }
    Ok(RunPage {
        runs,
        next_cursor: if more {
            last_order.map(|order| order.to_string())
        } else {
            None
        },
    })
}

/// A run's events after `after_seq`; `not_found` when the run does not exist.
pub(crate) fn run_events(
    connection: &Connection,
    tenant: &Tenant,
    id: &RunId,
    after_seq: u64,
    limit: u32,
) -> Result<Vec<Event>, Error> {
    if !exists(connection, tenant, id)? {
        return Err(Error::RunNotFound { id: id.clone() });
    }
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE tenant = ?1 AND run_id = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4"
        ))
        .map_err(storage)?;
    statement
        .query_map(
            params![
                tenant.as_str(),
                id.as_str(),
                i64::try_from(after_seq).unwrap_or(i64::MAX),
                limit
            ],
            rows::event,
        )
        .map_err(storage)?
        .map(|event| event.map_err(storage))
        .collect()
}

/// A tenant's events after `after_position`, in position order.
pub(crate) fn tenant_events(
    connection: &Connection,
    tenant: &Tenant,
    after_position: u64,
    limit: u32,
) -> Result<Vec<Event>, Error> {
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE tenant = ?1 AND position > ?2 ORDER BY position LIMIT ?3"
        ))
        .map_err(storage)?;
    statement
        .query_map(
            params![
                tenant.as_str(),
                i64::try_from(after_position).unwrap_or(i64::MAX),
                limit
            ],
            rows::event,
        )
        .map_err(storage)?
        .map(|event| event.map_err(storage))
        .collect()
}

/// How many of `tenant`'s runs are in each state.
pub(crate) fn tenant_run_counts(
    connection: &Connection,
    tenant: &Tenant,
) -> Result<Vec<(RunState, u64)>, Error> {
    state_counts(
        connection,
        "SELECT state, COUNT(*) FROM runs WHERE tenant = ?1 GROUP BY state",
        &[tenant.as_str()],
    )
}

/// How many runs are in each state, over all tenants.
pub(crate) fn run_counts(connection: &Connection) -> Result<Vec<(RunState, u64)>, Error> {
    state_counts(
        connection,
        "SELECT state, COUNT(*) FROM runs GROUP BY state",
        &[],
    )
}

/// Runs `sql`, which answers `(state, count)` rows, as counts by state.
fn state_counts(
    connection: &Connection,
    sql: &str,
    params: &[&str],
) -> Result<Vec<(RunState, u64)>, Error> {
    let mut statement = connection.prepare_cached(sql).map_err(storage)?;
    statement
        .query_map(rusqlite::params_from_iter(params), |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .map_err(storage)?
        .map(|row| {
            let (state, count) = row.map_err(storage)?;
            Ok((RunState::parse(&state)?, count as u64))
        })
        .collect()
}

/// The stored records of many runs at once (children not counted), by one
/// statement: `keys[i]`'s record or `None` at index `i`.
pub(crate) fn records(
    connection: &Connection,
    keys: &[(&Tenant, &RunId)],
) -> Result<Vec<Option<Record>>, Error> {
    let wanted = serde_json::to_string(
        &keys
            .iter()
            .map(|(tenant, id)| [tenant.as_str(), id.as_str()])
            .collect::<Vec<_>>(),
    )
    .map_err(Error::storage)?;
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE (tenant, id) IN \
             (SELECT value ->> 0, value ->> 1 FROM json_each(?1))"
        ))
        .map_err(storage)?;
    let mut wanted_at: HashMap<(&str, &str), Vec<usize>> = HashMap::with_capacity(keys.len());
    for (index, (tenant, id)) in keys.iter().enumerate() {
        wanted_at
            .entry((tenant.as_str(), id.as_str()))
            .or_default()
            .push(index);
    }
    let mut found = vec![None; keys.len()];
    let mut rows = statement.query([wanted]).map_err(storage)?;
    while let Some(row) = rows.next().map_err(storage)? {
        let record = rows::record(row).map_err(storage)?;
        let at = wanted_at
            .get(&(record.run.tenant.as_str(), record.run.id.as_str()))
            .expect("the statement answers only the runs asked for");
        for &index in at {
            found[index] = Some(record.clone());
        }
    }
    Ok(found)
}

/// The oldest queued run of `tenant` matching the claim's filters (kinds
/// given as one JSON array, so one cached statement serves every list).
pub(crate) fn oldest_queued(
    connection: &Connection,
    tenant: &Tenant,
    request: &ClaimRun,
) -> Result<Option<RunId>, Error> {
    let kinds = (!request.kinds.is_empty()).then(|| {
        serde_json::Value::from(
            request
                .kinds
                .iter()
                .map(|kind| kind.as_str())
                .collect::<Vec<_>>(),
        )
        .to_string()
    });
    let mut statement = connection
        .prepare_cached(
            "SELECT id FROM runs WHERE tenant = ?1 AND state = 'queued' \
             AND (?2 IS NULL OR kind IN (SELECT value FROM json_each(?2))) \
             AND (?3 IS NULL OR concurrency_key = ?3) \
             ORDER BY created_order LIMIT 1",
        )
        .map_err(storage)?;
    let id: Option<String> = statement
        .query_row(
            rusqlite::params![
                tenant.as_str(),
                kinds,
                request.concurrency_key.as_ref().map(|key| key.as_str())
            ],
            |row| row.get(0),
        )
        .optional()
        .map_err(storage)?;
    id.map(|id| RunId::parse(&id)).transpose()
}
