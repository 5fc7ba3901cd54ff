//! How run fields read in a cell: the same wording `static/app.js` uses
//! for rows it adds live, so a live row and a reloaded one look alike.
//! Times are shown in UTC and say so; durations and "ago" are computed
//! against the server's clock when the page is rendered, and the script
//! keeps them current.

use runledger::{Children, Lease, Run, RunState, Timestamp};
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

/// `2026-11-27 00:10:13 UTC` (to the second) for a cell; the element's
/// `datetime` and `title` keep the full RFC 3339 value.
pub(crate) fn short_time(at: &Timestamp) -> String {
    let full = at.to_string();
    let trimmed = full.split('.').next().unwrap_or(&full);
    format!(
        "{} UTC",
        trimmed.trim_end_matches('Z').replacen('T', " ", 1)
    )
}

/// `5s`, `3m 05s`, `2h 07m`, `3d 04h`; `850ms` under a second.
pub(crate) fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let seconds = ms / 1_000;
    let (minutes, hours, days) = (seconds / 60, seconds / 3_600, seconds / 86_400);
    if days > 0 {
        format!("{days}d {:02}h", hours % 24)
    } else if hours > 0 {
        format!("{hours}h {:02}m", minutes % 60)
    } else if minutes > 0 {
        format!("{minutes}m {:02}s", seconds % 60)
    } else {
        format!("{seconds}s")
    }
}

/// `3m 05s ago` (or `in 5s` for a time ahead of `now`).
pub(crate) fn ago(at: &Timestamp, now: &Timestamp) -> String {
    let ms = now.unix_ms() - at.unix_ms();
    if ms < 0 {
        format!("in {}", duration(-ms))
    } else if ms < 1_000 {
        "just now".to_owned()
    } else {
        format!("{} ago", duration(ms))
    }
}

/// How long the run ran (start to finish, or to `now` while running);
/// `None` for a run that never started.
pub(crate) fn run_duration(run: &Run, now: &Timestamp) -> Option<String> {
    let started = run.started_at?;
    let until = match run.finished_at {
        Some(finished) => finished,
        None if run.state == RunState::Running => *now,
        None => return None,
    };
    Some(duration(until.unix_ms() - started.unix_ms()))
}

/// The server's clock, for "ago" and running durations.
pub(crate) fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        });
    Timestamp::from_unix_ms(ms)
}

/// Indented JSON, cut at [`EVENT_DATA_SHOWN_CHARS_MAX`] characters with
/// `…` (an event's data in the run pane).
pub(crate) fn json_short(value: &Value) -> String {
    let text = json_pretty(value);
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
        assert_eq!(short_time(&at), "2026-11-27 00:10:13 UTC");
        let later = Timestamp::from_unix_ms(1_795_738_213_790 + 185_000);
        assert_eq!(ago(&at, &later), "3m 05s ago");
        assert_eq!(ago(&at, &at), "just now");
        assert_eq!(ago(&later, &at), "in 3m 05s");
    }

    #[test]
    fn durations_read_in_the_two_largest_units() {
        let table = [
            (0, "0ms"),
            (850, "850ms"),
            (5_400, "5s"),
            (185_000, "3m 05s"),
            (7_620_000, "2h 07m"),
            (273_600_000, "3d 04h"),
            (-5, "0ms"),
        ];
        for (ms, text) in table {
            assert_eq!(duration(ms), text, "{ms}");
        }
    }

    #[test]
    fn long_event_data_is_cut_on_a_character_boundary() {
        let long = Value::String("é".repeat(EVENT_DATA_SHOWN_CHARS_MAX * 2));
        let shown = json_short(&long);
        assert_eq!(shown.chars().count(), EVENT_DATA_SHOWN_CHARS_MAX + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(json_short(&serde_json::json!({"a": 1})), "{\n  \"a\": 1\n}");
    }
}
