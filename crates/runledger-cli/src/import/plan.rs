//! Mapping legacy records to runs: which column is which field, ids
//! normalized (surrounding whitespace trimmed), split into parent and child
//! key by `--child-pattern`, generated only with `--generate-missing-ids`,
//! and de-duplicated (the first record of an id wins; a later one is merged
//! when identical, refused naming the differing columns otherwise). Pure:
//! nothing here touches a ledger.

use super::clock::{self, Zone};
use super::fields::{differences, generated_id, parse_state, split_child, text};
use super::read::Record;
use crate::failure::Failure;
use regex::Regex;
use runledger::{Kind, RunId, RunState, Segment, Timestamp};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};

/// The fields a column can be mapped to, in `--map FIELD=COLUMN`.
const FIELDS: [&str; 10] = [
    "id",
    "kind",
    "state",
    "parent_id",
    "key",
    "error",
    "result",
    "created_at",
    "started_at",
    "finished_at",
];

/// Which column holds each field, and the kind of records without one.
#[derive(Debug, Clone)]
pub struct Mapping {
    columns: BTreeMap<&'static str, String>,
    /// The columns `--map` named, which the file must have.
    named: Vec<(&'static str, String)>,
    default_kind: Option<Kind>,
    zone: Zone,
    child_pattern: Option<Regex>,
    generate_ids: bool,
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
        let named = named
            .into_iter()
            .map(|field| (field, columns[field].clone()))
            .collect();
        let default_kind = kind
            .map(Kind::parse)
            .transpose()
            .map_err(|error| Failure::Usage(format!("--kind: {error}")))?;
        Ok(Mapping {
            columns,
            named,
            default_kind,
            zone: Zone::Fixed(0),
            child_pattern: None,
            generate_ids: false,
        })
    }

    /// Local times are read in `zone` (UTC by default).
    pub fn with_zone(mut self, zone: Zone) -> Mapping {
        self.zone = zone;
        self
    }

    /// `--child-pattern`: compiled, with exactly two capture groups.
    pub fn with_child_pattern(mut self, pattern: Option<&str>) -> Result<Mapping, Failure> {
        let Some(pattern) = pattern else {
            return Ok(self);
        };
        let regex = Regex::new(pattern).map_err(|error| {
            Failure::Usage(format!(
                "--child-pattern {pattern:?} does not compile: {error}"
            ))
        })?;
        if regex.captures_len() != 3 {
            return Err(Failure::Usage(format!(
                "--child-pattern {pattern:?} has {} capture groups; it needs two: the parent id and the child key",
                regex.captures_len() - 1
            )));
        }
        self.child_pattern = Some(regex);
        Ok(self)
    }

    /// `--generate-missing-ids`: records without an id get a stable generated one.
    pub fn with_generated_ids(mut self, generate: bool) -> Mapping {
        self.generate_ids = generate;
        self
    }

