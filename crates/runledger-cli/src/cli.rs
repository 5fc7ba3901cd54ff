//! The command line as clap derives it: every verb, flag, default and
//! example. Parsing only; each verb's behaviour lives in its own file.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// What `runledger --help` says before the commands: the whole tool.
const TOP_ABOUT: &str = "\
runledger keeps workflow and job run records: one record per run, its event
log written with every state change, concurrency groups, leases and fencing,
all enforced by the database (SQLite file or PostgreSQL), so they hold across
processes and machines.

The server (`runledger serve`) offers them over an HTTP/JSON API with live
event streams (SSE, WebSocket), an OpenAPI document at /v1/openapi.json,
Prometheus metrics at /metrics and a web dashboard at /. The other commands
talk to that server (`runs`, `bench --server`) or open the database directly
(`tenant`, `doctor`, `import`, `bench --db`).";

/// Examples shown under `runledger --help`.
const TOP_EXAMPLES: &str = "\
Examples:
  # the server: SQLite file runledger.db, http://127.0.0.1:7878, dashboard at /
  runledger serve

  # a run, a worker's lifecycle and the run's events
  runledger runs create --kind etl --id nightly-1
  runledger runs claim --owner worker-1 --lease-ttl 30s --kind etl
  runledger runs finish nightly-1 --lease-epoch 1 --outcome succeeded
  runledger runs events nightly-1 --follow

  # API tokens (from the first one on, every request needs one)
  runledger tenant token add acme --db sqlite://runledger.db

  # audit a database; load a legacy run table; measure throughput
  runledger doctor --db sqlite://runledger.db
  runledger import legacy-runs.csv --db sqlite://runledger.db --apply
  runledger bench --db sqlite:///tmp/bench.db --workload create

`runledger COMMAND --help` shows each command's flags and examples.

Exit codes: 0 success, 1 refused or problems found, 2 usage error or the
database could not be opened, 3 the server could not be reached, 4 serve
could not listen (the address is in use or not allowed).";

/// Examples shown under `runledger bench --help`.
const BENCH_EXAMPLES: &str = "\
Examples:
  # 16 callers creating new runs for 10 s, summary table
  runledger bench --db sqlite:///tmp/rlbench.db --workload create

  # repeat creates of 10,000 existing runs, as JSON
  runledger bench --db sqlite:///tmp/rlbench.db --workload repeat --json

  # 8 processes of 2 callers each racing on shared ids, then the audit
  runledger bench --db sqlite:///tmp/rlrace.db --workload race --processes 8 --clients 2

  # one hot concurrency group decided by 16 callers, then the audit (never over the limit)
  runledger bench --db postgres://postgres@127.0.0.1:5432/rlbench --workload hot-group --json

  # 4 callers each creating batches of 1,000 runs; the summary adds runs/s
  runledger bench --db sqlite:///tmp/rlbatch.db --workload batch --clients 4

  # the same over HTTP against a running server (token from RUNLEDGER_TOKEN)
  runledger bench --server http://127.0.0.1:7878 --workload create --clients 32 --duration 10

  # an HTTP race audited with the library on the server's own database file
  runledger bench --server http://127.0.0.1:7878 --db sqlite://runledger.db --workload race --json

  # 1,000 SSE subscribers on the tenant stream while 100 events/s are appended
  # (raise the open-file limit first if it is below about 2,100)
  ulimit -n 4096
  runledger bench --server http://127.0.0.1:7878 --workload stream --subscribers 1000 --rate 100 --duration 30

  # 1,000 idle subscribers for 60 s (read the server's RSS meanwhile)
  runledger bench --server http://127.0.0.1:7878 --workload stream --subscribers 1000 --rate 0 --duration 60

--server sends every operation as an HTTP request. Its race audit counts
duplicates, over-limit groups and orphans from the server's run list once
the race's leases have ended; with --db as well, the library's full audit
runs on that database instead.

The stream workload (--server only) opens --subscribers SSE connections to
GET /v1/events/stream, each starting after the tenant's current last
position, then --clients appenders append --rate events/s in total (each to
a run of its own) for --duration seconds. Every subscriber checks that it
receives each appended event exactly once and in position order. The
latencies are commit to delivery: the time a subscriber parsed the event
minus the event's `at` (taken by the server just before the commit, in
whole milliseconds), so bench and server must share one machine's clock.
The summary adds subscribers, deliveries, deliveries_per_sec, missing,
duplicates and out_of_order; ops, ops/s and errors count the appends (ops/s
below --rate: the server could not keep up; nothing is sent after the
deadline), and subscribers that could not connect or were cut off count as
errors.

