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
#[cfg_attr(
    feature = "utoipa",
    derive(utoipa::ToSchema),
    schema(
        as = LeaseRequest,
        description = "A worker taking a run: `start` of a create, and `POST /v1/runs/{id}/start`."
    )
)]
pub struct StartLease {
    /// The worker: 1–256 printable characters.
    #[cfg_attr(feature = "utoipa", schema(value_type = String))]
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
/// with [`ClaimRun::new`]. Read from its body, [`ClaimBody`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "ClaimBody")]
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

/// The body of `POST /v1/runs/claim` as it is read: the lease's fields
/// beside the filters, unknown fields refused (which serde cannot do for
/// [`ClaimRun`]'s flattened lease), one kind accepted as a plain string.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "utoipa",
    derive(utoipa::ToSchema),
    schema(as = ClaimRequest, description = "The body of `POST /v1/runs/claim`.")
)]
pub struct ClaimBody {
    /// The worker taking the run: 1–256 printable characters.
    #[cfg_attr(feature = "utoipa", schema(value_type = String))]
    owner: Owner,
    /// Lease length, 100–86,400,000 ms.
    lease_ttl_ms: u64,
    /// Only runs of this kind, or of one of these kinds (at most 100).
    #[serde(default, deserialize_with = "one_or_many_kinds")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<KindFilter>))]
    kind: Vec<Kind>,
    /// Only runs of this concurrency group.
    #[serde(default)]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<String>))]
    concurrency_key: Option<ConcurrencyKey>,
    /// How long to wait for a matching run to be queued, 0–30,000 ms; 0
    /// when absent.
    #[serde(default)]
    wait_ms: Option<u64>,
}

/// One kind or a list of kinds: how a claim's `kind` may be written.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
#[cfg_attr(
    feature = "utoipa",
    derive(utoipa::ToSchema),
    schema(description = "One kind or a list of kinds.")
)]
pub enum KindFilter {
    /// One kind.
    One(String),
    /// Any of these kinds.
    Many(Vec<String>),
}

/// Reads a claim's `kind`, a string or a list of strings, each checked by
/// [`Kind::parse`].
fn one_or_many_kinds<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Kind>, D::Error> {
    let texts = match KindFilter::deserialize(deserializer) {
        Ok(KindFilter::One(kind)) => vec![kind],
        Ok(KindFilter::Many(kinds)) => kinds,
        Err(_) => {
            return Err(serde::de::Error::custom(
                "kind must be a kind (a string) or a list of kinds",
            ));
        }
    };
    texts
        .iter()
        .map(|text| Kind::parse(text).map_err(serde::de::Error::custom))
        .collect()
}

impl From<ClaimBody> for ClaimRun {
    fn from(body: ClaimBody) -> ClaimRun {
        ClaimRun {
            lease: StartLease {
                owner: body.owner,
                lease_ttl_ms: body.lease_ttl_ms,
            },
            kinds: body.kind,
            concurrency_key: body.concurrency_key,
            wait_ms: body.wait_ms.unwrap_or(0),
            idempotency_key: None,
        }
    }
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
