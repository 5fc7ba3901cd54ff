//! Batch create on PostgreSQL (SPEC §4 `POST /v1/runs/batch`): one
//! transaction for the whole batch, atomic or not.
//!
//! `BEGIN` takes the advisory locks of every concurrency group the batch
//! names (locks.rs), so the group counts read next are exact until the
//! commit. One read fetches the clock and every item's run; one more the
//! parents outside the batch; one per group its active runs. Then each item
//! is decided in Rust, in item order, as a single create would be, against
//! the ledger as the earlier items left it (an earlier item may be the
//! parent, or the repeat). The new runs are written set-based by
//! insert.rs, one multi-row statement per *segment*: a segment ends before
//! an item that cancels other runs (`cancel_active`, a full
//! `replace_pending` group: those runs must exist to be cancelled, one
//! statement each) and before an item that gives a group another limit than
//! an earlier item of the segment (the `runs_concurrency_limit` trigger
//! checks each row's limit against its statement's count).
//!
//! A batch written by one statement (one segment, no run cancelled) stamps
//! its events in that statement when it may, as a single create does
//! (positions/stamping.rs): they take consecutive positions in item order.
//! Otherwise its events are inserted unstamped, and before the commit the
//! batch takes the tenant's position lock (the sequencer's) and stamps,
//! from the tenant's counter row, first the events other writers committed
//! unstamped, then its own in the order they were written. A refusal of an atomic batch rolls everything
//! back; so does any failure (a killed connection, a failpoint).

use super::alone::{cancel_for_room, replace_pending};
use super::insert::{Stamp, insert_runs_with_events};
use crate::batch::{BatchAnswers, BatchRefused};
use crate::failpoints;
use crate::requests::{Created, ResolvedCreate};
use crate::store::postgres::error::storage;
use crate::store::postgres::locks::{begin_in_groups, begin_or_return, commit};
use crate::store::postgres::positions::{CHANNEL, lock_positions};
use crate::store::postgres::{lookup, read};
use runledger_core::transition::{self, Admission, Transition};
use runledger_core::{ConcurrencyKey, Error, RunId, RunState, Tenant, Timestamp};
use sqlx::{Connection, PgConnection, PgPool, Row};
use std::collections::{HashMap, HashSet};

/// Decides and writes `creates` in item order in one transaction;
/// `Ok(Err(..))` is an atomic batch refused (nothing written).
pub(crate) async fn create_batch(
    pool: &PgPool,
    tenant: &Tenant,
    creates: &[ResolvedCreate],
    atomic: bool,
) -> Result<Result<BatchAnswers, BatchRefused>, Error> {
    let mut connection = pool.acquire().await.map_err(storage)?;
    let keys: Vec<&ConcurrencyKey> = {
        let mut seen = HashSet::new();
        creates
            .iter()
            .filter_map(|create| create.params.concurrency.as_ref())
            .map(|group| &group.key)
            .filter(|key| seen.insert(*key))
            .collect()
    };
    let mut transaction = if keys.is_empty() {
        connection.begin().await.map_err(storage)?
    } else {
        let groups: Vec<(&str, &str)> = keys
            .iter()
            .map(|key| (tenant.as_str(), key.as_str()))
            .collect();
        begin_or_return!(connection, begin_in_groups(&mut connection, &groups))
    };
    let mut batch = Batch::read(&mut transaction, tenant, creates, &keys, atomic).await?;
    for index in 0..creates.len() {
        if let Err(refused) = batch.decide(&mut transaction, index).await? {
            // Dropped: rolled back with everything written so far.
            drop(transaction);
            return Ok(Err(refused));
        }
    }
    // Stamped in the statement only when it is the batch's one write: a
    // later statement could not keep the batch's positions consecutive.
    let stamp = if batch.wrote {
        Stamp::Never
    } else {
        Stamp::IfSettled
    };
    let stamped = match batch.flush(&mut transaction, stamp).await? {
        Ok(stamped) => stamped,
        Err(refused) => {
            drop(transaction);
            return Ok(Err(refused));
        }
    };
    failpoints::hit("create_batch", "after_writes")?;
    if !stamped && !batch.touched.is_empty() {
        stamp_ours_last(&mut transaction, tenant, &batch.touched).await?;
    }
    commit(transaction).await?;
    Ok(Ok(batch
        .answers
        .into_iter()
        .map(|answer| answer.expect("every item is answered"))
        .collect()))
}

