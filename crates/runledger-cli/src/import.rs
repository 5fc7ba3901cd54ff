//! `runledger import` (SPEC §5): loads legacy run records — CSV with a
//! header row, or JSON lines — into a ledger. Each record is mapped to a run
//! (which column is the id, the kind, the state, the parent, …), ids are
//! normalized (surrounding whitespace trimmed) and de-duplicated, and every
//! record that cannot be mapped is reported with its line and the reason.
//! Nothing is dropped silently and nothing is repaired: a record is either
//! imported, recognized as already present, merged as an identical
//! duplicate of an earlier line, or reported.
//!
//! The import goes through the library's own operations (create, start,
//! finish, cancel), so every imported run has its lifecycle events and the
//! guarantees hold; it is idempotent, so running it again (say, after it
//! was interrupted) finishes the job and changes nothing already done.

mod plan;
mod read;

use crate::failure::{Failure, Verdict};
use clap::{Args, ValueEnum};
use comfy_table::{Table, presets};
use indicatif::{ProgressBar, ProgressStyle};
use plan::{Mapping, Planned, Rejected, Target};
use runledger::{
    Cancel, CreateRun, Error, Finish, Ledger, Options, Outcome, Owner, Run, RunState, StartRun,
    Tenant,
};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// Examples shown under `runledger import --help`.
pub const IMPORT_EXAMPLES: &str = "\
Examples:
  # a CSV export whose columns are already id, kind, state
  runledger import runs.csv --db sqlite://runledger.db

  # JSON lines with other column names, every run of kind nightly-etl
  runledger import legacy.jsonl --map id=job_id --map state=status --kind nightly-etl

  # check a file without writing anything, as JSON
  runledger import runs.csv --dry-run --json

Fields for --map FIELD=COLUMN: id, kind, state, parent_id, key, error, result
(the defaults are the field names). Columns that no field maps are kept in
the run's attributes. States: the SPEC's names, plus common synonyms
(success, completed, done, error, canceled, aborted, timeout, …).

Exit codes: 0 every record imported or already present, 1 some records
could not be mapped (each is listed), 2 usage error or the database could
not be opened.";

/// `runledger import FILE`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file of legacy records: CSV with a header row, or JSON lines.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The ledger to import into.
    #[arg(
        long,
        value_name = "URL",
        env = "RUNLEDGER_DB",
        hide_env_values = true,
        default_value = "sqlite://runledger.db"
    )]
    pub db: String,
    /// The file's format; by default from its extension (.csv, .jsonl, .ndjson, .json).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The tenant the runs belong to.
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// Which column holds a field: FIELD=COLUMN (repeatable).
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    pub map: Vec<String>,
    /// The kind of records that have none.
    #[arg(long)]
    pub kind: Option<String>,
    /// The lease length of runs imported as `running`: unless a worker
    /// heartbeats them, the reaper times them out after it.
    #[arg(long, default_value_t = 60_000)]
    pub lease_ttl_ms: u64,
    /// Map and check every record, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The formats `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// The lease owner of the starts an import makes.
const IMPORT_OWNER: &str = "runledger-import";
/// How many records are written at once.
const IN_FLIGHT: usize = 16;

/// Runs `runledger import`.
pub async fn run(args: ImportArgs) -> Result<Verdict, Failure> {
    let tenant = Tenant::parse(&args.tenant)
        .map_err(|error| Failure::Usage(format!("--tenant: {error}")))?;
    let mapping = Mapping::from_args(&args.map, args.kind.as_deref())?;
    let format = match args.format {
        Some(format) => format,
        None => read::format_of(&args.file)?,
    };
    let text = std::fs::read(&args.file)
        .map_err(|error| Failure::Usage(format!("cannot read {}: {error}", args.file.display())))?;
    let records = read::records(&text, format)?;
    let read_count = records.len();
    let plan = plan::plan(records, &mapping);
    let mut report = Report {
        read: read_count,
        imported: 0,
        existing: 0,
        duplicates: plan.duplicates.len(),
        rejected: plan.rejected,
        runs: Vec::new(),
        dry_run: args.dry_run,
    };
    if args.dry_run {
        report.runs = plan
            .runs
            .iter()
            .map(|planned| ImportedRun::of(planned, None))
            .collect();
    } else {
        let options = Options {
            reap_interval: None,
            ..Options::default()
        };
        let ledger = Ledger::open_with(&args.db, options).await?;
        let owner = Owner::parse(IMPORT_OWNER).expect("the import owner is a valid owner");
        let writer = Writer {
            ledger,
            tenant,
            owner,
            lease_ttl_ms: args.lease_ttl_ms,
        };
        writer.write_all(plan.runs, &mut report).await;
    }
    report.rejected.sort_by_key(|rejected| rejected.line);
    report.runs.sort_by_key(|run| run.line);
    print(&report, args.json)?;
    Ok(if report.rejected.is_empty() {
        Verdict::Success
    } else {
        Verdict::Problems
    })
}

