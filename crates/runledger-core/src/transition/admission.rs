//! Admission into a concurrency group (SPEC §2.3): a free slot admits,
//! a full group applies the request's `on_full` policy.

use crate::{ConcurrencyGroup, Error, OnFull, RunId};

/// What admission decides for a create in a concurrency group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// A slot is free: the run is created active.
    Admit,
    /// Full, `on_full: enqueue`: the run is created pending.
    Enqueue,
    /// Full, `on_full: cancel_active`: cancel these (oldest first), then admit.
    CancelOldest(Vec<RunId>),
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
