//! Prometheus metrics: the recorder (installed once per process), the
//! per-request counter and latency histogram, runs by state (counted on
//! each scrape), and audit violation counts (a full scan, so computed by a
//! background task every [`AUDIT_INTERVAL`], never per scrape). The ledger's
//! own writer and reaper metrics arrive through the same `metrics` facade.

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use runledger::{Ledger, ProblemKind, RunState};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Every request: `method`, `route` (the template, `unmatched` for none), `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "runledger_http_requests_total";
/// Latency of every request, by `method` and `route`.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "runledger_http_request_duration_seconds";
/// Runs in each `state`, over all tenants.
pub const RUNS: &str = "runledger_runs";
/// Violations the last audit found, by `kind`.
pub const AUDIT_PROBLEMS: &str = "runledger_audit_problems";
/// When the last audit finished (Unix seconds).
pub const AUDIT_LAST_RUN_SECONDS: &str = "runledger_audit_last_run_timestamp_seconds";

/// How often the background audit runs.
pub const AUDIT_INTERVAL: Duration = Duration::from_secs(60);
/// How often histograms are folded for rendering.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

const LATENCY_BUCKETS_SECONDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Every audit problem kind, so each has a gauge (0 when clean).
const PROBLEM_KINDS: [ProblemKind; 11] = [
    ProblemKind::DuplicateRun,
    ProblemKind::DuplicateChild,
    ProblemKind::MissingCreatedEvent,
    ProblemKind::MissingLifecycleEvent,
    ProblemKind::SeqGap,
    ProblemKind::PositionGap,
    ProblemKind::OrphanEvent,
    ProblemKind::OverLimit,
    ProblemKind::StuckPending,
    ProblemKind::ExpiredLease,
    ProblemKind::LeaseMismatch,
];

/// Fails to compile when the library adds a problem kind, so
/// [`PROBLEM_KINDS`] is updated with it.
#[allow(dead_code)]
fn every_problem_kind_is_listed(kind: ProblemKind) {
    match kind {
        ProblemKind::DuplicateRun
        | ProblemKind::DuplicateChild
        | ProblemKind::MissingCreatedEvent
        | ProblemKind::MissingLifecycleEvent
        | ProblemKind::SeqGap
        | ProblemKind::PositionGap
        | ProblemKind::OrphanEvent
        | ProblemKind::OverLimit
        | ProblemKind::StuckPending
        | ProblemKind::ExpiredLease
        | ProblemKind::LeaseMismatch => {}
    }
}

/// The process's Prometheus handle, installing the recorder on first use.
/// When another recorder already owns the process (a test harness, an
/// embedding application), the handle renders only what this server sets
/// through it, and the server keeps working.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = || {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(HTTP_REQUEST_DURATION_SECONDS.to_owned()),
                    &LATENCY_BUCKETS_SECONDS,
                )
                .unwrap_or_else(|_| PrometheusBuilder::new())
        };
        let handle = builder().install_recorder().unwrap_or_else(|error| {
            tracing::warn!(%error, "a metrics recorder is already installed; /metrics shows little");
            builder().build_recorder().handle()
        });
        describe_families();
        handle
    })
}

/// The gauge of event streams (SSE streams and WebSocket connections and
/// subscriptions) open on this server.
pub const OPEN_STREAMS: &str = "runledger_open_streams";

/// The gauge of WebSocket connections (`GET /v1/ws`) open on this server,
/// whatever their subscriptions: what shows a client opening more sockets
/// than it should (each one also counts in [`OPEN_STREAMS`]).
pub const OPEN_WEBSOCKETS: &str = "runledger_open_websockets";

/// One open WebSocket in [`OPEN_WEBSOCKETS`], for as long as it lives.
pub struct OpenWebSocket(());

impl OpenWebSocket {
    /// Counts a socket that has just been upgraded.
    pub fn count() -> OpenWebSocket {
        metrics::gauge!(OPEN_WEBSOCKETS).increment(1.0);
        OpenWebSocket(())
    }
}

impl Drop for OpenWebSocket {
    fn drop(&mut self) {
        metrics::gauge!(OPEN_WEBSOCKETS).decrement(1.0);
    }
}

/// The gauge of live event subscribers on this server, by `transport`:
/// `sse` (each SSE stream, run or tenant) and `websocket` (each WebSocket
/// subscription that still follows a log, not the connections).
pub const OPEN_SUBSCRIBERS: &str = "runledger_open_subscribers";

/// How a subscriber receives its events, the label of [`OPEN_SUBSCRIBERS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A Server-Sent Events stream.
    Sse,
    /// A subscription on a WebSocket connection.
    WebSocket,
}

impl Transport {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Sse => "sse",
            Transport::WebSocket => "websocket",
        }
    }
}

/// One subscriber in [`OPEN_SUBSCRIBERS`], for as long as it lives.
#[derive(Debug)]
pub struct OpenSubscriber(Transport);

impl OpenSubscriber {
    /// Counts a subscriber that has just started following a log.
    pub fn count(transport: Transport) -> OpenSubscriber {
        metrics::gauge!(OPEN_SUBSCRIBERS, "transport" => transport.as_str()).increment(1.0);
        OpenSubscriber(transport)
    }
}

impl Drop for OpenSubscriber {
    fn drop(&mut self) {
        metrics::gauge!(OPEN_SUBSCRIBERS, "transport" => self.0.as_str()).decrement(1.0);
    }
}

