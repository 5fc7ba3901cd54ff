//! `runledger import` of a hand-made multi-tenant job table (SPEC §10), as
//! a real process on SQLite and on PostgreSQL: a generated file of more
//! than five thousand rows with base ids `YYMMDD-HHMMSS`, client rows
//! `YYMMDD-HHMMSS-<ClientID>` (client ids with dashes) split into children
//! by `--child-pattern`, rows without ids (`--generate-missing-ids`), exact
//! duplicates, same-id rows stuck in "Running" then finished, and four
//! time formats. The report accounts for every line, times are kept, and a
//! second import changes nothing.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{Ledger, RunId, Tenant, Timestamp};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use support::{exit_code, fresh_dir, json, postgres_url, run, runledger, sqlite_url};

/// What the test expects of one line of the file.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// A run with this id, created at this time (ms).
    Imported { id: String, created_ms: i64 },
    /// Merged into the earlier line.
    Merged { into: usize },
    /// Refused: the reason names these texts.
    Refused { names: Vec<String> },
    /// Imported under a generated id.
    Generated,
}

const CLIENTS: [&str; 5] = ["Dean-Hobin", "Acme-EU-2", "Zoe", "Blue-Sky-Ltd", "K9"];
const JOBS: i64 = 850;
const T0: i64 = 1_758_890_730; // a legacy table's first job, epoch seconds

/// `2025-09-26T12:45:30.000Z` → `250926-124530`.
fn base_id(seconds: i64) -> String {
    let text = Timestamp::from_unix_ms(seconds * 1000).to_rfc3339();
    format!(
        "{}{}{}-{}{}{}",
        &text[2..4],
        &text[5..7],
        &text[8..10],
        &text[11..13],
        &text[14..16],
        &text[17..19]
    )
}

/// The time `seconds` in format `n % 4`, and the ms the import must keep.
fn time_text(seconds: i64, n: usize) -> (String, i64) {
    match n % 4 {
        0 => (
            Timestamp::from_unix_ms(seconds * 1000).to_rfc3339(),
            seconds * 1000,
        ),
        1 => {
            // Local time in --timezone +02:00.
            let local = Timestamp::from_unix_ms((seconds + 7200) * 1000).to_rfc3339();
            (local[..19].replace('T', " "), seconds * 1000)
        }
        2 => (seconds.to_string(), seconds * 1000),
        _ => ((seconds * 1000 + 250).to_string(), seconds * 1000 + 250),
    }
}

/// The file being built, and what each line (2 onwards) must become.
struct Fixture {
    text: String,
    expect: BTreeMap<usize, Expect>,
    rows: Vec<(usize, String)>,
}

impl Fixture {
    fn push(&mut self, row: String, what: Expect) {
        let line = self.rows.len() + 2;
        self.text.push_str(&row);
        self.text.push('\n');
        self.expect.insert(line, what);
        self.rows.push((line, row));
    }

    /// The newest row that was imported, but not the very last one.
    fn earlier_imported(&self) -> (usize, String) {
        self.rows
            .iter()
            .rev()
            .skip(1)
            .find(|(line, _)| matches!(self.expect[line], Expect::Imported { .. }))
            .cloned()
            .unwrap()
    }
}

fn fixture() -> (String, BTreeMap<usize, Expect>) {
    let mut f = Fixture {
        text: String::from("JobID,Customer,Kind,Status,Created,Started,Finished,Error,Notes\n"),
        expect: BTreeMap::new(),
        rows: Vec::new(),
    };
    for job in 0..JOBS {
        let at = T0 + job * 61;
        let id = base_id(at);
        let customer = format!("tenant-{}", job % 7);
        let n = job as usize;
        if job % 10 != 3 {
            let (created, ms) = time_text(at, n);
            let (started, _) = time_text(at + 5, n + 1);
            let (finished, _) = time_text(at + 65, n + 2);
            let row = format!("{id},{customer},nightly,Done,{created},{started},{finished},,base");
            let id = id.clone();
            f.push(row, Expect::Imported { id, created_ms: ms });
        }
        for (c, client) in CLIENTS.iter().enumerate() {
            let at = at + 1 + c as i64;
            let (created, ms) = time_text(at, n + c);
            let (started, _) = time_text(at + 2, n + c + 1);
            let (finished, _) = time_text(at + 30, n + c + 3);
            let child = format!("{id}:{client}");
            let head = format!("{id}-{client},{customer},client");
            let row = match (job + c as i64) % 9 {
                0 => format!("{head},Running,{created},{started},,,stuck"),
                1 => format!("{head},Failed,{created},{started},{finished},timeout at step 3,"),
                2 => format!("{head},Queued,{created},,,,"),
                3 => format!("{head},Cancelled,{created},,{finished},operator,"),
                _ => format!("{head},Done,{created},{started},{finished},,"),
            };
            let stuck = row.contains(",Running,");
            f.push(
                row,
                Expect::Imported {
                    id: child,
                    created_ms: ms,
                },
            );
            if stuck && job % 2 == 0 {
                // The same id again, finished: the first (Running) wins.
                let again = format!("{head},Done,{created},{started},{finished},,stuck");
                let names = ["Status: \"Running\" on line", "\"Done\" here", "Finished"];
                let names = names.iter().map(|name| (*name).to_owned()).collect();
                f.push(again, Expect::Refused { names });
            }
        }
        if job % 8 == 0 {
            // An exact copy of an earlier row.
            let (into, row) = f.earlier_imported();
            f.push(row, Expect::Merged { into });
        }
        if job % 14 == 0 {
            let (created, _) = time_text(at + 40, n);
            let row = format!(",{customer},adhoc,Done,{created},,{created},,no id {job}");
            f.push(row, Expect::Generated);
        }
    }
    (f.text, f.expect)
}

