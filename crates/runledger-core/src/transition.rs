//! The state machine (SPEC §2.5, §2.6, §3), decided in pure code. Each
//! function takes the run as stored and answers what the row and the log must
//! become; the storage layer writes exactly that in one transaction, with an
//! UPDATE conditional on the version it read.
//!
//! ```text
//! pending → queued → running → succeeded | failed | timed_out
//! pending | queued | running → cancelled
//! ```

use crate::limits::EVENT_DATA_BYTES_MAX;
use crate::requests::{Finish, StartLease};
use crate::run::canonical_json;
use crate::{
    CreationParams, Epoch, Error, EventType, Lease, LifecycleEvent, Operation, Outcome, Run, RunId,
    RunState, Tenant, Timestamp,
};
use serde_json::{Value, json};

mod admission;
mod refusals;

pub use admission::{Admission, admit, may_promote, replace_pending};
use refusals::{expired, invalid_transition, never_started, stale};
pub use refusals::{lease_expired, refused_for_expiry};

/// A run as stored, with the lease bookkeeping the JSON view leaves out.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The run as the API shows it.
    pub run: Run,
    /// The newest lease epoch, kept after the run ends so late calls are fenced.
    pub epoch: Epoch,
    /// The lease length of the newest start, reused by heartbeats without one.
    pub lease_ttl_ms: u64,
}

/// An event the change writes, before the store gives it a position.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Per-run seq (the run's `last_seq` after the change).
    pub seq: u64,
    /// Lifecycle name or the caller's type.
    pub event_type: String,
    /// Its payload.
    pub data: Value,
}

/// What one operation does to one run.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // built once per operation, never stored
pub enum Decision {
    /// Write `after` (conditional on the stored version) and `events`.
    Apply(Transition),
    /// A repeat of a change that already happened: answer the run, write nothing.
    Unchanged,
}

/// A change of one run row, with the events written in the same transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The row after the change; its `version` is the stored one + 1.
    pub after: Record,
    /// The events, in seq order.
    pub events: Vec<NewEvent>,
    /// The run left `queued`/`running`: its group may promote a pending run.
    pub frees_slot: bool,
}

/// A new run record and its first events: `created`, and `started` when the
/// create carries a lease and the run is admitted (one change, version 1).
pub fn create(
    tenant: Tenant,
    id: RunId,
    params: CreationParams,
    state: RunState,
    start: Option<&StartLease>,
    now: Timestamp,
) -> Transition {
    assert!(
        matches!(state, RunState::Pending | RunState::Queued),
        "a run is created pending or queued"
    );
    let created = NewEvent {
        seq: 1,
        event_type: LifecycleEvent::Created.as_str().to_owned(),
        data: json!({"kind": params.kind, "parent_id": params.parent_id, "key": params.key, "state": state}),
    };
    let mut record = Record {
        run: Run {
            id,
            tenant,
            concurrency_key: params.concurrency.as_ref().map(|group| group.key.clone()),
            concurrency_limit: params.concurrency.as_ref().map(|group| group.limit),
            concurrency_on_full: params.concurrency.as_ref().map(|group| group.on_full),
            kind: params.kind,
            parent_id: params.parent_id,
            key: params.key,
            state,
            attributes: params.attributes,
            result: None,
            error: None,
            version: 1,
            last_seq: 1,
            lease: None,
            children: Default::default(),
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
        },
        epoch: 0,
        lease_ttl_ms: 0,
    };
    let mut events = vec![created];
    if let (Some(lease), RunState::Queued) = (start, state) {
        let started = begin_lease(&mut record, lease, now);
        events.push(started);
    }
    Transition {
        after: record,
        events,
        frees_slot: false,
    }
}

/// Puts `record` into `running` under a new epoch and returns its `started` event.
fn begin_lease(record: &mut Record, lease: &StartLease, now: Timestamp) -> NewEvent {
    record.epoch += 1;
    record.lease_ttl_ms = lease.lease_ttl_ms;
    record.run.state = RunState::Running;
    record.run.started_at = Some(now);
    record.run.lease = Some(Lease {
        owner: lease.owner.clone(),
        epoch: record.epoch,
        expires_at: now.plus_ms(lease.lease_ttl_ms),
    });
    record.run.last_seq += 1;
    NewEvent {
        seq: record.run.last_seq,
        event_type: LifecycleEvent::Started.as_str().to_owned(),
        data: json!({"owner": lease.owner, "lease_epoch": record.epoch, "expires_at": now.plus_ms(lease.lease_ttl_ms)}),
    }
}

