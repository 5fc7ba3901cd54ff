//! `runledger runs …` as clap derives it: each verb's flags, defaults and
//! examples. Parsing only; [`super::exec`] does the work.

use crate::duration::parse_duration_ms;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use runledger::{OnFull, Outcome};

/// The server `runs` talks to when neither `--server` nor `RUNLEDGER_SERVER` says.
pub const SERVER_DEFAULT: &str = "http://127.0.0.1:7878";

/// Examples shown under `runledger runs --help`.
pub const RUNS_EXAMPLES: &str = "\
Examples:
  runledger runs create --kind etl --id nightly-2026-11-26
  runledger runs get nightly-2026-11-26
  runledger runs list --state running --json
  runledger --server http://127.0.0.1:8080 runs events nightly-2026-11-26 --follow

The server is --server URL (before or after the verb), else RUNLEDGER_SERVER,
else http://127.0.0.1:7878; the API token is read from RUNLEDGER_TOKEN.
--json prints the API's JSON body instead of a table.

Exit codes: 0 success, 1 the server refused (its problem code and detail are
printed), 2 usage error, 3 the server could not be reached.";

const CREATE_EXAMPLES: &str = "\
Examples:
  # a run with a generated id
  runledger runs create --kind etl

  # a known id and attributes; repeating it answers the same run
  runledger runs create --kind etl --id nightly-2026-11-26 --attributes '{\"region\":\"eu\"}'

  # a child run: its id is nightly-2026-11-26:acme
  runledger runs create --kind etl-client --parent nightly-2026-11-26 --key acme

  # at most 2 active runs of group 'reports', queue the rest, start at once
  runledger runs create --kind report --concurrency-key reports --limit 2 \\
      --on-full enqueue --start-owner worker-1 --lease-ttl-ms 30000

  # every line of runs.jsonl, e.g. {\"id\":\"r1\",\"kind\":\"etl\"}, in batches
  runledger runs create --from-file runs.jsonl
  # all or nothing (at most 1,000 lines)
  runledger runs create --from-file runs.jsonl --atomic --json

Exit codes: 0 created or an identical run existed, 1 refused (run_conflict,
concurrency_limit, not_found, invalid input), 2 usage, 3 server unreachable.";

const GET_EXAMPLES: &str = "\
Examples:
  runledger runs get nightly-2026-11-26
  runledger runs get nightly-2026-11-26:acme --json";

const LIST_EXAMPLES: &str = "\
Examples:
  runledger runs list
  runledger runs list --state running --kind etl
  runledger runs list --parent nightly-2026-11-26 --json
  runledger runs list --limit 100 --cursor 4711   # the next page
  runledger runs list --newest --since 2026-12-07T00:00:00Z

A page holds --limit runs (default 50, at most 1,000), oldest first
(--newest: newest first); the
table ends with the --cursor of the next page, --json has next_cursor.";

const START_EXAMPLES: &str = "\
Examples:
  runledger runs start nightly-2026-11-26 --owner worker-1 --lease-ttl-ms 30000
  runledger runs start nightly-2026-11-26 --owner worker-1 --lease-ttl-ms 30000 --if-match 2

Only a queued run starts; the answer carries the lease epoch that heartbeat
and finish need.";

const CLAIM_EXAMPLES: &str = "\
Examples:
  # the oldest queued run of any kind, started for worker-1 with a 30 s lease
  runledger runs claim --owner worker-1 --lease-ttl 30s

  # only etl or report runs, waiting up to 10 s for one to be queued
  runledger runs claim --owner worker-1 --lease-ttl 30s --kind etl --kind report --wait 10s

  # only runs of concurrency group 'reports', as JSON for a script
  runledger runs claim --owner worker-1 --lease-ttl 5m --concurrency-key reports --json

Two claims never get the same run, from any process or server; pending runs
are never claimed. When nothing is queued within --wait (default 0), it says
so and exits 0 (--json prints null). Durations: 250ms, 30s, 5m, 1h, or a
number of milliseconds.";

const HEARTBEAT_EXAMPLES: &str = "\
Examples:
  runledger runs heartbeat nightly-2026-11-26 --lease-epoch 1
  runledger runs heartbeat nightly-2026-11-26 --lease-epoch 1 --lease-ttl-ms 60000";

const FINISH_EXAMPLES: &str = "\
Examples:
  runledger runs finish nightly-2026-11-26 --lease-epoch 1 --outcome succeeded --result '{\"rows\":42}'
  runledger runs finish nightly-2026-11-26 --lease-epoch 1 --outcome failed --error 'disk full'";

const CANCEL_EXAMPLES: &str = "\
Examples:
  runledger runs cancel nightly-2026-11-26
  runledger runs cancel nightly-2026-11-26 --reason 'superseded by a rerun'
  # the run and every child, grandchild, … that has not ended
  runledger runs cancel nightly-2026-11-26 --cascade --reason 'bad input'";

