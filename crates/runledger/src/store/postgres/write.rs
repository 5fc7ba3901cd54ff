//! Write operations on PostgreSQL, each one transaction at READ COMMITTED.
//!
//! Lock order, always: the concurrency group's advisory lock (only for
//! operations that can change the group's active count), then the run row
//! (`FOR NO KEY UPDATE`). Admission counts under the group lock, so the count
//! is exact; every row change is conditional on the version read under the
//! row lock. Events are inserted without a position; the sequencer stamps
//! them after commit.

use super::read;
use super::rows::signed;
use crate::failpoints;
use crate::requests::{Created, ResolvedCreate};
use runledger_core::transition::{self, Admission, Decision, Record, Transition};
use runledger_core::{ConcurrencyKey, Error, OnFull, Run, RunId, RunState, Tenant, Timestamp};
use sqlx::{Acquire, AssertSqlSafe, Connection, PgConnection, PgPool, Postgres, Row, Transaction};

/// The detail of a storage error, with PostgreSQL's SQLSTATE when it has one.
pub(crate) fn storage(error: sqlx::Error) -> Error {
    match &error {
        sqlx::Error::Database(database) => match database.code() {
            Some(code) => Error::storage(format!("{} (SQLSTATE {code})", database.message())),
            None => Error::storage(error),
        },
        _ => Error::storage(error),
    }
}

/// Deadlocks and serialization failures roll the transaction back whole,
/// so the operation may simply run again.
pub(crate) fn is_retryable(error: &Error) -> bool {
    matches!(error, Error::Storage { detail } if detail.ends_with("(SQLSTATE 40001)") || detail.ends_with("(SQLSTATE 40P01)"))
}

fn constraint(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(database) => database.constraint(),
        _ => None,
    }
}

/// Begins a transaction that holds the advisory lock serializing every
/// change of `key`'s active count: one round trip, the lock riding on the
/// `BEGIN`. The lock's name is therefore a literal; tenant names and
/// concurrency keys cannot hold a quote (their grammars), and one would be
/// doubled anyway.
async fn begin_in_group<'c>(
    connection: &'c mut PgConnection,
    tenant: &Tenant,
    key: &str,
) -> Result<Transaction<'c, Postgres>, Error> {
    let name = format!("runledger/group/{tenant}/{key}").replace('\'', "''");
    let sql = format!("BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('{name}', 0))");
    connection
        .begin_with(AssertSqlSafe(sql))
        .await
        .map_err(storage)
}

/// Commits, with the same failpoint sites as the SQLite writer's batch.
pub(super) async fn commit(
    transaction: sqlx::Transaction<'_, sqlx::Postgres>,
) -> Result<(), Error> {
    failpoints::hit("batch", "before_commit")?;
    transaction.commit().await.map_err(storage)?;
    failpoints::hit("batch", "after_commit")
}

/// Creates a run in a concurrency group, or answers the existing one: a
/// transaction under the group's lock, whose first statement reads the
/// clock, the run and the group's active runs together.
/// (Creates without a group are batched, see batch.rs.)
pub(crate) async fn create(
    pool: &PgPool,
    tenant: &Tenant,
    request: &ResolvedCreate,
) -> Result<Created, Error> {
    let group = request
        .params
        .concurrency
        .as_ref()
        .ok_or_else(|| Error::storage("a create without a group is batched"))?;
    let mut connection = pool.acquire().await.map_err(storage)?;
    let mut transaction = begin_in_group(&mut connection, tenant, group.key.as_str()).await?;
    let (now, existing, active) =
        read::now_run_and_active(&mut transaction, tenant, &request.id, &group.key).await?;
    if let Some(run) = existing {
        // A repeat: answered from the read, nothing written.
        drop(transaction);
        return request.match_existing(run);
    }
    let state = match transition::admit(group, &active) {
        Ok(Admission::Admit) => RunState::Queued,
        Ok(Admission::Enqueue) => RunState::Pending,
        Ok(Admission::CancelOldest(victims)) => {
            for victim in victims {
                cancel_for_room(&mut transaction, tenant, &victim, &request.id, now).await?;
            }
            RunState::Queued
        }
        Err(refusal) => {
            drop(transaction);
            // Full: but an identical run may have been created meanwhile.
            return match read::run(&mut connection, tenant, &request.id).await? {
                Some(existing) => request.match_existing(existing),
                None => Err(refusal),
            };
        }
    };
    let created = transition::create(
        tenant.clone(),
        request.id.clone(),
        request.params.clone(),
        state,
        request.start.as_ref(),
        now,
    );
    let inserted = insert_run_with_events(&mut transaction, &created).await;
    if !matches!(inserted, Ok(true)) {
        drop(transaction);
        return finish_create(&mut connection, request, created, inserted).await;
    }
    failpoints::hit("create_run", "after_events")?;
    commit(transaction).await?;
    Ok(Created {
        run: created.after.run,
        created: true,
    })
}

