//! One subscriber of the stream bench: it opens `GET /v1/events/stream`,
//! reads it with the small reader of [`super::sse`], and checks every
//! event it gets — a bitmap of positions seen (a bit already set is a
//! duplicate, a position below the highest so far is out of order, an
//! appended position never set is missing) and the commit → delivery
//! latency, batched into one shared histogram.

use super::sse::SseReader;
use super::stats::Tally;
use super::target::{OpError, token};
use crate::failure::Failure;
use runledger::Timestamp;
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// How long opening one stream (connect, request, headers) may take.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Streams being opened at once.
const SUBSCRIBES_IN_FLIGHT_MAX: usize = 64;
/// Positions past the start one subscriber keeps track of (a bit each).
const POSITIONS_TRACKED_MAX: u64 = 1 << 30;
/// Latencies a subscriber collects before adding them to the shared histogram.
const LATENCIES_BATCH_MAX: usize = 256;

/// Opens `count` tenant streams starting after position `start`, at most
/// [`SUBSCRIBES_IN_FLIGHT_MAX`] at a time; answers each response (status
/// 200) or why it could not be opened.
pub async fn open_streams(
    base: &str,
    start: u64,
    count: u32,
) -> Result<Vec<Result<reqwest::Response, OpError>>, Failure> {
    let http = reqwest::Client::builder()
        .connect_timeout(SUBSCRIBE_TIMEOUT)
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|error| Failure::Failed(format!("cannot build the HTTP client: {error}")))?;
    let url = format!("{base}/v1/events/stream?after={start}");
    let token = token();
    let in_flight = Arc::new(Semaphore::new(SUBSCRIBES_IN_FLIGHT_MAX));
    let mut opening = JoinSet::new();
    for _ in 0..count {
        let (http, url, token, in_flight) =
            (http.clone(), url.clone(), token.clone(), in_flight.clone());
        opening.spawn(async move {
            let _permit = in_flight.acquire_owned().await;
            let mut request = http.get(&url).header("accept", "text/event-stream");
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = tokio::time::timeout(SUBSCRIBE_TIMEOUT, request.send())
                .await
                .map_err(|_| subscriber_error("subscribe_timeout", "no answer in time".into()))?
                .map_err(|error| subscriber_error("unreachable", error.to_string()))?;
            if response.status() != reqwest::StatusCode::OK {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                return Err(subscriber_error(
                    "subscribe_refused",
                    format!("{status}: {body}"),
                ));
            }
            Ok(response)
        });
    }
    let mut opened = Vec::with_capacity(count as usize);
    while let Some(joined) = opening.join_next().await {
        opened.push(
            joined.map_err(|error| Failure::Failed(format!("a subscriber failed: {error}")))?,
        );
    }
    Ok(opened)
}

/// A failure of a subscriber's stream, counted as an error.
fn subscriber_error(name: &str, message: String) -> OpError {
    OpError {
        code: None,
        name: name.to_owned(),
        message: format!("a stream subscriber: {message}"),
    }
}

/// Reads one stream until `stop`, checking every event on the way.
pub async fn follow(
    mut response: reqwest::Response,
    mut subscriber: Subscriber,
    mut stop: watch::Receiver<bool>,
    deliveries: Arc<AtomicU64>,
) -> Subscriber {
    let mut reader = SseReader::new();
    loop {
        let chunk = tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => break,
            chunk = response.chunk() => chunk,
        };
        let bytes = match chunk {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                subscriber.failure = Some(subscriber_error(
                    "stream_ended",
                    "the server ended the stream".into(),
                ));
                break;
            }
            Err(error) => {
                subscriber.failure = Some(subscriber_error("stream_failed", error.to_string()));
                break;
            }
        };
        // One clock reading per chunk: its events all arrived now.
        let arrived = Instant::now();
        let arrived_unix_us = unix_us(SystemTime::now());
        let mut failure = None;
        reader.push(&bytes, |data| {
            if let Err(error) = subscriber.receive(data, arrived, arrived_unix_us, &deliveries) {
                failure.get_or_insert(error);
            }
        });
        if failure.is_some() {
            subscriber.failure = failure;
            break;
        }
    }
    subscriber
}

/// The fields of a stream event the check needs.
#[derive(Debug, Deserialize)]
struct Delivered<'a> {
    #[serde(borrow)]
    run_id: &'a str,
    position: u64,
    at: Timestamp,
}

/// One subscriber's check.
pub struct Subscriber {
    /// The bench's run ids start with this; other events are not counted.
    prefix: Arc<str>,
    /// The position the stream started after.
    start: u64,
    /// Bit `p - start - 1` is set once position `p` was received.
    seen: Vec<u64>,
    /// The highest position received.
    last_position: u64,
    /// Events of the bench received.
    pub deliveries: u64,
    /// Positions received more than once.
    pub duplicates: u64,
    /// Positions received below the highest so far.
    pub out_of_order: u64,
    /// When the last event of the bench arrived.
    pub last_delivery: Option<Instant>,
    /// Latencies in microseconds, not yet in `latencies`.
    pending_us: Vec<u64>,
    latencies: Arc<Mutex<Tally>>,
    /// Why the stream ended before it was stopped.
    pub failure: Option<OpError>,
}

