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
            // disk_full: nothing was written (the statement failed whole).
            Some(code) if code == "53100" => Error::StorageFull {
                detail: format!("{} (SQLSTATE {code})", database.message()),
            },
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
/// `BEGIN`.
async fn begin_in_group<'c>(
    connection: &'c mut PgConnection,
    tenant: &Tenant,
    key: &str,
) -> Result<Transaction<'c, Postgres>, Error> {
    begin_in_groups(connection, &[(tenant.as_str(), key)]).await
}

/// Ends what a failed [`begin_in_groups`] may leave behind, and answers
/// `error`: its `BEGIN` ran but its lock statement failed (a lock timeout),
/// and sqlx, which rolls back only a `BEGIN` it saw succeed, would hand the
/// connection to its next user inside an aborted transaction.
pub(super) async fn after_failed_begin(connection: &mut PgConnection, error: Error) -> Error {
    // A warning only when no transaction is open; on a broken connection
    // it fails as well, and the pool drops the connection.
    let _ = sqlx::raw_sql("ROLLBACK").execute(connection).await;
    error
}

/// `$begin` (a call of [`begin_in_groups`] borrowing `$connection`),
/// awaited: its transaction, or a return of its error from the calling
/// function after [`after_failed_begin`]. A macro because the failure path
/// needs `$connection` again, which the borrow checker allows only in the
/// body that owns the borrow.
macro_rules! begin_or_return {
    ($connection:expr, $begin:expr) => {{
        let begun = $begin.await;
        let failure = begun.as_ref().err().cloned();
        // `{ begun }` moves the result, so nothing of it (nor of its
        // borrow) is left for the failure path.
        let Ok(transaction) = ({ begun }) else {
            let failure = failure.expect("only a failed begin gets here");
            return Err(super::write::after_failed_begin(&mut *$connection, failure).await);
        };
        transaction
    }};
}
pub(super) use begin_or_return;

/// Begins a transaction that holds the advisory locks of every `(tenant,
/// key)` of `groups`, taken in the order of their lock numbers, the one
/// order every locker of several groups uses (so two never deadlock): one
/// round trip, the locks riding on the `BEGIN` (callers use
/// [`begin_or_return!`], which cleans up after a failure). The locks' names are
/// therefore literals; tenant names and concurrency keys cannot hold a quote
/// (their grammars), and one would be doubled anyway.
pub(super) async fn begin_in_groups<'c>(
    connection: &'c mut PgConnection,
    groups: &[(&str, &str)],
) -> Result<Transaction<'c, Postgres>, Error> {
    let names: Vec<String> = groups
        .iter()
        .map(|(tenant, key)| {
            format!(
                "'runledger/group/{tenant}/{key}'",
                key = key.replace('\'', "''"),
                tenant = tenant.replace('\'', "''")
            )
        })
        .collect();
    let sql = format!(
        "BEGIN; SELECT count(pg_advisory_xact_lock(h)) FROM \
         (SELECT DISTINCT hashtextextended(name, 0) AS h \
          FROM unnest(ARRAY[{names}]::text[]) AS name ORDER BY h OFFSET 0) AS locks",
        names = names.join(", ")
    );
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
/// clock, the run and the group's active runs together. Used alone for
/// `on_full: cancel_active` and for the creates a group batch sends again
/// (group_batch.rs); other group creates are batched there, and creates
/// without a group in batch.rs.
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
    let mut transaction = begin_or_return!(
        connection,
        begin_in_group(&mut connection, tenant, group.key.as_str())
    );
    let read::GroupRead {
        now,
        existing,
        active,
        ..
    } = read::now_runs_and_active(
        &mut transaction,
        &[(
            tenant,
            &request.id,
            &group.key,
            request.params.parent_id.as_ref(),
        )],
    )
    .await?
    .remove(0);
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

/// One statement: the run row and its events (unstamped), or nothing when
/// the id exists.
pub(super) async fn insert_run_with_events(
    connection: &mut PgConnection,
    created: &Transition,
) -> Result<bool, sqlx::Error> {
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
    /// event committed earlier must not get a later position (batch.rs).
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
/// of its rows (in lock-number order, as [`begin_in_groups`]; a no-op in a
/// transaction that holds them), so the `runs_concurrency_limit` trigger,
/// whose count takes a fresh snapshot, counts exactly: a batch that decided
/// its admissions on an unlocked read (group_batch.rs) is refused as a
/// whole if a group filled up meanwhile. Rows are inserted in `(tenant, id)` order, so that
/// concurrent statements take their unique-index entries in one order and
/// cannot deadlock each other. `ON CONFLICT` names no index on purpose: two
/// racing creates of one child collide on `runs_one_per_child_key` as well
/// as on `runs_one_per_id`, and either collision means "it exists".
pub(super) async fn insert_runs_with_events(
    connection: &mut PgConnection,
    created: &[&Transition],
    stamp: Stamp,
) -> Result<Inserted, sqlx::Error> {
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
        locks AS MATERIALIZED (
            SELECT count(pg_advisory_xact_lock(h)) AS taken FROM (
                SELECT DISTINCT hashtextextended('runledger/group/' || tenant || '/' || concurrency_key, 0) AS h
                FROM input WHERE concurrency_key IS NOT NULL ORDER BY h OFFSET 0) AS l),
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
                row_number() OVER (PARTITION BY inserted.tenant ORDER BY inserted.id, e.seq) AS k
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
            FROM fresh LEFT JOIN counter ON counter.tenant = fresh.tenant)
        SELECT inserted.id IS NOT NULL, settled.ok FROM input
        LEFT JOIN inserted ON inserted.tenant = input.tenant AND inserted.id = input.id
        CROSS JOIN settled
        ORDER BY input.n",
        counter = super::sequencer::counter_cte("stampable", "$27"),
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
        .bind(super::feed::CHANNEL)
        .bind(stamp == Stamp::IfSettled)
        .fetch_all(&mut *connection)
        .await?;
    Ok(Inserted {
        inserted: found
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?,
        stamped: match found.first() {
            Some(row) => row.try_get(1)?,
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
        Some(key) => begin_or_return!(connection, begin_in_group(&mut connection, tenant, key)),
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
