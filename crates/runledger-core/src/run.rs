//! The run record and its parts: state, lease, concurrency group, children
//! counts, and the creation parameters that idempotent create compares.

use crate::limits::{ATTRIBUTES_BYTES_MAX, CONCURRENCY_LIMIT_MAX, CONCURRENCY_LIMIT_MIN};
use crate::{ConcurrencyKey, Error, Kind, Owner, RunId, Segment, Tenant, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A lease epoch: +1 on every start, carried by every heartbeat, append and finish.
pub type Epoch = u64;

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Waiting for a slot in its concurrency group (not active).
    Pending,
    /// Has a slot, waiting for a worker (active).
    Queued,
    /// A worker holds its lease (active).
    Running,
    /// Finished well.
    Succeeded,
    /// Finished badly.
    Failed,
    /// Cancelled before it finished.
    Cancelled,
    /// Its lease expired and the reaper ended it.
    TimedOut,
}

impl RunState {
    /// Every state.
    pub const ALL: [RunState; 7] = [
        RunState::Pending,
        RunState::Queued,
        RunState::Running,
        RunState::Succeeded,
        RunState::Failed,
        RunState::Cancelled,
        RunState::TimedOut,
    ];

    /// The state's JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Pending => "pending",
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
            RunState::TimedOut => "timed_out",
        }
    }

    /// Parses a state's JSON name.
    pub fn parse(text: &str) -> Result<RunState, Error> {
        RunState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| {
                Error::invalid(
                    "state",
                    format!(
                        "unknown state '{text}'; expected one of pending, queued, running, succeeded, failed, cancelled, timed_out"
                    ),
                )
            })
    }

    /// `queued` and `running` count against a concurrency limit.
    pub fn is_active(self) -> bool {
        matches!(self, RunState::Queued | RunState::Running)
    }

    /// No transition leaves a terminal state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Succeeded | RunState::Failed | RunState::Cancelled | RunState::TimedOut
        )
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a worker says a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
// The schema keeps the name and text the committed OpenAPI document gives it.
#[cfg_attr(
    feature = "utoipa",
    derive(utoipa::ToSchema),
    schema(as = OutcomeBody, description = "How a run ended.")
)]
pub enum Outcome {
    /// → `succeeded`.
    Succeeded,
    /// → `failed`.
    Failed,
}

impl Outcome {
    /// The state this outcome ends the run in.
    pub fn state(self) -> RunState {
        match self {
            Outcome::Succeeded => RunState::Succeeded,
            Outcome::Failed => RunState::Failed,
        }
    }
}

/// What a create does when its concurrency group is full (SPEC §3).
/// Written `cancel_active` and `replace_pending` everywhere; the
/// command-line habit `cancel-active` / `replace-pending` is read too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
// The schema keeps the name and text the committed OpenAPI document gives it.
#[cfg_attr(
    feature = "utoipa",
    derive(utoipa::ToSchema),
    schema(as = OnFullBody, description = "What a create does when its group is full.")
)]
pub enum OnFull {
    /// `409 concurrency_limit`; nothing is written.
    #[default]
    Reject,
    /// Created `pending`; promoted FIFO when a slot frees.
    Enqueue,
    /// The oldest active runs are cancelled to make room.
    #[serde(alias = "cancel-active")]
    CancelActive,
    /// Created `pending` like `Enqueue`, but the group keeps at most one
    /// pending run: the run that was pending is cancelled.
    #[serde(alias = "replace-pending")]
    ReplacePending,
}

impl OnFull {
    /// The policy's JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            OnFull::Reject => "reject",
            OnFull::Enqueue => "enqueue",
            OnFull::CancelActive => "cancel_active",
            OnFull::ReplacePending => "replace_pending",
        }
    }

    /// Parses a policy's JSON name (`-` is read as `_`: `cancel-active`).
    pub fn parse(text: &str) -> Result<OnFull, Error> {
        let name = text.replace('-', "_");
        [
            OnFull::Reject,
            OnFull::Enqueue,
            OnFull::CancelActive,
            OnFull::ReplacePending,
        ]
        .into_iter()
            .find(|policy| policy.as_str() == name)
            .ok_or_else(|| {
                Error::invalid(
                    "concurrency.on_full",
                    format!("unknown policy '{text}'; expected reject, enqueue, cancel_active or replace_pending"),
                )
            })
    }
}

