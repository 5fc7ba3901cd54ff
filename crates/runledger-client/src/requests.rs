//! What a call sends: the core's request types (built from parsed ids, so
//! a malformed id cannot be sent by mistake; serialized exactly as the
//! server reads them) and the headers a changing call may carry.

use runledger_core::IdempotencyKey;
pub use runledger_core::requests::{
    AppendEvent, Cancel, ClaimRun, ConcurrencyRequest, CreateBatch, CreateRun, Finish, Heartbeat,
    ListRuns, StartLease, StartRun,
};

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

    /// These options, with a request's own header-borne fields (its
    /// `if_version`, its `idempotency_key`) where the options name none.
    pub(crate) fn or_request(
        &self,
        if_version: Option<u64>,
        idempotency_key: Option<&IdempotencyKey>,
    ) -> CallOptions {
        CallOptions {
            idempotency_key: self
                .idempotency_key
                .clone()
                .or_else(|| idempotency_key.map(|key| key.as_str().to_owned())),
            if_match: self.if_match.or(if_version),
        }
    }
}