/// The batch being decided: what the earlier items left.
struct Batch<'a> {
    tenant: &'a Tenant,
    creates: &'a [ResolvedCreate],
    atomic: bool,
    now: Timestamp,
    /// Each item's run as read before the batch (`None`: new).
    existing: Vec<Option<runledger_core::Run>>,
    /// Runs known to exist: read, or created by an earlier item.
    known: HashSet<RunId>,
    /// Runs read in a terminal state, with it: they take no new children.
    ended: HashMap<RunId, RunState>,
    /// The item that created each run this batch created.
    created_by: HashMap<RunId, usize>,
    /// Each group's active runs, oldest first, as the earlier items left them.
    active: HashMap<ConcurrencyKey, Vec<RunId>>,
    /// Decided, not yet written: (item, its creation).
    segment: Vec<(usize, Transition)>,
    /// The limit each group was given in the segment.
    segment_limits: HashMap<ConcurrencyKey, u32>,
    /// Every run the batch wrote events of.
    touched: Vec<String>,
    /// Whether a statement before the last wrote anything.
    wrote: bool,
    answers: Vec<Option<Result<Created, Error>>>,
}

impl<'a> Batch<'a> {
    async fn read(
        connection: &mut PgConnection,
        tenant: &'a Tenant,
        creates: &'a [ResolvedCreate],
        keys: &[&ConcurrencyKey],
        atomic: bool,
    ) -> Result<Batch<'a>, Error> {
        let ids: Vec<(&str, &str)> = creates
            .iter()
            .map(|create| (tenant.as_str(), create.id.as_str()))
            .collect();
        let found = lookup::now_and_runs(connection, &ids).await?;
        let now = found
            .first()
            .map(|(now, _)| *now)
            .expect("a batch has an item");
        let existing: Vec<_> = found.into_iter().map(|(_, run)| run).collect();
        let mut known: HashSet<RunId> = existing
            .iter()
            .flatten()
            .map(|run| run.id.clone())
            .collect();
        let batch_ids: HashSet<&RunId> = creates.iter().map(|create| &create.id).collect();
        let outside: Vec<(&str, &str)> = creates
            .iter()
            .filter_map(|create| create.params.parent_id.as_ref())
            .filter(|parent| !batch_ids.contains(parent))
            .map(|parent| (tenant.as_str(), parent.as_str()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut ended: HashMap<RunId, RunState> = existing
            .iter()
            .flatten()
            .filter(|run| run.state.is_terminal())
            .map(|run| (run.id.clone(), run.state))
            .collect();
        if !outside.is_empty() {
            for (parent, state) in lock_parents(connection, tenant, &outside).await? {
                if state.is_terminal() {
                    ended.insert(parent.clone(), state);
                }
                known.insert(parent);
            }
        }
        let mut active = HashMap::new();
        for key in keys {
            let ids = lookup::active_ids(connection, tenant, key).await?;
            active.insert((*key).clone(), ids);
        }
        Ok(Batch {
            tenant,
            creates,
            atomic,
            now,
            existing,
            known,
            ended,
            created_by: HashMap::new(),
            active,
            segment: Vec::new(),
            segment_limits: HashMap::new(),
            touched: Vec::new(),
            wrote: false,
            answers: vec![None; creates.len()],
        })
    }

    /// Decides item `index` (writing what must be written before it);
    /// `Ok(Err(..))` refuses an atomic batch.
    async fn decide(
        &mut self,
        connection: &mut PgConnection,
        index: usize,
    ) -> Result<Result<(), BatchRefused>, Error> {
        let create = &self.creates[index];
        if let Some(run) = self.existing[index].take() {
            return Ok(self.answer(index, create.match_existing(run)));
        }
        if let Some(&first) = self.created_by.get(&create.id) {
            // A repeat of an earlier item (batch.rs checked it is identical).
            let answer = match &self.answers[first] {
                Some(Ok(created)) => create.match_existing(created.run.clone()),
                _ => match self.segment.iter().find(|(at, _)| *at == first) {
                    Some((_, created)) => create.match_existing(created.after.run.clone()),
                    None => Err(Error::storage("an earlier item's run is unknown")),
                },
            };
            return Ok(self.answer(index, answer));
        }
        if let Some(parent_id) = &create.params.parent_id
            && !self.known.contains(parent_id)
        {
            let missing = Err(Error::ParentNotFound {
                parent_id: parent_id.clone(),
            });
            return Ok(self.answer(index, missing));
        }
        if let Some(parent_id) = &create.params.parent_id
            && let Some(state) = self.ended.get(parent_id)
        {
            let ended = Err(Error::ParentEnded {
                id: create.id.clone(),
                parent_id: parent_id.clone(),
                state: *state,
            });
            return Ok(self.answer(index, ended));
        }
        let state = match &create.params.concurrency {
            None => RunState::Queued,
            Some(group) => {
                if self
                    .segment_limits
                    .get(&group.key)
                    .is_some_and(|limit| *limit != group.limit)
                    && let Err(refused) = self.flush(connection, Stamp::Never).await?
                {
                    return Ok(Err(refused));
                }
                let active = self.active.entry(group.key.clone()).or_default();
                match transition::admit(group, active) {
                    Ok(Admission::Admit) => {
                        active.push(create.id.clone());
                        RunState::Queued
                    }
                    Ok(Admission::Enqueue) => RunState::Pending,
                    Ok(Admission::CancelOldest(victims)) => {
                        active.retain(|run| !victims.contains(run));
                        active.push(create.id.clone());
                        if let Err(refused) = self.flush(connection, Stamp::Never).await? {
                            return Ok(Err(refused));
                        }
                        self.wrote = true;
                        for victim in victims {
                            cancel_for_room(connection, self.tenant, &victim, &create.id, self.now)
                                .await?;
                            self.touched.push(victim.as_str().to_owned());
                        }
                        RunState::Queued
                    }
                    Ok(Admission::ReplacePending) => {
                        if let Err(refused) = self.flush(connection, Stamp::Never).await? {
                            return Ok(Err(refused));
                        }
                        self.wrote = true;
                        for run in lookup::pending(connection, self.tenant, &group.key).await? {
                            self.touched.push(run.run.id.as_str().to_owned());
                        }
                        replace_pending(connection, self.tenant, &group.key, &create.id, self.now)
                            .await?;
                        RunState::Pending
                    }
                    Err(refusal) => return Ok(self.answer(index, Err(refusal))),
                }
            }
        };
        let created = transition::create(
            self.tenant.clone(),
            create.id.clone(),
            create.params.clone(),
            state,
            create.start.as_ref(),
            self.now,
        );
        if let Some(group) = &create.params.concurrency {
            self.segment_limits.insert(group.key.clone(), group.limit);
        }
        self.known.insert(create.id.clone());
        self.created_by.insert(create.id.clone(), index);
        self.touched.push(create.id.as_str().to_owned());
        self.segment.push((index, created));
        Ok(Ok(()))
    }

    /// Records item `index`'s answer; a refusal of an atomic batch refuses it.
    fn answer(&mut self, index: usize, answer: Result<Created, Error>) -> Result<(), BatchRefused> {
        match answer {
            Err(refusal) if self.atomic => Err(BatchRefused::item(index, refusal)),
            answer => {
                self.answers[index] = Some(answer);
                Ok(())
            }
        }
    }

    /// Writes the segment's runs and events with one statement.
    /// Answers whether its events were stamped.
    async fn flush(
        &mut self,
        connection: &mut PgConnection,
        stamp: Stamp,
    ) -> Result<Result<bool, BatchRefused>, Error> {
        self.segment_limits.clear();
        if self.segment.is_empty() {
            return Ok(Ok(false));
        }
        self.wrote = true;
        let segment = std::mem::take(&mut self.segment);
        let transitions: Vec<&Transition> = segment.iter().map(|(_, created)| created).collect();
        let written = insert_runs_with_events(connection, &transitions, stamp).await?;
        for ((index, created), inserted) in segment.into_iter().zip(written.inserted) {
            let answer = if inserted {
                Ok(Created {
                    run: created.after.run,
                    created: true,
                })
            } else {
                // Committed by another caller after the read: theirs is the
                // answer, as for a single create that lost the race.
                let create = &self.creates[index];
                match read::run(connection, self.tenant, &create.id).await? {
                    Some(existing) => create.match_existing(existing),
                    None => return Err(Error::storage("a conflicting run vanished")),
                }
            };
            if let Err(refused) = self.answer(index, answer) {
                return Ok(Err(refused));
            }
        }
        Ok(Ok(written.stamped))
    }
}

/// Stamps, under the tenant's position lock and from its counter row, the
/// events other writers committed unstamped, then this transaction's
/// events of `ours` (run ids) in the order they were written; notifies the
/// position channel at commit.
async fn stamp_ours_last(
    connection: &mut PgConnection,
    tenant: &Tenant,
    ours: &[String],
) -> Result<(), Error> {
    lock_positions(connection, tenant).await?;
    sqlx::query(
        "WITH pending AS (
             SELECT event_id,
                 row_number() OVER (ORDER BY run_id = ANY ($2::text[]), event_id) AS n
             FROM events WHERE tenant = $1 AND position IS NULL),
         counter AS (
             INSERT INTO tenant_positions (tenant, last_position)
             VALUES ($1, (SELECT COUNT(*) FROM pending))
             ON CONFLICT (tenant) DO UPDATE
                 SET last_position = tenant_positions.last_position + EXCLUDED.last_position
             RETURNING last_position - (SELECT COUNT(*) FROM pending) AS base)
         UPDATE events SET position = counter.base + pending.n
         FROM pending, counter WHERE events.event_id = pending.event_id",
    )
    .bind(tenant.as_str())
    .bind(ours)
    .execute(&mut *connection)
    .await
    .map_err(storage)?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(tenant.as_str())
        .execute(&mut *connection)
        .await
        .map_err(storage)?;
    Ok(())
}

/// Locks the batch's parents outside it `FOR SHARE` (a finish or cancel of
/// one waits for the batch's commit, SPEC §2.9) and answers the state of
/// each that exists.
async fn lock_parents(
    connection: &mut PgConnection,
    tenant: &Tenant,
    parents: &[(&str, &str)],
) -> Result<Vec<(RunId, RunState)>, Error> {
    let mut ids: Vec<&str> = parents.iter().map(|(_, id)| *id).collect();
    ids.sort_unstable();
    let rows = sqlx::query(
        "SELECT id, state FROM runs WHERE tenant = $1 AND id = ANY ($2::text[]) \
         ORDER BY id FOR SHARE",
    )
    .bind(tenant.as_str())
    .bind(ids)
    .fetch_all(&mut *connection)
    .await
    .map_err(storage)?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get(0).map_err(storage)?;
            let state: String = row.try_get(1).map_err(storage)?;
            Ok((RunId::parse(&id)?, RunState::parse(&state)?))
        })
        .collect()
}