/// The answer to a create after its insert: the new run, the parent's
/// absence, or — another caller created it first — theirs (nothing of ours
/// is kept).
pub(super) async fn finish_create(
    connection: &mut PgConnection,
    request: &ResolvedCreate,
    created: Transition,
    inserted: Result<bool, sqlx::Error>,
) -> Result<Created, Error> {
    match inserted {
        Ok(true) => Ok(Created {
            run: created.after.run,
            created: true,
        }),
        Ok(false) => {
            let run = &created.after.run;
            let existing = read::run(connection, &run.tenant, &run.id)
                .await?
                .ok_or_else(|| Error::storage("a conflicting run vanished"))?;
            request.match_existing(existing)
        }
        Err(error) if constraint(&error) == Some("runs_parent_exists") => {
            let parent_id = request
                .params
                .parent_id
                .clone()
                .expect("only a child has a parent");
            Err(Error::ParentNotFound { parent_id })
        }
        Err(error) => Err(storage(error)),
    }
}

/// One statement: the run row and its events, or nothing when the id exists.
/// `ON CONFLICT` names no index on purpose: two racing creates of one child
/// collide on `runs_one_per_child_key` as well as on `runs_one_per_id`, and
/// either collision means "it exists".
pub(super) async fn insert_run_with_events(
    connection: &mut PgConnection,
    created: &Transition,
) -> Result<bool, sqlx::Error> {
    let record = &created.after;
    let run = &record.run;
    let sql = "WITH inserted AS (
            INSERT INTO runs (tenant, id, kind, parent_id, key, state, concurrency_key, concurrency_limit,
                concurrency_on_full, attributes, result, error, version, last_seq, lease_owner, lease_epoch,
                lease_expires_at, lease_ttl_ms, created_at, updated_at, started_at, finished_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
            ON CONFLICT DO NOTHING
            RETURNING tenant, id)
        INSERT INTO events (tenant, run_id, seq, type, data, at)
        SELECT inserted.tenant, inserted.id, e.seq, e.type, e.data, $19
        FROM inserted, unnest($23::bigint[], $24::text[], $25::text[]) AS e(seq, type, data)";
    let (seqs, types, datas) = event_columns(created);
    let written = sqlx::query(sql)
        .bind(run.tenant.as_str())
        .bind(run.id.as_str())
        .bind(run.kind.as_str())
        .bind(run.parent_id.as_ref().map(RunId::as_str))
        .bind(run.key.as_ref().map(|key| key.as_str()))
        .bind(run.state.as_str())
        .bind(run.concurrency_key.as_ref().map(ConcurrencyKey::as_str))
        .bind(run.concurrency_limit.map(i64::from))
        .bind(run.concurrency_on_full.map(OnFull::as_str))
        .bind(run.attributes.to_string())
        .bind(run.result.as_ref().map(serde_json::Value::to_string))
        .bind(run.error.as_deref())
        .bind(signed(run.version))
        .bind(signed(run.last_seq))
        .bind(run.lease.as_ref().map(|lease| lease.owner.as_str()))
        .bind(signed(record.epoch))
        .bind(run.lease.as_ref().map(|lease| lease.expires_at.unix_ms()))
        .bind(signed(record.lease_ttl_ms))
        .bind(run.created_at.unix_ms())
        .bind(run.updated_at.unix_ms())
        .bind(run.started_at.map(Timestamp::unix_ms))
        .bind(run.finished_at.map(Timestamp::unix_ms))
        .bind(seqs)
        .bind(types)
        .bind(datas)
        .execute(&mut *connection)
        .await?;
    Ok(written.rows_affected() > 0)
}

