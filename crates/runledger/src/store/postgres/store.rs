//! The PostgreSQL store: opens the pools (connect.rs), migrates, starts
//! the sequencer and the batchers, and routes each operation to the file
//! that writes or reads it. Single operations are retried when a deadlock
//! or serialization failure rolled them back (error.rs).

use super::changes::{self, Slot};
use super::claim::ClaimBatcher;
use super::connect::{self, Pools};
use super::creates::{self, CreateBatcher};
use super::error::{retrying, storage};
use super::positions::{self, Sequencer};
use super::{access, appends::AppendBatcher, audit, migrate, read, relay};
use crate::access::IdempotencyBegin;
use crate::audit::Audit;
use crate::batch::{BatchAnswers, BatchRefused};
use crate::requests::{Appended, Created, LogPage, ResolvedCreate, RunPage};
use runledger_core::Operation;
use runledger_core::requests::Finish;
use runledger_core::requests::{AppendEvent, Cancel, ClaimRun, Heartbeat, ListRuns, StartRun};
use runledger_core::transition;
use runledger_core::{Error, Event, IdempotencyKey, OnFull, Run, RunId, RunState, Tenant};
use sqlx::PgPool;
use std::sync::Arc;

/// Most expired leases one reap call handles.
const REAP_BATCH_RUNS_MAX: i64 = 256;

/// An open PostgreSQL ledger.
pub(crate) struct Store {
    pub(super) pool: PgPool,
    pub(super) sequencer: Arc<Sequencer>,
    /// Creates without a group (creates/plain.rs).
    plain: CreateBatcher,
    /// Creates in a group, but for `cancel_active` (creates/groups.rs).
    groups: CreateBatcher,
    appends: AppendBatcher,
    claims: ClaimBatcher,
}

impl Store {
    /// Connects, migrates and starts the sequencer and the batchers.
    pub(crate) async fn open(url: &str) -> Result<Store, Error> {
        let Pools { pool, batch_pool } = connect::pools(url).await?;
        migrate::run(&pool).await?;
        let sequencer = Sequencer::spawn(pool.clone());
        let plain = creates::spawn_plain(batch_pool.clone(), sequencer.clone());
        let groups = creates::spawn_groups(batch_pool.clone(), sequencer.clone());
        let appends = AppendBatcher::spawn(batch_pool, sequencer.clone());
        let claims = ClaimBatcher::spawn(pool.clone(), sequencer.clone());
        Ok(Store {
            pool,
            sequencer,
            plain,
            groups,
            appends,
            claims,
        })
    }

    /// Creates a run on the path its request takes (creates.rs lists them).
    /// Repeats are reads: nothing is written.
    pub(crate) async fn create(
        &self,
        tenant: &Tenant,
        request: ResolvedCreate,
    ) -> Result<Created, Error> {
        match &request.params.concurrency {
            // Batched; the batch stamps its events itself.
            None => return retrying(|| self.plain.create(tenant, &request)).await,
            // Batched; stamped by the batch, or by the sequencer.
            Some(group) if group.on_full != OnFull::CancelActive => {
                return retrying(|| self.groups.create(tenant, &request)).await;
            }
            Some(_) => {}
        }
        let created = retrying(|| creates::create_in_group(&self.pool, tenant, &request)).await?;
        if created.created {
            // Stamped soon; readers wait for it (see `settle`), writers don't.
            self.sequencer.request(tenant);
        }
        Ok(created)
    }

    /// A batch create, one transaction (creates/batch.rs); it stamps its
    /// own events.
    pub(crate) async fn create_batch(
        &self,
        tenant: &Tenant,
        creates: Vec<ResolvedCreate>,
        atomic: bool,
    ) -> Result<BatchAnswers, BatchRefused> {
        let decided = retrying(|| creates::create_batch(&self.pool, tenant, &creates, atomic))
            .await
            .map_err(BatchRefused::whole)?;
        self.sequencer.signal_local();
        decided
    }

    pub(crate) async fn get(&self, tenant: &Tenant, id: &RunId) -> Result<Option<Run>, Error> {
        let mut connection = self.pool.acquire().await.map_err(storage)?;
        read::run(&mut connection, tenant, id).await
    }

    pub(crate) async fn list(&self, tenant: &Tenant, filter: ListRuns) -> Result<RunPage, Error> {
        let mut connection = self.pool.acquire().await.map_err(storage)?;
        read::list(&mut connection, tenant, &filter).await
    }

    async fn change(
        &self,
        tenant: &Tenant,
        id: &RunId,
        operation: Operation,
        slot: Slot,
        if_version: Option<u64>,
        decide: impl Fn(
            &transition::Record,
            runledger_core::Timestamp,
        ) -> Result<transition::Decision, Error>,
    ) -> Result<Run, Error> {
        let run = retrying(|| {
            changes::change(&self.pool, tenant, id, operation, slot, if_version, &decide)
        })
        .await?;
        if operation != Operation::Heartbeat {
            // Stamped soon; readers wait for it (see `settle`), writers don't.
            self.sequencer.request(tenant);
        }
        Ok(run)
    }

