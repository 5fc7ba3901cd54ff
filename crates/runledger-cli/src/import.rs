//! `runledger import` (SPEC §5): loads legacy run records — CSV with a
//! header row, or JSON lines — into a ledger. Each record is mapped to a run
//! (which column is the id, the kind, the state, the parent, …), ids are
//! normalized (surrounding whitespace trimmed) and de-duplicated, and every
//! record that cannot be mapped is reported with its line and the reason.
//! Nothing is dropped silently and nothing is repaired: a record is either
//! imported, recognized as already present, merged as an identical
//! duplicate of an earlier line, or reported.
//!
//! Without `--apply` it is a dry run. With it, each run is written by the
//! library's `Ledger::import_run`: the run as the file recorded it, with its
//! own times and its lifecycle events stamped at those times, in one
//! transaction, so the history is kept and the guarantees hold; it is
//! idempotent, so running it again (say, after it was interrupted) finishes
//! the job and changes nothing already done.

mod clock;
mod fields;
mod plan;
mod read;
mod report;
mod waves;

use crate::cli::LedgerDb;
use crate::failure::{Failure, Verdict};
use clap::{Args, ValueEnum};
use clock::Zone;
use indicatif::{ProgressBar, ProgressStyle};
use plan::{Mapping, Planned, Rejected};
use report::{ImportedRun, Report};
use runledger::{Error, ImportRun, Ledger, Options, Owner, Tenant};
use std::path::PathBuf;

/// Examples shown under `runledger import --help`.
pub const IMPORT_EXAMPLES: &str = "\
Examples:
  # check a CSV export whose columns are already id, kind, state (a dry run)
  runledger import runs.csv --db sqlite://runledger.db

  # write it, with a JSON-lines report of every record
  runledger import runs.csv --db sqlite://runledger.db --apply --report import.jsonl

  # client rows 250926-124530-Dean-Hobin become children of 250926-124530;
  # local times in the file are Paris time
  runledger import jobs.csv --map id=JobID --map created_at=Created \\
    --child-pattern '^(\\d{6}-\\d{6})-(.+)$' --timezone Europe/Paris --apply

  # JSON lines with other column names; records without an id get one
  runledger import legacy.jsonl --map id=job_id --map state=status --kind nightly-etl \\
    --generate-missing-ids --apply --json

Fields for --map FIELD=COLUMN: id, kind, state, parent_id, key, error, result,
created_at, started_at, finished_at (the defaults are the field names).
Times: RFC 3339, YYYY-MM-DD HH:MM:SS (read in --timezone), epoch seconds or
milliseconds. Of two records with one id the first wins; the second is
merged when identical, refused naming the differing columns otherwise.
Lines are numbered from the header (line 1). Columns that no field maps
are kept in the run's attributes. States: queued, running, succeeded, failed,
cancelled, timed_out, plus common synonyms
(success, completed, done, error, canceled, aborted, timeout, …).

Exit codes: 0 every record imported, already present or merged, 1 some
records were refused (each is listed), 2 usage error, a file that cannot be
read (broken encoding, ragged row: nothing is written) or a database that
could not be opened.";

/// `runledger import FILE`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file of legacy records: CSV with a header row, or JSON lines.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub db: LedgerDb,
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
    /// Write the runs; without it the import is a dry run that writes nothing.
    #[arg(long)]
    pub apply: bool,
    /// A dry run (the default; kept for older scripts).
    #[arg(long, conflicts_with = "apply")]
    pub dry_run: bool,
    /// Splits ids into parent id and child key: a regex with two capture
    /// groups, e.g. '^(\d{6}-\d{6})-(.+)$'.
    #[arg(long, value_name = "REGEX")]
    pub child_pattern: Option<String>,
    /// Gives records without an id a stable generated one (each is reported
    /// with its line); without it such records are refused.
    #[arg(long)]
    pub generate_missing_ids: bool,
    /// The zone of times without an offset: an IANA name or +HH:MM.
    #[arg(long, value_name = "ZONE", default_value = "UTC")]
    pub timezone: String,
    /// Writes one JSON line per record: imported, merged or refused, and why.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
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
    let zone = Zone::parse(&args.timezone).map_err(Failure::Usage)?;
    let mapping = Mapping::from_args(&args.map, args.kind.as_deref())?
        .with_zone(zone)
        .with_child_pattern(args.child_pattern.as_deref())?
        .with_generated_ids(args.generate_missing_ids);
    let format = match args.format {
        Some(format) => format,
        None => read::format_of(&args.file)?,
    };
    let text = std::fs::read(&args.file)
        .map_err(|error| Failure::Usage(format!("cannot read {}: {error}", args.file.display())))?;
    let (records, columns) = read::records(&text, format)?;
    mapping.check_columns(&columns)?;
    let read_count = records.len();
    let plan = plan::plan(records, &mapping);
    let dry_run = !args.apply;
    let mut report = Report::new(read_count, &plan, dry_run);
    let planned_runs = plan.runs.clone();
    if dry_run {
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
        let ledger = Ledger::open_with(&args.db.url, options).await?;
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
    if let Some(path) = &args.report {
        report.write_lines(path, &planned_runs)?;
    }
    report::print(&report, args.json)?;
    Ok(if report.rejected.is_empty() {
        Verdict::Success
    } else {
        Verdict::Problems
    })
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
        for wave in waves::waves(runs) {
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

    /// Imports one run with its history. `Ok(true)` when this call wrote
    /// it, `Ok(false)` when the ledger already had it; `Err` names why the
    /// ledger refused.
    async fn write(&self, planned: &Planned) -> Result<bool, String> {
        let target = &planned.target;
        let (created_at, started_at, finished_at) = target.times();
        let request = ImportRun {
            id: planned.id.clone(),
            kind: planned.kind.clone(),
            parent_id: planned.parent.as_ref().map(|(parent, _)| parent.clone()),
            key: planned.parent.as_ref().map(|(_, key)| key.clone()),
            attributes: planned.attributes.clone(),
            state: target.state(),
            result: target.result().cloned(),
            error: target.error().map(str::to_owned),
            created_at: created_at.or(started_at).or(finished_at),
            started_at,
            finished_at,
            owner: self.owner.clone(),
            lease_ttl_ms: self.lease_ttl_ms,
        };
        let created = self
            .ledger
            .import_run(&self.tenant, request)
            .await
            .map_err(|error| describe(&error))?;
        Ok(created.created)
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
