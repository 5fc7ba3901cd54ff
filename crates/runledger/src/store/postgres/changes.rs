//! Start, heartbeat, finish, cancel and reap on PostgreSQL: each one
//! transaction at READ COMMITTED that locks the run row, lets the core's
//! state machine decide, and writes the run row (conditional on the
//! version read) with its events, unstamped, for the sequencer. An
//! operation that may free a group slot (finish, cancel, reap) takes the
//! group's lock first (locks.rs) and promotes the group's oldest pending
//! runs into the freed slots.

use super::error::storage;
use super::locks::{begin_in_group, begin_in_groups, begin_or_return, commit};
use super::positions::{announce, lock_positions, number_pending};
use super::rows::{event_columns, signed};
use super::{lookup, read};
use crate::failpoints;
use runledger_core::Operation;
use runledger_core::requests::Cancel;
use runledger_core::transition::{self, Decision, Record, Transition};
use runledger_core::{ConcurrencyKey, Error, Run, RunId, Tenant, Timestamp};
use sqlx::{Acquire, PgConnection, PgPool, Row};
use std::collections::{BTreeMap, BTreeSet};

/// Which operations may free a group slot, and so take the group lock first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// start, heartbeat, append: the active count cannot change.
    Kept,
    /// finish, cancel, reap: a slot may free and a pending run be promoted.
    MayFree,
}

/// Loads and locks a run, checks `If-Match`, lets `decide` choose, applies it.
#[allow(clippy::too_many_arguments)] // one call site per operation, each spelling out its parts
pub(crate) async fn change(
    pool: &PgPool,
    tenant: &Tenant,
    id: &RunId,
    operation: Operation,
    slot: Slot,
    if_version: Option<u64>,
    decide: impl Fn(&Record, Timestamp) -> Result<Decision, Error>,
) -> Result<Run, Error> {
    let mut connection = pool.acquire().await.map_err(storage)?;
    let mut slot = slot;
    loop {
        let group = match slot {
            Slot::MayFree => lookup::group_of(&mut connection, tenant, id).await?,
            Slot::Kept => None,
        };
        let mut transaction = match &group {
            Some(key) => {
                begin_or_return!(connection, begin_in_group(&mut connection, tenant, key))
            }
            None => connection.begin().await.map_err(storage)?,
        };
        let (now, stored) = lookup::locked_record(&mut transaction, tenant, id)
            .await?
            .ok_or_else(|| Error::RunNotFound { id: id.clone() })?;
        transition::check_version(&stored, if_version)?;
        let decided = match decide(&stored, now) {
            Err(refusal) if transition::refused_for_expiry(&refusal) => {
                // SPEC §2.5: the run is timed out in the refusal's
                // transaction. Timing out a run of a group frees a slot,
                // which only a transaction holding the group's lock may
                // promote into: without it, decide again with it.
                if slot == Slot::Kept && stored.run.concurrency_key.is_some() {
                    drop(transaction);
                    slot = Slot::MayFree;
                    continue;
                }
                if let Some(timed_out) = transition::reap(&stored, now) {
                    apply(&mut transaction, &stored, &timed_out, Operation::Reap).await?;
                    commit(transaction).await?;
                }
                return Err(refusal);
            }
            decided => decided?,
        };
        return match decided {
            Decision::Unchanged => {
                drop(transaction);
                read::with_children(&mut connection, stored).await
            }
            Decision::Apply(change) => {
                apply(&mut transaction, &stored, &change, operation).await?;
                commit(transaction).await?;
                read::with_children(&mut connection, change.after).await
            }
        };
    }
}

