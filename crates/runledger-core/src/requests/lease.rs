//! The lease a worker asks for, and the two operations that grant one:
//! start a named run (SPEC `POST /v1/runs/{id}/start`) and claim the oldest
//! matching one (`POST /v1/runs/claim`).

use crate::limits::{CLAIM_KINDS_MAX, CLAIM_WAIT_MS_MAX, LEASE_TTL_MS_MAX, LEASE_TTL_MS_MIN};
use crate::{ConcurrencyKey, Error, IdempotencyKey, Kind, Owner};
use serde::{Deserialize, Serialize};

/// A lease request: who and for how long. The `start` of a create, the
/// body of a start, the lease part of a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartLease {
    /// The worker taking the run.
    pub owner: Owner,
    /// Lease length, 100–86,400,000 ms.
    pub lease_ttl_ms: u64,
}

/// Checks a lease length is within 100 ms – 24 h.
pub fn check_lease_ttl_ms(lease_ttl_ms: u64) -> Result<(), Error> {
    if (LEASE_TTL_MS_MIN..=LEASE_TTL_MS_MAX).contains(&lease_ttl_ms) {
        Ok(())
    } else {
        Err(Error::invalid(
            "lease_ttl_ms",
            format!(
                "lease_ttl_ms {lease_ttl_ms} is out of range; expected {LEASE_TTL_MS_MIN} to {LEASE_TTL_MS_MAX}"
            ),
        ))
    }
}

/// Start a queued run: the body is the lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartRun {
    /// The worker and its lease length.
    #[serde(flatten)]
    pub lease: StartLease,
    /// `If-Match`: refuse unless the run is at this version.
    #[serde(skip)]
    pub if_version: Option<u64>,
}

impl StartRun {
    /// A start by `owner` with a lease of `lease_ttl_ms`.
    pub fn new(owner: Owner, lease_ttl_ms: u64) -> StartRun {
        StartRun {
            lease: StartLease {
                owner,
                lease_ttl_ms,
            },
            if_version: None,
        }
    }

    /// Checks what the fields' parsers cannot: the lease length.
    pub fn check(&self) -> Result<(), Error> {
        check_lease_ttl_ms(self.lease.lease_ttl_ms)
    }
}

/// Take the oldest queued run matching the filters and start it. Build
/// with [`ClaimRun::new`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimRun {
    /// The worker and its lease length, exactly as `start` takes them.
    #[serde(flatten)]
    pub lease: StartLease,
    /// Only runs of these kinds (any kind when empty); at most 100.
    #[serde(rename = "kind", default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<Kind>,
    /// Only runs of this concurrency group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_key: Option<ConcurrencyKey>,
    /// How long to wait for a matching run to be queued, 0–30,000 ms.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub wait_ms: u64,
    /// The `Idempotency-Key` the claim answers: its record is marked with
    /// the run and epoch claimed in the claim's own transaction, so a retry
    /// after a crash finds the claim instead of claiming a second run.
    #[serde(skip)]
    pub idempotency_key: Option<IdempotencyKey>,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl ClaimRun {
    /// A claim by `owner` with a lease of `lease_ttl_ms`, of any kind, not waiting.
    pub fn new(owner: Owner, lease_ttl_ms: u64) -> ClaimRun {
        ClaimRun {
            lease: StartLease {
                owner,
                lease_ttl_ms,
            },
            kinds: Vec::new(),
            concurrency_key: None,
            wait_ms: 0,
            idempotency_key: None,
        }
    }

    /// Only runs of `kind` (callable more than once).
    pub fn kind(mut self, kind: Kind) -> ClaimRun {
        self.kinds.push(kind);
        self
    }

    /// Waiting up to `wait_ms` for a matching run.
    pub fn wait_ms(mut self, wait_ms: u64) -> ClaimRun {
        self.wait_ms = wait_ms;
        self
    }

    /// Checks what the fields' parsers cannot: lease length, kind count, wait.
    pub fn check(&self) -> Result<(), Error> {
        check_lease_ttl_ms(self.lease.lease_ttl_ms)?;
        if self.kinds.len() > CLAIM_KINDS_MAX {
            return Err(Error::invalid(
                "kind",
                format!(
                    "kind lists {} kinds; at most {CLAIM_KINDS_MAX} are allowed",
                    self.kinds.len()
                ),
            ));
        }
        if self.wait_ms > CLAIM_WAIT_MS_MAX {
            return Err(Error::invalid(
                "wait_ms",
                format!(
                    "wait_ms {} is out of range; expected 0 to {CLAIM_WAIT_MS_MAX}",
                    self.wait_ms
                ),
            ));
        }
        Ok(())
    }
}