fn import(db: &str, file: &Path, report: &Path) -> (i32, Value) {
    let output = run(runledger()
        .arg("import")
        .arg(file)
        .args(["--db", db, "--json", "--apply", "--lease-ttl-ms", "600000"])
        .args([
            "--map",
            "id=JobID",
            "--map",
            "kind=Kind",
            "--map",
            "state=Status",
        ])
        .args(["--map", "created_at=Created", "--map", "started_at=Started"])
        .args(["--map", "finished_at=Finished", "--map", "error=Error"])
        .args(["--child-pattern", r"^(\d{6}-\d{6})-(.+)$"])
        .args(["--generate-missing-ids", "--timezone", "+02:00", "--report"])
        .arg(report)
        .env_remove("RUNLEDGER_DB"));
    (exit_code(&output), json(&output))
}

fn report_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

async fn total_runs(ledger: &Ledger) -> u64 {
    let counts = ledger.tenant_run_counts(&Tenant::default()).await.unwrap();
    counts.iter().map(|(_, count)| count).sum()
}

async fn a_job_table_keeps_its_history(dir: &Path, db: &str) {
    let (text, expect) = fixture();
    assert!(expect.len() >= 5000, "{} rows", expect.len());
    let file = dir.join("jobs.csv");
    std::fs::write(&file, &text).unwrap();
    let report_file = dir.join("report.jsonl");

    let (code, summary) = import(db, &file, &report_file);
    assert_eq!(code, 1, "stuck rows are refused: {summary}");
    let entries = report_lines(&report_file);
    let mut by_line: BTreeMap<usize, &Value> = BTreeMap::new();
    let mut parents = 0;
    for entry in &entries {
        if entry["outcome"] == "parent_created" {
            parents += 1;
            continue;
        }
        let line = entry["line"].as_u64().unwrap() as usize;
        assert!(by_line.insert(line, entry).is_none(), "line {line} twice");
    }
    assert_eq!(
        by_line.keys().copied().collect::<Vec<_>>(),
        expect.keys().copied().collect::<Vec<_>>(),
        "the report accounts for every line"
    );
    assert_eq!(parents, JOBS / 10, "a parent per job without a base row");
    let ledger = Ledger::open(db).await.unwrap();
    let tenant = Tenant::default();
    let mut imported = 0;
    for (line, what) in &expect {
        let entry = by_line[line];
        match what {
            Expect::Imported { id, created_ms } => {
                assert_eq!(entry["outcome"], "imported", "line {line}: {entry}");
                assert_eq!(entry["run_id"], id.as_str(), "line {line}");
                if line % 97 == 0 {
                    let run = ledger
                        .get_run(&tenant, &RunId::parse(id).unwrap())
                        .await
                        .unwrap();
                    assert_eq!(run.created_at.unix_ms(), *created_ms, "line {line}: {id}");
                    let events = ledger.events(&tenant, &run.id, 0, None).await.unwrap();
                    assert_eq!(events[0].at, run.created_at, "line {line}: created event");
                    if let Some(finished) = run.finished_at {
                        assert_eq!(events.last().unwrap().at, finished, "line {line}");
                    }
                }
                imported += 1;
            }
            Expect::Merged { into } => {
                assert_eq!(entry["outcome"], "merged", "line {line}: {entry}");
                assert_eq!(entry["into_line"], *into, "line {line}");
            }
            Expect::Refused { names } => {
                assert_eq!(entry["outcome"], "refused", "line {line}: {entry}");
                let reason = entry["reason"].as_str().unwrap();
                for name in names {
                    assert!(reason.contains(name.as_str()), "line {line}: {reason}");
                }
            }
            Expect::Generated => {
                assert_eq!(entry["outcome"], "imported", "line {line}: {entry}");
                assert_eq!(entry["generated_id"], true, "line {line}: {entry}");
                imported += 1;
            }
        }
    }
    assert_eq!(total_runs(&ledger).await, imported + parents as u64);
    let position = ledger.last_position(&tenant).await.unwrap();
    assert!(ledger.audit().await.unwrap().is_clean());

    // Again: every run is there; nothing is written.
    let again_file = dir.join("again.jsonl");
    let (code, again) = import(db, &file, &again_file);
    assert_eq!(code, 1, "{again}");
    assert_eq!(again["imported"], 0, "{again}");
    assert!(
        report_lines(&again_file)
            .iter()
            .all(|entry| entry["created"] != true),
        "a repeat import created a run"
    );
    assert_eq!(total_runs(&ledger).await, imported + parents as u64);
    assert_eq!(ledger.last_position(&tenant).await.unwrap(), position);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_table_on_sqlite() {
    let dir = fresh_dir("import-history");
    a_job_table_keeps_its_history(&dir, &sqlite_url(&dir, "h.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_table_on_postgres() {
    let dir = fresh_dir("import-history-postgres");
    let db = postgres_url("import_history");
    a_job_table_keeps_its_history(&dir, &db.url).await;
}