    pub(crate) async fn claim(
        &self,
        tenant: &Tenant,
        request: &ClaimRun,
    ) -> Result<Option<Run>, Error> {
        // Batched; the batch asks the sequencer to stamp its events.
        self.claims.claim(tenant, request).await
    }

    pub(crate) async fn start(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: StartRun,
    ) -> Result<Run, Error> {
        self.change(
            tenant,
            id,
            Operation::Start,
            Slot::Kept,
            request.if_version,
            |stored, now| transition::start(stored, &request.lease, now),
        )
        .await
    }

    pub(crate) async fn heartbeat(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: Heartbeat,
    ) -> Result<Run, Error> {
        self.change(
            tenant,
            id,
            Operation::Heartbeat,
            Slot::Kept,
            request.if_version,
            |stored, now| {
                transition::heartbeat(stored, request.lease_epoch, request.lease_ttl_ms, now)
            },
        )
        .await
    }

    pub(crate) async fn finish(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: Finish,
        if_version: Option<u64>,
    ) -> Result<Run, Error> {
        self.change(
            tenant,
            id,
            Operation::Finish,
            Slot::MayFree,
            if_version,
            |stored, now| transition::finish(stored, &request, now),
        )
        .await
    }

    pub(crate) async fn cancel(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: Cancel,
    ) -> Result<Run, Error> {
        if request.cascade {
            let run = retrying(|| changes::cancel_tree(&self.pool, tenant, id, &request)).await?;
            self.sequencer.request(tenant);
            return Ok(run);
        }
        self.change(
            tenant,
            id,
            Operation::Cancel,
            Slot::MayFree,
            request.if_version,
            |stored, now| transition::cancel(stored, request.reason.as_deref(), None, now),
        )
        .await
    }

    pub(crate) async fn append(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: AppendEvent,
    ) -> Result<Appended, Error> {
        // Not retried on an unknown outcome: a second attempt could append twice.
        match self.appends.append(tenant, id, &request).await {
            // Stamped by its own batch statement (appends.rs).
            Ok((seq, position)) => Ok(Appended { seq, position }),
            Err(refusal) if transition::refused_for_expiry(&refusal) => Err(self
                .time_out_refused_append(tenant, id, &request, refusal)
                .await),
            Err(refusal) => Err(refusal),
        }
    }

    /// SPEC §2.5: an append after its lease expired is refused and the run
    /// timed out in one transaction. The batched append only reads the run
    /// it refuses; this decides the append again in a transaction of its
    /// own (with the group's lock), where the refusal times the run out. A
    /// lease never un-expires, so the answer is a refusal again: this one's,
    /// or `stale_lease` when another call timed the run out in between.
    async fn time_out_refused_append(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: &AppendEvent,
        refusal: Error,
    ) -> Error {
        let decided = self
            .change(
                tenant,
                id,
                Operation::Append,
                Slot::MayFree,
                request.if_version,
                |stored, now| {
                    transition::append(
                        stored,
                        &request.event_type,
                        request.data.clone(),
                        request.lease_epoch,
                        now,
                    )
                    // Never written: this path only ever refuses.
                    .map(|_| transition::Decision::Unchanged)
                },
            )
            .await;
        decided.err().unwrap_or(refusal)
    }

    pub(crate) async fn events(
        &self,
        tenant: &Tenant,
        id: &RunId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<Event>, Error> {
        let mut connection = self.pool.acquire().await.map_err(storage)?;
        read::run_events(&mut connection, tenant, id, after_seq, limit).await
    }

    pub(crate) async fn tenant_events(
        &self,
        tenant: &Tenant,
        after_position: u64,
        limit: u32,
    ) -> Result<Vec<Event>, Error> {
        let mut connection = self.pool.acquire().await.map_err(storage)?;
        read::tenant_events(&mut connection, tenant, after_position, limit).await
    }

    /// Read-your-writes for readers: when `tenant` has committed events not
    /// stamped yet, waits for a pass that stamps them, so a read that follows
    /// a write (in any process) sees its events. Writers never wait for
    /// stamps (but for `append`, whose answer carries the position).
    pub(crate) async fn settle(&self, tenant: &Tenant) -> Result<(), Error> {
        let pending: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM events WHERE tenant = $1 AND position IS NULL)",
        )
        .bind(tenant.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(storage)?;
        if pending {
            self.sequencer.stamped(tenant).await;
        }
        Ok(())
    }

    pub(crate) async fn has_expired_leases(&self) -> Result<bool, Error> {
        let mut connection = self.pool.acquire().await.map_err(storage)?;
        read::has_expired_leases(&mut connection).await
    }

