//! Events: the ordered log of a run. Lifecycle events are written by the
//! ledger with the state change they describe; callers append their own.

use crate::limits::EVENT_TYPE_CHARS_MAX;
use crate::{Error, RunId, RunState, Timestamp};
use serde::{Deserialize, Serialize};

/// The events the ledger writes itself, one per state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleEvent {
    /// The run was created (always its first event, `seq` 1).
    Created,
    /// A pending run got a slot in its concurrency group: pending → queued.
    Promoted,
    /// queued → running.
    Started,
    /// running → succeeded.
    Succeeded,
    /// running → failed.
    Failed,
    /// pending | queued | running → cancelled.
    Cancelled,
    /// running → timed_out (the reaper found the lease expired).
    TimedOut,
}

impl LifecycleEvent {
    /// Every lifecycle event.
    pub const ALL: [LifecycleEvent; 7] = [
        LifecycleEvent::Created,
        LifecycleEvent::Promoted,
        LifecycleEvent::Started,
        LifecycleEvent::Succeeded,
        LifecycleEvent::Failed,
        LifecycleEvent::Cancelled,
        LifecycleEvent::TimedOut,
    ];

    /// The event type as written to the log.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleEvent::Created => "created",
            LifecycleEvent::Promoted => "promoted",
            LifecycleEvent::Started => "started",
            LifecycleEvent::Succeeded => "succeeded",
            LifecycleEvent::Failed => "failed",
            LifecycleEvent::Cancelled => "cancelled",
            LifecycleEvent::TimedOut => "timed_out",
        }
    }

    /// The lifecycle event with this type name, if it is one.
    pub fn from_name(name: &str) -> Option<LifecycleEvent> {
        LifecycleEvent::ALL
            .into_iter()
            .find(|event| event.as_str() == name)
    }

    /// The states a run may be in when this is its newest lifecycle event.
    /// (`created` leaves a run pending, queued, or — created with `start` — the
    /// `started` event follows in the same change.)
    pub fn states_after(self) -> &'static [RunState] {
        match self {
            LifecycleEvent::Created => &[RunState::Pending, RunState::Queued],
            LifecycleEvent::Promoted => &[RunState::Queued],
            LifecycleEvent::Started => &[RunState::Running],
            LifecycleEvent::Succeeded => &[RunState::Succeeded],
            LifecycleEvent::Failed => &[RunState::Failed],
            LifecycleEvent::Cancelled => &[RunState::Cancelled],
            LifecycleEvent::TimedOut => &[RunState::TimedOut],
        }
    }
}

/// A caller's event type: `[a-z0-9][a-z0-9._-]{0,63}`, not a lifecycle name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventType(String);

impl EventType {
    /// Parses a caller-supplied event type.
    pub fn parse(text: &str) -> Result<EventType, Error> {
        let grammar = crate::ids::Grammar {
            what: "event type",
            chars_max: EVENT_TYPE_CHARS_MAX,
            first: |c| c.is_ascii_lowercase() || c.is_ascii_digit(),
            first_rule: "an event type starts with a lowercase ASCII letter or digit",
            rest: |c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'),
            rest_rule: "an event type holds only lowercase ASCII letters, digits, '.', '_' and '-'",
        };
        grammar
            .check(text)
            .map_err(|detail| Error::invalid("type", detail))?;
        if LifecycleEvent::from_name(text).is_some() {
            return Err(Error::invalid(
                "type",
                format!(
                    "'{text}' is a lifecycle event that only runledger writes; choose another type"
                ),
            ));
        }
        Ok(EventType(text.to_owned()))
    }

    /// The type as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        EventType::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// One entry of a run's event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The run the event belongs to.
    pub run_id: RunId,
    /// Per run, from 1, no gaps.
    pub seq: u64,
    /// Per tenant, from 1, no gaps, in commit order.
    pub position: u64,
    /// Lifecycle name or the caller's type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Any JSON value.
    pub data: serde_json::Value,
    /// When it was written.
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_event_types_follow_the_grammar_and_avoid_lifecycle_names() {
        assert!(EventType::parse("progress").is_ok());
        assert!(EventType::parse("log.line_2-x").is_ok());
        for name in LifecycleEvent::ALL.map(LifecycleEvent::as_str) {
            let error = EventType::parse(name).unwrap_err();
            assert!(error.to_string().contains("lifecycle"), "{error}");
        }
        assert!(
            EventType::parse("Progress")
                .unwrap_err()
                .to_string()
                .contains("'P'")
        );
        assert!(
            EventType::parse("")
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        assert!(
            EventType::parse(&"a".repeat(65))
                .unwrap_err()
                .to_string()
                .contains("65")
        );
    }
}
