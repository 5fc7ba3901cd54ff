//! [`Ledger`]: the library's front door. It checks requests, hands them to
//! the store, and runs the reaper for as long as it is open.

use crate::audit::Audit;
use crate::batch::{self, BatchAnswers, BatchRefused};
use crate::requests::{self, Appended, Created, RunPage};
use crate::store::{SqliteOptions, Store};
use crate::subscribe::{Hub, Subscription};
use crate::{failpoints, reaper};
use runledger_core::requests::{
    AppendEvent, Cancel, ClaimRun, CreateBatch, CreateRun, Finish, Heartbeat, ListRuns, StartRun,
    page_limit,
};
use runledger_core::{Error, Event, Run, RunId, RunState, Tenant};
use std::sync::Arc;
use std::time::Duration;

/// Default reaper period (SPEC §4: expired leases are reaped within about a second).
pub const REAP_INTERVAL_DEFAULT: Duration = Duration::from_millis(500);

/// How to open a ledger.
#[derive(Debug, Clone)]
pub struct Options {
    /// How often this process looks for expired leases; `None` runs no reaper.
    pub reap_interval: Option<Duration>,
    /// SQLite only: the most pages the file may grow to (`PRAGMA max_page_count`).
    pub sqlite_max_page_count: Option<u64>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            reap_interval: Some(REAP_INTERVAL_DEFAULT),
            sqlite_max_page_count: None,
        }
    }
}

/// A handle on a run ledger. Cheap to clone; every clone shares one store and
/// one reaper, which stop when the last clone is dropped.
#[derive(Clone)]
pub struct Ledger {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<Store>,
    hub: Hub,
    reaper: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(reaper) = self.reaper.get_mut().ok().and_then(Option::take) {
            reaper.abort();
        }
    }
}

impl Ledger {
    /// Opens the ledger at `url` with default options: `sqlite://relative.db`,
    /// `sqlite:///abs/path.db`, a plain path, or `postgres://…`. Creates and
    /// migrates the database as needed. Must be called inside a Tokio runtime.
    pub async fn open(url: &str) -> Result<Ledger, Error> {
        Ledger::open_with(url, Options::default()).await
    }

    /// Opens the ledger at `url` with `options`.
    pub async fn open_with(url: &str, options: Options) -> Result<Ledger, Error> {
        failpoints::arm_from_env();
        let sqlite_options = SqliteOptions {
            max_page_count: options.sqlite_max_page_count,
        };
        let store = Arc::new(Store::open(url, sqlite_options).await?);
        let (signal, commits) = tokio::sync::watch::channel(0);
        let inner = Arc::new(Inner {
            hub: Hub::new(Arc::downgrade(&store), commits),
            store,
            reaper: std::sync::Mutex::new(None),
        });
        let ledger = Arc::downgrade(&inner);
        let active = move || {
            ledger
                .upgrade()
                .is_some_and(|inner| inner.hub.has_subscribers())
        };
        inner.store.watch_commits(signal, active)?;
        if let Some(interval) = options.reap_interval {
            let handle = reaper::spawn(Arc::downgrade(&inner), interval);
            *inner
                .reaper
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(handle);
        }
        Ok(Ledger { inner })
    }

    /// Creates a run, or answers the existing identical one (`created: false`).
    /// Concurrent creates of one id, from any process, yield one run.
    pub async fn create_run(&self, tenant: &Tenant, request: CreateRun) -> Result<Created, Error> {
        let request = requests::resolve(request)?;
        self.inner.store.create(tenant, request).await
    }

    /// Imports a run as a legacy table recorded it (SPEC §5 `runledger
    /// import`): the row with its own times, state, result and error, and its
    /// lifecycle events stamped at those times, in one transaction. An
    /// identical re-import answers the existing run (`created: false`); one
    /// that differs is `run_conflict` naming the fields. A `running` run gets
    /// a lease the reaper expires unless a worker takes the run over.
    pub async fn import_run(
        &self,
        tenant: &Tenant,
        request: crate::ImportRun,
    ) -> Result<Created, Error> {
        self.inner.store.import_run(tenant, request).await
    }