Exit codes: 0 done without errors, 1 some operations failed, the race
audit found duplicates, over-limit groups or orphans, or a stream subscriber
missed, repeated or reordered an event, 2 usage error or the
database could not be opened, 3 the server could not be reached. Use a
fresh database: a bench writes thousands of runs into it.";

/// Examples shown under `runledger doctor --help`.
const DOCTOR_EXAMPLES: &str = "\
Examples:
  runledger doctor --db sqlite://runledger.db
  runledger doctor --db sqlite:///var/lib/app/runs.db --json
  RUNLEDGER_DB=sqlite://runledger.db runledger doctor --fix

--fix repairs only what is safe to repair without a human: today that is
expired leases (their runs are moved to timed_out, as the reaper would).
Duplicates, orphans, gaps and over-limit groups are reported, never changed.

Exit codes: 0 clean, 1 problems remain, 2 usage error or the database could
not be opened.";

/// Run records whose guarantees the database enforces.
#[derive(Debug, Parser)]
#[command(
    name = "runledger",
    version,
    about = "Run records whose guarantees the database enforces: server, client, audit, import and load generator",
    long_about = TOP_ABOUT,
    after_help = TOP_EXAMPLES
)]
pub struct Cli {
    /// The server of `runs` and `bench` when given before the command
    /// (they also take it after); refused with any other command.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The verb to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs of this build.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load a ledger with concurrent callers; report ops/s and latency.
    #[command(after_help = BENCH_EXAMPLES)]
    Bench(BenchArgs),
    /// Audit a database for every guarantee; repair what is safe with --fix.
    #[command(after_help = DOCTOR_EXAMPLES)]
    Doctor(DoctorArgs),
    /// Serve the HTTP API and the dashboard until SIGTERM or Ctrl-C.
    #[command(after_help = crate::serve::SERVE_EXAMPLES)]
    Serve(crate::serve::ServeArgs),
    /// Manage tenants and their API tokens.
    #[command(after_help = crate::tenant::TENANT_EXAMPLES)]
    Tenant(crate::tenant::TenantArgs),
    /// Load legacy run records (CSV or JSON lines) with their history; a dry run unless --apply.
    #[command(after_help = crate::import::IMPORT_EXAMPLES)]
    Import(crate::import::ImportArgs),
    /// Create, read, change and follow runs on a runledger server.
    #[command(after_help = crate::runs::RUNS_EXAMPLES)]
    Runs(crate::runs::RunsArgs),
}

/// `runledger bench`. The target is `--db URL` (in-process) or the global
/// `--server URL` (over HTTP); both together is the server bench with the
/// race audited on the database.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The runledger server to load over HTTP (token from RUNLEDGER_TOKEN).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The database to load in-process through the library:
    /// sqlite:///abs/path.db, sqlite://relative.db or a plain path. Required
    /// unless --server is given (never read from RUNLEDGER_DB, so a bench
    /// cannot land in a real ledger by accident); created and migrated when
    /// missing. With --server: only the race audit reads it.
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
    /// What every operation does.
    #[arg(long, value_enum)]
    pub workload: Workload,
    /// Concurrent callers per process.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4_096))]
    pub clients: u32,
    /// How long to load, in seconds (fractions allowed).
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_duration_s)]
    pub duration: f64,
    /// Processes on the same database, each with --clients callers; the
    /// summary adds them up.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub processes: u32,
    /// Stream workload: SSE subscribers on the tenant stream.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub subscribers: u32,
    /// Stream workload: events appended per second, spread over the
    /// --clients appenders; 0 appends nothing (idle subscribers).
    #[arg(long, value_name = "EVENTS_PER_S", default_value = "100", value_parser = parse_rate)]
    pub rate: f64,
    /// Print the summary as one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Internal: run as one of the processes of `--processes`, talking to
    /// the parent over stdin and stdout.
    #[arg(long, hide = true, requires = "run_tag")]
    pub worker: bool,
    /// Internal: the name prefix every process of one bench shares.
    #[arg(long, hide = true, value_name = "TAG")]
    pub run_tag: Option<String>,
}

