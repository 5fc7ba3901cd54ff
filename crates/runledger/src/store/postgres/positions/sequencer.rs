//! Gap-free, commit-ordered tenant positions without a global write lock.
//!
//! Create and append batches stamp their own events from the tenant's
//! counter row (stamping.rs). Every other writer inserts its events with
//! `position` NULL and commits in parallel. After a commit, the writer's process asks its sequencer to stamp: a short
//! transaction that takes the tenant's advisory lock (so exactly one stamper
//! per tenant runs at a time, in any process), then numbers every committed,
//! unstamped event of the tenant in `event_id` order, continuing from the
//! tenant's counter row. Readers read only stamped events, so an event never
//! becomes visible with a position at or below one a reader has already
//! seen. A stamper that dies releases its lock with its connection; events a
//! dead writer left unstamped are stamped by the next pass of any process
//! (every ledger also sweeps for them on a timer).

use super::stamping::CHANNEL;
use crate::store::postgres::error::storage;
use runledger_core::{Error, Tenant};
use sqlx::{Acquire, PgConnection, PgPool, Row};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Most events one stamping transaction numbers.
pub(crate) const STAMP_BATCH_EVENTS_MAX: i64 = 10_000;
/// How often a ledger sweeps for events a dead writer left unstamped.
const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

/// How long a writer waits for its events' stamp before answering anyway
/// (the sweep stamps them later; readers just see them later).
const STAMP_WAIT_MAX: Duration = Duration::from_secs(5);

/// This process's stamper: coalesces the stamp requests of all its writers
/// into one pass at a time.
pub(crate) struct Sequencer {
    pool: PgPool,
    /// Tenants to stamp in the next pass, and how many passes have started.
    wanted: Mutex<(BTreeSet<Tenant>, u64)>,
    wake: Notify,
    /// How many passes have finished.
    finished: watch::Sender<u64>,
    /// This process's commit signal, bumped after a pass that stamped events.
    local_signal: Mutex<Option<watch::Sender<u64>>>,
}

impl Sequencer {
    /// Starts the background stamper; it stops when the sequencer is dropped.
    pub(crate) fn spawn(pool: PgPool) -> Arc<Sequencer> {
        let sequencer = Arc::new(Sequencer {
            pool,
            wanted: Mutex::new((BTreeSet::new(), 0)),
            wake: Notify::new(),
            finished: watch::Sender::new(0),
            local_signal: Mutex::new(None),
        });
        let weak = Arc::downgrade(&sequencer);
        tokio::spawn(async move {
            let mut sweep = tokio::time::interval(SWEEP_INTERVAL);
            loop {
                let Some(sequencer) = weak.upgrade() else {
                    return;
                };
                let swept = tokio::select! {
                    _ = sequencer.wake.notified() => false,
                    _ = sweep.tick() => true,
                };
                if let Err(error) = sequencer.pass(swept).await {
                    tracing::warn!(%error, "the sequencer could not stamp positions");
                }
            }
        });
        sequencer
    }

    /// Bumps `signal` after every pass of this process that stamped events.
    pub(crate) fn notify_local(&self, signal: watch::Sender<u64>) {
        *self
            .local_signal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(signal);
    }

    /// Asks for a pass that stamps `tenant`'s events soon, without waiting
    /// for it: what a writer does after its commit.
    pub(crate) fn request(&self, tenant: &Tenant) {
        self.want(tenant);
    }

    /// Waits until a pass that started after this call has stamped
    /// `tenant`'s events: everything committed before calling.
    pub(crate) async fn stamped(&self, tenant: &Tenant) {
        let needed = self.want(tenant);
        let mut finished = self.finished.subscribe();
        let waited =
            tokio::time::timeout(STAMP_WAIT_MAX, finished.wait_for(|done| *done >= needed)).await;
        if waited.is_err() {
            tracing::warn!(%tenant, "positions were not stamped in time; the sweep will stamp them");
        }
    }

    /// Adds `tenant` to the next pass and wakes the stamper; answers the
    /// number that pass will have.
    fn want(&self, tenant: &Tenant) -> u64 {
        let needed = {
            let mut wanted = self
                .wanted
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            wanted.0.insert(tenant.clone());
            wanted.1 + 1
        };
        self.wake.notify_one();
        needed
    }

    async fn pass(&self, sweep: bool) -> Result<(), Error> {
        let (mut tenants, number) = {
            let mut wanted = self
                .wanted
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            wanted.1 += 1;
            (std::mem::take(&mut wanted.0), wanted.1)
        };
        let outcome = self.stamp_all(&mut tenants, sweep).await;
        self.finished.send_replace(number);
        outcome
    }