    pub(crate) async fn reap(&self) -> Result<u64, Error> {
        let candidates = {
            let mut connection = self.pool.acquire().await.map_err(storage)?;
            read::expired(&mut connection, REAP_BATCH_RUNS_MAX).await?
        };
        let mut reaped = 0;
        for (tenant, id) in candidates {
            if retrying(|| changes::reap_one(&self.pool, &tenant, &id)).await? {
                reaped += 1;
                self.sequencer.request(&tenant);
            }
        }
        Ok(reaped)
    }

    pub(crate) async fn add_token(
        &self,
        tenant: &Tenant,
        token_sha256: String,
        prefix: String,
    ) -> Result<(), Error> {
        access::add_token(&self.pool, tenant, &token_sha256, &prefix).await
    }

    pub(crate) async fn tokens(&self) -> Result<Vec<crate::access::TokenInfo>, Error> {
        access::tokens(&self.pool).await
    }

    pub(crate) async fn revoke_token(&self, id: String) -> Result<usize, Error> {
        access::revoke_token(&self.pool, &id).await
    }

    pub(crate) async fn tenant_for_token(
        &self,
        token_sha256: String,
    ) -> Result<Option<Tenant>, Error> {
        access::tenant_for_token(&self.pool, &token_sha256).await
    }

    pub(crate) async fn any_token(&self) -> Result<bool, Error> {
        access::any_token(&self.pool).await
    }

    pub(crate) async fn idempotency_begin(
        &self,
        tenant: &Tenant,
        key: &IdempotencyKey,
        fingerprint: String,
    ) -> Result<IdempotencyBegin, Error> {
        access::begin(&self.pool, tenant, key, &fingerprint).await
    }

    pub(crate) async fn idempotency_complete(
        &self,
        tenant: &Tenant,
        key: &IdempotencyKey,
        status: u16,
        body: String,
    ) -> Result<(), Error> {
        access::complete(&self.pool, tenant, key, status, &body).await
    }

    pub(crate) async fn idempotency_release(
        &self,
        tenant: &Tenant,
        key: &IdempotencyKey,
    ) -> Result<(), Error> {
        access::release(&self.pool, tenant, key).await
    }

    pub(crate) async fn idempotency_touch(
        &self,
        tenant: &Tenant,
        key: &IdempotencyKey,
    ) -> Result<(), Error> {
        access::touch(&self.pool, tenant, key).await
    }

    pub(crate) async fn idempotency_purge(&self, retention_ms: i64) -> Result<u64, Error> {
        access::purge(&self.pool, retention_ms).await
    }

    pub(crate) async fn relay_acquire(
        &self,
        owner: String,
        ttl_ms: i64,
    ) -> Result<Option<u64>, Error> {
        relay::acquire(&self.pool, &owner, ttl_ms).await
    }

    pub(crate) async fn relay_advance(
        &self,
        owner: String,
        epoch: u64,
        tenant: &Tenant,
        position: u64,
    ) -> Result<bool, Error> {
        relay::advance(&self.pool, &owner, epoch, tenant, position).await
    }

    pub(crate) async fn relay_cursors(&self) -> Result<Vec<(Tenant, u64)>, Error> {
        relay::cursors(&self.pool).await
    }

    pub(crate) async fn relay_events(
        &self,
        tenant: &Tenant,
        after: u64,
        limit: u32,
    ) -> Result<Vec<(Event, runledger_core::Kind)>, Error> {
        relay::events(&self.pool, tenant, after, limit).await
    }

    pub(crate) async fn event_page(
        &self,
        tenant: &Tenant,
        page: &LogPage,
    ) -> Result<Vec<(Event, usize)>, Error> {
        positions::event_page(&self.pool, tenant, page).await
    }

    pub(crate) async fn last_position(&self, tenant: &Tenant) -> Result<u64, Error> {
        positions::last_position(&self.pool, tenant).await
    }

    /// Starts bumping `signal` whenever events are stamped, here or elsewhere.
    pub(crate) fn watch_commits(&self, signal: tokio::sync::watch::Sender<u64>) {
        self.sequencer.notify_local(signal.clone());
        positions::spawn_listener(self.pool.clone(), signal);
    }

    pub(crate) async fn run_counts(&self) -> Result<Vec<(RunState, u64)>, Error> {
        let mut connection = self.pool.acquire().await.map_err(storage)?;
        read::run_counts(&mut connection).await
    }

    pub(crate) async fn tenant_run_counts(
        &self,
        tenant: &Tenant,
    ) -> Result<Vec<(RunState, u64)>, Error> {
        let mut connection = self.pool.acquire().await.map_err(storage)?;
        read::tenant_run_counts(&mut connection, tenant).await
    }

    pub(crate) async fn audit(&self) -> Result<Audit, Error> {
        let mut connection = self.pool.acquire().await.map_err(storage)?;
        audit::run(&mut connection).await
    }
}
