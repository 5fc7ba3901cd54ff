//! `runledger bench --server URL --workload stream` (PERFORMANCE.md P7):
//! `--subscribers` SSE subscribers follow the tenant stream while
//! `--clients` appenders append `--rate` events/s in total, and every
//! subscriber checks that it gets each appended event exactly once, in
//! position order.
//!
//! The order of things:
//!
//! 1. One run per appender is created, then one marker event is appended;
//!    its position is the stream's start (`after`), so subscribers see only
//!    what the bench appends next (there is no route that answers the
//!    tenant's last position).
//! 2. Every subscriber opens `GET /v1/events/stream?after=<start>` (at most
//!    [`SUBSCRIBES_IN_FLIGHT_MAX`] at a time) and waits for the headers;
//!    the load starts when all are open. Resuming from `after` makes the
//!    start race-free: an event committed before a subscription reached
//!    the server's broadcast is caught up from the database.
//! 3. Appender `i` of `n` appends its `k`-th event at `(i + k·n) / rate`
//!    seconds into the load (open loop: a late append is sent at once, the
//!    schedule does not slide; none is sent after the deadline, so a server
//!    that cannot keep up shows as `ops_per_sec` below `--rate`), and keeps
//!    the positions the server answered.
//! 4. After the last append, subscribers get up to [`DRAIN_TIMEOUT`] to
//!    receive the rest; then each appended position a subscriber lacks is
//!    `missing`.
//!
//! Subscribers are cheap: one reqwest client (one connection per stream),
//! the small reader of [`crate::sse`], a bitmap of positions seen, and
//! latencies batched into one shared histogram. The latency of a delivery
//! is the wall clock when its chunk arrived minus the event's `at`, which
//! the server takes just before the commit in whole milliseconds; both
//! clocks are this machine's, so bench and server must run on one machine.

use crate::bench;
use crate::cli::BenchArgs;
use crate::failure::{Failure, Verdict};
use crate::sse::SseReader;
use crate::stats::{StreamCheck, Summary, Tally};
use crate::target::{OpError, Target};
use crate::workload;
use runledger::{AppendEvent, CreateRun, Error, EventType, Kind, RunId, Tenant, Timestamp};
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// How long subscribers may take, after the last append, to receive the rest.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening one stream (connect, request, headers) may take.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Streams being opened at once.
const SUBSCRIBES_IN_FLIGHT_MAX: usize = 64;
/// How often the drain checks whether every subscriber has everything.
const DRAIN_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Positions past the start one subscriber keeps track of (a bit each).
const POSITIONS_TRACKED_MAX: u64 = 1 << 30;
/// Latencies a subscriber collects before adding them to the shared histogram.
const LATENCIES_BATCH_MAX: usize = 256;