/// What the import did, record by record.
#[derive(Debug, Serialize)]
struct Report {
    /// Records read (lines or rows, blank lines aside).
    read: usize,
    /// Runs this import created.
    imported: usize,
    /// Runs that were already in the ledger as the file describes them.
    existing: usize,
    /// Records merged into an identical earlier record with the same id.
    duplicates: usize,
    /// Records that could not be mapped or written, with the reason.
    rejected: Vec<Rejected>,
    /// Every imported or present run: the line, the id in the file, the run id.
    runs: Vec<ImportedRun>,
    /// `true` when nothing was written.
    dry_run: bool,
}

/// One record's run.
#[derive(Debug, Serialize)]
struct ImportedRun {
    line: usize,
    source_id: Option<String>,
    run_id: String,
    state: &'static str,
    /// `true` created now, `false` already present; absent in a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<bool>,
}

impl ImportedRun {
    fn of(planned: &Planned, created: Option<bool>) -> ImportedRun {
        ImportedRun {
            line: planned.line,
            source_id: planned.source_id.clone(),
            run_id: planned.id.as_str().to_owned(),
            state: planned.target.state().as_str(),
            created,
        }
    }
}

/// Writes planned runs through the library.
#[derive(Clone)]
struct Writer {
    ledger: Ledger,
    tenant: Tenant,
    owner: Owner,
    lease_ttl_ms: u64,
}

impl Writer {
    /// Writes every run, parents before their children, [`IN_FLIGHT`] at a time.
    async fn write_all(&self, runs: Vec<Planned>, report: &mut Report) {
        let progress = progress_bar(runs.len());
        for wave in plan::waves(runs) {
            let mut tasks = tokio::task::JoinSet::new();
            let mut queue = wave.into_iter();
            loop {
                while tasks.len() < IN_FLIGHT {
                    let Some(planned) = queue.next() else { break };
                    let writer = self.clone();
                    tasks.spawn(async move {
                        let written = writer.write(&planned).await;
                        (planned, written)
                    });
                }
                let Some(joined) = tasks.join_next().await else {
                    break;
                };
                let (planned, written) = joined.expect("an import task does not panic");
                progress.inc(1);
                match written {
                    Ok(created) => {
                        if created {
                            report.imported += 1;
                        } else {
                            report.existing += 1;
                        }
                        report.runs.push(ImportedRun::of(&planned, Some(created)));
                    }
                    Err(reason) => report.rejected.push(Rejected {
                        line: planned.line,
                        source_id: planned.source_id.clone(),
                        reason,
                    }),
                }
            }
        }
        progress.finish_and_clear();
    }

    /// Creates one run and moves it to its state. `Ok(true)` when this call
    /// created it; `Err` names why the ledger refused.
    async fn write(&self, planned: &Planned) -> Result<bool, String> {
        let request = CreateRun {
            id: planned.parent.is_none().then(|| planned.id.clone()),
            kind: planned.kind.clone(),
            parent_id: planned.parent.as_ref().map(|(parent, _)| parent.clone()),
            key: planned.parent.as_ref().map(|(_, key)| key.clone()),
            attributes: Some(planned.attributes.clone()),
            concurrency: None,
            start: None,
        };
        let created = self
            .ledger
            .create_run(&self.tenant, request)
            .await
            .map_err(|error| describe(&error))?;
        let run = self.advance(created.run, &planned.target).await?;
        if run.state != planned.target.state() {
            return Err(format!(
                "run {} is already {}; the file says {}",
                run.id,
                run.state.as_str(),
                planned.target.state().as_str()
            ));
        }
        Ok(created.created)
    }

