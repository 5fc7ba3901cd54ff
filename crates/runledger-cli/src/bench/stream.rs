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
//! the small reader of [`super::sse`], a bitmap of positions seen, and
//! latencies batched into one shared histogram. The latency of a delivery
//! is the wall clock when its chunk arrived minus the event's `at`, which
//! the server takes just before the commit in whole milliseconds; both
//! clocks are this machine's, so bench and server must run on one machine.

use super::names;
use super::stats::print_summary;
use super::stats::{StreamCheck, Summary, Tally};
use super::subscriber::{Subscriber, follow, open_streams};
use super::target::{OpError, Target};
use super::{progress, target};
use crate::cli::BenchArgs;
use crate::failure::{Failure, Verdict};
use runledger::{AppendEvent, CreateRun, Error, EventType, Kind, RunId, Tenant};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long subscribers may take, after the last append, to receive the rest.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the drain checks whether every subscriber has everything.
const DRAIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Runs the stream workload against `server`.
pub async fn run(server: &str, args: &BenchArgs) -> Result<Verdict, Failure> {
    let client = target::server_client(server).await?;
    let base = client.base().trim_end_matches('/').to_owned();
    let target = Target::Server(client);
    let plan = StreamPlan::new(&names::new_tag(), args.clients)?;

    let preparing = progress::preparing_spinner(args.workload);
    let start = plan.prepare(&target).await.map_err(target::op_failure)?;
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
    let bar = progress::progress_bar(args.workload, duration);
    let ops = Arc::new(AtomicU64::new(0));
    let ticker = tokio::spawn(progress::tick_progress(bar.clone(), ops.clone(), duration));
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
    print_summary(&summary, args, &tally)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