const EVENTS_EXAMPLES: &str = "\
Examples:
  # the run's events so far
  runledger runs events nightly-2026-11-26

  # follow the run live until its terminal event (or Ctrl-C), as JSON lines
  runledger runs events nightly-2026-11-26 --follow --json

  # follow every run of the tenant from position 1,200 on, until Ctrl-C
  runledger runs events --follow --after 1200

With a run id, --after is a seq; without one (tenant-wide, --follow only),
--after is a tenant position, and 0 (the default) replays the whole log
before following. Following never repeats or skips an event, even when
the server restarts meanwhile.";

/// `runledger runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// The runledger server (default http://127.0.0.1:7878, or
    /// RUNLEDGER_SERVER); before or after the verb.
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// Print the API's JSON body (JSON lines for --follow) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub verb: RunsVerb,
}

/// The verbs of `runledger runs`.
#[derive(Debug, Subcommand)]
pub enum RunsVerb {
    /// Create a run, or get back the identical existing one.
    #[command(after_help = CREATE_EXAMPLES)]
    Create(CreateArgs),
    /// Show one run.
    #[command(after_help = GET_EXAMPLES)]
    Get(IdArgs),
    /// List runs, oldest first, one page at a time.
    #[command(after_help = LIST_EXAMPLES)]
    List(ListArgs),
    /// Start a queued run under a new lease.
    #[command(after_help = START_EXAMPLES)]
    Start(StartArgs),
    /// Extend a running run's lease.
    #[command(after_help = HEARTBEAT_EXAMPLES)]
    Heartbeat(HeartbeatArgs),
    /// Finish a running run: succeeded or failed.
    #[command(after_help = FINISH_EXAMPLES)]
    Finish(FinishArgs),
    /// Take the oldest queued run (of some kinds, or of a group) and start it.
    #[command(after_help = CLAIM_EXAMPLES)]
    Claim(ClaimArgs),
    /// Cancel a pending, queued or running run.
    #[command(after_help = CANCEL_EXAMPLES)]
    Cancel(CancelArgs),
    /// Show a run's events, or follow a run or the whole tenant live.
    #[command(after_help = EVENTS_EXAMPLES)]
    Events(EventsArgs),
}

/// `runs create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// What is being run: [A-Za-z0-9._-]{1,128}.
    #[arg(long, required_unless_present = "from_file")]
    pub kind: Option<String>,
    /// Create the runs of a JSON Lines file instead: one create (the body of
    /// POST /v1/runs) per line, sent in batches of up to 1,000.
    #[arg(long, value_name = "FILE", conflicts_with_all = [
        "kind", "id", "parent", "key", "attributes", "concurrency_key", "start_owner",
        "idempotency_key",
    ])]
    pub from_file: Option<std::path::PathBuf>,
    /// With --from-file: all or nothing (at most 1,000 lines, one request).
    #[arg(long, requires = "from_file")]
    pub atomic: bool,
    /// The run id; the server generates one when absent.
    #[arg(long)]
    pub id: Option<String>,
    /// The parent run of a child (with --key).
    #[arg(long, value_name = "ID", requires = "key")]
    pub parent: Option<String>,
    /// The child key (with --parent); the child's id is PARENT:KEY.
    #[arg(long, requires = "parent")]
    pub key: Option<String>,
    /// A JSON object stored with the run.
    #[arg(long, value_name = "JSON")]
    pub attributes: Option<String>,
    /// The concurrency group.
    #[arg(long, value_name = "K")]
    pub concurrency_key: Option<String>,
    /// Most active runs of the group (1–10,000; server default 1).
    #[arg(long, value_name = "N", requires = "concurrency_key")]
    pub limit: Option<u32>,
    /// What to do when the group is full (server default reject).
    #[arg(long, value_name = "P", value_parser = on_full_values(), requires = "concurrency_key")]
    pub on_full: Option<OnFull>,
    /// Start the run at once under this owner (with --lease-ttl).
    #[arg(long, value_name = "O", requires = "lease_ttl_ms")]
    pub start_owner: Option<String>,
    /// The lease length of --start-owner (100ms to 24h), e.g. 30s.
    #[arg(long = "lease-ttl", visible_alias = "lease-ttl-ms", value_name = "DURATION",
          value_parser = parse_duration_ms, requires = "start_owner")]
    pub lease_ttl_ms: Option<u64>,
    /// Idempotency-Key: a retry with the same key and body answers the same run.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

/// `--on-full`: the core's [`OnFull`], spelled as in the API
/// (`cancel_active`); the kebab-case habit (`cancel-active`) is read too.
fn on_full_values() -> impl TypedValueParser<Value = OnFull> {
    PossibleValuesParser::new([
        PossibleValue::new("reject").help("Refuse with concurrency_limit"),
        PossibleValue::new("enqueue").help("Create it pending; promoted when a slot frees"),
        PossibleValue::new("cancel_active")
            .alias("cancel-active")
            .help("Cancel the oldest active runs to make room"),
        PossibleValue::new("replace_pending")
            .alias("replace-pending")
            .help("Create it pending, cancelling the group's pending run"),
    ])
    .try_map(|text| OnFull::parse(&text))
}

