//! OpenAPI schemas of the response bodies whose Rust types live in the core
//! (which does not depend on utoipa). Each mirror has the same JSON shape as
//! the core type's serde form; `tests/openapi.rs` checks a real run and a
//! real event deserialize into them with no unknown field.

use runledger::ErrorCode;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// The stable machine names of errors (SPEC §4 "Errors").
pub struct ProblemCode;

impl PartialSchema for ProblemCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ErrorCode::ALL.map(ErrorCode::as_str)))
            .description(Some("The stable machine name of the error."))
            .into()
    }
}

impl ToSchema for ProblemCode {}

/// A run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStateBody {
    /// Waiting for a slot in its concurrency group.
    Pending,
    /// Has a slot, waiting for a worker.
    Queued,
    /// A worker holds its lease.
    Running,
    /// Finished well.
    Succeeded,
    /// Finished badly.
    Failed,
    /// Cancelled before it finished.
    Cancelled,
    /// Its lease expired.
    TimedOut,
}

/// The lease a running run's worker holds.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseBody {
    /// The worker.
    pub owner: String,
    /// +1 on every start; heartbeat, append and finish must carry it.
    pub epoch: u64,
    /// RFC 3339 UTC, milliseconds: when the reaper may time the run out.
    pub expires_at: String,
}

/// Counts of a run's direct children: `total` plus each non-zero state.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ChildrenBody {
    /// All direct children.
    pub total: u64,
    /// Per state (`running`, `succeeded`, …), only non-zero counts.
    #[serde(flatten)]
    pub by_state: BTreeMap<String, u64>,
}

/// A run record.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// Unique per tenant.
    pub id: String,
    /// The owning tenant.
    pub tenant: String,
    /// What is being run.
    pub kind: String,
    /// The parent of a child run.
    pub parent_id: Option<String>,
    /// The child key of a child run.
    pub key: Option<String>,
    /// Current state.
    pub state: RunStateBody,
    /// The concurrency group.
    pub concurrency_key: Option<String>,
    /// The limit the run was created with.
    pub concurrency_limit: Option<u32>,
    /// The JSON object given at creation.
    #[schema(value_type = Object)]
    pub attributes: Value,
    /// Set when the run finishes: any JSON value.
    pub result: Option<Value>,
    /// A failure's message; a cancelled run's reason.
    pub error: Option<String>,
    /// 1 at creation, +1 on every change (`If-Match`).
    pub version: u64,
    /// Seq of the run's newest event.
    pub last_seq: u64,
    /// The lease while running.
    pub lease: Option<LeaseBody>,
    /// Direct children per state.
    pub children: ChildrenBody,
    /// RFC 3339 UTC, milliseconds.
    pub created_at: String,
    /// RFC 3339 UTC, milliseconds.
    pub updated_at: String,
    /// RFC 3339 UTC, milliseconds.
    pub started_at: Option<String>,
    /// RFC 3339 UTC, milliseconds.
    pub finished_at: Option<String>,
}

/// One entry of a run's event log.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// The run.
    pub run_id: String,
    /// Per run, from 1, no gaps.
    pub seq: u64,
    /// Per tenant, from 1, no gaps, in commit order.
    pub position: u64,
    /// A lifecycle name (`created`, `started`, …) or the caller's type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Any JSON value.
    pub data: Value,
    /// RFC 3339 UTC, milliseconds.
    pub at: String,
}