fn event_columns(transition: &Transition) -> (Vec<i64>, Vec<String>, Vec<String>) {
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

/// Cancels an active run to make room (`on_full: cancel_active`), under the group lock.
async fn cancel_for_room(
    connection: &mut PgConnection,
    tenant: &Tenant,
    victim: &RunId,
    new_run: &RunId,
    now: Timestamp,
) -> Result<(), Error> {
    let (_, stored) = read::locked_record(connection, tenant, victim)
        .await?
        .ok_or_else(|| Error::storage(format!("active run {victim} vanished")))?;
    match transition::cancel(&stored, None, Some(new_run), now)? {
        Decision::Apply(cancelled) => {
            write_transition(connection, &stored, &cancelled, "cancel").await
        }
        Decision::Unchanged => Ok(()),
    }
}

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
    operation: &'static str,
    slot: Slot,
    if_version: Option<u64>,
    decide: impl Fn(&Record, Timestamp) -> Result<Decision, Error>,
) -> Result<Run, Error> {
    let mut connection = pool.acquire().await.map_err(storage)?;
    let group = match slot {
        Slot::MayFree => read::group_of(&mut connection, tenant, id).await?,
        Slot::Kept => None,
    };
    let mut transaction = match &group {
        Some(key) => begin_in_group(&mut connection, tenant, key).await?,
        None => connection.begin().await.map_err(storage)?,
    };
    let (now, stored) = read::locked_record(&mut transaction, tenant, id)
        .await?
        .ok_or_else(|| Error::RunNotFound { id: id.clone() })?;
    transition::check_version(&stored, if_version)?;
    match decide(&stored, now)? {
        Decision::Unchanged => {
            drop(transaction);
            read::with_children(&mut connection, stored).await
        }
        Decision::Apply(change) => {
            apply(&mut transaction, &stored, &change, operation).await?;
            commit(transaction).await?;
            read::with_children(&mut connection, change.after).await
        }
    }
}

/// Times out one run if its lease expired; answers whether it did.
pub(crate) async fn reap_one(pool: &PgPool, tenant: &Tenant, id: &RunId) -> Result<bool, Error> {
    let reaped = std::sync::atomic::AtomicBool::new(false);
    let outcome = change(
        pool,
        tenant,
        id,
        "reap",
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
async fn apply(
    connection: &mut PgConnection,
    stored: &Record,
    change: &Transition,
    operation: &'static str,
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
    while let Some(head) = read::pending_head(connection, tenant, key).await? {
        let limit = head.run.concurrency_limit.unwrap_or(1);
        let active = read::active_ids(connection, tenant, key).await?.len();
        if !transition::may_promote(limit, active) {
            break;
        }
        let promoted = transition::promote(&head, now);
        write_transition(connection, &head, &promoted, "promote").await?;
    }
    Ok(())
}

async fn write_transition(
    connection: &mut PgConnection,
    stored: &Record,
    change: &Transition,
    operation: &'static str,
) -> Result<(), Error> {
    update_run(connection, &change.after, stored.run.version).await?;
    failpoints::hit(operation, "after_run_row")?;
    insert_events(connection, change).await?;
    failpoints::hit(operation, "after_events")
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