/// Refuses the change when `If-Match` named another version.
pub fn check_version(stored: &Record, expected: Option<u64>) -> Result<(), Error> {
    match expected {
        Some(expected) if expected != stored.run.version => Err(Error::VersionConflict {
            id: stored.run.id.clone(),
            expected,
            current: stored.run.version,
        }),
        _ => Ok(()),
    }
}

/// The row after one more change: version + 1, updated now.
fn next(stored: &Record, now: Timestamp) -> Record {
    let mut after = stored.clone();
    after.run.version += 1;
    after.run.updated_at = now;
    after
}

/// Appends a lifecycle event to `after` and returns the transition.
fn with_lifecycle(
    mut after: Record,
    event: LifecycleEvent,
    data: Value,
    frees_slot: bool,
) -> Transition {
    after.run.last_seq += 1;
    let event = NewEvent {
        seq: after.run.last_seq,
        event_type: event.as_str().to_owned(),
        data,
    };
    Transition {
        after,
        events: vec![event],
        frees_slot,
    }
}

/// queued → running with a new epoch. A repeat by the same owner while the
/// run still runs under that owner is answered unchanged.
pub fn start(stored: &Record, lease: &StartLease, now: Timestamp) -> Result<Decision, Error> {
    match stored.run.state {
        RunState::Queued => {
            let mut after = next(stored, now);
            let started = begin_lease(&mut after, lease, now);
            Ok(Decision::Apply(Transition {
                after,
                events: vec![started],
                frees_slot: false,
            }))
        }
        RunState::Running
            if stored
                .run
                .lease
                .as_ref()
                .is_some_and(|held| held.owner == lease.owner) =>
        {
            Ok(Decision::Unchanged)
        }
        _ => Err(invalid_transition(stored, Operation::Start)),
    }
}

/// Extends the lease of a running run held under `epoch`.
pub fn heartbeat(
    stored: &Record,
    epoch: Epoch,
    lease_ttl_ms: Option<u64>,
    now: Timestamp,
) -> Result<Decision, Error> {
    if never_started(stored) {
        return Err(invalid_transition(stored, Operation::Heartbeat));
    }
    if lease_expired(stored, now) {
        return Err(expired(stored, Some(epoch)));
    }
    match stored.run.state {
        RunState::Running if epoch == stored.epoch => {
            let mut after = next(stored, now);
            let lease_ttl_ms = lease_ttl_ms.unwrap_or(stored.lease_ttl_ms);
            after.lease_ttl_ms = lease_ttl_ms;
            if let Some(lease) = after.run.lease.as_mut() {
                lease.expires_at = now.plus_ms(lease_ttl_ms);
            }
            Ok(Decision::Apply(Transition {
                after,
                events: Vec::new(),
                frees_slot: false,
            }))
        }
        _ => Err(stale(stored, Some(epoch))),
    }
}

/// running → succeeded | failed under `epoch`. A repeat of the same finish is
/// answered unchanged; any other call on an ended run is `stale_lease`.
pub fn finish(stored: &Record, finish: &Finish, now: Timestamp) -> Result<Decision, Error> {
    let run = &stored.run;
    if never_started(stored) {
        return Err(invalid_transition(stored, Operation::Finish));
    }
    if lease_expired(stored, now) {
        return Err(expired(stored, Some(finish.lease_epoch)));
    }
    match run.state {
        RunState::Running if finish.lease_epoch == stored.epoch => {
            let mut after = next(stored, now);
            after.run.state = finish.outcome.state();
            after.run.lease = None;
            after.run.result = finish.result.clone();
            after.run.error = finish.error.clone();
            after.run.finished_at = Some(now);
            let event = match finish.outcome {
                Outcome::Succeeded => LifecycleEvent::Succeeded,
                Outcome::Failed => LifecycleEvent::Failed,
            };
            let data = json!({"lease_epoch": finish.lease_epoch, "result": finish.result, "error": finish.error});
            Ok(Decision::Apply(with_lifecycle(after, event, data, true)))
        }
        state
            if state == finish.outcome.state()
                && finish.lease_epoch == stored.epoch
                && run.error == finish.error
                && run.result.as_ref().map(canonical_json)
                    == finish.result.as_ref().map(canonical_json) =>
        {
            Ok(Decision::Unchanged)
        }
        _ => Err(stale(stored, Some(finish.lease_epoch))),
    }
}