    /// Creates a batch of runs (SPEC `POST /v1/runs/batch`), each item
    /// decided as a single create in item order, its events at consecutive
    /// positions in item order; an item may name an earlier item as its
    /// parent. Atomic: all or nothing, refused with the first refused item.
    pub async fn create_batch(
        &self,
        tenant: &Tenant,
        batch: CreateBatch,
    ) -> Result<BatchAnswers, BatchRefused> {
        let atomic = batch.atomic;
        let resolved = batch::resolve(batch)?;
        // Items a single create would refuse before writing are answered
        // here; the store decides the rest, indexed back into item order.
        let mut answers: Vec<Option<Result<Created, Error>>> = Vec::with_capacity(resolved.len());
        let mut indexes = Vec::new();
        let mut creates = Vec::new();
        for (index, item) in resolved.into_iter().enumerate() {
            match item {
                Ok(create) => {
                    indexes.push(index);
                    creates.push(create);
                    answers.push(None);
                }
                Err(error) => answers.push(Some(Err(error))),
            }
        }
        if !creates.is_empty() {
            let decided = self
                .inner
                .store
                .create_batch(tenant, creates, atomic)
                .await
                .map_err(|refused| BatchRefused {
                    index: refused.index.map(|at| indexes[at]),
                    error: refused.error,
                })?;
            for (at, answer) in indexes.into_iter().zip(decided) {
                answers[at] = Some(answer);
            }
        }
        Ok(answers
            .into_iter()
            .map(|answer| answer.expect("every item is answered"))
            .collect())
    }

    /// The run `id`, or `not_found`.
    pub async fn get_run(&self, tenant: &Tenant, id: &RunId) -> Result<Run, Error> {
        self.inner
            .store
            .get(tenant, id)
            .await?
            .ok_or_else(|| Error::RunNotFound { id: id.clone() })
    }

    /// A page of runs, oldest first.
    pub async fn list_runs(&self, tenant: &Tenant, filter: ListRuns) -> Result<RunPage, Error> {
        filter.page_limit()?;
        filter.after_order()?;
        self.inner.store.list(tenant, filter).await
    }

    /// queued → running under a new lease epoch.
    pub async fn start(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: StartRun,
    ) -> Result<Run, Error> {
        request.check()?;
        self.inner.store.start(tenant, id, request).await
    }

    /// Takes the oldest queued run matching `request`'s filters and starts
    /// it for its owner, exactly as [`Ledger::start`] would; `None` when no
    /// run matches within `wait_ms`. The database decides: two claims never
    /// get the same run, from any process or server, and `pending` runs are
    /// never claimed. A waiting claim follows the tenant's event feed and
    /// tries again when a run is created or promoted (by any process: the
    /// feed is fed by the commit signal), so it does not poll the database
    /// per waiter.
    pub async fn claim(&self, tenant: &Tenant, request: ClaimRun) -> Result<Option<Run>, Error> {
        request.check()?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(request.wait_ms);
        // Subscribed before the first try: a run queued after that try is in
        // the feed, whatever the timing.
        let mut feed = if request.wait_ms > 0 {
            let now = self.inner.store.last_position(tenant).await?;
            Some(self.subscribe(tenant, now).await?)
        } else {
            None
        };
        loop {
            if let Some(run) = self.inner.store.claim(tenant, &request).await? {
                return Ok(Some(run));
            }
            let Some(feed) = feed.as_mut() else {
                return Ok(None);
            };
            loop {
                match tokio::time::timeout_at(deadline, feed.next()).await {
                    Err(_) => return Ok(None),
                    Ok(Err(error)) => return Err(error),
                    Ok(Ok(event))
                        if matches!(event.event_type.as_str(), "created" | "promoted") =>
                    {
                        break;
                    }
                    Ok(Ok(_)) => {}
                }
            }
        }
    }

