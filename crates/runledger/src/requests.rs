//! The ledger's requests and answers. A request is checked once, here, into
//! the core's trusted types; the store never sees unchecked input.

use runledger_core::limits::{
    CLAIM_KINDS_MAX, CLAIM_WAIT_MS_MAX, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX,
};
use runledger_core::transition::{StartLease, check_error_text, check_lease_ttl_ms};
use runledger_core::{
    ConcurrencyGroup, ConcurrencyKey, CreationParams, Epoch, Error, EventType, IdempotencyKey,
    Kind, Owner, Run, RunId, RunState, Segment, Timestamp,
};
use serde_json::Value;

/// A create (SPEC §4 `POST /v1/runs`). Build with [`CreateRun::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRun {
    /// The run id; generated (UUIDv7, time-sortable) when absent.
    pub id: Option<RunId>,
    /// What is being run.
    pub kind: Kind,
    /// The parent, for a child run (with `key`).
    pub parent_id: Option<RunId>,
    /// The child key, for a child run (with `parent_id`).
    pub key: Option<Segment>,
    /// A JSON object; `{}` when absent.
    pub attributes: Option<Value>,
    /// The concurrency group.
    pub concurrency: Option<ConcurrencyGroup>,
    /// Start the run at once when it gets a slot.
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

    /// In this concurrency group.
    pub fn concurrency(mut self, group: ConcurrencyGroup) -> CreateRun {
        self.concurrency = Some(group);
        self
    }

    /// In group `key` with `limit` and `on_full`, checked.
    pub fn concurrency_group(
        self,
        key: ConcurrencyKey,
        limit: u32,
        on_full: runledger_core::OnFull,
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

    /// Checks the request and settles the id: explicit, derived from parent
    /// and key, or generated. Never repairs an id.
    pub(crate) fn resolve(self) -> Result<ResolvedCreate, Error> {
        let id = match (self.id, &self.parent_id, &self.key) {
            (id, Some(parent), Some(key)) => {
                let derived = RunId::child(parent, key)?;
                match id {
                    Some(id) if id != derived => {
                        return Err(Error::InvalidRunId {
                            detail: format!(
                                "id {id} contradicts parent_id and key, which make {derived}"
                            ),
                        });
                    }
                    _ => derived,
                }
            }
            (_, Some(_), None) => {
                return Err(Error::InvalidRunId {
                    detail: "parent_id was given without key; a child needs both".into(),
                });
            }
            (_, None, Some(_)) => {
                return Err(Error::InvalidRunId {
                    detail: "key was given without parent_id; a child needs both".into(),
                });
            }
            (Some(id), None, None) if id.segment_count() > 1 => {
                return Err(Error::InvalidRunId {
                    detail: format!(
                        "id {id} contains ':' but no parent_id and key were given; create a child with parent_id and key"
                    ),
                });
            }
            (Some(id), None, None) => id,
            (None, None, None) => generate_id(),
        };
        let attributes = self
            .attributes
            .unwrap_or_else(|| Value::Object(Default::default()));
        CreationParams::check_attributes(&attributes)?;
        if let Some(start) = &self.start {
            check_lease_ttl_ms(start.lease_ttl_ms)?;
        }
        Ok(ResolvedCreate {
            id,
            params: CreationParams {
                kind: self.kind,
                parent_id: self.parent_id,
                key: self.key,
                attributes,
                concurrency: self.concurrency,
            },
            start: self.start,
        })
    }
}

/// A UUIDv7 id: unique across processes and machines, sorts by creation time.
fn generate_id() -> RunId {
    let text = uuid::Uuid::now_v7().to_string();
    RunId::parse(&text).expect("a UUID is a valid run id segment")
}

/// A create whose id is settled and whose input is checked.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedCreate {
    pub(crate) id: RunId,
    pub(crate) params: CreationParams,
    pub(crate) start: Option<StartLease>,
}

impl ResolvedCreate {
    /// The answer for an existing run: itself when the parameters match,
    /// else `run_conflict` naming the fields that differ.
    pub(crate) fn match_existing(&self, existing: Run) -> Result<Created, Error> {
        let fields = self.params.differing_fields(&existing.creation_params());
        if fields.is_empty() {
            Ok(Created {
                run: existing,
                created: false,
            })
        } else {
            Err(Error::RunConflict {
                id: existing.id,
                fields,
            })
        }
    }
}

/// A create's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    /// The run, new or existing.
    pub run: Run,
    /// `true` when this call created it (HTTP 201), `false` when it existed (200).
    pub created: bool,
}

/// Start a queued run (SPEC `POST /v1/runs/{id}/start`).
#[derive(Debug, Clone, PartialEq)]
pub struct StartRun {
    /// The worker and its lease length.
    pub lease: StartLease,
    /// `If-Match`: refuse unless the run is at this version.
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

    pub(crate) fn check(&self) -> Result<(), Error> {
        check_lease_ttl_ms(self.lease.lease_ttl_ms)
    }
}

