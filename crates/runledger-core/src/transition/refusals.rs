//! How the state machine refuses: a transition the state does not allow,
//! a stale or expired lease, a run that never started.

use super::Record;
use crate::{Epoch, Error, Operation, RunState, Timestamp};

pub(super) fn invalid_transition(stored: &Record, operation: Operation) -> Error {
    Error::InvalidTransition {
        id: stored.run.id.clone(),
        state: stored.run.state,
        operation,
    }
}

pub(super) fn stale(stored: &Record, given: Option<Epoch>) -> Error {
    Error::StaleLease {
        id: stored.run.id.clone(),
        given,
        current: stored.epoch,
        state: stored.run.state,
    }
}

/// Whether `stored` runs under a lease that expired by `now` (SPEC §2.5:
/// expiry is decided by the clock, not by when the reaper runs).
pub fn lease_expired(stored: &Record, now: Timestamp) -> bool {
    stored.run.state == RunState::Running
        && stored
            .run
            .lease
            .as_ref()
            .is_some_and(|lease| lease.expires_at <= now)
}

/// The refusal of a fenced call (heartbeat, append, finish) on a run whose
/// lease expired: `stale_lease`, reporting the run as timed out, which the
/// ledger makes true by reaping it before it answers.
pub(super) fn expired(stored: &Record, given: Option<Epoch>) -> Error {
    Error::StaleLease {
        id: stored.run.id.clone(),
        given,
        current: stored.epoch,
        state: RunState::TimedOut,
    }
}

/// Whether an error is the refusal of a call that found its lease expired,
/// so the run must be reaped before the caller is answered.
pub fn refused_for_expiry(error: &Error) -> bool {
    matches!(
        error,
        Error::StaleLease {
            state: RunState::TimedOut,
            ..
        }
    )
}

/// A heartbeat or finish of a run that never started (pending, queued, or
/// cancelled before it started) is `invalid_transition`, never `stale_lease`.
pub(super) fn never_started(stored: &Record) -> bool {
    match stored.run.state {
        RunState::Pending | RunState::Queued => true,
        RunState::Cancelled => stored.run.started_at.is_none(),
        _ => false,
    }
}
