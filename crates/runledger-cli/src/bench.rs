//! `runledger bench`: the project's load generator (SPEC §5, PERFORMANCE.md).
//!
//! It opens the ledger in-process (`--db`) or talks to a server over HTTP
//! (`--server`, see [`crate::target`]), prepares what the workload needs,
//! then runs `--clients` concurrent callers until `--duration` is up, with
//! a progress bar, and prints a summary. With `--processes P` it starts
//! itself P times as workers (see [`crate::worker`]) on the same target and
//! adds their figures up. The stream workload has its own driver
//! ([`crate::stream`]) and shares the rest. For the race, the audit runs once at the end: the
//! library's `audit()` when the database is at hand (`--db`, also beside
//! `--server`), else counted from the server's run list
//! ([`crate::http_audit`]).

use crate::cli::{BenchArgs, Workload};
use crate::failure::{Failure, Verdict};
use crate::http_audit;
use crate::stats::{RaceAudit, Summary, Tally};
use crate::stream;
use crate::target::{OpError, Target};
use crate::worker;
use crate::workload::{self, Plan};
use indicatif::{ProgressBar, ProgressStyle};
use runledger::{Audit, Ledger, Options, ProblemKind};
use runledger_client::{Client, ListRunsQuery};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the progress bar is redrawn.
const PROGRESS_TICK: Duration = Duration::from_millis(100);
/// Audit problems printed when the race audit is not clean.
const PROBLEMS_SHOWN_MAX: usize = 10;

/// Runs `runledger bench` against the global `--server`, if given, else `--db`.
pub async fn run(server: Option<String>, args: BenchArgs) -> Result<Verdict, Failure> {
    if server.is_none() && args.db.is_none() {
        return Err(Failure::Usage(
            "bench needs --db URL (in-process) or --server URL (over HTTP)".to_owned(),
        ));
    }
    if args.workload == Workload::Stream {
        return match (&server, args.processes) {
            (Some(server), 1) => stream::run(server, &args).await,
            (None, _) => Err(Failure::Usage(
                "the stream workload needs --server URL: it measures the server's SSE streams"
                    .to_owned(),
            )),
            (Some(_), _) => Err(Failure::Usage(
                "the stream workload runs in one process; leave out --processes".to_owned(),
            )),
        };
    }
    if args.worker {
        return worker::serve(server.as_deref(), &args).await;
    }
    let tag = args.run_tag.clone().unwrap_or_else(workload::new_tag);
    let plan = Arc::new(Plan::new(args.workload, &tag)?);
    let target = target(server.as_deref(), &args).await?;

    let preparing = preparing_spinner(args.workload);
    plan.prepare(&target).await.map_err(op_failure)?;
    preparing.finish_and_clear();

    let duration = Duration::from_secs_f64(args.duration);
    let bar = progress_bar(args.workload, duration);
    let (tally, elapsed) = if args.processes == 1 {
        let ops = Arc::new(AtomicU64::new(0));
        let ticker = tokio::spawn(tick_progress(bar.clone(), ops.clone(), duration));
        let measured = run_callers(plan.clone(), &target, args.clients, duration, ops).await;
        ticker.abort();
        measured?
    } else {
        // Workers load the same target; a server bench's --db is only
        // for the parent's race audit.
        let target_args = match (&server, &args.db) {
            (Some(server), _) => vec!["--server".to_owned(), server.clone()],
            (None, Some(db)) => vec!["--db".to_owned(), db.clone()],
            (None, None) => Vec::new(),
        };
        let workers = worker::Workers {
            target_args,
            workload: args.workload,
            clients: args.clients,
            duration_s: args.duration,
            processes: args.processes,
            tag,
        };
        let bar = bar.clone();
        tokio::task::spawn_blocking(move || workers.run(&bar, duration))
            .await
            .map_err(|error| Failure::Failed(format!("the worker supervisor failed: {error}")))??
    };
    bar.finish_and_clear();

    let race = match (args.workload, &target) {
        (Workload::Race | Workload::HotGroup, Target::Ledger(ledger)) => {
            Some(race_audit(&ledger.audit().await?))
        }
        (Workload::Race | Workload::HotGroup, Target::Server(client)) => Some(match &args.db {
            Some(db) => race_audit(&open(db, Workload::Create).await?.audit().await?),
            None => http_audit::race_audit(client, plan.tag()).await?,
        }),
        _ => None,
    };
    let clients = u64::from(args.clients) * u64::from(args.processes);
    let summary = Summary::new(args.workload.as_str(), clients, elapsed, &tally, race);
    print_summary(&summary, &args, &tally)?;
    let problems = race.is_some_and(|audit| audit.problems > 0);
    Ok(if tally.errors > 0 || problems {
        Verdict::Problems
    } else {
        Verdict::Success
    })
}

/// Prints `summary` as `--json` or a table, then one line per kind of
/// error in `tally`.
pub fn print_summary(summary: &Summary, args: &BenchArgs, tally: &Tally) -> Result<(), Failure> {
    if args.json {
        let json = serde_json::to_string(summary)
            .map_err(|error| Failure::Failed(format!("cannot print the summary: {error}")))?;
        println!("{json}");
    } else {
        println!("{}", summary.table(args.processes, tally.refused));
    }
    for (code, (count, first)) in &tally.errors_by_code {
        eprintln!("runledger: {count} operations failed with {code}, first: {first}");
    }
    Ok(())
}

