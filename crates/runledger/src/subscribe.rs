//! Live event streams that lose nothing (SPEC §2.7). One feed per tenant per
//! process reads each newly committed event once from the database and
//! broadcasts it to that tenant's subscriptions through a bounded buffer. A
//! subscription first catches up from the database, then follows the
//! broadcast; if it falls behind (the buffer overflows) or sees a gap, it
//! catches up from the database again from the last event it delivered.
//! Writers never wait for subscribers.

use crate::store::Store;
use runledger_core::{Error, Event, RunId, Tenant};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Events a subscription may fall behind the feed before it catches up from the database.
pub const SUBSCRIBER_BUFFER_EVENTS_MAX: usize = 1_024;
/// Events read from the database per catch-up page.
const CATCH_UP_PAGE_EVENTS: u32 = 1_000;
/// A feed reads the database at least this often even without a commit signal.
const FEED_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Fans new events out to every subscription of this process.
pub(crate) struct Hub {
    store: Weak<Store>,
    /// Bumped whenever something may have committed (this process or another).
    commits: watch::Receiver<u64>,
    feeds: Mutex<HashMap<Tenant, Weak<TenantFeed>>>,
}

struct TenantFeed {
    sender: broadcast::Sender<Arc<Event>>,
}

impl Hub {
    /// A hub over `store`, woken by `commits`.
    pub(crate) fn new(store: Weak<Store>, commits: watch::Receiver<u64>) -> Hub {
        Hub {
            store,
            commits,
            feeds: Mutex::new(HashMap::new()),
        }
    }

    /// Whether any subscription is open (the SQLite commit poller idles otherwise).
    pub(crate) fn has_subscribers(&self) -> bool {
        let feeds = self
            .feeds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        feeds.values().any(|feed| feed.strong_count() > 0)
    }

    /// The tenant's feed, started if this is its first subscription.
    async fn feed(&self, tenant: &Tenant) -> Result<Arc<TenantFeed>, Error> {
        if let Some(feed) = self.live_feed(tenant) {
            return Ok(feed);
        }
        let store = self.store.upgrade().ok_or_else(closed)?;
        let start = store.last_position(tenant).await?;
        let mut feeds = self
            .feeds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(feed) = feeds.get(tenant).and_then(Weak::upgrade) {
            return Ok(feed);
        }
        let (sender, _) = broadcast::channel(SUBSCRIBER_BUFFER_EVENTS_MAX);
        let feed = Arc::new(TenantFeed { sender });
        feeds.retain(|_, feed| feed.strong_count() > 0);
        feeds.insert(tenant.clone(), Arc::downgrade(&feed));
        tokio::spawn(follow(
            self.store.clone(),
            tenant.clone(),
            Arc::downgrade(&feed),
            self.commits.clone(),
            start,
        ));
        Ok(feed)
    }

    fn live_feed(&self, tenant: &Tenant) -> Option<Arc<TenantFeed>> {
        let feeds = self
            .feeds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        feeds.get(tenant).and_then(Weak::upgrade)
    }

    /// A subscription to `tenant`'s log after `position`, or to one run's log
    /// after `seq` when `run` is given.
    pub(crate) async fn subscribe(
        &self,
        store: Arc<Store>,
        tenant: &Tenant,
        run: Option<RunId>,
        after: u64,
    ) -> Result<Subscription, Error> {
        let feed = self.feed(tenant).await?;
        // Receive first, then catch up: whatever the catch-up misses is in the buffer.
        let receiver = feed.sender.subscribe();
        Ok(Subscription {
            store,
            tenant: tenant.clone(),
            run,
            after,
            receiver,
            backlog: VecDeque::new(),
            catching_up: true,
            _feed: feed,
        })
    }
}

fn closed() -> Error {
    Error::storage("the ledger is closed")
}

/// The feed task: after every commit signal, read the tenant's new events
/// once and broadcast them.
async fn follow(
    store: Weak<Store>,
    tenant: Tenant,
    feed: Weak<TenantFeed>,
    mut commits: watch::Receiver<u64>,
    mut last: u64,
) {
    loop {
        let _ = tokio::time::timeout(FEED_POLL_INTERVAL, commits.changed()).await;
        let (Some(store), Some(feed)) = (store.upgrade(), feed.upgrade()) else {
            return;
        };
        loop {
            match store
                .tenant_events(&tenant, last, CATCH_UP_PAGE_EVENTS)
                .await
            {
                Ok(events) => {
                    let full = events.len() == CATCH_UP_PAGE_EVENTS as usize;
                    for event in events {
                        last = event.position;
                        // No receiver is fine: nobody is listening right now.
                        let _ = feed.sender.send(Arc::new(event));
                    }
                    if !full {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, %tenant, "the event feed could not read new events");
                    break;
                }
            }
        }
    }
}

/// An ordered, lossless stream of events: a tenant's (by position) or one
/// run's (by seq). Resume a dropped one by subscribing again after the last
/// position or seq it delivered.
pub struct Subscription {
    store: Arc<Store>,
    tenant: Tenant,
    run: Option<RunId>,
    /// The last position (tenant) or seq (run) delivered.
    after: u64,
    receiver: broadcast::Receiver<Arc<Event>>,
    backlog: VecDeque<Event>,
    catching_up: bool,
    _feed: Arc<TenantFeed>,
}

impl Subscription {
    /// The next event, waiting for one to be committed if need be.
    pub async fn next(&mut self) -> Result<Event, Error> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.after = self.cursor_of(&event);
                return Ok(event);
            }
            if self.catching_up {
                let page = self.read_page().await?;
                if page.is_empty() {
                    self.catching_up = false;
                } else {
                    self.backlog.extend(page);
                }
                continue;
            }
            match self.receiver.recv().await {
                Ok(event) => {
                    if self.run.as_ref().is_some_and(|run| *run != event.run_id) {
                        continue;
                    }
                    let cursor = self.cursor_of(&event);
                    if cursor <= self.after {
                        continue; // already delivered during the catch-up
                    }
                    if cursor == self.after + 1 {
                        self.after = cursor;
                        return Ok(Event::clone(&event));
                    }
                    // A gap: read it from the database.
                    self.catching_up = true;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.catching_up = true,
                Err(broadcast::error::RecvError::Closed) => return Err(closed()),
            }
        }
    }

    /// The last position (tenant stream) or seq (run stream) delivered.
    pub fn last_delivered(&self) -> u64 {
        self.after
    }

    fn cursor_of(&self, event: &Event) -> u64 {
        match self.run {
            Some(_) => event.seq,
            None => event.position,
        }
    }

    async fn read_page(&self) -> Result<Vec<Event>, Error> {
        match &self.run {
            Some(run) => {
                self.store
                    .events(&self.tenant, run, self.after, CATCH_UP_PAGE_EVENTS)
                    .await
            }
            None => {
                self.store
                    .tenant_events(&self.tenant, self.after, CATCH_UP_PAGE_EVENTS)
                    .await
            }
        }
    }
}
