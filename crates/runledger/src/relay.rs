//! Publishing every event to NATS JetStream (SPEC §8).
//!
//! Exactly one relay per database publishes at a time: relays compete for a
//! fenced lease row (`relay_lease`: owner, epoch, expiry), and a cursor moves
//! only while its writer still holds the lease. Each tenant's events go out
//! in position order, one at a time: the next is sent only after JetStream
//! acknowledged the previous, so a failure can never reorder them. The
//! cursor (`relay_cursors`) advances only after the ack; after a crash or a
//! broker outage the relay resends from the cursor with the same
//! `Nats-Msg-Id`, which JetStream drops as a duplicate.

use crate::Ledger;
use crate::ledger::Inner;
use crate::store::Store;
use async_nats::jetstream::{self, message::PublishMessage};
use runledger_core::{Event, Kind, Tenant};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The JetStream stream the relay publishes to (created if missing).
pub const STREAM_NAME: &str = "RUNLEDGER";
/// Gauge: 1 while this process's relay holds the publishing lease, else 0.
/// The holder also sets `runledger_relay_lag_events{tenant}` (events
/// committed but not yet acknowledged by JetStream) after every round.
pub const RELAY_LEASE_HELD: &str = "runledger_relay_lease_held";
/// How long a relay's lease lasts without renewal.
const LEASE_TTL: Duration = Duration::from_secs(5);
/// Events read and published per tenant before the cursor moves.
const BATCH_EVENTS: u32 = 256;
/// How often an idle relay looks for new events (and renews its lease).
const IDLE_INTERVAL: Duration = Duration::from_millis(100);
/// Wait after a broker or database failure before trying again.
const RETRY_DELAY: Duration = Duration::from_millis(500);

/// A running relay; it stops when dropped.
pub struct Relay {
    task: tokio::task::JoinHandle<()>,
    published: Arc<AtomicU64>,
}

impl Relay {
    /// Starts relaying `ledger`'s events to the NATS server at `nats_url`.
    pub fn spawn(ledger: &Ledger, nats_url: &str) -> Relay {
        let published = Arc::new(AtomicU64::new(0));
        let worker = Worker {
            ledger: Arc::downgrade(&ledger.inner),
            nats_url: nats_url.to_owned(),
            owner: format!("relay-{}-{}", std::process::id(), uuid::Uuid::now_v7()),
            published: published.clone(),
        };
        Relay {
            task: tokio::spawn(worker.run()),
            published,
        }
    }

    /// How many events this relay has had acknowledged by JetStream.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The NATS subject of an event: `runledger.<tenant>.<kind>.<type>`, with
/// `.` in kind and type written `_` (the exact values are in the payload).
pub fn subject(tenant: &Tenant, kind: &Kind, event_type: &str) -> String {
    format!(
        "runledger.{tenant}.{}.{}",
        kind.as_str().replace('.', "_"),
        event_type.replace('.', "_")
    )
}

/// The `Nats-Msg-Id` of an event: `<tenant>/<run id>/<seq>`.
pub fn message_id(tenant: &Tenant, event: &Event) -> String {
    format!("{tenant}/{}/{}", event.run_id, event.seq)
}

struct Worker {
    ledger: Weak<Inner>,
    nats_url: String,
    owner: String,
    published: Arc<AtomicU64>,
}

/// Why a publishing round stopped early.
enum Stop {
    /// Another relay holds the lease now.
    LeaseLost,
    /// The broker or the database failed; try again later.
    Failed(String),
}

impl Worker {
    async fn run(self) {
        let mut broker: Option<jetstream::Context> = None;
        loop {
            let Some(inner) = self.ledger.upgrade() else {
                return;
            };
            let store = inner.store.clone();
            drop(inner);
            let pause = match self.round(&store, &mut broker).await {
                Ok(true) => Duration::ZERO,
                Ok(false) | Err(Stop::LeaseLost) => IDLE_INTERVAL,
                Err(Stop::Failed(reason)) => {
                    tracing::warn!(%reason, "the relay paused");
                    broker = None;
                    RETRY_DELAY
                }
            };
            drop(store);
            tokio::time::sleep(pause).await;
        }
    }

