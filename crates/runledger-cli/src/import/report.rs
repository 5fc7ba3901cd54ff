//! What an import did, record by record: the summary printed at the end
//! (a table, or JSON with `--json`) and the `--report FILE` of JSON lines,
//! one per record of the file (plus one per parent the import created
//! because the file has no record of it).

use super::plan::{Plan, Planned, Rejected};
use crate::failure::Failure;
use comfy_table::{Table, presets};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// What the import did, record by record.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Records read (lines or rows, blank lines aside).
    pub read: usize,
    /// Runs this import created.
    pub imported: usize,
    /// Runs that were already in the ledger as the file describes them.
    pub existing: usize,
    /// Records merged into an identical earlier record with the same id.
    pub duplicates: usize,
    /// Records that could not be mapped or written, with the reason.
    pub rejected: Vec<Rejected>,
    /// Every imported or present run: the line, the id in the file, the run id.
    pub runs: Vec<ImportedRun>,
    /// `true` when nothing was written (no `--apply`).
    pub dry_run: bool,
    /// Records whose id was generated: their line and the id.
    pub generated: Vec<Generated>,
    /// `(line, earlier line, run id)` of the records merged into an earlier one.
    #[serde(skip)]
    pub merged: Vec<(usize, usize, String)>,
}

/// One record's run.
#[derive(Debug, Serialize)]
pub struct ImportedRun {
    /// The record's line.
    pub line: usize,
    /// The id as the file has it.
    pub source_id: Option<String>,
    /// The run id.
    pub run_id: String,
    /// The run's state.
    pub state: &'static str,
    /// `true` created now, `false` already present; absent in a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    /// `true` for a parent created because the file has no record of it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub parent_created: bool,
}

impl ImportedRun {
    pub fn of(planned: &Planned, created: Option<bool>) -> ImportedRun {
        ImportedRun {
            line: planned.line,
            source_id: planned.source_id.clone(),
            run_id: planned.id.as_str().to_owned(),
            state: planned.target.state().as_str(),
            created,
            parent_created: planned.parent_of_line.is_some(),
        }
    }
}

/// A record whose id `--generate-missing-ids` made up.
#[derive(Debug, Serialize)]
pub struct Generated {
    /// The record's line.
    pub line: usize,
    /// The generated run id.
    pub run_id: String,
}

/// One line of `--report FILE`.
#[derive(Debug, Serialize)]
struct Entry<'a> {
    line: usize,
    /// `imported`, `merged`, `refused`, or `parent_created`.
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_id: Option<&'a str>,
    /// For `merged`: the line it was merged into.
    #[serde(skip_serializing_if = "Option::is_none")]
    into_line: Option<usize>,
    /// For `imported`: `true` written now, `false` already in the ledger;
    /// absent in a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<bool>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    generated_id: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

impl Report {
    /// The report of a plan before anything is written.
    pub fn new(read: usize, plan: &Plan, dry_run: bool) -> Report {
        Report {
            read,
            imported: 0,
            existing: 0,
            duplicates: plan.duplicates.len(),
            rejected: plan.rejected.clone(),
            runs: Vec::new(),
            dry_run,
            generated: plan
                .runs
                .iter()
                .filter(|run| run.generated)
                .map(|run| Generated {
                    line: run.line,
                    run_id: run.id.as_str().to_owned(),
                })
                .collect(),
            merged: plan
                .duplicates
                .iter()
                .map(|(line, into, id)| (*line, *into, id.as_str().to_owned()))
                .collect(),
        }
    }

    /// Writes `--report FILE`: JSON lines in line order.
    pub fn write_lines(&self, path: &Path, generated: &[Planned]) -> Result<(), Failure> {
        let generated_lines: std::collections::HashSet<usize> = generated
            .iter()
            .filter(|run| run.generated)
            .map(|run| run.line)
            .collect();
        let mut entries: Vec<Entry<'_>> = Vec::new();
        for run in &self.runs {
            entries.push(Entry {
                line: run.line,
                outcome: if run.parent_created {
                    "parent_created"
                } else {
                    "imported"
                },
                run_id: Some(&run.run_id),
                source_id: run.source_id.as_deref(),
                into_line: None,
                created: run.created,
                generated_id: !run.parent_created && generated_lines.contains(&run.line),
                reason: None,
            });
        }
        for (line, into, id) in &self.merged {
            entries.push(Entry {
                line: *line,
                outcome: "merged",
                run_id: Some(id),
                source_id: None,
                into_line: Some(*into),
                created: None,
                generated_id: false,
                reason: None,
            });
        }
        for rejected in &self.rejected {
            entries.push(Entry {
                line: rejected.line,
                outcome: "refused",
                run_id: None,
                source_id: rejected.source_id.as_deref(),
                into_line: None,
                created: None,
                generated_id: false,
                reason: Some(&rejected.reason),
            });
        }
        entries.sort_by_key(|entry| (entry.line, entry.outcome == "imported"));
        let mut text = Vec::new();
        for entry in &entries {
            serde_json::to_writer(&mut text, entry)
                .map_err(|error| Failure::Failed(format!("cannot write the report: {error}")))?;
            text.push(b'\n');
        }
        std::fs::File::create(path)
            .and_then(|mut file| file.write_all(&text))
            .map_err(|error| Failure::Usage(format!("--report {}: {error}", path.display())))
    }
}

/// Prints the summary: a table, or the report as JSON.
pub fn print(report: &Report, json: bool) -> Result<(), Failure> {
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
    if !report.generated.is_empty() {
        let mut generated = Table::new();
        generated.load_style(presets::UTF8_FULL_CONDENSED);
        generated.set_header(["line", "generated id"]);
        for record in &report.generated {
            generated.add_row([record.line.to_string(), record.run_id.clone()]);
        }
        println!("{generated}");
    }
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
