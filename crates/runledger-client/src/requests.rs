//! Request bodies and queries of SPEC §4, built from the core's parsed
//! types (so a malformed id cannot be sent by mistake), serialized exactly
//! as the server reads them: absent optional fields are left out.

use runledger_core::{
    ConcurrencyKey, Epoch, EventType, Kind, OnFull, Outcome, Owner, RunId, RunState, Segment,
    Timestamp,
};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// Headers a changing request may carry (SPEC §4 `Idempotency-Key`, `If-Match`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// `Idempotency-Key`: a retry with the same key and body replays the first answer.
    pub idempotency_key: Option<String>,
    /// `If-Match: "<version>"`: refuse with `412 version_conflict` unless the
    /// run is at this version.
    pub if_match: Option<u64>,
}

impl CallOptions {
    /// No extra headers.
    pub const NONE: CallOptions = CallOptions {
        idempotency_key: None,
        if_match: None,
    };

    /// With this `Idempotency-Key`.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> CallOptions {
        self.idempotency_key = Some(key.into());
        self
    }

    /// With `If-Match: "<version>"`.
    pub fn if_match(mut self, version: u64) -> CallOptions {
        self.if_match = Some(version);
        self
    }
}

/// The body of `POST /v1/runs`. Build with [`CreateRunRequest::new`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRunRequest {
    /// The run id; the server generates one when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<RunId>,
    /// What is being run.
    pub kind: Kind,
    /// The parent of a child run (with `key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<RunId>,
    /// The child key (with `parent_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Segment>,
    /// A JSON object; `{}` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Value>,
    /// The concurrency group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ConcurrencyRequest>,
    /// Start the run at once when it gets a slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<StartRequest>,
}

impl CreateRunRequest {
    /// A top-level run of `kind` whose id the server generates.
    pub fn new(kind: Kind) -> CreateRunRequest {
        CreateRunRequest {
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
    pub fn id(mut self, id: RunId) -> CreateRunRequest {
        self.id = Some(id);
        self
    }

    /// As the child `key` of `parent_id`.
    pub fn child_of(mut self, parent_id: RunId, key: Segment) -> CreateRunRequest {
        self.parent_id = Some(parent_id);
        self.key = Some(key);
        self
    }

    /// With these attributes (the server wants a JSON object).
    pub fn attributes(mut self, attributes: Value) -> CreateRunRequest {
        self.attributes = Some(attributes);
        self
    }

    /// In group `key`; `limit` and `on_full` take the server's defaults (1,
    /// reject) when `None`.
    pub fn concurrency(
        mut self,
        key: ConcurrencyKey,
        limit: Option<u32>,
        on_full: Option<OnFull>,
    ) -> CreateRunRequest {
        self.concurrency = Some(ConcurrencyRequest {
            key,
            limit,
            on_full,
        });
        self
    }

    /// Started at once by `owner` with a lease of `lease_ttl_ms`.
    pub fn start(mut self, owner: Owner, lease_ttl_ms: u64) -> CreateRunRequest {
        self.start = Some(StartRequest {
            owner,
            lease_ttl_ms,
        });
        self
    }
}

/// A concurrency group as a create names it (SPEC §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencyRequest {
    /// The group.
    pub key: ConcurrencyKey,
    /// Most active runs (1–10,000); 1 when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// What to do when full; `reject` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_full: Option<OnFull>,
}

/// A worker taking a run: `start` of a create, and `POST /v1/runs/{id}/start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The worker.
    pub owner: Owner,
    /// Lease length, 100–86,400,000 ms.
    pub lease_ttl_ms: u64,
}

/// The body of `POST /v1/runs/claim`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimRequest {
    /// The worker taking the run.
    pub owner: Owner,
    /// Lease length, 100–86,400,000 ms.
    pub lease_ttl_ms: u64,
    /// Only runs of these kinds (any kind when empty; at most 100).
    #[serde(rename = "kind", skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<Kind>,
    /// Only runs of this concurrency group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency_key: Option<ConcurrencyKey>,
    /// How long to wait for a matching run to be queued, 0–30,000 ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
}

/// The body of `POST /v1/runs/{id}/heartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeartbeatRequest {
    /// The epoch of the lease held.
    pub lease_epoch: Epoch,
    /// A new lease length; the previous one when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_ttl_ms: Option<u64>,
}

/// The body of `POST /v1/runs/{id}/finish`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FinishRequest {
    /// The epoch of the lease held.
    pub lease_epoch: Epoch,
    /// `succeeded` or `failed`.
    pub outcome: Outcome,
    /// Any JSON value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// A failure's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The body of `POST /v1/runs/{id}/cancel`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CancelRequest {
    /// Why; becomes the run's `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Also cancel every descendant that has not ended, in the same
    /// transaction (sent only when true).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cascade: bool,
}

/// The body of `POST /v1/runs/{id}/events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppendEventRequest {
    /// The caller's event type (never a lifecycle name).
    #[serde(rename = "type", serialize_with = "event_type_text")]
    pub event_type: EventType,
    /// Any JSON value (null included).
    pub data: Value,
    /// The lease epoch; required while the run is running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_epoch: Option<Epoch>,
}

fn event_type_text<S: Serializer>(
    event_type: &EventType,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(event_type.as_str())
}

/// Filters and page of `GET /v1/runs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ListRunsQuery {
    /// Only runs in this state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<RunState>,
    /// Only runs of this kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// Only direct children of this run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<RunId>,
    /// Only runs of this concurrency group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency_key: Option<ConcurrencyKey>,
    /// Only runs created strictly after this instant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_after: Option<Timestamp>,
    /// Only runs created strictly before this instant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_before: Option<Timestamp>,
    /// `asc` (oldest first, the default) or `desc` (newest first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<&'static str>,
    /// Page size, 1–1,000; 50 when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_leave_absent_fields_out() {
        let kind = Kind::parse("etl").expect("a kind");
        let plain = CreateRunRequest::new(kind.clone());
        assert_eq!(
            serde_json::to_value(&plain).expect("json"),
            json!({"kind": "etl"})
        );
        let full = CreateRunRequest::new(kind)
            .child_of(
                RunId::parse("job-1").expect("an id"),
                Segment::parse("acme").expect("a key"),
            )
            .attributes(json!({"a": 1}))
            .concurrency(
                ConcurrencyKey::parse("g").expect("a key"),
                Some(2),
                Some(OnFull::CancelActive),
            )
            .start(Owner::parse("w1").expect("an owner"), 5_000);
        assert_eq!(
            serde_json::to_value(&full).expect("json"),
            json!({"kind": "etl", "parent_id": "job-1", "key": "acme", "attributes": {"a": 1},
                "concurrency": {"key": "g", "limit": 2, "on_full": "cancel_active"},
                "start": {"owner": "w1", "lease_ttl_ms": 5000}})
        );
        let append = AppendEventRequest {
            event_type: EventType::parse("progress").expect("a type"),
            data: Value::Null,
            lease_epoch: None,
        };
        assert_eq!(
            serde_json::to_value(&append).expect("json"),
            json!({"type": "progress", "data": null})
        );
    }
}