    /// Extends the lease of a running run.
    pub async fn heartbeat(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: Heartbeat,
    ) -> Result<Run, Error> {
        request.check()?;
        self.inner.store.heartbeat(tenant, id, request).await
    }

    /// running → succeeded | failed. `if_version` is `If-Match`.
    pub async fn finish(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: Finish,
        if_version: Option<u64>,
    ) -> Result<Run, Error> {
        request.check()?;
        self.inner
            .store
            .finish(tenant, id, request, if_version)
            .await
    }

    /// pending | queued | running → cancelled.
    pub async fn cancel(&self, tenant: &Tenant, id: &RunId, request: Cancel) -> Result<Run, Error> {
        request.check()?;
        self.inner.store.cancel(tenant, id, request).await
    }

    /// Appends a caller event to a run's log.
    pub async fn append_event(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: AppendEvent,
    ) -> Result<Appended, Error> {
        request.check()?;
        let answer = self.inner.store.append(tenant, id, request).await;
        if answer.is_ok() {
            crate::counters::event_appended();
        }
        answer
    }

    /// A run's events with seq > `after_seq`, at most `limit` (default 50, max 1,000).
    pub async fn events(
        &self,
        tenant: &Tenant,
        id: &RunId,
        after_seq: u64,
        limit: Option<u32>,
    ) -> Result<Vec<Event>, Error> {
        let limit = page_limit(limit)?;
        self.inner.store.settle(tenant).await?;
        self.inner.store.events(tenant, id, after_seq, limit).await
    }

    /// A tenant's events with position > `after_position`, in position order.
    pub async fn tenant_events(
        &self,
        tenant: &Tenant,
        after_position: u64,
        limit: Option<u32>,
    ) -> Result<Vec<Event>, Error> {
        let limit = page_limit(limit)?;
        self.inner.store.settle(tenant).await?;
        self.inner
            .store
            .tenant_events(tenant, after_position, limit)
            .await
    }

    /// Follows `tenant`'s log from the event after `after_position`: every
    /// event exactly once, in position order, waiting for new ones.
    pub async fn subscribe(
        &self,
        tenant: &Tenant,
        after_position: u64,
    ) -> Result<Subscription, Error> {
        self.inner
            .hub
            .subscribe(self.inner.store.clone(), tenant, None, after_position)
            .await
    }

    /// Follows one run's log from the event after `after_seq` (`not_found`
    /// when the run does not exist).
    pub async fn subscribe_run(
        &self,
        tenant: &Tenant,
        id: &RunId,
        after_seq: u64,
    ) -> Result<Subscription, Error> {
        self.get_run(tenant, id).await?;
        self.inner
            .hub
            .subscribe(
                self.inner.store.clone(),
                tenant,
                Some(id.clone()),
                after_seq,
            )
            .await
    }

    /// Times out running runs whose lease expired; answers how many. The
    /// background reaper calls this; so may anyone (each expiry is reaped once).
    pub async fn reap(&self) -> Result<u64, Error> {
        self.inner.store.reap().await
    }

    /// How many of `tenant`'s runs are in each state (states without runs
    /// are left out).
    pub async fn tenant_run_counts(&self, tenant: &Tenant) -> Result<Vec<(RunState, u64)>, Error> {
        self.inner.store.tenant_run_counts(tenant).await
    }

    /// The position of `tenant`'s newest event, 0 before the first: a
    /// tenant stream resumed from it carries only what happens next. Like
    /// every read, it includes the events of writes that have answered.
    pub async fn last_position(&self, tenant: &Tenant) -> Result<u64, Error> {
        self.inner.store.settle(tenant).await?;
        self.inner.store.last_position(tenant).await
    }

    /// How many runs are in each state, over all tenants (for metrics).
    pub async fn run_counts(&self) -> Result<Vec<(RunState, u64)>, Error> {
        self.inner.store.run_counts().await
    }

    /// Checks every invariant of SPEC §2 against the stored rows.
    pub async fn audit(&self) -> Result<Audit, Error> {
        self.inner.store.audit().await
    }
}