    async fn stamp_all(&self, tenants: &mut BTreeSet<Tenant>, sweep: bool) -> Result<(), Error> {
        if sweep {
            let rows = sqlx::query("SELECT DISTINCT tenant FROM events WHERE position IS NULL")
                .fetch_all(&self.pool)
                .await
                .map_err(storage)?;
            for row in rows {
                tenants.insert(Tenant::parse(
                    &row.try_get::<String, _>(0).map_err(storage)?,
                )?);
            }
        }
        let mut stamped = 0;
        for tenant in tenants.iter() {
            stamped += stamp(&self.pool, tenant).await?;
        }
        if stamped > 0 {
            self.signal_local();
        }
        Ok(())
    }

    /// Wakes this process's subscribers: positions were stamped.
    pub(crate) fn signal_local(&self) {
        if let Some(signal) = &*self
            .local_signal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
        {
            signal.send_modify(|commits| *commits += 1);
        }
    }
}

/// Stamps every committed, unstamped event of `tenant`; answers how many.
pub(crate) async fn stamp(pool: &PgPool, tenant: &Tenant) -> Result<u64, Error> {
    let mut stamped = 0;
    loop {
        let mut connection = pool.acquire().await.map_err(storage)?;
        let mut transaction = connection.begin().await.map_err(storage)?;
        lock_positions(&mut transaction, tenant).await?;
        let numbered = number_pending(&mut transaction, tenant).await?.len() as u64;
        if numbered == 0 {
            // Nothing pending: leave the counter untouched.
            drop(transaction);
            return Ok(stamped);
        }
        announce(&mut transaction, tenant).await?;
        transaction.commit().await.map_err(storage)?;
        stamped += numbered;
        if numbered < STAMP_BATCH_EVENTS_MAX as u64 {
            return Ok(stamped);
        }
    }
}

/// Takes `tenant`'s position lock until the end of the transaction: one
/// stamper per tenant at a time, in any process. Its own statement, so the
/// numbering that follows reads a snapshot taken after the lock is held: no
/// other stamper can number the same events.
pub(crate) async fn lock_positions(
    connection: &mut PgConnection,
    tenant: &Tenant,
) -> Result<(), Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("runledger/positions/{tenant}"))
        .execute(&mut *connection)
        .await
        .map_err(storage)?;
    Ok(())
}

/// Numbers up to [`STAMP_BATCH_EVENTS_MAX`] unstamped events of `tenant`
/// that the transaction sees (committed ones, and its own), in `event_id`
/// order, continuing the tenant's counter; the caller holds the position
/// lock. Answers each numbered event's `(event_id, position)`.
pub(crate) async fn number_pending(
    connection: &mut PgConnection,
    tenant: &Tenant,
) -> Result<Vec<(i64, i64)>, Error> {
    let numbered = sqlx::query(
        "WITH pending AS (
             SELECT event_id, row_number() OVER (ORDER BY event_id) AS n
             FROM (SELECT event_id FROM events WHERE tenant = $1 AND position IS NULL
                   ORDER BY event_id LIMIT $2) AS unstamped),
         counter AS (
             INSERT INTO tenant_positions (tenant, last_position)
             VALUES ($1, (SELECT COUNT(*) FROM pending))
             ON CONFLICT (tenant) DO UPDATE
                 SET last_position = tenant_positions.last_position + EXCLUDED.last_position
             RETURNING last_position - (SELECT COUNT(*) FROM pending) AS base)
         UPDATE events SET position = counter.base + pending.n
         FROM pending, counter WHERE events.event_id = pending.event_id
         RETURNING events.event_id, events.position",
    )
    .bind(tenant.as_str())
    .bind(STAMP_BATCH_EVENTS_MAX)
    .fetch_all(&mut *connection)
    .await
    .map_err(storage)?;
    numbered
        .iter()
        .map(|row| {
            Ok((
                row.try_get(0).map_err(storage)?,
                row.try_get(1).map_err(storage)?,
            ))
        })
        .collect()
}

/// Tells every listening ledger that `tenant` has new positions (delivered
/// at commit).
pub(crate) async fn announce(connection: &mut PgConnection, tenant: &Tenant) -> Result<(), Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(tenant.as_str())
        .execute(&mut *connection)
        .await
        .map_err(storage)?;
    Ok(())
}
