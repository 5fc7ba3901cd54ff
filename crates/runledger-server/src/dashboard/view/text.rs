//! How run fields read in a cell: the same wording `static/app.js` uses
//! for rows it adds live, so a live row and a reloaded one look alike.

use runledger::{Children, Lease, Timestamp};
use serde_json::Value;

/// Longest JSON text shown for one event's data; the API has the rest.
pub(crate) const EVENT_DATA_SHOWN_CHARS_MAX: usize = 2_000;

/// What an empty cell shows.
pub(crate) const NONE: &str = "—";

/// `3 (1 running, 2 succeeded)`, or `—` for no children.
pub(crate) fn children(children: &Children) -> String {
    if children.total == 0 {
        return NONE.to_owned();
    }
    let parts: Vec<String> = children
        .by_state
        .iter()
        .map(|(state, count)| format!("{count} {state}"))
        .collect();
    format!("{} ({})", children.total, parts.join(", "))
}

/// `worker-1 · epoch 2`, or `—` without a lease.
pub(crate) fn lease(lease: Option<&Lease>) -> String {
    match lease {
        Some(lease) => format!("{} · epoch {}", lease.owner, lease.epoch),
        None => NONE.to_owned(),
    }
}

/// `2026-11-27 00:10:13` (UTC, to the second) for a cell; the element's
/// `datetime` and `title` keep the full RFC 3339 value.
pub(crate) fn short_time(at: &Timestamp) -> String {
    let full = at.to_string();
    let trimmed = full.split('.').next().unwrap_or(&full);
    trimmed.trim_end_matches('Z').replacen('T', " ", 1)
}

/// Compact JSON, cut at [`EVENT_DATA_SHOWN_CHARS_MAX`] characters with `…`.
pub(crate) fn json_short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(EVENT_DATA_SHOWN_CHARS_MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Indented JSON for the detail view.
pub(crate) fn json_pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use runledger::RunState;

    #[test]
    fn children_read_as_a_total_and_the_states() {
        assert_eq!(children(&Children::default()), "—");
        let counts = Children::from_counts([(RunState::Succeeded, 2), (RunState::Running, 1)]);
        assert_eq!(children(&counts), "3 (1 running, 2 succeeded)");
    }

    #[test]
    fn cells_show_times_to_the_second() {
        let at = Timestamp::from_unix_ms(1_795_738_213_790);
        assert_eq!(at.to_string(), "2026-11-27T00:10:13.790Z");
        assert_eq!(short_time(&at), "2026-11-27 00:10:13");
    }

    #[test]
    fn long_event_data_is_cut_on_a_character_boundary() {
        let long = Value::String("é".repeat(EVENT_DATA_SHOWN_CHARS_MAX * 2));
        let shown = json_short(&long);
        assert_eq!(shown.chars().count(), EVENT_DATA_SHOWN_CHARS_MAX + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(json_short(&serde_json::json!({"a": 1})), r#"{"a":1}"#);
    }
}