/// A concurrency group as a create names it, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConcurrencyGroup {
    /// The group.
    pub key: ConcurrencyKey,
    /// Most active runs the request admits (1–10,000).
    pub limit: u32,
    /// What to do when full.
    pub on_full: OnFull,
}

impl ConcurrencyGroup {
    /// A group with a checked limit.
    pub fn new(
        key: ConcurrencyKey,
        limit: u32,
        on_full: OnFull,
    ) -> Result<ConcurrencyGroup, Error> {
        if !(CONCURRENCY_LIMIT_MIN..=CONCURRENCY_LIMIT_MAX).contains(&limit) {
            return Err(Error::invalid(
                "concurrency.limit",
                format!(
                    "limit {limit} is out of range; expected {CONCURRENCY_LIMIT_MIN} to {CONCURRENCY_LIMIT_MAX}"
                ),
            ));
        }
        Ok(ConcurrencyGroup {
            key,
            limit,
            on_full,
        })
    }
}

/// The lease a running run's worker holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The worker.
    pub owner: Owner,
    /// +1 on every start; stale epochs are refused.
    pub epoch: Epoch,
    /// When the reaper may time the run out.
    pub expires_at: Timestamp,
}

/// Counts of a run's direct children by state (zero counts omitted).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Children {
    /// All direct children.
    pub total: u64,
    /// Per state, only non-zero entries.
    #[serde(flatten)]
    pub by_state: BTreeMap<RunState, u64>,
}

impl Children {
    /// Counts from `(state, count)` pairs; zero counts are dropped.
    pub fn from_counts(counts: impl IntoIterator<Item = (RunState, u64)>) -> Children {
        let by_state: BTreeMap<RunState, u64> =
            counts.into_iter().filter(|(_, count)| *count > 0).collect();
        Children {
            total: by_state.values().sum(),
            by_state,
        }
    }
}

/// A run record (SPEC §1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Unique per tenant.
    pub id: RunId,
    /// The owning tenant.
    pub tenant: Tenant,
    /// What is being run.
    pub kind: Kind,
    /// The parent run of a child, else `None`.
    pub parent_id: Option<RunId>,
    /// The child key of a child, else `None`.
    pub key: Option<Segment>,
    /// Current state.
    pub state: RunState,
    /// The concurrency group, if any.
    pub concurrency_key: Option<ConcurrencyKey>,
    /// The limit the run was created with, if in a group.
    pub concurrency_limit: Option<u32>,
    /// The `on_full` policy the run was created with (a creation parameter).
    #[serde(skip)]
    pub concurrency_on_full: Option<OnFull>,
    /// The JSON object given at creation.
    pub attributes: serde_json::Value,
    /// Set when the run finishes.
    pub result: Option<serde_json::Value>,
    /// Set when the run fails; a cancelled run's cancel reason.
    pub error: Option<String>,
    /// 1 at creation, +1 on every change of the row.
    pub version: u64,
    /// Seq of the newest event.
    pub last_seq: u64,
    /// The lease while running.
    pub lease: Option<Lease>,
    /// Direct children per state.
    pub children: Children,
    /// When created.
    pub created_at: Timestamp,
    /// When last changed.
    pub updated_at: Timestamp,
    /// When started.
    pub started_at: Option<Timestamp>,
    /// When it reached a terminal state.
    pub finished_at: Option<Timestamp>,
}

impl Run {
    /// The concurrency group the run was created in, if any.
    pub fn concurrency(&self) -> Option<ConcurrencyGroup> {
        Some(ConcurrencyGroup {
            key: self.concurrency_key.clone()?,
            limit: self.concurrency_limit?,
            on_full: self.concurrency_on_full.unwrap_or_default(),
        })
    }

    /// The parameters this run was created with.
    pub fn creation_params(&self) -> CreationParams {
        CreationParams {
            kind: self.kind.clone(),
            parent_id: self.parent_id.clone(),
            key: self.key.clone(),
            attributes: self.attributes.clone(),
            concurrency: self.concurrency(),
        }
    }
}

/// What idempotent create compares (SPEC §2.2), defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct CreationParams {
    /// What is being run.
    pub kind: Kind,
    /// Parent of a child.
    pub parent_id: Option<RunId>,
    /// Key of a child.
    pub key: Option<Segment>,
    /// A JSON object, `{}` when absent.
    pub attributes: serde_json::Value,
    /// The group, limit and policy with defaults applied.
    pub concurrency: Option<ConcurrencyGroup>,
}

