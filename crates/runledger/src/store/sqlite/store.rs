//! The SQLite store: opens the file and routes each operation, writes to
//! the writer thread (writer.rs, write.rs), reads to the read pool
//! (read.rs), and starts the commit poller (feed.rs).

use super::batch;
use super::connection::{self, Location, ReadPool, SqliteOptions};
use super::turns::Turns;
use super::writer::Writer;
use super::{access, audit, feed, migrate, read, reap, relay, write};
use crate::access::IdempotencyBegin;
use crate::audit::Audit;
use crate::batch::{BatchAnswers, BatchRefused};
use crate::clock;
use crate::requests::{Appended, Created, LogPage, ResolvedCreate, RunPage};
use runledger_core::Operation;
use runledger_core::requests::Finish;
use runledger_core::requests::{AppendEvent, Cancel, ClaimRun, Heartbeat, ListRuns, StartRun};
use runledger_core::transition::{self, Decision, Record};
use runledger_core::{Error, Event, IdempotencyKey, Run, RunId, RunState, Tenant, Timestamp};
use std::sync::Arc;
use tokio::sync::watch;

/// Most expired leases one reap transaction handles; the rest wait for the next.
const REAP_BATCH_RUNS_MAX: i64 = 256;

/// An open SQLite ledger file.
pub(crate) struct Store {
    pub(super) writer: Writer,
    readers: Arc<ReadPool>,
    /// The file, for the commit poller's own connection.
    location: Location,
    /// Opened with `?mode=ro`: every write fails, repeats are still answered.
    read_only: bool,
}

impl Store {
    /// Opens (creating if needed) and migrates the file at `location`.
    pub(crate) async fn open(url: &str, options: SqliteOptions) -> Result<Store, Error> {
        let location = Location::parse(url)?;
        let read_only = location.read_only();
        let opened = location.clone();
        let (writer_connection, turns, readers) = tokio::task::spawn_blocking(move || {
            let connection = connection::open_writer(&location, &options)?;
            migrate::run(&connection)?;
            let turns = if location.read_only() {
                None
            } else {
                Turns::open(location.path())
            };
            Ok::<_, Error>((connection, turns, ReadPool::new(location)))
        })
        .await
        .map_err(Error::storage)??;
        Ok(Store {
            writer: Writer::spawn(writer_connection, turns),
            readers: Arc::new(readers),
            location: opened,
            read_only,
        })
    }

    pub(crate) async fn create(
        &self,
        tenant: &Tenant,
        request: ResolvedCreate,
    ) -> Result<Created, Error> {
        // A read-only file has no writer to answer repeats: they are reads.
        if self.read_only {
            let (lookup_tenant, lookup_id) = (tenant.clone(), request.id.clone());
            let existing = self
                .readers
                .read(move |connection| read::run(connection, &lookup_tenant, &lookup_id))
                .await?;
            if let Some(existing) = existing {
                return request.match_existing(existing);
            }
        }
        // Straight to the writer: one hop, not a read then a write. The
        // writer answers a repeat from inside its transaction, which then
        // changes nothing and so writes nothing.
        self.writer.create(tenant.clone(), request).await
    }

    /// A batch create: one operation of the writer (batch.rs).
    pub(crate) async fn create_batch(
        &self,
        tenant: &Tenant,
        creates: Vec<ResolvedCreate>,
        atomic: bool,
    ) -> Result<BatchAnswers, BatchRefused> {
        let tenant = tenant.clone();
        self.writer
            .write(move |connection, now| {
                batch::create_batch(connection, &tenant, &creates, atomic, now)
            })
            .await
            .map_err(BatchRefused::whole)?
    }

