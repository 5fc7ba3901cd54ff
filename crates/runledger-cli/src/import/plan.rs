//! Mapping legacy records to runs: which column is which field, ids
//! normalized (surrounding whitespace trimmed) and de-duplicated, states
//! read with their common synonyms. Pure: nothing here touches a ledger.

use super::read::Record;
use crate::failure::Failure;
use runledger::{Kind, RunId, RunState, Segment};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};

/// The fields a column can be mapped to, in `--map FIELD=COLUMN`.
const FIELDS: [&str; 7] = ["id", "kind", "state", "parent_id", "key", "error", "result"];

/// Which column holds each field, and the kind of records without one.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    columns: BTreeMap<&'static str, String>,
    default_kind: Option<Kind>,
}

impl Mapping {
    /// The mapping `--map FIELD=COLUMN …` and `--kind` ask for; every
    /// field not named reads the column of its own name.
    pub fn from_args(map: &[String], kind: Option<&str>) -> Result<Mapping, Failure> {
        let mut columns: BTreeMap<&'static str, String> = FIELDS
            .iter()
            .map(|field| (*field, (*field).to_owned()))
            .collect();
        let mut named = HashSet::new();
        for pair in map {
            let (field, column) = pair
                .split_once('=')
                .ok_or_else(|| Failure::Usage(format!("--map {pair:?}: expected FIELD=COLUMN")))?;
            let field = FIELDS
                .iter()
                .find(|known| **known == field)
                .ok_or_else(|| {
                    Failure::Usage(format!(
                        "--map {pair:?}: unknown field {field:?}; the fields are {}",
                        FIELDS.join(", ")
                    ))
                })?;
            if column.is_empty() {
                return Err(Failure::Usage(format!(
                    "--map {pair:?}: the column name is empty"
                )));
            }
            if !named.insert(*field) {
                return Err(Failure::Usage(format!(
                    "--map names the field {field} twice"
                )));
            }
            columns.insert(field, column.to_owned());
        }
        let default_kind = kind
            .map(Kind::parse)
            .transpose()
            .map_err(|error| Failure::Usage(format!("--kind: {error}")))?;
        Ok(Mapping {
            columns,
            default_kind,
        })
    }

    /// The column of `field` (every field has one: its own name by default).
    fn column(&self, field: &'static str) -> &str {
        self.columns.get(field).map_or(field, String::as_str)
    }

    fn is_mapped(&self, column: &str) -> bool {
        self.columns.values().any(|mapped| mapped == column)
    }
}

/// The state a record's run ends up in, with what finishing it records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    state: RunState,
    result: Option<Value>,
    error: Option<String>,
}

impl Target {
    /// The state.
    pub fn state(&self) -> RunState {
        self.state
    }

    /// The result a finished run records.
    pub fn result(&self) -> Option<&Value> {
        self.result.as_ref()
    }

    /// The error (or cancel reason) a run records.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

/// One record, mapped to a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// The record's line.
    pub line: usize,
    /// The id as the file has it (before normalization), when it has one.
    pub source_id: Option<String>,
    /// The run id: the normalized id, or `<parent>:<key>` for a child.
    pub id: RunId,
    /// The kind.
    pub kind: Kind,
    /// The parent and key of a child.
    pub parent: Option<(RunId, Segment)>,
    /// Every column no field maps.
    pub attributes: Value,
    /// Where the run ends up.
    pub target: Target,
}

/// A record that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    /// The record's line.
    pub line: usize,
    /// The id as the file has it, when it has one.
    pub source_id: Option<String>,
    /// Why, naming the rule or the conflicting line.
    pub reason: String,
}

/// What the records map to.
#[derive(Debug, Default)]
pub struct Plan {
    /// The runs to write, one per distinct id, in file order.
    pub runs: Vec<Planned>,
    /// `(line, earlier line)` of records identical to an earlier one.
    pub duplicates: Vec<(usize, usize)>,
    /// The records that cannot be mapped.
    pub rejected: Vec<Rejected>,
}

/// Maps every record; de-duplicates by run id.
pub fn plan(records: Vec<Record>, mapping: &Mapping) -> Plan {
    let mut plan = Plan::default();
    let mut seen: BTreeMap<RunId, usize> = BTreeMap::new();
    for record in records {
        let fields = match record.fields {
            Ok(fields) => fields,
            Err(reason) => {
                plan.rejected.push(Rejected {
                    line: record.line,
                    source_id: None,
                    reason,
                });
                continue;
            }
        };
        let source_id = text(&fields, mapping.column("id")).ok().flatten();
        let planned = match map_record(record.line, &fields, mapping) {
            Ok(planned) => planned,
            Err(reason) => {
                plan.rejected.push(Rejected {
                    line: record.line,
                    source_id,
                    reason,
                });
                continue;
            }
        };
        match seen.get(&planned.id) {
            None => {
                seen.insert(planned.id.clone(), plan.runs.len());
                plan.runs.push(planned);
            }
            Some(&index) => {
                let first = &plan.runs[index];
                let differences = differences(first, &planned);
                if differences.is_empty() {
                    plan.duplicates.push((planned.line, first.line));
                } else {
                    plan.rejected.push(Rejected {
                        line: planned.line,
                        source_id: planned.source_id,
                        reason: format!(
                            "run id {} is also on line {} with a different {}",
                            planned.id,
                            first.line,
                            differences.join(", ")
                        ),
                    });
                }
            }
        }
    }
    plan
}

