//! Admission into a concurrency group (SPEC §2.3): a free slot admits,
//! a full group applies the request's `on_full` policy.

use super::{Decision, Record, cancel};
use crate::{ConcurrencyGroup, Error, OnFull, RunId, Timestamp};

/// What admission decides for a create in a concurrency group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// A slot is free: the run is created active.
    Admit,
    /// Full, `on_full: enqueue`: the run is created pending.
    Enqueue,
    /// Full, `on_full: cancel_active`: cancel these (oldest first), then admit.
    CancelOldest(Vec<RunId>),
    /// Full, `on_full: replace_pending`: the run is created pending, and
    /// every run of the group pending before it is cancelled
    /// ([`replace_pending`]), so the group keeps one pending run.
    ReplacePending,
}

/// Decides a create in `group`, given the group's active runs, oldest first.
/// The limit applied is the request's; every active run of the key counts.
pub fn admit(group: &ConcurrencyGroup, active_oldest_first: &[RunId]) -> Result<Admission, Error> {
    let limit = group.limit as usize;
    if active_oldest_first.len() < limit {
        return Ok(Admission::Admit);
    }
    match group.on_full {
        OnFull::Reject => Err(Error::ConcurrencyLimit {
            key: group.key.clone(),
            limit: group.limit,
            active_run_ids: active_oldest_first.to_vec(),
        }),
        OnFull::Enqueue => Ok(Admission::Enqueue),
        OnFull::ReplacePending => Ok(Admission::ReplacePending),
        OnFull::CancelActive => {
            let surplus = active_oldest_first.len() + 1 - limit;
            Ok(Admission::CancelOldest(
                active_oldest_first[..surplus].to_vec(),
            ))
        }
    }
}

/// Whether the oldest pending run of a group, created with `pending_limit`,
/// may be promoted while `active_count` runs of the group are active.
pub fn may_promote(pending_limit: u32, active_count: usize) -> bool {
    active_count < pending_limit as usize
}

/// Cancels a pending run that `new_run` replaces (`on_full:
/// replace_pending`): its `error` and `cancelled` event name the new run.
pub fn replace_pending(
    stored: &Record,
    new_run: &RunId,
    now: Timestamp,
) -> Result<Decision, Error> {
    assert_eq!(
        stored.run.state,
        crate::RunState::Pending,
        "only a pending run is replaced"
    );
    let reason = format!("replaced by pending run {new_run}");
    cancel(stored, Some(&reason), Some(new_run), now)
}
