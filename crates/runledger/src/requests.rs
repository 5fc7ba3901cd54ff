//! The ledger's answers, and how a create's id is settled. The requests
//! themselves are the core's (`runledger_core::requests`), shared with the
//! server, the client and the CLI; each is checked once, here or by its own
//! `check()`, before the store sees it.

use runledger_core::requests::{ConcurrencyRequest, CreateRun, StartLease, check_lease_ttl_ms};
use runledger_core::{CreationParams, Error, Run, RunId};
use serde_json::Value;

/// Checks the request and settles the id: explicit, derived from parent
/// and key, or generated. Never repairs an id.
pub(crate) fn resolve(request: CreateRun) -> Result<ResolvedCreate, Error> {
    // The group first: a caller that sent several faults hears of the same
    // one whichever path the create took.
    let concurrency = request
        .concurrency
        .as_ref()
        .map(ConcurrencyRequest::group)
        .transpose()?;
    let id = match (request.id, &request.parent_id, &request.key) {
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
    let attributes = request
        .attributes
        .unwrap_or_else(|| Value::Object(Default::default()));
    CreationParams::check_attributes(&attributes)?;
    if let Some(start) = &request.start {
        check_lease_ttl_ms(start.lease_ttl_ms)?;
    }
    Ok(ResolvedCreate {
        id,
        params: CreationParams {
            kind: request.kind,
            parent_id: request.parent_id,
            key: request.key,
            attributes,
            concurrency,
        },
        start: request.start,
    })
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

/// An append's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The event's seq in its run.
    pub seq: u64,
    /// The event's position in its tenant.
    pub position: u64,
}

/// One page of runs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPage {
    /// Oldest first.
    pub runs: Vec<Run>,
    /// Pass to the next call; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One page of an event log to read: after position `after` of the
/// tenant's log, or after seq `after` of `run`'s log; at most `limit`
/// events and, past the first, at most `bytes_max` bytes, each event
/// counted as its data's length plus `EVENT_ENVELOPE_BYTES`.
#[derive(Debug, Clone)]
pub(crate) struct LogPage {
    /// The run whose log is read; the tenant's log when `None`.
    pub(crate) run: Option<RunId>,
    /// The position (or, for a run, the seq) the page starts after.
    pub(crate) after: u64,
    /// Most events.
    pub(crate) limit: u32,
    /// Most bytes past the first event.
    pub(crate) bytes_max: usize,
}