/// The runs in waves: each run comes in the wave after its parent's (when
/// the parent is in the file), so parents exist before their children.
pub fn waves(runs: Vec<Planned>) -> Vec<Vec<Planned>> {
    let in_file: HashSet<RunId> = runs.iter().map(|run| run.id.clone()).collect();
    let mut done: HashSet<RunId> = HashSet::new();
    let mut waiting = runs;
    let mut waves = Vec::new();
    while !waiting.is_empty() {
        let (ready, later): (Vec<Planned>, Vec<Planned>) =
            waiting.into_iter().partition(|run| match &run.parent {
                Some((parent, _)) => !in_file.contains(parent) || done.contains(parent),
                None => true,
            });
        if ready.is_empty() {
            // Unreachable for a tree; a cycle cannot occur because a child's
            // id extends its parent's. Write the rest anyway: the ledger
            // refuses what has no parent.
            waves.push(later);
            break;
        }
        done.extend(ready.iter().map(|run| run.id.clone()));
        waves.push(ready);
        waiting = later;
    }
    waves
}

fn map_record(
    line: usize,
    fields: &Map<String, Value>,
    mapping: &Mapping,
) -> Result<Planned, String> {
    let source_id = text(fields, mapping.column("id"))?;
    let kind = match text(fields, mapping.column("kind"))? {
        Some(kind) => Kind::parse(kind.trim()).map_err(|error| format!("kind: {error}"))?,
        None => mapping.default_kind.clone().ok_or_else(|| {
            format!(
                "no kind: column {:?} is empty or missing; map one with --map kind=COLUMN or give --kind",
                mapping.column("kind")
            )
        })?,
    };
    let target = Target {
        state: match text(fields, mapping.column("state"))? {
            Some(state) => parse_state(&state)?,
            None => RunState::Queued,
        },
        result: fields.get(mapping.column("result")).cloned(),
        error: text(fields, mapping.column("error"))?,
    };
    let parent = text(fields, mapping.column("parent_id"))?
        .map(|parent| RunId::parse(parent.trim()).map_err(|error| format!("parent_id: {error}")))
        .transpose()?;
    let (id, parent) = match parent {
        None => {
            let id = source_id.as_deref().map(str::trim).ok_or_else(|| {
                format!(
                    "no id: column {:?} is empty or missing; map one with --map id=COLUMN",
                    mapping.column("id")
                )
            })?;
            (
                RunId::parse(id).map_err(|error| format!("id: {error}"))?,
                None,
            )
        }
        Some(parent) => {
            let key = child_key(fields, mapping, &parent, source_id.as_deref())?;
            let id = RunId::parse(&format!("{parent}:{}", key.as_str()))
                .map_err(|error| format!("child id: {error}"))?;
            (id, Some((parent, key)))
        }
    };
    let attributes: Map<String, Value> = fields
        .iter()
        .filter(|(column, _)| !mapping.is_mapped(column))
        .map(|(column, value)| (column.clone(), value.clone()))
        .collect();
    Ok(Planned {
        line,
        source_id,
        id,
        kind,
        parent,
        attributes: Value::Object(attributes),
        target,
    })
}

/// A child's key: the key column, else its id in the file (without the
/// `<parent>:` prefix when the file already has runledger's form).
fn child_key(
    fields: &Map<String, Value>,
    mapping: &Mapping,
    parent: &RunId,
    source_id: Option<&str>,
) -> Result<Segment, String> {
    let key = match text(fields, mapping.column("key"))? {
        Some(key) => key.trim().to_owned(),
        None => {
            let id = source_id.map(str::trim).ok_or_else(|| {
                format!(
                    "a child of {parent} needs a key: columns {:?} and {:?} are both empty or missing",
                    mapping.column("key"),
                    mapping.column("id")
                )
            })?;
            id.strip_prefix(&format!("{parent}:"))
                .unwrap_or(id)
                .to_owned()
        }
    };
    Segment::parse(&key).map_err(|error| format!("child key: {error}"))
}

/// A column as text: strings as they are, numbers and booleans written
/// out; objects and arrays are refused for a field that must be text.
fn text(fields: &Map<String, Value>, column: &str) -> Result<Option<String>, String> {
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
fn parse_state(text: &str) -> Result<RunState, String> {
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

/// Which mapped fields of two records with one id differ.
fn differences(first: &Planned, second: &Planned) -> Vec<&'static str> {
    let mut differ = Vec::new();
    if first.kind != second.kind {
        differ.push("kind");
    }
    if first.target.state != second.target.state {
        differ.push("state");
    }
    if first.target.result != second.target.result {
        differ.push("result");
    }
    if first.target.error != second.target.error {
        differ.push("error");
    }
    if first.attributes != second.attributes {
        differ.push("attributes");
    }
    differ
}

#[cfg(test)]
mod tests;
