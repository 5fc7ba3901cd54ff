//! Reading one column of a legacy record: as text, as a state, as a time;
//! and comparing two records that name one run, column by column.

use regex::Regex;
use runledger::{RunId, RunState, Segment};
use serde_json::{Map, Value};

/// A column as text: strings as they are, numbers and booleans written
/// out; objects and arrays are refused for a field that must be text.
pub fn text(fields: &Map<String, Value>, column: &str) -> Result<Option<String>, String> {
    match fields.get(column) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(Value::Number(number)) => Ok(Some(number.to_string())),
        Some(Value::Bool(flag)) => Ok(Some(flag.to_string())),
        Some(_) => Err(format!(
            "column {column:?} holds an object or array; it must be text"
        )),
    }
}

/// A legacy state: the SPEC's names and their common synonyms, any case,
/// `-` or space for `_`. `pending` is refused: it means "waiting for a
/// concurrency slot", which an import cannot recreate.
pub fn parse_state(text: &str) -> Result<RunState, String> {
    let normalized: String = text
        .trim()
        .chars()
        .map(|c| match c {
            '-' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    let state = match normalized.as_str() {
        "queued" | "new" | "created" | "scheduled" | "waiting" | "ready" => RunState::Queued,
        "running" | "started" | "in_progress" | "active" | "executing" => RunState::Running,
        "succeeded" | "success" | "successful" | "completed" | "complete" | "done" | "ok"
        | "finished" => RunState::Succeeded,
        "failed" | "failure" | "error" | "errored" | "crashed" => RunState::Failed,
        "cancelled" | "canceled" | "aborted" | "killed" => RunState::Cancelled,
        "timed_out" | "timedout" | "timeout" | "expired" => RunState::TimedOut,
        "pending" => {
            return Err(
                "state \"pending\" means waiting for a concurrency slot, which an import cannot \
                 recreate; map it to queued in the file"
                    .to_owned(),
            );
        }
        _ => {
            return Err(format!(
                "state {text:?} is not a run state; expected queued, running, succeeded, failed, \
                 cancelled or timed_out (or a common synonym such as success, error, canceled)"
            ));
        }
    };
    Ok(state)
}

/// The columns in which two records with one id differ, each with both
/// values (`Status: "Running" on line 3, "Done" here`); `skip` (the id
/// column) is compared after normalization elsewhere.
pub fn differences(
    (first, first_line): (&Map<String, Value>, usize),
    second: &Map<String, Value>,
    skip: &str,
) -> Vec<String> {
    let mut columns: Vec<&String> = first.keys().chain(second.keys()).collect();
    columns.sort();
    columns.dedup();
    columns
        .into_iter()
        .filter(|column| column.as_str() != skip)
        .filter_map(|column| {
            let (a, b) = (first.get(column), second.get(column));
            (a != b).then(|| {
                format!(
                    "{column}: {} on line {first_line}, {} here",
                    shown(a),
                    shown(b)
                )
            })
        })
        .collect()
}

fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "(empty)".to_owned(), Value::to_string)
}

/// A stable id for a record without one: `gen-` and a 64-bit FNV-1a hash
/// of its columns, so that importing the file again finds the same runs.
pub fn generated_id(fields: &Map<String, Value>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in Value::Object(fields.clone()).to_string().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("gen-{hash:016x}")
}

/// `--child-pattern` applied to an id: its parent and child key when it matches.
pub fn split_child(id: &str, pattern: Option<&Regex>) -> Result<Option<(RunId, Segment)>, String> {
    let Some(pattern) = pattern else {
        return Ok(None);
    };
    let Some(captures) = pattern.captures(id) else {
        return Ok(None);
    };
    let (Some(parent), Some(key)) = (captures.get(1), captures.get(2)) else {
        return Ok(None);
    };
    let parent = RunId::parse(parent.as_str()).map_err(|error| {
        format!(
            "parent id {:?} (from --child-pattern): {error}",
            parent.as_str()
        )
    })?;
    let key = Segment::parse(key.as_str()).map_err(|error| {
        format!(
            "child key {:?} (from --child-pattern): {error}",
            key.as_str()
        )
    })?;
    Ok(Some((parent, key)))
}