    /// Moves `run` towards `target` one transition at a time, from wherever
    /// it is (a re-run resumes an interrupted import).
    async fn advance(&self, mut run: Run, target: &Target) -> Result<Run, String> {
        let goal = target.state();
        while run.state != goal {
            run = match (run.state, goal) {
                (RunState::Queued, RunState::Cancelled) => {
                    self.cancel(&run, target.error()).await?
                }
                // The shortest lease there is, for the reaper to end.
                (RunState::Queued, RunState::TimedOut) => {
                    self.start(&run, runledger::limits::LEASE_TTL_MS_MIN)
                        .await?
                }
                (RunState::Queued, _) => self.start(&run, self.lease_ttl_ms).await?,
                (RunState::Running, RunState::Succeeded | RunState::Failed) => {
                    self.finish(&run, target).await?
                }
                (RunState::Running, RunState::Cancelled) => {
                    self.cancel(&run, target.error()).await?
                }
                (RunState::Running, RunState::TimedOut) => self.time_out(&run).await?,
                _ => return Ok(run),
            };
        }
        Ok(run)
    }

    async fn start(&self, run: &Run, lease_ttl_ms: u64) -> Result<Run, String> {
        let start = StartRun::new(self.owner.clone(), lease_ttl_ms);
        self.ledger
            .start(&self.tenant, &run.id, start)
            .await
            .map_err(|error| describe(&error))
    }

    async fn finish(&self, run: &Run, target: &Target) -> Result<Run, String> {
        let lease_epoch = run
            .lease
            .as_ref()
            .map(|lease| lease.epoch)
            .ok_or_else(|| format!("run {} is running without a lease", run.id))?;
        let outcome = match target.state() {
            RunState::Succeeded => Outcome::Succeeded,
            _ => Outcome::Failed,
        };
        let finish = Finish {
            lease_epoch,
            outcome,
            result: target.result().cloned(),
            error: target.error().map(str::to_owned),
        };
        self.ledger
            .finish(&self.tenant, &run.id, finish, None)
            .await
            .map_err(|error| describe(&error))
    }

    async fn cancel(&self, run: &Run, reason: Option<&str>) -> Result<Run, String> {
        let cancel = Cancel {
            reason: Some(reason.unwrap_or("imported as cancelled").to_owned()),
            if_version: None,
            cascade: false,
        };
        self.ledger
            .cancel(&self.tenant, &run.id, cancel)
            .await
            .map_err(|error| describe(&error))
    }

    /// A legacy `timed_out` run: the import's own lease (the shortest there
    /// is) expires and the reaper ends the run, with the same event as any
    /// other expiry. A run another worker holds is left alone.
    async fn time_out(&self, run: &Run) -> Result<Run, String> {
        let owner = run.lease.as_ref().map(|lease| lease.owner.as_str());
        if owner != Some(IMPORT_OWNER) {
            return Err(format!(
                "run {} is running under another worker's lease; it was not timed out",
                run.id
            ));
        }
        loop {
            self.ledger.reap().await.map_err(|error| describe(&error))?;
            let now = self
                .ledger
                .get_run(&self.tenant, &run.id)
                .await
                .map_err(|error| describe(&error))?;
            if now.state != RunState::Running {
                return Ok(now);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// An error as one line: its stable code and its message.
fn describe(error: &Error) -> String {
    format!("{}: {error}", error.code().as_str())
}

fn progress_bar(total: usize) -> ProgressBar {
    let progress = ProgressBar::new(total as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} importing {pos}/{len} [{elapsed}] {wide_bar}")
    {
        progress.set_style(style);
    }
    progress
}

fn print(report: &Report, json: bool) -> Result<(), Failure> {
    if json {
        let text = serde_json::to_string(report)
            .map_err(|error| Failure::Failed(format!("cannot print the report: {error}")))?;
        println!("{text}");
        return Ok(());
    }
    let mut summary = Table::new();
    summary.load_style(presets::UTF8_FULL_CONDENSED);
    summary.set_header([
        "read",
        "imported",
        "already present",
        "duplicates merged",
        "rejected",
    ]);
    summary.add_row([
        report.read.to_string(),
        if report.dry_run {
            format!("{} (dry run)", report.runs.len())
        } else {
            report.imported.to_string()
        },
        report.existing.to_string(),
        report.duplicates.to_string(),
        report.rejected.len().to_string(),
    ]);
    println!("{summary}");
    if !report.rejected.is_empty() {
        let mut rejected = Table::new();
        rejected.load_style(presets::UTF8_FULL_CONDENSED);
        rejected.set_header(["line", "id in the file", "why it was not imported"]);
        for record in &report.rejected {
            rejected.add_row([
                record.line.to_string(),
                record.source_id.clone().unwrap_or_else(|| "-".to_owned()),
                record.reason.clone(),
            ]);
        }
        println!("{rejected}");
    }
    Ok(())
}