/// What a bench operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Each operation creates a new run with a new id.
    Create,
    /// 10,000 runs are created first; each operation re-creates one of them
    /// with identical parameters (a read, no write).
    Repeat,
    /// All callers race on 500 shared ids, their children, concurrency
    /// groups (limits 1 and 3, every on_full policy), starts, finishes and
    /// cancels; then the audit counts duplicates, over-limit groups and orphans.
    Race,
    /// 1,000 runs are created first; each operation appends an event to one of them.
    Append,
    /// Each operation creates a new run in one of 1,000 concurrency groups
    /// (limit 1,000, reject).
    Group,
    /// Every caller decides in one concurrency group (limit 3, reject): each
    /// operation creates a run in it — admitted, or refused with
    /// `concurrency_limit` (counted as an operation, not an error) — and an
    /// admitted run is cancelled at once, freeing its slot (a second
    /// decision). With --db the audit then counts over-limit groups.
    HotGroup,
    /// 50,000 runs are queued first; each operation claims the oldest
    /// queued one (started under the caller's lease); a caller stops when
    /// the queue is empty.
    Claim,
    /// Each operation is one batch create of 1,000 new runs (not atomic);
    /// the summary adds runs/s. The published figure is for 4 callers
    /// (`--clients 4`).
    Batch,
    /// Each operation creates a run in one of 16 concurrency groups (limit
    /// 1, on_full replace_pending): the first takes the slot, each later
    /// one cancels the group's pending run and is pending in its place.
    #[value(alias = "replace_pending")]
    ReplacePending,
    /// --server only: --subscribers SSE subscribers follow the tenant stream
    /// while --clients appenders append --rate events/s; every subscriber
    /// must get every event once, in order; latencies are commit to delivery.
    Stream,
}

impl Workload {
    /// The workload's name on the command line and in the JSON summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Workload::Create => "create",
            Workload::Repeat => "repeat",
            Workload::Race => "race",
            Workload::Append => "append",
            Workload::Group => "group",
            Workload::HotGroup => "hot-group",
            Workload::Claim => "claim",
            Workload::Stream => "stream",
            Workload::Batch => "batch",
            Workload::ReplacePending => "replace-pending",
        }
    }
}

/// `runledger doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The database to audit: sqlite:///abs/path.db, sqlite://relative.db or
    /// a plain path. It must exist.
    #[arg(long, value_name = "URL", env = "RUNLEDGER_DB", hide_env_values = true)]
    pub db: String,
    /// Repair what is safe: today only expired leases (reaped to timed_out).
    #[arg(long)]
    pub fix: bool,
    /// Print `{"ok": bool, "problems": [...]}` instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Longest bench: one day.
const BENCH_DURATION_S_MAX: f64 = 86_400.0;

/// Highest stream append rate: a million events per second.
const BENCH_RATE_EVENTS_PER_S_MAX: f64 = 1_000_000.0;

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of events per second"))?;
    if rate.is_finite() && (0.0..=BENCH_RATE_EVENTS_PER_S_MAX).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!(
            "{text} is out of range; expected 0 to {BENCH_RATE_EVENTS_PER_S_MAX} events per second"
        ))
    }
}

fn parse_duration_s(text: &str) -> Result<f64, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    if seconds.is_finite() && seconds > 0.0 && seconds <= BENCH_DURATION_S_MAX {
        Ok(seconds)
    } else {
        Err(format!(
            "{text} is out of range; expected more than 0 and at most {BENCH_DURATION_S_MAX} seconds"
        ))
    }
}

/// `--db` of a command that opens the ledger, from `RUNLEDGER_DB` when not
/// given and `sqlite://runledger.db` when neither is.
#[derive(Debug, Clone, Args)]
pub struct LedgerDb {
    /// The database: sqlite://relative.db, sqlite:///abs/path.db, a plain
    /// path, or postgres://…; created and migrated when missing.
    #[arg(
        long = "db",
        value_name = "URL",
        env = "RUNLEDGER_DB",
        hide_env_values = true,
        default_value = "sqlite://runledger.db"
    )]
    pub url: String,
}