/// A cascading cancel (SPEC `POST /v1/runs/{id}/cancel` with `cascade`):
/// the run and every descendant that has not ended, cancelled in one
/// transaction, each with its own `cancelled` event; then the group slots
/// that freed go to their oldest pending runs.
///
/// Locks, in the house order: the advisory locks of every group of the
/// tree's open runs, then the tree's rows (`FOR NO KEY UPDATE`, in id
/// order), read again until no new row shows up, then the tenant's position
/// lock and counter row, after which the tree is read a last time (see
/// below) and its events are stamped in this transaction. A group found
/// that is not locked starts the transaction over with it.
pub(crate) async fn cancel_tree(
    pool: &PgPool,
    tenant: &Tenant,
    id: &RunId,
    request: &Cancel,
) -> Result<Run, Error> {
    let mut connection = pool.acquire().await.map_err(storage)?;
    let mut groups: BTreeSet<String> =
        open_groups(&lookup::tree(&mut connection, tenant, id).await?);
    loop {
        let pairs: Vec<(&str, &str)> = groups
            .iter()
            .map(|key| (tenant.as_str(), key.as_str()))
            .collect();
        let mut transaction = if pairs.is_empty() {
            connection.begin().await.map_err(storage)?
        } else {
            begin_or_return!(connection, begin_in_groups(&mut connection, &pairs))
        };
        let mut locked: BTreeMap<String, (Timestamp, Record)> = BTreeMap::new();
        loop {
            let tree = lookup::tree(&mut transaction, tenant, id).await?;
            let new: Vec<String> = tree
                .iter()
                .map(|(run, _, _)| run.clone())
                .filter(|run| !locked.contains_key(run))
                .collect();
            if new.is_empty() {
                break;
            }
            for (now, record) in lookup::locked_records(&mut transaction, tenant, &new).await? {
                locked.insert(record.run.id.as_str().to_owned(), (now, record));
            }
        }
        let (now, stored) = locked
            .get(id.as_str())
            .cloned()
            .ok_or_else(|| Error::RunNotFound { id: id.clone() })?;
        // A create stamps its `created` event from the tenant's counter row
        // before its foreign-key check: one that holds a position below the
        // cancel's may still be committing. Holding the counter (and the
        // position lock, the sequencer's) from here on, every such create
        // has committed and the tree read now is final; any later create
        // numbers after the cancel.
        lock_positions(&mut transaction, tenant).await?;
        lock_counter(&mut transaction, tenant).await?;
        let tree = lookup::tree(&mut transaction, tenant, id).await?;
        let new: Vec<String> = tree
            .iter()
            .map(|(run, _, _)| run.clone())
            .filter(|run| !locked.contains_key(run))
            .collect();
        for (now, record) in lookup::locked_records(&mut transaction, tenant, &new).await? {
            locked.insert(record.run.id.as_str().to_owned(), (now, record));
        }
        let needed = open_groups(&tree);
        if !needed.is_subset(&groups) {
            drop(transaction);
            groups.extend(needed);
            continue;
        }
        transition::check_version(&stored, request.if_version)?;
        let mut freed: BTreeSet<ConcurrencyKey> = BTreeSet::new();
        let mut after = stored.clone();
        if let Decision::Apply(cancelled) =
            transition::cancel(&stored, request.reason.as_deref(), None, now)?
        {
            write_transition(&mut transaction, &stored, &cancelled, Operation::Cancel).await?;
            if let (true, Some(key)) = (cancelled.frees_slot, &stored.run.concurrency_key) {
                freed.insert(key.clone());
            }
            after = cancelled.after;
        }
        let reason = transition::cascade_reason(id, request.reason.as_deref());
        // Parents before children, as the tree was read.
        for (run, _, open) in &tree {
            if !open || run == id.as_str() {
                continue;
            }
            let (_, descendant) = &locked[run];
            if let Decision::Apply(cancelled) =
                transition::cancel(descendant, Some(&reason), Some(id), now)?
            {
                write_transition(&mut transaction, descendant, &cancelled, Operation::Cancel)
                    .await?;
                if let (true, Some(key)) = (cancelled.frees_slot, &descendant.run.concurrency_key) {
                    freed.insert(key.clone());
                }
            }
        }
        for key in &freed {
            promote_pending(&mut transaction, tenant, key, now).await?;
        }
        // Stamped here, under the counter: the cancel's events number before
        // any create that waited for it.
        if !number_pending(&mut transaction, tenant).await?.is_empty() {
            announce(&mut transaction, tenant).await?;
        }
        commit(transaction).await?;
        return read::with_children(&mut connection, after).await;
    }
}

/// Locks `tenant`'s position counter row (created at 0 if missing) to the
/// end of the transaction: the row every self-stamping create and append
/// holds to its commit.
async fn lock_counter(connection: &mut PgConnection, tenant: &Tenant) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO tenant_positions (tenant, last_position) VALUES ($1, 0) \
         ON CONFLICT (tenant) DO UPDATE SET last_position = tenant_positions.last_position",
    )
    .bind(tenant.as_str())
    .execute(&mut *connection)
    .await
    .map_err(storage)?;
    Ok(())
}

/// The groups of the open runs of a [`lookup::tree`].
fn open_groups(tree: &[(String, Option<String>, bool)]) -> BTreeSet<String> {
    tree.iter()
        .filter(|(_, _, open)| *open)
        .filter_map(|(_, key, _)| key.clone())
        .collect()
}