/// pending | queued | running → cancelled. A repeat cancel answers the run
/// unchanged whatever its reason. `cancelled_by` names the run whose create
/// cancelled this one (`on_full: cancel_active`).
pub fn cancel(
    stored: &Record,
    reason: Option<&str>,
    cancelled_by: Option<&RunId>,
    now: Timestamp,
) -> Result<Decision, Error> {
    match stored.run.state {
        RunState::Cancelled => Ok(Decision::Unchanged),
        RunState::Succeeded | RunState::Failed | RunState::TimedOut => {
            Err(invalid_transition(stored, Operation::Cancel))
        }
        RunState::Pending | RunState::Queued | RunState::Running => {
            let mut after = next(stored, now);
            let error = match (reason, cancelled_by) {
                (Some(reason), _) => Some(reason.to_owned()),
                (None, Some(by)) => Some(format!("cancelled to make room for run {by}")),
                (None, None) => None,
            };
            after.run.state = RunState::Cancelled;
            after.run.lease = None;
            after.run.error = error.clone();
            after.run.finished_at = Some(now);
            let data = json!({"reason": error, "cancelled_by": cancelled_by});
            let frees_slot = stored.run.state.is_active();
            Ok(Decision::Apply(with_lifecycle(
                after,
                LifecycleEvent::Cancelled,
                data,
                frees_slot,
            )))
        }
    }
}

/// The `error` of a descendant cancelled by a cascading cancel of `root`
/// (SPEC `POST /v1/runs/{id}/cancel`): `parent <root> cancelled: <reason>`,
/// or `parent <root> cancelled` without a reason.
pub fn cascade_reason(root: &RunId, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("parent {root} cancelled: {reason}"),
        None => format!("parent {root} cancelled"),
    }
}

/// pending → queued, when a slot of its group freed.
pub fn promote(stored: &Record, now: Timestamp) -> Transition {
    assert_eq!(
        stored.run.state,
        RunState::Pending,
        "only a pending run is promoted"
    );
    let mut after = next(stored, now);
    after.run.state = RunState::Queued;
    with_lifecycle(after, LifecycleEvent::Promoted, json!({}), false)
}

/// running → timed_out when the lease expired at or before `now`; `None` otherwise.
pub fn reap(stored: &Record, now: Timestamp) -> Option<Transition> {
    let lease = stored.run.lease.as_ref()?;
    if stored.run.state != RunState::Running || lease.expires_at > now {
        return None;
    }
    let mut after = next(stored, now);
    after.run.state = RunState::TimedOut;
    after.run.error = Some(format!(
        "lease of {} (epoch {}) expired at {}",
        lease.owner,
        stored.epoch,
        lease.expires_at.to_rfc3339()
    ));
    after.run.lease = None;
    after.run.finished_at = Some(now);
    let data =
        json!({"lease_epoch": stored.epoch, "owner": lease.owner, "expired_at": lease.expires_at});
    Some(with_lifecycle(after, LifecycleEvent::TimedOut, data, true))
}

/// A caller's event: before the run starts no epoch is needed; while it runs
/// the current epoch is; after it ends appends are refused (`stale_lease`).
pub fn append(
    stored: &Record,
    event_type: &EventType,
    data: Value,
    lease_epoch: Option<Epoch>,
    now: Timestamp,
) -> Result<Transition, Error> {
    crate::text::check_json_text("data", &data)?;
    let bytes = serde_json::to_vec(&data)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if bytes > EVENT_DATA_BYTES_MAX {
        return Err(Error::invalid(
            "data",
            format!("data is {bytes} bytes serialized; at most {EVENT_DATA_BYTES_MAX} are allowed"),
        ));
    }
    if lease_expired(stored, now) {
        return Err(expired(stored, lease_epoch));
    }
    match stored.run.state {
        RunState::Pending | RunState::Queued => {}
        RunState::Running if lease_epoch == Some(stored.epoch) => {}
        _ => return Err(stale(stored, lease_epoch)),
    }
    let mut after = next(stored, now);
    after.run.last_seq += 1;
    let event = NewEvent {
        seq: after.run.last_seq,
        event_type: event_type.as_str().to_owned(),
        data,
    };
    Ok(Transition {
        after,
        events: vec![event],
        frees_slot: false,
    })
}

#[cfg(test)]
mod tests;