/// The spinner shown while a workload is prepared.
pub fn preparing_spinner(workload: Workload) -> ProgressBar {
    let preparing = ProgressBar::new_spinner()
        .with_message(format!("preparing the {} workload", workload.as_str()));
    preparing.enable_steady_tick(PROGRESS_TICK);
    preparing
}

/// The API token a bench sends: `RUNLEDGER_TOKEN`, unless empty.
pub fn token() -> Option<String> {
    std::env::var("RUNLEDGER_TOKEN")
        .ok()
        .filter(|token| !token.is_empty())
}

/// A client of the server at `server`, checked to answer (with [`token`]).
pub async fn server_client(server: &str) -> Result<Client, Failure> {
    let client = Client::new(server, token())?;
    let probe = ListRunsQuery {
        limit: Some(1),
        ..ListRunsQuery::default()
    };
    client.list_runs(&probe).await?;
    Ok(client)
}

/// The system a bench loads: the server at `server` (checked to answer,
/// with the token of `RUNLEDGER_TOKEN`), else the ledger at `--db`.
pub async fn target(server: Option<&str>, args: &BenchArgs) -> Result<Target, Failure> {
    match (server, &args.db) {
        (Some(server), _) => Ok(Target::Server(server_client(server).await?)),
        (None, Some(db)) => Ok(Target::Ledger(open(db, args.workload).await?)),
        (None, None) => Err(Failure::Usage(
            "bench needs --db URL or --server URL".to_owned(),
        )),
    }
}

/// Opens the ledger a bench loads. Only the race keeps the background
/// reaper (its abandoned leases must expire); elsewhere nothing but the
/// workload touches the database.
pub async fn open(db: &str, workload: Workload) -> Result<Ledger, Failure> {
    let options = match workload {
        Workload::Race => Options::default(),
        _ => Options {
            reap_interval: None,
            ..Options::default()
        },
    };
    Ok(Ledger::open_with(db, options).await?)
}

/// A failure outside the measured operations (preparing the workload).
pub fn op_failure(error: OpError) -> Failure {
    if error.is_unreachable() {
        Failure::Unreachable(error.message)
    } else {
        Failure::Failed(format!("preparing the workload failed: {}", error.message))
    }
}

/// Runs `clients` callers of `plan` for `duration`, counting completed
/// operations in `ops` as they go. Answers the merged tally and how long
/// the load took (from the start to the last caller's last answer).
pub async fn run_callers(
    plan: Arc<Plan>,
    target: &Target,
    clients: u32,
    duration: Duration,
    ops: Arc<AtomicU64>,
) -> Result<(Tally, Duration), Failure> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..clients {
        callers.spawn(
            plan.clone()
                .run_caller(target.clone(), caller, deadline, ops.clone()),
        );
    }
    let mut tally = Tally::new();
    while let Some(joined) = callers.join_next().await {
        let caller_tally =
            joined.map_err(|error| Failure::Failed(format!("a caller failed: {error}")))??;
        tally.merge(&caller_tally);
    }
    Ok((tally, started.elapsed()))
}

/// The bar shown while the load runs (drawn only on a terminal).
pub fn progress_bar(workload: Workload, duration: Duration) -> ProgressBar {
    let length = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let style = ProgressStyle::with_template("{prefix:>8} [{bar:32}] {msg}")
        .expect("the progress template is valid")
        .progress_chars("=> ");
    ProgressBar::new(length)
        .with_style(style)
        .with_prefix(workload.as_str())
}

/// Shows `ops` operations after `elapsed` of `duration` on the bar.
pub fn show_progress(bar: &ProgressBar, elapsed: Duration, duration: Duration, ops: u64) {
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        ops as f64 / seconds
    } else {
        0.0
    };
    bar.set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
    bar.set_message(format!(
        "{seconds:.1}/{:.1} s  {ops} ops  {rate:.0} ops/s",
        duration.as_secs_f64()
    ));
}

/// Redraws `bar` with the count in `ops` until aborted.
pub async fn tick_progress(bar: ProgressBar, ops: Arc<AtomicU64>, duration: Duration) {
    let started = Instant::now();
    let mut ticks = tokio::time::interval(PROGRESS_TICK);
    loop {
        ticks.tick().await;
        show_progress(
            &bar,
            started.elapsed(),
            duration,
            ops.load(Ordering::Relaxed),
        );
    }
}

/// Counts what the race must never produce; prints every other problem.
fn race_audit(audit: &Audit) -> RaceAudit {
    let counted = RaceAudit {
        duplicates: audit.count(ProblemKind::DuplicateRun)
            + audit.count(ProblemKind::DuplicateChild),
        over_limit: audit.count(ProblemKind::OverLimit),
        orphans: audit.count(ProblemKind::MissingCreatedEvent)
            + audit.count(ProblemKind::OrphanEvent),
        problems: audit.problems.len(),
    };
    for problem in audit.problems.iter().take(PROBLEMS_SHOWN_MAX) {
        eprintln!(
            "runledger: audit: {} in {} {}: {}",
            crate::doctor::kind_name(problem.kind),
            problem.tenant,
            problem.run_id.as_deref().unwrap_or("-"),
            problem.detail
        );
    }
    counted
}