/// Gives every metric family its `# HELP` line and sets
/// `runledger_build_info`.
fn describe_families() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS_TOTAL,
        "HTTP requests answered, by method, route and status."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        "Time to answer an HTTP request (to its head; a stream's life is not counted), by method and route."
    );
    describe_gauge!(RUNS, "Runs by state, every tenant, as of the last scrape.");
    describe_gauge!(
        AUDIT_PROBLEMS,
        "Problems the last background audit found, by kind."
    );
    describe_gauge!(
        AUDIT_LAST_RUN_SECONDS,
        "When the last background audit ran (Unix seconds)."
    );
    describe_gauge!(
        OPEN_STREAMS,
        "Event streams open on this server: SSE streams, WebSocket connections and their subscriptions."
    );
    describe_gauge!(
        OPEN_WEBSOCKETS,
        "WebSocket connections (GET /v1/ws) open on this server."
    );
    // Shown as 0 before the first socket, so a scrape can tell "none" from "not counted".
    metrics::gauge!(OPEN_WEBSOCKETS).increment(0.0);
    describe_gauge!(
        OPEN_SUBSCRIBERS,
        "Live event subscribers on this server, by transport: sse (streams) and websocket (subscriptions)."
    );
    for transport in [Transport::Sse, Transport::WebSocket] {
        metrics::gauge!(OPEN_SUBSCRIBERS, "transport" => transport.as_str()).increment(0.0);
    }
    describe_counter!(
        runledger::counters::EVENTS_APPENDED_TOTAL,
        "Caller events appended by this process (lifecycle events not included)."
    );
    describe_counter!(
        runledger::counters::RUNS_FINISHED_TOTAL,
        "Runs this process moved to a terminal state, by outcome (succeeded, failed, cancelled, timed_out)."
    );
    // Shown as 0 from the first scrape, so a rate has a starting point.
    metrics::counter!(runledger::counters::EVENTS_APPENDED_TOTAL).increment(0);
    for state in RunState::ALL
        .into_iter()
        .filter(|state| state.is_terminal())
    {
        metrics::counter!(runledger::counters::RUNS_FINISHED_TOTAL, "outcome" => state.as_str())
            .increment(0);
    }
    describe_counter!(
        "runledger_reaped_leases_total",
        "Runs the reaper timed out because their lease expired."
    );
    describe_counter!(
        "runledger_relay_published_total",
        "Events the NATS relay published and the broker acknowledged."
    );
    describe_gauge!(
        "runledger_relay_lag_events",
        "Events not yet published by the NATS relay, by tenant."
    );
    describe_gauge!(
        runledger::relay::RELAY_LEASE_HELD,
        "1 while this process holds the NATS relay's lease (publishes), else 0."
    );
    describe_gauge!(
        "runledger_writer_queue_depth",
        "SQLite: write operations waiting for the writer thread."
    );
    describe_histogram!(
        "runledger_writer_batch_operations",
        "SQLite: operations committed per write transaction."
    );
    describe_gauge!(
        "runledger_build_info",
        "Always 1; the labels name the build."
    );
    metrics::gauge!("runledger_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// Middleware: counts every request and records its latency.
pub async fn record_http_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    tracing::debug!(%method, %route, %status, elapsed_ms = started.elapsed().as_millis() as u64, "answered");
    metrics::counter!(HTTP_REQUESTS_TOTAL, "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The method as a label: the standard ones by name, anything else as
/// `other`, so a client inventing methods cannot grow the label set.
fn method_label(method: &Method) -> String {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    if KNOWN.contains(method) {
        method.as_str().to_owned()
    } else {
        "other".to_owned()
    }
}

/// Sets the runs-by-state gauges from the ledger's counts.
pub async fn refresh_run_counts(ledger: &Ledger) -> Result<(), runledger::Error> {
    let counts = ledger.run_counts().await?;
    for state in RunState::ALL {
        let count = counts
            .iter()
            .find(|(counted, _)| *counted == state)
            .map_or(0, |(_, count)| *count);
        metrics::gauge!(RUNS, "state" => state.as_str()).set(count as f64);
    }
    Ok(())
}

/// Renders every metric in the Prometheus text format.
pub fn render() -> String {
    let handle = prometheus();
    handle.run_upkeep();
    handle.render()
}

/// Runs the audit and sets its gauges.
pub async fn record_audit(ledger: &Ledger) {
    match ledger.audit().await {
        Ok(audit) => {
            for kind in PROBLEM_KINDS {
                let name = problem_kind_name(kind);
                metrics::gauge!(AUDIT_PROBLEMS, "kind" => name).set(audit.count(kind) as f64);
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            metrics::gauge!(AUDIT_LAST_RUN_SECONDS).set(now.as_secs_f64());
            if !audit.is_clean() {
                tracing::warn!(
                    problems = audit.problems.len(),
                    "the audit found problems; run `runledger doctor`"
                );
            }
        }
        Err(error) => tracing::error!(%error, "the background audit failed"),
    }
}

fn problem_kind_name(kind: ProblemKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{kind:?}"),
    }
}

/// Spawns the metrics background work: the audit every [`AUDIT_INTERVAL`]
/// (first at once) and histogram upkeep. Aborted when the guard drops.
pub fn spawn_background(ledger: Ledger) -> BackgroundTasks {
    prometheus();
    let audit = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(AUDIT_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            record_audit(&ledger).await;
        }
    });
    let upkeep = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            ticker.tick().await;
            prometheus().run_upkeep();
        }
    });
    BackgroundTasks {
        handles: vec![audit, upkeep],
    }
}

/// Background tasks that stop when this is dropped.
#[derive(Debug)]
pub struct BackgroundTasks {
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for BackgroundTasks {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}
