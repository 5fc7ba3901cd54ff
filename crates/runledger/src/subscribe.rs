//! Live event streams that lose nothing (SPEC §2.7). One feed per tenant per
//! process reads each newly committed event once from the database and
//! hands it to that tenant's subscriptions through a buffer bounded in
//! events and in bytes (fanout.rs). A subscription first catches up from
//! the database, then follows the buffer; if it falls behind (the buffer
//! dropped events it had not taken) or sees a gap, it catches up from the
//! database again from the last event it delivered. Catch-up reads one
//! page at a time, at most [`CATCH_UP_PAGE_BYTES_MAX`], and only when the
//! previous page has been taken: a subscriber that stops reading holds one
//! page, never its whole backlog. Writers never wait for subscribers.

use crate::fanout::{Fanout, Received, Receiver};
use crate::requests::LogPage;
use crate::store::Store;
use runledger_core::{Error, Event, RunId, Tenant};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// Events a subscription may fall behind the feed before it catches up from the database.
pub const SUBSCRIBER_BUFFER_EVENTS_MAX: usize = 1_024;
/// Bytes of events (data plus an envelope allowance) a tenant's feed keeps
/// for its subscriptions in a process, shared by all of them; one falling
/// further behind catches up from the database.
pub const FEED_BUFFER_BYTES_MAX: usize = 1024 * 1024;
/// Bytes of events one catch-up page holds at most (but always one event):
/// what a subscription that does not read keeps on top of its transport's
/// own buffer.
pub const CATCH_UP_PAGE_BYTES_MAX: usize = 256 * 1024;
/// Events read from the database per catch-up page.
const CATCH_UP_PAGE_EVENTS: u32 = 1_000;
/// More than any one event counts for (data ≤ 256 KiB, a finish's result
/// and error ≤ 320 KiB, plus the envelope).
const FEED_PAGE_ROOM_BYTES: usize = 512 * 1024;
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
    fanout: Arc<Fanout>,
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
        let feed = Arc::new(TenantFeed {
            fanout: Arc::new(Fanout::new(
                SUBSCRIBER_BUFFER_EVENTS_MAX,
                FEED_BUFFER_BYTES_MAX,
            )),
        });
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
        let receiver = feed.fanout.subscribe();
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
/// once and hand them to the fanout, a bounded page at a time.
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
            let page = LogPage {
                run: None,
                after: last,
                limit: CATCH_UP_PAGE_EVENTS,
                bytes_max: FEED_BUFFER_BYTES_MAX,
            };
            match store.event_page(&tenant, page).await {
                Ok(events) => {
                    let Some((newest, _)) = events.last() else {
                        break;
                    };
                    last = newest.position;
                    let bytes: usize = events.iter().map(|(_, bytes)| bytes).sum();
                    // A page that stopped short of both bounds, with room
                    // for any event left, was the end of the log.
                    let more = events.len() == CATCH_UP_PAGE_EVENTS as usize
                        || bytes + FEED_PAGE_ROOM_BYTES > FEED_BUFFER_BYTES_MAX;
                    feed.fanout.publish(events);
                    if !more {
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
    receiver: Receiver,
    /// The current catch-up page, at most [`CATCH_UP_PAGE_BYTES_MAX`].
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
                Received::Event(event) => {
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
                Received::Lagged => self.catching_up = true,
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
        let page = LogPage {
            run: self.run.clone(),
            after: self.after,
            limit: CATCH_UP_PAGE_EVENTS,
            bytes_max: CATCH_UP_PAGE_BYTES_MAX,
        };
        let page = self.store.event_page(&self.tenant, page).await?;
        Ok(page.into_iter().map(|(event, _)| event).collect())
    }
}