impl Subscriber {
    pub fn new(prefix: Arc<str>, start: u64, latencies: Arc<Mutex<Tally>>) -> Subscriber {
        Subscriber {
            prefix,
            start,
            seen: Vec::new(),
            last_position: start,
            deliveries: 0,
            duplicates: 0,
            out_of_order: 0,
            last_delivery: None,
            pending_us: Vec::new(),
            latencies,
            failure: None,
        }
    }

    /// Checks one event's `data:`.
    fn receive(
        &mut self,
        data: &[u8],
        arrived: Instant,
        arrived_unix_us: i64,
        deliveries: &AtomicU64,
    ) -> Result<(), OpError> {
        let event: Delivered<'_> = serde_json::from_slice(data).map_err(|error| {
            subscriber_error("malformed_event", format!("an event is not JSON: {error}"))
        })?;
        if !event.run_id.starts_with(&*self.prefix) {
            return Ok(()); // another writer's event
        }
        let Some(index) = event
            .position
            .checked_sub(self.start + 1)
            .filter(|index| *index < POSITIONS_TRACKED_MAX)
        else {
            return Err(subscriber_error(
                "position_out_of_range",
                format!(
                    "position {} is outside the stream, which started after {}",
                    event.position, self.start
                ),
            ));
        };
        let (word, bit) = ((index / 64) as usize, 1u64 << (index % 64));
        if word >= self.seen.len() {
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & bit != 0 {
            self.duplicates += 1;
            return Ok(());
        }
        self.seen[word] |= bit;
        if event.position < self.last_position {
            self.out_of_order += 1;
        }
        self.last_position = self.last_position.max(event.position);
        self.deliveries += 1;
        self.last_delivery = Some(arrived);
        deliveries.fetch_add(1, Ordering::Relaxed);
        let latency_us = arrived_unix_us.saturating_sub(event.at.unix_ms().saturating_mul(1_000));
        self.pending_us.push(u64::try_from(latency_us).unwrap_or(0));
        if self.pending_us.len() >= LATENCIES_BATCH_MAX {
            self.flush_latencies();
        }
        Ok(())
    }

    /// Adds the pending latencies to the shared histogram.
    pub fn flush_latencies(&mut self) {
        let mut latencies = self
            .latencies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for micros in self.pending_us.drain(..) {
            latencies.record_latency(Duration::from_micros(micros));
        }
    }

    /// How many of the `appended` positions this subscriber never received.
    pub fn missing(&self, appended: &[u64]) -> u64 {
        let received = |position: u64| {
            position
                .checked_sub(self.start + 1)
                .and_then(|index| {
                    self.seen
                        .get((index / 64) as usize)
                        .map(|word| word & (1u64 << (index % 64)) != 0)
                })
                .unwrap_or(false)
        };
        appended
            .iter()
            .filter(|position| !received(**position))
            .count() as u64
    }
}

fn unix_us(now: SystemTime) -> i64 {
    now.duration_since(SystemTime::UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(run_id: &str, position: u64) -> Vec<u8> {
        format!(
            r#"{{"run_id":"{run_id}","seq":2,"position":{position},"type":"progress","data":{{"n":1}},"at":"2026-11-27T00:00:00.000Z"}}"#
        )
        .into_bytes()
    }

    fn check(positions: &[u64]) -> Subscriber {
        let mut subscriber =
            Subscriber::new(Arc::from("b1-"), 10, Arc::new(Mutex::new(Tally::new())));
        let deliveries = AtomicU64::new(0);
        for position in positions {
            subscriber
                .receive(&event("b1-t0", *position), Instant::now(), 0, &deliveries)
                .expect("a valid event");
        }
        subscriber
            .receive(&event("other", 12), Instant::now(), 0, &deliveries)
            .expect("another writer's event is ignored");
        subscriber
    }

    #[test]
    fn counts_duplicates_reordering_and_missing_events() {
        let clean = check(&[11, 12, 13]);
        assert_eq!(
            (clean.deliveries, clean.duplicates, clean.out_of_order),
            (3, 0, 0)
        );
        assert_eq!(clean.missing(&[11, 12, 13]), 0);

        let messy = check(&[11, 13, 12, 13, 200]);
        assert_eq!(
            (messy.deliveries, messy.duplicates, messy.out_of_order),
            (4, 1, 1)
        );
        assert_eq!(messy.missing(&[11, 12, 13, 14, 200]), 1);
    }

    #[test]
    fn an_event_before_the_start_is_refused() {
        let mut subscriber =
            Subscriber::new(Arc::from("b1-"), 10, Arc::new(Mutex::new(Tally::new())));
        let deliveries = AtomicU64::new(0);
        let error = subscriber
            .receive(&event("b1-t0", 10), Instant::now(), 0, &deliveries)
            .unwrap_err();
        assert_eq!(error.name, "position_out_of_range");
    }
}