/// Times out one run if its lease expired; answers whether it did.
pub(crate) async fn reap_one(pool: &PgPool, tenant: &Tenant, id: &RunId) -> Result<bool, Error> {
    let reaped = std::sync::atomic::AtomicBool::new(false);
    let outcome = change(
        pool,
        tenant,
        id,
        Operation::Reap,
        Slot::MayFree,
        None,
        |stored, now| {
            Ok(match transition::reap(stored, now) {
                Some(timed_out) => {
                    reaped.store(true, std::sync::atomic::Ordering::Relaxed);
                    Decision::Apply(timed_out)
                }
                None => Decision::Unchanged,
            })
        },
    )
    .await;
    match outcome {
        Ok(_) => Ok(reaped.load(std::sync::atomic::Ordering::Relaxed)),
        // Gone or changed since the candidate list was read: nothing to reap.
        Err(Error::RunNotFound { .. }) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Writes a transition, then hands a freed slot to the oldest pending runs.
pub(super) async fn apply(
    connection: &mut PgConnection,
    stored: &Record,
    change: &Transition,
    operation: Operation,
) -> Result<(), Error> {
    write_transition(connection, stored, change, operation).await?;
    if let (true, Some(key)) = (change.frees_slot, &stored.run.concurrency_key) {
        promote_pending(
            connection,
            &stored.run.tenant,
            key,
            change.after.run.updated_at,
        )
        .await?;
    }
    Ok(())
}

/// Promotes pending runs of the group, oldest first, while slots are free.
/// The caller holds the group lock.
async fn promote_pending(
    connection: &mut PgConnection,
    tenant: &Tenant,
    key: &ConcurrencyKey,
    now: Timestamp,
) -> Result<(), Error> {
    while let Some(head) = lookup::pending_head(connection, tenant, key).await? {
        let limit = head.run.concurrency_limit.unwrap_or(1);
        let active = lookup::active_ids(connection, tenant, key).await?.len();
        if !transition::may_promote(limit, active) {
            break;
        }
        let promoted = transition::promote(&head, now);
        write_transition(connection, &head, &promoted, Operation::Promote).await?;
    }
    Ok(())
}

pub(super) async fn write_transition(
    connection: &mut PgConnection,
    stored: &Record,
    change: &Transition,
    operation: Operation,
) -> Result<(), Error> {
    update_run(connection, &change.after, stored.run.version).await?;
    crate::counters::transition_written(stored.run.state, change);
    failpoints::hit(operation.as_str(), "after_run_row")?;
    insert_events(connection, change).await?;
    failpoints::hit(operation.as_str(), "after_events")
}

async fn update_run(
    connection: &mut PgConnection,
    after: &Record,
    from_version: u64,
) -> Result<(), Error> {
    let run = &after.run;
    let changed = sqlx::query(
        "UPDATE runs SET state = $3, version = $4, last_seq = $5, lease_owner = $6, lease_epoch = $7, \
         lease_expires_at = $8, lease_ttl_ms = $9, result = $10, error = $11, started_at = $12, \
         finished_at = $13, updated_at = $14 WHERE tenant = $1 AND id = $2 AND version = $15",
    )
    .bind(run.tenant.as_str())
    .bind(run.id.as_str())
    .bind(run.state.as_str())
    .bind(signed(run.version))
    .bind(signed(run.last_seq))
    .bind(run.lease.as_ref().map(|lease| lease.owner.as_str()))
    .bind(signed(after.epoch))
    .bind(run.lease.as_ref().map(|lease| lease.expires_at.unix_ms()))
    .bind(signed(after.lease_ttl_ms))
    .bind(run.result.as_ref().map(serde_json::Value::to_string))
    .bind(run.error.as_deref())
    .bind(run.started_at.map(Timestamp::unix_ms))
    .bind(run.finished_at.map(Timestamp::unix_ms))
    .bind(run.updated_at.unix_ms())
    .bind(signed(from_version))
    .execute(&mut *connection)
    .await
    .map_err(storage)?;
    assert_eq!(
        changed.rows_affected(),
        1,
        "the row lock keeps the version read current"
    );
    Ok(())
}

/// Inserts a transition's events (unstamped); answers the first event's id.
async fn insert_events(
    connection: &mut PgConnection,
    change: &Transition,
) -> Result<Option<i64>, Error> {
    if change.events.is_empty() {
        return Ok(None);
    }
    let run = &change.after.run;
    let (seqs, types, datas) = event_columns(change);
    let row = sqlx::query(
        "INSERT INTO events (tenant, run_id, seq, type, data, at) \
         SELECT $1, $2, e.seq, e.type, e.data, $3 FROM unnest($4::bigint[], $5::text[], $6::text[]) AS e(seq, type, data) \
         RETURNING event_id",
    )
    .bind(run.tenant.as_str())
    .bind(run.id.as_str())
    .bind(run.updated_at.unix_ms())
    .bind(seqs)
    .bind(types)
    .bind(datas)
    .fetch_all(&mut *connection)
    .await
    .map_err(storage)?;
    Ok(row.first().map(|row| row.get::<i64, _>(0)))
}
