//! `runledger runs create --from-file runs.jsonl [--atomic]`: one JSON
//! create (the body of `POST /v1/runs`) per line, sent as
//! `POST /v1/runs/batch` in chunks of up to 1,000, with a progress bar.
//! Every answer names its line; a refused line makes the exit code 1.

use super::render::{json_line, table};
use crate::failure::{Failure, Verdict};
use indicatif::{ProgressBar, ProgressStyle};
use runledger_client::{BATCH_RUNS_MAX, CallOptions, Client, ClientError, CreateBatch, CreateRun};
use serde_json::{Value, json};
use std::path::Path;

/// One line's create, with its line number (1-based).
struct Line {
    number: usize,
    request: CreateRun,
}

/// Reads `path`, sends its creates in chunks and prints each line's answer.
pub async fn create_from_file(
    client: &Client,
    path: &Path,
    atomic: bool,
    json: bool,
) -> Result<Verdict, Failure> {
    let lines = read_lines(path)?;
    if atomic && lines.len() > BATCH_RUNS_MAX {
        return Err(Failure::Usage(format!(
            "--atomic sends the file as one request, so at most {BATCH_RUNS_MAX} creates; {} has {}",
            path.display(),
            lines.len()
        )));
    }
    let progress = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(lines.len() as u64)
    };
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} creates {elapsed}") {
        progress.set_style(style);
    }
    let mut answers: Vec<(usize, Result<runledger_client::Created, ClientError>)> = Vec::new();
    for chunk in lines.chunks(BATCH_RUNS_MAX) {
        let batch = CreateBatch {
            runs: chunk.iter().map(|line| line.request.clone()).collect(),
            atomic,
        };
        match client.create_batch(&batch, &CallOptions::NONE).await {
            Ok(items) => {
                answers.extend(chunk.iter().map(|line| line.number).zip(items));
            }
            Err(ClientError::Problem {
                code, detail, body, ..
            }) if body.get("index").and_then(Value::as_u64).is_some() => {
                progress.abandon();
                let index = body["index"].as_u64().unwrap_or_default() as usize;
                let line = chunk.get(index).map_or(0, |line| line.number);
                return Err(Failure::Refused {
                    code: code.as_str().to_owned(),
                    detail: format!("line {line}: {detail} (nothing was created)"),
                });
            }
            Err(error) => {
                progress.abandon();
                return Err(error.into());
            }
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    let refused = answers.iter().filter(|(_, answer)| answer.is_err()).count();
    print_answers(&answers, json);
    if refused > 0 {
        eprintln!("{refused} of {} lines refused", answers.len());
        return Ok(Verdict::Problems);
    }
    Ok(Verdict::Success)
}

/// The file's creates, skipping blank lines; a line that is not a create
/// is a usage error naming it.
fn read_lines(path: &Path) -> Result<Vec<Line>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| Failure::Usage(format!("cannot read {}: {error}", path.display())))?;
    let mut lines = Vec::new();
    for (index, text) in text.lines().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        let number = index + 1;
        let request = serde_json::from_str(text).map_err(|error| {
            let column = error.column();
            let error = error.to_string();
            let error = error.split(" at line ").next().unwrap_or_default();
            Failure::Usage(format!(
                "{} line {number} is not a create: {error} (column {column})",
                path.display()
            ))
        })?;
        lines.push(Line { number, request });
    }
    if lines.is_empty() {
        return Err(Failure::Usage(format!(
            "{} holds no creates",
            path.display()
        )));
    }
    Ok(lines)
}

/// One row (or JSON line) per line of the file.
fn print_answers(answers: &[(usize, Result<runledger_client::Created, ClientError>)], json: bool) {
    if json {
        for (line, answer) in answers {
            let value = match answer {
                Ok(created) => {
                    json!({"line": line, "created": created.created, "run": created.run})
                }
                Err(ClientError::Problem { body, .. }) => json!({"line": line, "problem": body}),
                Err(error) => json!({"line": line, "error": error.to_string()}),
            };
            println!("{}", json_line(&value));
        }
        return;
    }
    let mut rows = table(["line", "answer", "id", "state", "detail"]);
    for (line, answer) in answers {
        match answer {
            Ok(created) => rows.add_row([
                line.to_string(),
                if created.created {
                    "created"
                } else {
                    "existed"
                }
                .to_owned(),
                created.run.id.to_string(),
                created.run.state.to_string(),
                String::new(),
            ]),
            Err(error) => rows.add_row([
                line.to_string(),
                error
                    .code()
                    .map_or("error", |code| code.as_str())
                    .to_owned(),
                String::new(),
                String::new(),
                error.to_string(),
            ]),
        };
    }
    println!("{rows}");
}
