//! How `runs` prints answers: comfy-table tables for people, the API's JSON
//! body for scripts, and one line per event while following.

use comfy_table::{Table, presets};
use runledger::{Event, Run};
use serde::Serialize;

/// Characters of a JSON value shown in a table cell before it is cut.
const CELL_JSON_CHARS_MAX: usize = 120;

/// The API's JSON body of `value`, on one line.
pub fn json_line(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
}

/// One run as a two-column table; `created` adds whether the create was new.
pub fn run_table(run: &Run, created: Option<bool>) -> Table {
    let mut table = table(["field", "value"]);
    let mut rows: Vec<(&str, String)> = Vec::new();
    if let Some(created) = created {
        let answer = if created {
            "yes (201)"
        } else {
            "no, an identical run existed (200)"
        };
        rows.push(("created", answer.to_owned()));
    }
    rows.extend([
        ("id", run.id.to_string()),
        ("tenant", run.tenant.to_string()),
        ("kind", run.kind.to_string()),
        ("state", run.state.to_string()),
    ]);
    if let (Some(parent), Some(key)) = (&run.parent_id, &run.key) {
        rows.push(("parent_id", parent.to_string()));
        rows.push(("key", key.to_string()));
    }
    if let Some(key) = &run.concurrency_key {
        let limit = run
            .concurrency_limit
            .map_or_else(String::new, |limit| format!(" (limit {limit})"));
        rows.push(("concurrency", format!("{key}{limit}")));
    }
    rows.push(("attributes", cell_json(&run.attributes)));
    if let Some(result) = &run.result {
        rows.push(("result", cell_json(result)));
    }
    if let Some(error) = &run.error {
        rows.push(("error", error.clone()));
    }
    rows.extend([
        ("version", run.version.to_string()),
        ("last_seq", run.last_seq.to_string()),
    ]);
    if let Some(lease) = &run.lease {
        rows.push((
            "lease",
            format!(
                "owner {}, epoch {}, expires {}",
                lease.owner, lease.epoch, lease.expires_at
            ),
        ));
    }
    rows.push(("children", children(run)));
    rows.push(("created_at", run.created_at.to_string()));
    if let Some(started) = run.started_at {
        rows.push(("started_at", started.to_string()));
    }
    if let Some(finished) = run.finished_at {
        rows.push(("finished_at", finished.to_string()));
    }
    rows.push(("updated_at", run.updated_at.to_string()));
    for (field, value) in rows {
        table.add_row([field.to_owned(), value]);
    }
    table
}

/// A page of runs, one row each.
pub fn runs_table(runs: &[Run]) -> Table {
    let mut table = table([
        "id",
        "kind",
        "state",
        "version",
        "last_seq",
        "children",
        "created_at",
    ]);
    for run in runs {
        table.add_row([
            run.id.to_string(),
            run.kind.to_string(),
            run.state.to_string(),
            run.version.to_string(),
            run.last_seq.to_string(),
            children(run),
            run.created_at.to_string(),
        ]);
    }
    table
}

/// A run's events, one row each.
pub fn events_table(events: &[Event]) -> Table {
    let mut table = table(["seq", "position", "type", "at", "data"]);
    for event in events {
        table.add_row([
            event.seq.to_string(),
            event.position.to_string(),
            event.event_type.clone(),
            event.at.to_string(),
            cell_json(&event.data),
        ]);
    }
    table
}

/// The header line of followed events; `with_run` adds the run id column.
pub fn follow_header(with_run: bool) -> String {
    follow_columns(with_run, "seq", "position", "at", "type", "run_id", "data")
}

/// One followed event as an aligned line under [`follow_header`].
pub fn follow_line(event: &Event, with_run: bool) -> String {
    follow_columns(
        with_run,
        &event.seq.to_string(),
        &event.position.to_string(),
        &event.at.to_string(),
        &event.event_type,
        event.run_id.as_str(),
        &cell_json(&event.data),
    )
}

fn follow_columns(
    with_run: bool,
    seq: &str,
    position: &str,
    at: &str,
    event_type: &str,
    run_id: &str,
    data: &str,
) -> String {
    if with_run {
        format!("{position:>9}  {run_id:<28} {seq:>6}  {at:<24}  {event_type:<16} {data}")
    } else {
        format!("{seq:>6}  {position:>9}  {at:<24}  {event_type:<16} {data}")
    }
}

/// An empty table with `header`, in the style of every `runs` table.
pub fn table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED);
    table.set_header(header);
    table
}

fn children(run: &Run) -> String {
    let mut text = run.children.total.to_string();
    if !run.children.by_state.is_empty() {
        let parts: Vec<String> = run
            .children
            .by_state
            .iter()
            .map(|(state, count)| format!("{state} {count}"))
            .collect();
        text.push_str(&format!(" ({})", parts.join(", ")));
    }
    text
}

/// Compact JSON, cut at [`CELL_JSON_CHARS_MAX`] characters.
fn cell_json(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= CELL_JSON_CHARS_MAX {
        return text;
    }
    let mut cut: String = text.chars().take(CELL_JSON_CHARS_MAX).collect();
    cut.push('…');
    cut
}