/// Take the oldest queued run matching the filters and start it (SPEC `POST
/// /v1/runs/claim`). Build with [`ClaimRun::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRun {
    /// The worker and its lease length, exactly as `start` takes them.
    pub lease: StartLease,
    /// Only runs of these kinds (any kind when empty); at most 100.
    pub kinds: Vec<Kind>,
    /// Only runs of this concurrency group.
    pub concurrency_key: Option<ConcurrencyKey>,
    /// How long to wait for a matching run to be queued, 0–30,000 ms.
    pub wait_ms: u64,
    /// The `Idempotency-Key` the claim answers: its record is marked with
    /// the run and epoch claimed in the claim's own transaction, so a retry
    /// after a crash finds the claim instead of claiming a second run.
    pub idempotency_key: Option<IdempotencyKey>,
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

    pub(crate) fn check(&self) -> Result<(), Error> {
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

/// Extend a lease (SPEC `POST /v1/runs/{id}/heartbeat`).
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    /// The epoch of the lease held.
    pub lease_epoch: Epoch,
    /// A new lease length; the previous one when absent.
    pub lease_ttl_ms: Option<u64>,
    /// `If-Match`.
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

    pub(crate) fn check(&self) -> Result<(), Error> {
        self.lease_ttl_ms.map_or(Ok(()), check_lease_ttl_ms)
    }
}

/// Cancel a run (SPEC `POST /v1/runs/{id}/cancel`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cancel {
    /// Why; becomes the run's `error`.
    pub reason: Option<String>,
    /// Also cancel every non-terminal descendant in the same transaction,
    /// each with `error` = `parent <id> cancelled: <reason>`.
    pub cascade: bool,
    /// `If-Match`.
    pub if_version: Option<u64>,
}

impl Cancel {
    pub(crate) fn check(&self) -> Result<(), Error> {
        check_error_text("reason", self.reason.as_deref())
    }
}

/// Append a caller event (SPEC `POST /v1/runs/{id}/events`).
#[derive(Debug, Clone, PartialEq)]
pub struct AppendEvent {
    /// The caller's type (not a lifecycle name).
    pub event_type: EventType,
    /// Any JSON value ≤ 256 KiB serialized.
    pub data: Value,
    /// Required while the run is running.
    pub lease_epoch: Option<Epoch>,
    /// `If-Match`.
    pub if_version: Option<u64>,
    /// The `Idempotency-Key` the append answers: its record is marked with
    /// the event's seq in the append's own transaction, so a retry after a
    /// crash finds the event instead of appending a second one.
    pub idempotency_key: Option<IdempotencyKey>,
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
    pub(crate) fn check(&self) -> Result<(), Error> {
        runledger_core::text::check_json_text("data", &self.data)
    }
}

/// An append's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The event's seq in its run.
    pub seq: u64,
    /// The event's position in its tenant.
    pub position: u64,
}

/// Filters and page of `list_runs`, oldest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListRuns {
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// Only runs of this kind.
    pub kind: Option<Kind>,
    /// Only direct children of this run.
    pub parent_id: Option<RunId>,
    /// Only runs of this concurrency group.
    pub concurrency_key: Option<ConcurrencyKey>,
    /// Only runs created strictly after this instant.
    pub created_after: Option<Timestamp>,
    /// Only runs created strictly before this instant.
    pub created_before: Option<Timestamp>,
    /// Newest first (`order=desc`); oldest first when `false`.
    pub newest_first: bool,
    /// Page size, default 50, at most 1,000.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl ListRuns {
    /// The page size, checked.
    pub(crate) fn page_limit(&self) -> Result<u32, Error> {
        match self.limit {
            None => Ok(PAGE_LIMIT_DEFAULT),
            Some(limit) if (1..=PAGE_LIMIT_MAX).contains(&limit) => Ok(limit),
            Some(limit) => Err(Error::invalid(
                "limit",
                format!("limit {limit} is out of range; expected 1 to {PAGE_LIMIT_MAX}"),
            )),
        }
    }

    /// The creation order the page starts beyond (after it oldest first,
    /// before it newest first), from the cursor.
    pub(crate) fn after_order(&self) -> Result<i64, Error> {
        match &self.cursor {
            None if self.newest_first => Ok(i64::MAX),
            None => Ok(0),
            Some(cursor) => cursor
                .parse::<i64>()
                .ok()
                .filter(|order| *order >= 0)
                .ok_or_else(|| {
                    Error::invalid(
                        "cursor",
                        "cursor is not one this server issued; pass next_cursor from the previous page",
                    )
                }),
        }
    }
}

/// One page of runs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPage {
    /// Oldest first.
    pub runs: Vec<Run>,
    /// Pass to the next call; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Checks an event page size.
pub(crate) fn event_page_limit(limit: Option<u32>) -> Result<u32, Error> {
    ListRuns {
        limit,
        ..ListRuns::default()
    }
    .page_limit()
}
