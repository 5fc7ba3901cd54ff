//! `runledger doctor` (SPEC §5): audits an existing database for every
//! guarantee of SPEC §2 with the same checks the tests end with
//! (`Ledger::audit`), and with `--fix` repairs what is safe without a
//! human. Today that is only expired leases, reaped to `timed_out` exactly
//! as the background reaper would; everything else is reported, never
//! changed, because no repair of a duplicate or an orphan is right for
//! every user.

use crate::cli::DoctorArgs;
use crate::failure::{Failure, Verdict};
use comfy_table::{Table, presets};
use runledger::{Audit, Ledger, Options, ProblemKind};
use serde::Serialize;
use std::path::Path;

/// Runs `runledger doctor`.
pub async fn run(args: DoctorArgs) -> Result<Verdict, Failure> {
    require_existing_file(&args.db)?;
    // No background reaper: the audit must see the file as it is.
    let options = Options {
        reap_interval: None,
        ..Options::default()
    };
    let ledger = Ledger::open_with(&args.db, options).await?;
    let db = runledger::redact_db_url(&args.db);
    let mut audit = ledger.audit().await?;
    if args.fix {
        let reaped = ledger.reap().await?;
        eprintln!(
            "runledger: reaped {}",
            counted(reaped as usize, "expired lease", "expired leases")
        );
        audit = ledger.audit().await?;
    }
    name_repairs(&mut audit, &db);
    if args.json {
        let report = Report {
            ok: audit.is_clean(),
            problems: &audit,
        };
        let json = serde_json::to_string(&report)
            .map_err(|error| Failure::Failed(format!("cannot print the report: {error}")))?;
        println!("{json}");
    } else if audit.is_clean() {
        println!("ok: no problems in {db}");
    } else {
        println!("{}", problem_table(&audit));
        let count = counted(audit.problems.len(), "problem", "problems");
        println!("{count} in {db}");
        if audit
            .problems
            .iter()
            .any(|problem| repair(problem.kind).is_some())
        {
            println!("to repair what is safe: runledger doctor --db {db} --fix");
        } else {
            println!("none of them is safe to repair automatically; each needs a human");
        }
    }
    Ok(if audit.is_clean() {
        Verdict::Success
    } else {
        Verdict::Problems
    })
}

/// `1 problem`, `2 problems`.
fn counted(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// The flags after `runledger doctor --db URL` that repair a problem of
/// `kind`, when a command can (today: expired leases, reaped by `--fix`).
fn repair(kind: ProblemKind) -> Option<&'static str> {
    match kind {
        ProblemKind::ExpiredLease => Some("--fix"),
        ProblemKind::DuplicateRun
        | ProblemKind::DuplicateChild
        | ProblemKind::MissingCreatedEvent
        | ProblemKind::MissingLifecycleEvent
        | ProblemKind::SeqGap
        | ProblemKind::PositionGap
        | ProblemKind::OrphanEvent
        | ProblemKind::OverLimit
        | ProblemKind::StuckPending
        | ProblemKind::LeaseMismatch => None,
    }
}

/// Ends each repairable problem's `detail` with the command that repairs
/// it, in the table and in `--json` alike. `db` is already redacted.
fn name_repairs(audit: &mut Audit, db: &str) {
    for problem in &mut audit.problems {
        if let Some(flags) = repair(problem.kind) {
            problem.detail = format!(
                "{}; repair: runledger doctor --db {db} {flags}",
                problem.detail
            );
        }
    }
}

/// The snake_case name of a problem kind, as in the JSON report.
pub fn kind_name(kind: ProblemKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{kind:?}"),
    }
}

/// `{"ok": bool, "problems": [{"kind", "tenant", "run_id", "detail"}]}`.
#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    #[serde(serialize_with = "problems_only")]
    problems: &'a Audit,
}

fn problems_only<S: serde::Serializer>(audit: &&Audit, serializer: S) -> Result<S::Ok, S::Error> {
    audit.problems.serialize(serializer)
}

fn problem_table(audit: &Audit) -> Table {
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED);
    table.set_header(["kind", "tenant", "run_id", "detail"]);
    for problem in &audit.problems {
        table.add_row([
            kind_name(problem.kind),
            problem.tenant.clone(),
            problem.run_id.clone().unwrap_or_else(|| "-".to_owned()),
            problem.detail.clone(),
        ]);
    }
    table
}

/// The doctor audits an existing database: opening a ledger creates a
/// missing SQLite file, which would answer "clean" for a typo. Other
/// `scheme://` URLs (PostgreSQL, or one no backend speaks) are left to the
/// library, which opens or refuses them (never printing a password).
fn require_existing_file(db: &str) -> Result<(), Failure> {
    if db.contains("://") && !db.starts_with("sqlite://") {
        return Ok(());
    }
    let rest = db
        .strip_prefix("sqlite://")
        .or_else(|| db.strip_prefix("sqlite:"))
        .unwrap_or(db);
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    if path.is_empty() || Path::new(path).is_file() {
        // An empty path is the library's to refuse, with its own message.
        return Ok(());
    }
    Err(Failure::Usage(format!(
        "no database file at {path}; doctor audits an existing database"
    )))
}