    /// Refuses a `--map` whose column no record has (for CSV: not in the header).
    pub fn check_columns(&self, present: &HashSet<String>) -> Result<(), Failure> {
        for (field, column) in &self.named {
            if !present.contains(column) {
                let mut known: Vec<&String> = present.iter().collect();
                known.sort();
                return Err(Failure::Usage(format!(
                    "--map {field}={column}: the file has no column {column:?} (its columns: {})",
                    known
                        .iter()
                        .map(|column| column.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Ok(())
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
    created_at: Option<Timestamp>,
    started_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
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

    /// When the file says the run was created, started and finished.
    pub fn times(&self) -> (Option<Timestamp>, Option<Timestamp>, Option<Timestamp>) {
        (self.created_at, self.started_at, self.finished_at)
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
    /// The record's columns as read, to compare a later record of one id.
    pub fields: Map<String, Value>,
    /// `true` when the id was generated (`--generate-missing-ids`).
    pub generated: bool,
    /// For a parent the file has no record of: the line of its first child.
    pub parent_of_line: Option<usize>,
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
    /// `(line, earlier line, run id)` of records identical to an earlier one.
    pub duplicates: Vec<(usize, usize, RunId)>,
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
                let differ = differences(
                    (&first.fields, first.line),
                    &planned.fields,
                    mapping.column("id"),
                );
                if differ.is_empty() && first.id == planned.id {
                    plan.duplicates
                        .push((planned.line, first.line, first.id.clone()));
                } else {
                    plan.rejected.push(Rejected {
                        line: planned.line,
                        source_id: planned.source_id,
                        reason: format!(
                            "run id {} is also on line {}, which wins; this line differs in {}",
                            planned.id,
                            first.line,
                            differ.join("; ")
                        ),
                    });
                }
            }
        }
    }
    add_missing_parents(&mut plan, &seen);
    plan
}

/// A parent the children name but the file has no record of: created as a
/// cancelled run of the first child's kind (so no worker ever claims it),
/// at that child's creation time.
fn add_missing_parents(plan: &mut Plan, seen: &BTreeMap<RunId, usize>) {
    let mut added: HashSet<RunId> = HashSet::new();
    let mut parents = Vec::new();
    for run in &plan.runs {
        let Some((parent, _)) = &run.parent else {
            continue;
        };
        if seen.contains_key(parent) || !added.insert(parent.clone()) {
            continue;
        }
        let created_at = run.target.created_at;
        parents.push(Planned {
            line: run.line,
            source_id: None,
            id: parent.clone(),
            kind: run.kind.clone(),
            parent: parent_of(parent),
            attributes: Value::Object(Map::new()),
            target: Target {
                state: RunState::Cancelled,
                result: None,
                error: Some("created by runledger import: the file has no record of it".to_owned()),
                created_at,
                started_at: None,
                finished_at: created_at,
            },
            fields: Map::new(),
            generated: false,
            parent_of_line: Some(run.line),
        });
    }
    plan.runs.extend(parents);
}

/// The parent and key read off a child id (`a:b` → `a`, `b`).
fn parent_of(id: &RunId) -> Option<(RunId, Segment)> {
    let (parent, key) = id.as_str().rsplit_once(':')?;
    Some((RunId::parse(parent).ok()?, Segment::parse(key).ok()?))
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
    let state = match text(fields, mapping.column("state"))? {
        Some(state) => parse_state(&state)?,
        None => RunState::Queued,
    };
    let target = target(fields, mapping, state)?;
    let parent = text(fields, mapping.column("parent_id"))?
        .map(|parent| RunId::parse(parent.trim()).map_err(|error| format!("parent_id: {error}")))
        .transpose()?;
    let mut generated = false;
    let (id, parent) = match parent {
        None => {
            let id = match source_id.as_deref().map(str::trim) {
                Some(id) => id.to_owned(),
                None if mapping.generate_ids => {
                    generated = true;
                    generated_id(fields)
                }
                None => {
                    return Err(format!(
                        "no id: column {:?} is empty or missing; map one with --map id=COLUMN, \
                         or give --generate-missing-ids",
                        mapping.column("id")
                    ));
                }
            };
            match split_child(&id, mapping.child_pattern.as_ref())? {
                Some((parent, key)) => {
                    let child = RunId::parse(&format!("{parent}:{}", key.as_str()))
                        .map_err(|error| format!("child id: {error}"))?;
                    (child, Some((parent, key)))
                }
                None => (
                    RunId::parse(&id).map_err(|error| format!("id: {error}"))?,
                    None,
                ),
            }
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
        fields: fields.clone(),
        generated,
        parent_of_line: None,
    })
}

/// The state, outcome and times of a record; the times must come in order.
fn target(
    fields: &Map<String, Value>,
    mapping: &Mapping,
    state: RunState,
) -> Result<Target, String> {
    let time = |field: &'static str| -> Result<Option<Timestamp>, String> {
        text(fields, mapping.column(field))?
            .map(|value| {
                clock::parse(&value, &mapping.zone).map_err(|error| format!("{field}: {error}"))
            })
            .transpose()
    };
    let (created_at, started_at, finished_at) = (
        time("created_at")?,
        time("started_at")?,
        time("finished_at")?,
    );
    let ordered = [created_at, started_at, finished_at];
    let present: Vec<Timestamp> = ordered.iter().flatten().copied().collect();
    if present.windows(2).any(|pair| pair[0] > pair[1]) {
        return Err("the times are out of order: created_at ≤ started_at ≤ finished_at".to_owned());
    }
    Ok(Target {
        state,
        result: fields.get(mapping.column("result")).cloned(),
        error: text(fields, mapping.column("error"))?,
        created_at,
        started_at,
        finished_at,
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

#[cfg(test)]
mod tests;