    /// One round: hold the lease, then publish a batch of every tenant.
    /// Answers whether anything was published.
    async fn round(
        &self,
        store: &Store,
        broker: &mut Option<jetstream::Context>,
    ) -> Result<bool, Stop> {
        let ttl_ms = LEASE_TTL.as_millis() as i64;
        let epoch = match store.relay_acquire(self.owner.clone(), ttl_ms).await {
            Ok(Some(epoch)) => epoch,
            Ok(None) => {
                metrics::gauge!(RELAY_LEASE_HELD).set(0.0);
                return Err(Stop::LeaseLost);
            }
            Err(error) => return Err(Stop::Failed(error.to_string())),
        };
        metrics::gauge!(RELAY_LEASE_HELD).set(1.0);
        let context = match broker {
            Some(context) => context.clone(),
            None => {
                let context = connect(&self.nats_url).await.map_err(Stop::Failed)?;
                *broker = Some(context.clone());
                context
            }
        };
        let cursors = store
            .relay_cursors()
            .await
            .map_err(|error| Stop::Failed(error.to_string()))?;
        let mut published_any = false;
        for (tenant, cursor) in cursors {
            let events = store
                .relay_events(&tenant, cursor, BATCH_EVENTS)
                .await
                .map_err(|error| Stop::Failed(error.to_string()))?;
            let mut acknowledged = cursor;
            let mut failure = None;
            for (event, kind) in &events {
                if let Err(reason) = publish(&context, &tenant, kind, event).await {
                    failure = Some(reason);
                    break;
                }
                acknowledged = event.position;
                self.published.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("runledger_relay_published_total").increment(1);
            }
            if acknowledged > cursor {
                published_any = true;
                match store
                    .relay_advance(self.owner.clone(), epoch, &tenant, acknowledged)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => return Err(Stop::LeaseLost),
                    Err(error) => return Err(Stop::Failed(error.to_string())),
                }
            }
            if let Ok(latest) = store.last_position(&tenant).await {
                metrics::gauge!("runledger_relay_lag_events", "tenant" => tenant.to_string())
                    .set(latest.saturating_sub(acknowledged) as f64);
            }
            if let Some(reason) = failure {
                return Err(Stop::Failed(reason));
            }
        }
        Ok(published_any)
    }
}

async fn connect(url: &str) -> Result<jetstream::Context, String> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(url)
        .await
        .map_err(|error| format!("cannot connect to NATS at {url}: {error}"))?;
    let context = jetstream::new(client);
    let config = jetstream::stream::Config {
        name: STREAM_NAME.to_owned(),
        subjects: vec!["runledger.>".to_owned()],
        ..Default::default()
    };
    context
        .get_or_create_stream(config)
        .await
        .map_err(|error| format!("cannot create the JetStream stream {STREAM_NAME}: {error}"))?;
    Ok(context)
}

/// Publishes one event and waits for JetStream's ack.
async fn publish(
    context: &jetstream::Context,
    tenant: &Tenant,
    kind: &Kind,
    event: &Event,
) -> Result<(), String> {
    let payload = json!({
        "run_id": event.run_id, "seq": event.seq, "position": event.position, "type": event.event_type,
        "data": event.data, "at": event.at, "tenant": tenant, "kind": kind,
    });
    let message = PublishMessage::build()
        .payload(bytes::Bytes::from(payload.to_string()))
        .message_id(message_id(tenant, event));
    let acknowledgement = context
        .send_publish(subject(tenant, kind, &event.event_type), message)
        .await
        .map_err(|error| format!("publish failed: {error}"))?;
    acknowledgement
        .await
        .map_err(|error| format!("no ack from JetStream: {error}"))?;
    Ok(())
}