impl CreationParams {
    /// Checks `attributes` is an object within [`ATTRIBUTES_BYTES_MAX`].
    pub fn check_attributes(attributes: &serde_json::Value) -> Result<(), Error> {
        if !attributes.is_object() {
            return Err(Error::invalid(
                "attributes",
                "attributes must be a JSON object",
            ));
        }
        crate::text::check_json_text("attributes", attributes)?;
        let bytes = serde_json::to_vec(attributes)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if bytes > ATTRIBUTES_BYTES_MAX {
            return Err(Error::invalid(
                "attributes",
                format!(
                    "attributes are {bytes} bytes serialized; at most {ATTRIBUTES_BYTES_MAX} are allowed"
                ),
            ));
        }
        Ok(())
    }

    /// The JSON names of the parameters in which `self` and `stored` differ.
    /// Attributes compare in canonical form (RFC 8785), so key order and
    /// `1.0` vs `1` do not count as differences.
    pub fn differing_fields(&self, stored: &CreationParams) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if self.kind != stored.kind {
            fields.push("kind");
        }
        if self.parent_id != stored.parent_id {
            fields.push("parent_id");
        }
        if self.key != stored.key {
            fields.push("key");
        }
        if canonical_json(&self.attributes) != canonical_json(&stored.attributes) {
            fields.push("attributes");
        }
        if self.concurrency != stored.concurrency {
            fields.push("concurrency");
        }
        fields
    }
}

/// RFC 8785 canonical text of a JSON value: equal values, equal text.
pub fn canonical_json(value: &serde_json::Value) -> String {
    serde_jcs::to_string(value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(attributes: serde_json::Value) -> CreationParams {
        CreationParams {
            kind: Kind::parse("etl").unwrap(),
            parent_id: None,
            key: None,
            attributes,
            concurrency: None,
        }
    }

    #[test]
    fn attributes_compare_canonically_and_name_the_differing_fields() {
        let a = params(json!({"b": 1.0, "a": [1, 2]}));
        let b = params(json!({"a": [1, 2], "b": 1}));
        assert!(a.differing_fields(&b).is_empty());
        let mut c = params(json!({"a": [2, 1]}));
        c.kind = Kind::parse("other").unwrap();
        c.concurrency = Some(
            ConcurrencyGroup::new(ConcurrencyKey::parse("g").unwrap(), 1, OnFull::Reject).unwrap(),
        );
        assert_eq!(
            a.differing_fields(&c),
            vec!["kind", "attributes", "concurrency"]
        );
    }

    #[test]
    fn children_omit_zero_counts_and_total_the_rest() {
        let children = Children::from_counts([
            (RunState::Running, 1),
            (RunState::Queued, 0),
            (RunState::Succeeded, 2),
        ]);
        assert_eq!(
            serde_json::to_value(&children).unwrap(),
            json!({"total": 3, "running": 1, "succeeded": 2})
        );
        assert_eq!(
            serde_json::to_value(Children::default()).unwrap(),
            json!({"total": 0})
        );
    }

    #[test]
    fn limits_and_attributes_are_checked() {
        let key = ConcurrencyKey::parse("g").unwrap();
        assert!(ConcurrencyGroup::new(key.clone(), 0, OnFull::Reject).is_err());
        assert!(ConcurrencyGroup::new(key.clone(), 10_001, OnFull::Reject).is_err());
        assert!(ConcurrencyGroup::new(key, 10_000, OnFull::Enqueue).is_ok());
        assert!(CreationParams::check_attributes(&json!([1])).is_err());
        let big = json!({"x": "y".repeat(ATTRIBUTES_BYTES_MAX)});
        assert!(
            CreationParams::check_attributes(&big)
                .unwrap_err()
                .to_string()
                .contains("bytes")
        );
        assert_eq!(RunState::parse("timed_out").unwrap(), RunState::TimedOut);
        assert!(RunState::parse("done").is_err());
        assert_eq!(
            OnFull::parse("cancel_active").unwrap(),
            OnFull::CancelActive
        );
        assert_eq!(
            OnFull::parse("cancel-active").unwrap(),
            OnFull::CancelActive
        );
        assert_eq!(
            serde_json::from_str::<OnFull>("\"replace-pending\"").unwrap(),
            OnFull::ReplacePending
        );
    }
}