/// Runs the stream workload against `server`.
pub async fn run(server: &str, args: &BenchArgs) -> Result<Verdict, Failure> {
    let client = bench::server_client(server).await?;
    let base = client.base().trim_end_matches('/').to_owned();
    let target = Target::Server(client);
    let plan = StreamPlan::new(&workload::new_tag(), args.clients)?;

    let preparing = bench::preparing_spinner(args.workload);
    let start = plan.prepare(&target).await.map_err(bench::op_failure)?;
    let latencies = Arc::new(Mutex::new(Tally::new()));
    let deliveries = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = watch::channel(false);
    let opened = open_streams(&base, start, args.subscribers).await?;
    preparing.finish_and_clear();

    let mut tally = Tally::new();
    let mut followers = JoinSet::new();
    let prefix: Arc<str> = Arc::from(format!("{}-", plan.tag));
    for stream in opened {
        match stream {
            Ok(response) => {
                let subscriber = Subscriber::new(prefix.clone(), start, latencies.clone());
                followers.spawn(follow(
                    response,
                    subscriber,
                    stopped.clone(),
                    deliveries.clone(),
                ));
            }
            Err(error) => tally.record_failure(&error),
        }
    }
    let following = followers.len() as u64;

    let duration = Duration::from_secs_f64(args.duration);
    let bar = bench::progress_bar(args.workload, duration);
    let ops = Arc::new(AtomicU64::new(0));
    let ticker = tokio::spawn(bench::tick_progress(bar.clone(), ops.clone(), duration));
    let started = Instant::now();
    let deadline = started + duration;
    let plan = Arc::new(plan);
    let mut appenders = JoinSet::new();
    if args.rate > 0.0 {
        for appender in 0..args.clients {
            let schedule = Schedule {
                appender,
                appenders: args.clients,
                rate: args.rate,
                started,
                deadline,
            };
            appenders.spawn(plan.clone().append(target.clone(), schedule, ops.clone()));
        }
    }
    let mut appended = Vec::new();
    while let Some(joined) = appenders.join_next().await {
        let (appender_tally, positions) =
            joined.map_err(|error| Failure::Failed(format!("an appender failed: {error}")))?;
        tally.merge(&appender_tally);
        appended.extend(positions);
    }
    tokio::time::sleep_until(deadline.into()).await;
    let load_elapsed = started.elapsed();
    ticker.abort();
    bar.finish_and_clear();

    let expected = appended.len() as u64 * following;
    let drain_deadline = Instant::now() + DRAIN_TIMEOUT;
    while deliveries.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(DRAIN_POLL_INTERVAL).await;
    }
    let _ = stop.send(true);

    appended.sort_unstable();
    let mut check = StreamCheck {
        subscribers: u64::from(args.subscribers),
        ..StreamCheck::default()
    };
    let mut last_delivery = started;
    while let Some(joined) = followers.join_next().await {
        let mut subscriber =
            joined.map_err(|error| Failure::Failed(format!("a subscriber failed: {error}")))?;
        subscriber.flush_latencies();
        check.deliveries += subscriber.deliveries;
        check.duplicates += subscriber.duplicates;
        check.out_of_order += subscriber.out_of_order;
        check.missing += subscriber.missing(&appended);
        if let Some(at) = subscriber.last_delivery {
            last_delivery = last_delivery.max(at);
        }
        if let Some(failure) = &subscriber.failure {
            tally.record_failure(failure);
        }
    }
    // Subscribers that never opened missed everything.
    check.missing += (u64::from(args.subscribers) - following) * appended.len() as u64;

    // The summary's latencies are the deliveries'; ops and errors the appends'.
    tally.latency_us = latencies
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .latency_us
        .clone();
    let summary = Summary::new(
        args.workload.as_str(),
        u64::from(args.clients),
        load_elapsed,
        &tally,
        None,
    )
    .with_stream(&check, last_delivery.max(started + load_elapsed) - started);
    bench::print_summary(&summary, args, &tally)?;
    Ok(if tally.errors > 0 || check.has_problems() {
        Verdict::Problems
    } else {
        Verdict::Success
    })
}

/// The names and runs of one stream bench.
struct StreamPlan {
    tag: String,
    tenant: Tenant,
    kind: Kind,
    event_type: EventType,
    /// One run per appender.
    runs: Vec<RunId>,
}

/// When one appender appends.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    appender: u32,
    appenders: u32,
    /// Events per second, all appenders together.
    rate: f64,
    started: Instant,
    deadline: Instant,
}

impl Schedule {
    /// When this appender's `k`-th event is due.
    fn due(&self, k: u64) -> Instant {
        let offset_s =
            (f64::from(self.appender) + k as f64 * f64::from(self.appenders)) / self.rate;
        self.started + Duration::from_secs_f64(offset_s)
    }
}

