//! Create (SPEC §4 `POST /v1/runs`) and batch create (`POST /v1/runs/batch`).

use super::StartLease;
use crate::{ConcurrencyGroup, ConcurrencyKey, Error, Kind, OnFull, Owner, RunId, Segment};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A create: the body of `POST /v1/runs`. Build with [`CreateRun::new`];
/// absent optional fields are left out of the body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "utoipa",
    derive(utoipa::ToSchema),
    schema(as = CreateRunRequest, description = "The body of `POST /v1/runs`.")
)]
pub struct CreateRun {
    /// The run id; generated (UUIDv7) when absent. For a child, absent or
    /// exactly `<parent_id>:<key>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<String>))]
    pub id: Option<RunId>,
    /// What is being run: `[A-Za-z0-9._-]{1,128}`.
    #[cfg_attr(feature = "utoipa", schema(value_type = String))]
    pub kind: Kind,
    /// The parent, for a child run (with `key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<String>))]
    pub parent_id: Option<RunId>,
    /// The child key, for a child run (with `parent_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<String>))]
    pub key: Option<Segment>,
    /// A JSON object, at most 64 KiB serialized; `{}` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<Object>))]
    pub attributes: Option<Value>,
    /// The concurrency group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ConcurrencyRequest>,
    /// Start the run at once when it gets a slot (not a creation parameter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<StartLease>,
}

impl CreateRun {
    /// A top-level run of `kind` with a generated id.
    pub fn new(kind: Kind) -> CreateRun {
        CreateRun {
            id: None,
            kind,
            parent_id: None,
            key: None,
            attributes: None,
            concurrency: None,
            start: None,
        }
    }

    /// With this id.
    pub fn id(mut self, id: RunId) -> CreateRun {
        self.id = Some(id);
        self
    }

    /// As the child `key` of `parent_id`.
    pub fn child_of(mut self, parent_id: RunId, key: Segment) -> CreateRun {
        self.parent_id = Some(parent_id);
        self.key = Some(key);
        self
    }

    /// With these attributes (a JSON object).
    pub fn attributes(mut self, attributes: Value) -> CreateRun {
        self.attributes = Some(attributes);
        self
    }

    /// In this concurrency group (its limit and policy sent explicitly).
    pub fn concurrency(mut self, group: ConcurrencyGroup) -> CreateRun {
        self.concurrency = Some(ConcurrencyRequest::from(group));
        self
    }

    /// In group `key` with `limit` and `on_full`, checked.
    pub fn concurrency_group(
        self,
        key: ConcurrencyKey,
        limit: u32,
        on_full: OnFull,
    ) -> Result<CreateRun, Error> {
        Ok(self.concurrency(ConcurrencyGroup::new(key, limit, on_full)?))
    }

    /// Started at once by `owner` with a lease of `lease_ttl_ms`.
    pub fn start(mut self, owner: Owner, lease_ttl_ms: u64) -> CreateRun {
        self.start = Some(StartLease {
            owner,
            lease_ttl_ms,
        });
        self
    }
}

/// A concurrency group as a create names it (SPEC §3): `limit` and
/// `on_full` may be left to their defaults (1, `reject`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "utoipa",
    derive(utoipa::ToSchema),
    schema(description = "A concurrency group as a create names it.")
)]
pub struct ConcurrencyRequest {
    /// The group: `[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}`.
    #[cfg_attr(feature = "utoipa", schema(value_type = String))]
    pub key: ConcurrencyKey,
    /// Most active runs, 1–10,000; 1 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// What to do when the group is full; `reject` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_full: Option<OnFull>,
}

/// The limit of a group whose create names none.
pub const CONCURRENCY_LIMIT_DEFAULT: u32 = 1;

impl ConcurrencyRequest {
    /// The group with its defaults applied and its limit checked.
    pub fn group(&self) -> Result<ConcurrencyGroup, Error> {
        ConcurrencyGroup::new(
            self.key.clone(),
            self.limit.unwrap_or(CONCURRENCY_LIMIT_DEFAULT),
            self.on_full.unwrap_or_default(),
        )
    }
}

impl From<ConcurrencyGroup> for ConcurrencyRequest {
    fn from(group: ConcurrencyGroup) -> ConcurrencyRequest {
        ConcurrencyRequest {
            key: group.key,
            limit: Some(group.limit),
            on_full: Some(group.on_full),
        }
    }
}

/// A batch of creates, decided in item order (SPEC §4 `POST /v1/runs/batch`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "utoipa",
    derive(utoipa::ToSchema),
    schema(as = CreateBatchRequest, description = "The body of `POST /v1/runs/batch`.")
)]
pub struct CreateBatch {
    /// The creates, 1 to 1,000, each the body of `POST /v1/runs`; an item
    /// may name an earlier item as its parent.
    pub runs: Vec<CreateRun>,
    /// All or nothing; `false` when absent.
    // Every item is created (or is an identical repeat) in one transaction,
    // or nothing is written and the first refused item is the answer.
    #[serde(default)]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<bool>))]
    pub atomic: bool,
}