    pub(crate) async fn get(&self, tenant: &Tenant, id: &RunId) -> Result<Option<Run>, Error> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.readers
            .read(move |connection| read::run(connection, &tenant, &id))
            .await
    }

    pub(crate) async fn list(&self, tenant: &Tenant, filter: ListRuns) -> Result<RunPage, Error> {
        let tenant = tenant.clone();
        self.readers
            .read(move |connection| read::list(connection, &tenant, &filter))
            .await
    }

    pub(crate) async fn claim(
        &self,
        tenant: &Tenant,
        request: &ClaimRun,
    ) -> Result<Option<Run>, Error> {
        let (tenant, request) = (tenant.clone(), request.clone());
        self.writer
            .write(move |connection, now| write::claim(connection, &tenant, &request, now))
            .await
    }

    pub(crate) async fn start(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: StartRun,
    ) -> Result<Run, Error> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.writer
            .write(move |connection, now| {
                write::change(
                    connection,
                    &tenant,
                    &id,
                    Operation::Start,
                    request.if_version,
                    now,
                    |stored| transition::start(stored, &request.lease, now),
                )
            })
            .await
    }

    pub(crate) async fn heartbeat(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: Heartbeat,
    ) -> Result<Run, Error> {
        let if_version = request.if_version;
        self.change_of_a_lease(
            tenant,
            id,
            Operation::Heartbeat,
            if_version,
            move |stored, now| {
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
        self.change_of_a_lease(
            tenant,
            id,
            Operation::Finish,
            if_version,
            move |stored, now| transition::finish(stored, &request, now),
        )
        .await
    }

    /// A change a lease holder asks for (heartbeat, finish), decided by
    /// `decide` in the writer; refused for an expired lease, the run is
    /// timed out in the same transaction (reap.rs).
    async fn change_of_a_lease(
        &self,
        tenant: &Tenant,
        id: &RunId,
        operation: Operation,
        if_version: Option<u64>,
        decide: impl FnOnce(&Record, Timestamp) -> Result<Decision, Error> + Send + 'static,
    ) -> Result<Run, Error> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.writer
            .write(move |connection, now| {
                let refused_or_done = write::change(
                    connection,
                    &tenant,
                    &id,
                    operation,
                    if_version,
                    now,
                    |stored| decide(stored, now),
                );
                reap::reaping_on_expiry(connection, &tenant, &id, now, refused_or_done)
            })
            .await
    }

    pub(crate) async fn cancel(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: Cancel,
    ) -> Result<Run, Error> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.writer
            .write(move |connection, now| write::cancel(connection, &tenant, &id, &request, now))
            .await
    }

    pub(crate) async fn append(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: AppendEvent,
    ) -> Result<Appended, Error> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.writer
            .write(move |connection, now| {
                let refused_or_done = write::append(connection, &tenant, &id, &request, now);
                reap::reaping_on_expiry(connection, &tenant, &id, now, refused_or_done)
            })
            .await
    }

    pub(crate) async fn events(
        &self,
        tenant: &Tenant,
        id: &RunId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<Event>, Error> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.readers
            .read(move |connection| read::run_events(connection, &tenant, &id, after_seq, limit))
            .await
    }

    pub(crate) async fn tenant_events(
        &self,
        tenant: &Tenant,
        after_position: u64,
        limit: u32,
    ) -> Result<Vec<Event>, Error> {
        let tenant = tenant.clone();
        self.readers
            .read(move |connection| read::tenant_events(connection, &tenant, after_position, limit))
            .await
    }

    pub(crate) async fn has_expired_leases(&self) -> Result<bool, Error> {
        let now = clock::now();
        self.readers
            .read(move |connection| read::has_expired_leases(connection, now))
            .await
    }

    pub(crate) async fn reap(&self) -> Result<u64, Error> {
        self.writer
            .write(|connection, now| reap::reap(connection, now, REAP_BATCH_RUNS_MAX))
            .await
    }

    pub(crate) async fn add_token(
        &self,
        tenant: &Tenant,
        token_sha256: String,
        prefix: String,
    ) -> Result<(), Error> {
        let tenant = tenant.clone();
        self.writer
            .write(move |connection, now| {
                access::add_token(connection, &tenant, &token_sha256, &prefix, now)
            })
            .await
    }

    /// The token's tenant (unless revoked); a use more than a minute after
    /// the last recorded one is written through the writer.
    pub(crate) async fn tenant_for_token(
        &self,
        token_sha256: String,
    ) -> Result<Option<Tenant>, Error> {
        let hash = token_sha256.clone();
        let found = self
            .readers
            .read(move |connection| access::tenant_for_token(connection, &hash, clock::now()))
            .await?;
        match found {
            Some((tenant, true)) => {
                self.writer
                    .write(move |connection, now| {
                        access::touch_token(connection, &token_sha256, now)
                    })
                    .await?;
                Ok(Some(tenant))
            }
            Some((tenant, false)) => Ok(Some(tenant)),
            None => Ok(None),
        }
    }

    pub(crate) async fn tokens(&self) -> Result<Vec<crate::access::TokenInfo>, Error> {
        self.readers.read(access::tokens).await
    }

    pub(crate) async fn revoke_token(&self, id: String) -> Result<usize, Error> {
        self.writer
            .write(move |connection, now| access::revoke_token(connection, &id, now))
            .await
    }

    pub(crate) async fn any_token(&self) -> Result<bool, Error> {
        self.readers.read(access::any_token).await
    }

    pub(crate) async fn idempotency_begin(
        &self,
        tenant: &Tenant,
        key: &IdempotencyKey,
        fingerprint: String,
    ) -> Result<IdempotencyBegin, Error> {
        let (tenant, key) = (tenant.clone(), key.clone());
        self.writer
            .write(move |connection, now| {
                access::begin(connection, &tenant, &key, &fingerprint, now)
            })
            .await
    }

    pub(crate) async fn idempotency_complete(
        &self,
        tenant: &Tenant,
        key: &IdempotencyKey,
        status: u16,
        body: String,
    ) -> Result<(), Error> {
        let (tenant, key) = (tenant.clone(), key.clone());
        self.writer
            .write(move |connection, now| {
                access::complete(connection, &tenant, &key, status, &body, now)
            })
            .await
    }

    pub(crate) async fn idempotency_release(
        &self,
        tenant: &Tenant,
        key: &IdempotencyKey,
    ) -> Result<(), Error> {
        let (tenant, key) = (tenant.clone(), key.clone());
        self.writer
            .write(move |connection, _| access::release(connection, &tenant, &key))
            .await
    }

    pub(crate) async fn idempotency_touch(
        &self,
        tenant: &Tenant,
        key: &IdempotencyKey,
    ) -> Result<(), Error> {
        let (tenant, key) = (tenant.clone(), key.clone());
        self.writer
            .write(move |connection, now| access::touch(connection, &tenant, &key, now))
            .await
    }

    pub(crate) async fn idempotency_purge(&self, retention_ms: i64) -> Result<u64, Error> {
        self.writer
            .write(move |connection, now| access::purge(connection, now, retention_ms))
            .await
    }

    pub(crate) async fn relay_acquire(
        &self,
        owner: String,
        ttl_ms: i64,
    ) -> Result<Option<u64>, Error> {
        self.writer
            .write(move |connection, now| relay::acquire(connection, &owner, ttl_ms, now))
            .await
    }

    pub(crate) async fn relay_advance(
        &self,
        owner: String,
        epoch: u64,
        tenant: &Tenant,
        position: u64,
    ) -> Result<bool, Error> {
        let tenant = tenant.clone();
        self.writer
            .write(move |connection, now| {
                relay::advance(connection, &owner, epoch, &tenant, position, now)
            })
            .await
    }

    pub(crate) async fn relay_cursors(&self) -> Result<Vec<(Tenant, u64)>, Error> {
        self.readers.read(relay::cursors).await
    }

    pub(crate) async fn relay_events(
        &self,
        tenant: &Tenant,
        after: u64,
        limit: u32,
    ) -> Result<Vec<(Event, runledger_core::Kind)>, Error> {
        let tenant = tenant.clone();
        self.readers
            .read(move |connection| relay::events(connection, &tenant, after, limit))
            .await
    }

    pub(crate) async fn event_page(
        &self,
        tenant: &Tenant,
        page: LogPage,
    ) -> Result<Vec<(Event, usize)>, Error> {
        let tenant = tenant.clone();
        self.readers
            .read(move |connection| feed::event_page(connection, &tenant, &page))
            .await
    }

    pub(crate) async fn last_position(&self, tenant: &Tenant) -> Result<u64, Error> {
        let tenant = tenant.clone();
        self.readers
            .read(move |connection| feed::last_position(connection, &tenant))
            .await
    }

    /// Starts bumping `signal` whenever the file changes (a commit of any
    /// process), checking while `active` answers true.
    pub(crate) fn watch_commits(
        &self,
        signal: watch::Sender<u64>,
        active: impl Fn() -> bool + Send + 'static,
    ) -> Result<(), Error> {
        feed::spawn_commit_poller(&self.location, signal, active)
    }

    pub(crate) async fn run_counts(&self) -> Result<Vec<(RunState, u64)>, Error> {
        self.readers.read(read::run_counts).await
    }

    pub(crate) async fn tenant_run_counts(
        &self,
        tenant: &Tenant,
    ) -> Result<Vec<(RunState, u64)>, Error> {
        let tenant = tenant.clone();
        self.readers
            .read(move |connection| read::tenant_run_counts(connection, &tenant))
            .await
    }

    pub(crate) async fn audit(&self) -> Result<Audit, Error> {
        let now = clock::now();
        self.readers
            .read(move |connection| audit::run(connection, now))
            .await
    }
}