impl StreamPlan {
    fn new(tag: &str, appenders: u32) -> Result<StreamPlan, Error> {
        Ok(StreamPlan {
            tag: tag.to_owned(),
            tenant: Tenant::default(),
            kind: Kind::parse("bench")?,
            event_type: EventType::parse("progress")?,
            runs: (0..appenders)
                .map(|n| RunId::parse(&format!("{tag}-t{n}")))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Creates the appenders' runs and appends the marker; answers its
    /// position, after which the subscribers start.
    async fn prepare(&self, target: &Target) -> Result<u64, OpError> {
        for id in &self.runs {
            let request = CreateRun::new(self.kind.clone()).id(id.clone());
            target.create_run(&self.tenant, request).await?;
        }
        let marker = AppendEvent::new(self.event_type.clone(), json!({"bench": "start"}));
        let appended = target
            .append_event(&self.tenant, &self.runs[0], marker)
            .await?;
        Ok(appended.position)
    }

    /// One appender: appends on `schedule` until its deadline; answers its
    /// tally and the positions the server gave its events.
    async fn append(
        self: Arc<StreamPlan>,
        target: Target,
        schedule: Schedule,
        ops: Arc<AtomicU64>,
    ) -> (Tally, Vec<u64>) {
        let mut tally = Tally::new();
        let mut positions = Vec::new();
        let id = &self.runs[schedule.appender as usize];
        for k in 0.. {
            let due = schedule.due(k);
            // A server that cannot keep up is measured at the rate it
            // managed: what was due but not sent by the deadline is dropped.
            if due >= schedule.deadline || Instant::now() >= schedule.deadline {
                break;
            }
            tokio::time::sleep_until(due.into()).await;
            let request = AppendEvent::new(self.event_type.clone(), json!({"n": k}));
            let sent = Instant::now();
            match target.append_event(&self.tenant, id, request).await {
                Ok(appended) => {
                    tally.record_ok(sent.elapsed());
                    positions.push(appended.position);
                }
                Err(error) => tally.record_error(sent.elapsed(), &error, &[]),
            }
            ops.fetch_add(1, Ordering::Relaxed);
        }
        (tally, positions)
    }
}

/// Opens `count` tenant streams starting after position `start`, at most
/// [`SUBSCRIBES_IN_FLIGHT_MAX`] at a time; answers each response (status
/// 200) or why it could not be opened.
async fn open_streams(
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
    let token = bench::token();
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
async fn follow(
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
struct Subscriber {
    /// The bench's run ids start with this; other events are not counted.
    prefix: Arc<str>,
    /// The position the stream started after.
    start: u64,
    /// Bit `p - start - 1` is set once position `p` was received.
    seen: Vec<u64>,
    /// The highest position received.
    last_position: u64,
    deliveries: u64,
    duplicates: u64,
    out_of_order: u64,
    last_delivery: Option<Instant>,
    /// Latencies in microseconds, not yet in `latencies`.
    pending_us: Vec<u64>,
    latencies: Arc<Mutex<Tally>>,
    /// Why the stream ended before it was stopped.
    failure: Option<OpError>,
}

impl Subscriber {
    fn new(prefix: Arc<str>, start: u64, latencies: Arc<Mutex<Tally>>) -> Subscriber {
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
    fn flush_latencies(&mut self) {
        let mut latencies = self
            .latencies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for micros in self.pending_us.drain(..) {
            latencies.record_latency(Duration::from_micros(micros));
        }
    }

    /// How many of the `appended` positions this subscriber never received.
    fn missing(&self, appended: &[u64]) -> u64 {
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

    #[test]
    fn appenders_interleave_evenly() {
        let started = Instant::now();
        let schedule = |appender| Schedule {
            appender,
            appenders: 4,
            rate: 100.0,
            started,
            deadline: started,
        };
        let offsets_ms: Vec<u128> = [(0, 0), (1, 0), (3, 0), (0, 1)]
            .iter()
            .map(|(appender, k)| (schedule(*appender).due(*k) - started).as_millis())
            .collect();
        assert_eq!(offsets_ms, vec![0, 10, 30, 40]);
    }
}