/// `--outcome`: the core's [`Outcome`], spelled as in the API.
fn outcome_values() -> impl TypedValueParser<Value = Outcome> {
    PossibleValuesParser::new([
        PossibleValue::new("succeeded").help("The run succeeded"),
        PossibleValue::new("failed").help("The run failed"),
    ])
    .try_map(|text| serde_json::from_value::<Outcome>(serde_json::Value::String(text)))
}

/// A verb that names one run.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// The run id (a child's is PARENT:KEY).
    pub id: String,
}

/// `runs list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only runs in this state.
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Only runs of this kind.
    #[arg(long)]
    pub kind: Option<String>,
    /// Only direct children of this run.
    #[arg(long, value_name = "ID")]
    pub parent: Option<String>,
    /// Only runs of this concurrency group.
    #[arg(long, value_name = "K")]
    pub concurrency_key: Option<String>,
    /// Newest first (the default is oldest first).
    #[arg(long)]
    pub newest: bool,
    /// Only runs created after this RFC 3339 time (e.g. 2026-12-07T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Runs per page (1–1,000; server default 50).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// The next_cursor of the previous page.
    #[arg(long)]
    pub cursor: Option<String>,
}

/// Options every changing verb takes.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// If-Match: refuse (412 version_conflict) unless the run is at this version.
    #[arg(long, value_name = "VERSION")]
    pub if_match: Option<u64>,
    /// Idempotency-Key: a retry with the same key and body replays the first answer.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

/// `runs start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The run id.
    pub id: String,
    /// The worker taking the run.
    #[arg(long)]
    pub owner: String,
    /// Lease length (100ms to 24h), e.g. 30s.
    #[arg(long = "lease-ttl", visible_alias = "lease-ttl-ms", value_name = "DURATION",
          value_parser = parse_duration_ms)]
    pub lease_ttl_ms: u64,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub change: ChangeArgs,
}

/// `runs claim`.
#[derive(Debug, Args)]
pub struct ClaimArgs {
    /// The worker taking the run.
    #[arg(long)]
    pub owner: String,
    /// Lease length (100ms to 24h), e.g. 30s.
    #[arg(long = "lease-ttl", visible_alias = "lease-ttl-ms", value_name = "DURATION",
          value_parser = parse_duration_ms)]
    pub lease_ttl_ms: u64,
    /// Only runs of this kind (repeatable, at most 100).
    #[arg(long = "kind", value_name = "K")]
    pub kinds: Vec<String>,
    /// Only runs of this concurrency group.
    #[arg(long, value_name = "K")]
    pub concurrency_key: Option<String>,
    /// Wait up to this long (at most 30s) for a matching run to be queued.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    pub wait: Option<u64>,
    /// An Idempotency-Key: a retry with it gets the same run back.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

/// `runs heartbeat`.
#[derive(Debug, Args)]
pub struct HeartbeatArgs {
    /// The run id.
    pub id: String,
    /// The epoch of the lease held.
    #[arg(long, value_name = "N")]
    pub lease_epoch: u64,
    /// A new lease length (e.g. 30s); the previous one when absent.
    #[arg(long = "lease-ttl", visible_alias = "lease-ttl-ms", value_name = "DURATION",
          value_parser = parse_duration_ms)]
    pub lease_ttl_ms: Option<u64>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub change: ChangeArgs,
}

/// `runs finish`.
#[derive(Debug, Args)]
pub struct FinishArgs {
    /// The run id.
    pub id: String,
    /// The epoch of the lease held.
    #[arg(long, value_name = "N")]
    pub lease_epoch: u64,
    /// How the run ended.
    #[arg(long, value_parser = outcome_values())]
    pub outcome: Outcome,
    /// Any JSON value, stored as the run's result.
    #[arg(long, value_name = "JSON")]
    pub result: Option<String>,
    /// A failure's message.
    #[arg(long, value_name = "TEXT")]
    pub error: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub change: ChangeArgs,
}

/// `runs cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The run id.
    pub id: String,
    /// Why; becomes the run's error.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Also cancel every descendant that has not ended, in the same
    /// transaction (each gets the error "parent ID cancelled: TEXT").
    #[arg(long)]
    pub cascade: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub change: ChangeArgs,
}

/// `runs events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// The run id; without it, --follow follows the whole tenant.
    pub id: Option<String>,
    /// Only events after this seq (with an id) or tenant position (without).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub after: u64,
    /// Keep printing events as they happen: until the run's terminal event,
    /// or Ctrl-C for the tenant.
    #[arg(long)]
    pub follow: bool,
}
