//! Changes of a run a worker or an operator asks for: heartbeat, finish,
//! cancel (SPEC §2.5, §2.6) and append a caller event (`POST
//! /v1/runs/{id}/events`).

use crate::limits::{ERROR_BYTES_MAX, RESULT_BYTES_MAX};
use crate::{Epoch, Error, EventType, IdempotencyKey, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Extend a lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "utoipa",
    derive(utoipa::ToSchema),
    schema(
        as = HeartbeatRequest,
        description = "The body of `POST /v1/runs/{id}/heartbeat`."
    )
)]
pub struct Heartbeat {
    /// The epoch of the lease held (required).
    #[cfg_attr(feature = "utoipa", schema(value_type = u64))]
    pub lease_epoch: Epoch,
    /// A new lease length, 100–86,400,000 ms; the previous one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ttl_ms: Option<u64>,
    /// `If-Match`.
    #[serde(skip)]
    pub if_version: Option<u64>,
}

impl Heartbeat {
    /// A heartbeat under `lease_epoch`, keeping the lease length.
    pub fn new(lease_epoch: Epoch) -> Heartbeat {
        Heartbeat {
            lease_epoch,
            lease_ttl_ms: None,
            if_version: None,
        }
    }

    /// Checks what the fields' parsers cannot: a new lease length.
    pub fn check(&self) -> Result<(), Error> {
        self.lease_ttl_ms.map_or(Ok(()), super::check_lease_ttl_ms)
    }
}

/// What a worker reports when it finishes a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "utoipa",
    derive(utoipa::ToSchema),
    schema(as = FinishRequest, description = "The body of `POST /v1/runs/{id}/finish`.")
)]
pub struct Finish {
    /// The epoch of the lease held (required).
    #[cfg_attr(feature = "utoipa", schema(value_type = u64))]
    pub lease_epoch: Epoch,
    /// `succeeded` or `failed`.
    pub outcome: Outcome,
    /// Any JSON value, at most 256 KiB serialized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// A failure's message, at most 64 KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Finish {
    /// Checks the payload: no NUL, and the sizes of `result` and `error`.
    pub fn check(&self) -> Result<(), Error> {
        if let Some(result) = &self.result {
            crate::text::check_json_text("result", result)?;
            let bytes = serde_json::to_vec(result)
                .map(|v| v.len())
                .unwrap_or(usize::MAX);
            if bytes > RESULT_BYTES_MAX {
                return Err(Error::invalid(
                    "result",
                    format!(
                        "result is {bytes} bytes serialized; at most {RESULT_BYTES_MAX} are allowed"
                    ),
                ));
            }
        }
        check_error_text("error", self.error.as_deref())
    }
}

/// Checks an error message or cancel reason fits [`ERROR_BYTES_MAX`].
pub fn check_error_text(field: &'static str, text: Option<&str>) -> Result<(), Error> {
    if let Some(text) = text {
        crate::text::check_text(field, text)?;
    }
    match text {
        Some(text) if text.len() > ERROR_BYTES_MAX => Err(Error::invalid(
            field,
            format!(
                "{field} is {} bytes; at most {ERROR_BYTES_MAX} are allowed",
                text.len()
            ),
        )),
        _ => Ok(()),
    }
}

/// Cancel a run. The body may be empty.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "utoipa",
    derive(utoipa::ToSchema),
    schema(
        as = CancelRequest,
        description = "The body of `POST /v1/runs/{id}/cancel` (may be empty)."
    )
)]
pub struct Cancel {
    /// Why; becomes the run's `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Also cancel every descendant that has not ended, in the same
    /// transaction; each gets its own `cancelled` event and the `error`
    /// `parent <id> cancelled: <reason>`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cascade: bool,
    /// `If-Match`.
    #[serde(skip)]
    pub if_version: Option<u64>,
}

impl Cancel {
    /// Checks the reason like a failure's message.
    pub fn check(&self) -> Result<(), Error> {
        check_error_text("reason", self.reason.as_deref())
    }
}

/// Append a caller event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "utoipa",
    derive(utoipa::ToSchema),
    schema(
        as = AppendEventRequest,
        description = "The body of `POST /v1/runs/{id}/events`."
    )
)]
pub struct AppendEvent {
    /// `[a-z0-9][a-z0-9._-]{0,63}`, not a lifecycle name.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "utoipa", schema(value_type = String))]
    pub event_type: EventType,
    /// Any JSON value (null included), at most 256 KiB serialized. Required.
    #[serde(deserialize_with = "present")]
    pub data: Value,
    /// The lease epoch; required while the run is running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<u64>))]
    pub lease_epoch: Option<Epoch>,
    /// `If-Match`.
    #[serde(skip)]
    pub if_version: Option<u64>,
    /// The `Idempotency-Key` the append answers: its record is marked with
    /// the event's seq in the append's own transaction, so a retry after a
    /// crash finds the event instead of appending a second one.
    #[serde(skip)]
    pub idempotency_key: Option<IdempotencyKey>,
}

/// Refuses an absent `data`, which serde would read as null: an event
/// without data says so with an explicit null.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
    Value::deserialize(deserializer)
}

impl AppendEvent {
    /// An event of `event_type` with `data`, no epoch.
    pub fn new(event_type: EventType, data: Value) -> AppendEvent {
        AppendEvent {
            event_type,
            data,
            lease_epoch: None,
            if_version: None,
            idempotency_key: None,
        }
    }

    /// Checks the payload before any storage sees it (no NUL in any string).
    pub fn check(&self) -> Result<(), Error> {
        crate::text::check_json_text("data", &self.data)
    }
}
