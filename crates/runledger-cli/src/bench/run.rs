//! `runledger bench`, the verb: it loads the ledger in-process (`--db`) or
//! a server over HTTP (`--server`, see [`super::target`]), prepares what
//! the workload needs, then runs `--clients` concurrent callers until
//! `--duration` is up, with a progress bar, and prints a summary. With
//! `--processes P` it starts itself P times as workers (see
//! [`super::worker`]) on the same target and adds their figures up. The
//! stream workload has its own driver ([`super::stream`]). For the race,
//! the audit runs once at the end: the library's `audit()` when the
//! database is at hand (`--db`, also beside `--server`), else counted from
//! the server's run list ([`super::http_audit`]).

use super::callers::run_callers;
use super::names;
use super::progress::{preparing_spinner, progress_bar, tick_progress};
use super::stats::{RaceAudit, Summary, print_summary};
use super::target::{Target, op_failure, open, target};
use super::workload::{BATCH_RUNS, Plan};
use super::{http_audit, stream, worker};
use crate::cli::{BenchArgs, Workload};
use crate::failure::{Failure, Verdict};
use runledger::{Audit, ProblemKind};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// Audit problems printed when the race audit is not clean.
const PROBLEMS_SHOWN_MAX: usize = 10;

/// Runs `runledger bench` against `--server` (before or after the verb), if given, else `--db`.
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
    let tag = args.run_tag.clone().unwrap_or_else(names::new_tag);
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
    let mut summary = Summary::new(args.workload.as_str(), clients, elapsed, &tally, race);
    if args.workload == Workload::Batch {
        summary.runs_per_sec = Some(summary.ops_per_sec * BATCH_RUNS as f64);
    }
    print_summary(&summary, &args, &tally)?;
    let problems = race.is_some_and(|audit| audit.problems > 0);
    Ok(if tally.errors > 0 || problems {
        Verdict::Problems
    } else {
        Verdict::Success
    })
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
