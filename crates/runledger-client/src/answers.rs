//! Answer bodies of SPEC §4 that are not a bare [`Run`]: a create's run
//! with whether it was new, a page of runs, an append's numbers, a page of
//! events. Serialized back, each is the body the server sent.

use runledger_core::{Event, Run};
use serde::{Deserialize, Serialize};

/// A create's answer: the run, and whether this call created it.
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    /// The run, new or existing.
    pub run: Run,
    /// `true` for `201 Created`, `false` for `200` (an identical run existed).
    pub created: bool,
}

/// One page of `GET /v1/runs`, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPage {
    /// The runs.
    pub runs: Vec<Run>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The answer of `POST /v1/runs/{id}/events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appended {
    /// The event's seq in its run.
    pub seq: u64,
    /// The event's position in its tenant.
    pub position: u64,
}

/// One page of `GET /v1/runs/{id}/events`, in seq order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    /// The events.
    pub events: Vec<Event>,
}

/// The answer of `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok` when the database answers.
    pub status: String,
}
