//! Lease expiry on SQLite (guarantee 5): the reaper's sweep, the reap of
//! one run, and the reap a refusal for an expired lease makes in its own
//! transaction (SPEC §2.5).

use super::read;
use super::write::apply;
use runledger_core::transition;
use runledger_core::{Error, Operation, RunId, Tenant, Timestamp};
use rusqlite::Connection;

/// Times out up to `limit` runs whose lease expired (guarantee 5). The write
/// lock and the version check make each expiry reaped exactly once.
pub(crate) fn reap(connection: &Connection, now: Timestamp, limit: i64) -> Result<u64, Error> {
    let mut reaped = 0;
    for stored in read::expired(connection, now, limit)? {
        if let Some(timed_out) = transition::reap(&stored, now) {
            apply(connection, &stored, &timed_out, Operation::Reap, now)?;
            reaped += 1;
        }
    }
    Ok(reaped)
}

/// SPEC §2.5: a heartbeat, append or finish refused because the lease
/// expired times the run out in the same transaction. Passes `outcome` on,
/// having reaped when it is such a refusal (the writer keeps the
/// savepoint of a refusal for expiry, writer.rs).
pub(crate) fn reaping_on_expiry<T>(
    connection: &Connection,
    tenant: &Tenant,
    id: &RunId,
    now: Timestamp,
    outcome: Result<T, Error>,
) -> Result<T, Error> {
    if let Err(error) = &outcome
        && transition::refused_for_expiry(error)
    {
        reap_run(connection, tenant, id, now)?;
    }
    outcome
}

/// Times out the run `id` if its lease expired by `now`; answers whether it did.
pub(crate) fn reap_run(
    connection: &Connection,
    tenant: &Tenant,
    id: &RunId,
    now: Timestamp,
) -> Result<bool, Error> {
    let Some(stored) = read::record(connection, tenant, id)? else {
        return Ok(false);
    };
    match transition::reap(&stored, now) {
        Some(timed_out) => {
            apply(connection, &stored, &timed_out, Operation::Reap, now).map(|_| true)
        }
        None => Ok(false),
    }
}
