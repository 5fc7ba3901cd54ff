//! The invariants of SPEC §2, checked against what is actually stored. The
//! same checks back `runledger doctor` and end every race and fault test.

use runledger_core::{Error, LifecycleEvent, RunState};
use serde::Serialize;

/// How long past its expiry a lease may stay unreaped before the audit
/// reports it (the reaper runs every 500 ms by default).
pub const EXPIRED_LEASE_GRACE_MS: i64 = 5_000;

/// Which invariant a problem breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Two rows for one `(tenant, id)` (guarantee 1).
    DuplicateRun,
    /// Two children for one `(tenant, parent_id, key)` (guarantee 1).
    DuplicateChild,
    /// A run without its `created` event at seq 1 (guarantee 3).
    MissingCreatedEvent,
    /// A state without the lifecycle event that leads to it (guarantee 3).
    MissingLifecycleEvent,
    /// A run's seqs are not 1..=last_seq (guarantee 7).
    SeqGap,
    /// A tenant's positions are not 1..=n (guarantee 7).
    PositionGap,
    /// An event whose run does not exist (guarantee 3).
    OrphanEvent,
    /// More active runs in a group than any of them was admitted with (guarantee 4).
    OverLimit,
    /// A pending run whose group has a free slot: a missed promotion (guarantee 4).
    StuckPending,
    /// A running run whose lease expired and was not reaped (guarantee 5).
    ExpiredLease,
    /// A lease on a run that is not running, or none on a running one (guarantee 5).
    LeaseMismatch,
}

/// One invariant violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The invariant broken.
    pub kind: ProblemKind,
    /// The tenant it was found in.
    pub tenant: String,
    /// The run concerned, when there is one.
    pub run_id: Option<String>,
    /// What exactly is wrong.
    pub detail: String,
}

/// Everything the audit found; empty when the ledger is sound.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Audit {
    /// Every violation, grouped by kind.
    pub problems: Vec<Problem>,
}

impl Audit {
    /// The audit of a sound ledger.
    pub fn clean() -> Audit {
        Audit::default()
    }

    /// `true` when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// How many problems of `kind` were found.
    pub fn count(&self, kind: ProblemKind) -> usize {
        self.problems
            .iter()
            .filter(|problem| problem.kind == kind)
            .count()
    }
}

/// The problem of a run in `state` whose newest lifecycle event is `newest`,
/// if that event does not lead to the state (one row of the backends'
/// `NEWEST_LIFECYCLE_EVENTS` query).
pub(crate) fn missing_lifecycle_event(
    tenant: String,
    id: String,
    state: &str,
    newest: Option<String>,
) -> Result<Option<Problem>, Error> {
    let state = RunState::parse(state)?;
    let leads_to_state = newest
        .as_deref()
        .and_then(LifecycleEvent::from_name)
        .is_some_and(|event| event.states_after().contains(&state));
    if leads_to_state {
        return Ok(None);
    }
    Ok(Some(Problem {
        kind: ProblemKind::MissingLifecycleEvent,
        tenant,
        run_id: Some(id),
        detail: format!(
            "state is {state} but the newest lifecycle event is {}",
            newest.as_deref().unwrap_or("none")
        ),
    }))
}
