//! Importing a run with its history (SPEC §5 `runledger import`): the run
//! is written as it was, with its own `created_at`, `started_at` and
//! `finished_at`, and its lifecycle events (`created`, `started`, the
//! terminal one) stamped at those times, in one transaction. The stores
//! write what [`ImportRun::history`] decides; an identical re-import answers
//! the existing run ([`ImportRun::match_existing`]).

use crate::requests::Created;
use runledger_core::transition::{NewEvent, Record};
use runledger_core::{
    Children, Error, Kind, Lease, LifecycleEvent, Owner, Run, RunId, RunState, Segment, Tenant,
    Timestamp, limits,
};
use serde_json::{Value, json};

/// A run as a legacy table recorded it (see [`crate::Ledger::import_run`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRun {
    /// The run id; a child's is `<parent_id>:<key>`.
    pub id: RunId,
    /// What was run.
    pub kind: Kind,
    /// The parent of a child, which must exist.
    pub parent_id: Option<RunId>,
    /// The child key of a child.
    pub key: Option<Segment>,
    /// A JSON object.
    pub attributes: Value,
    /// Where the run is: any state but `pending`.
    pub state: RunState,
    /// The result of a finished run.
    pub result: Option<Value>,
    /// The error of a failed run, the reason of a cancelled one.
    pub error: Option<String>,
    /// When it was created; the import's time when the table has none.
    pub created_at: Option<Timestamp>,
    /// When it started; `created_at` when a started run has none.
    pub started_at: Option<Timestamp>,
    /// When it ended; `started_at` (else `created_at`) when an ended run has none.
    pub finished_at: Option<Timestamp>,
    /// The lease owner of a run that started.
    pub owner: Owner,
    /// The lease of a `running` run lasts this long from the import, after
    /// which the reaper times it out unless a worker takes it over.
    pub lease_ttl_ms: u64,
}

/// The rows an import writes: the run and its events, each with its time.
#[derive(Debug)]
pub(crate) struct History {
    /// The run row.
    pub(crate) record: Record,
    /// Its events in seq order, each with the time it happened.
    pub(crate) events: Vec<(NewEvent, Timestamp)>,
}

impl ImportRun {
    /// The run and its events, checked: the id agrees with parent and key,
    /// the state is not `pending`, and the times come in order. `now` is
    /// when the import runs (a `running` run's lease counts from it).
    pub(crate) fn history(&self, tenant: &Tenant, now: Timestamp) -> Result<History, Error> {
        let invalid = |field: &'static str, detail: String| Error::InvalidRequest { field, detail };
        let expected = match (&self.parent_id, &self.key) {
            (Some(parent), Some(key)) => Some(format!("{parent}:{}", key.as_str())),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "key",
                    "a child needs both parent_id and key".to_owned(),
                ));
            }
        };
        if expected.as_deref().is_some_and(|id| id != self.id.as_str()) {
            return Err(invalid(
                "id",
                format!("{} is not <parent_id>:<key>", self.id),
            ));
        }
        self.check_limits()?;
        if self.state == RunState::Pending {
            return Err(invalid(
                "state",
                "an import cannot recreate pending".to_owned(),
            ));
        }
        let created_at = self.created_at.unwrap_or(now);
        let started = matches!(
            self.state,
            RunState::Running | RunState::Succeeded | RunState::Failed | RunState::TimedOut
        ) || (self.state == RunState::Cancelled && self.started_at.is_some());
        let started_at = started.then(|| self.started_at.unwrap_or(created_at));
        let finished_at = self
            .state
            .is_terminal()
            .then(|| self.finished_at.or(started_at).unwrap_or(created_at));
        let times: Vec<Timestamp> = [Some(created_at), started_at, finished_at]
            .into_iter()
            .flatten()
            .collect();
        if times.windows(2).any(|pair| pair[0] > pair[1]) {
            return Err(invalid(
                "started_at",
                "times must come in order: created_at ≤ started_at ≤ finished_at".to_owned(),
            ));
        }
        let expires_at = now.plus_ms(self.lease_ttl_ms);
        let mut events = vec![(
            LifecycleEvent::Created,
            json!({"kind": self.kind, "parent_id": self.parent_id, "key": self.key, "state": RunState::Queued}),
            created_at,
        )];
        if let Some(at) = started_at {
            let lease_end = if self.state == RunState::Running {
                expires_at
            } else {
                at
            };
            events.push((
                LifecycleEvent::Started,
                json!({"owner": self.owner, "lease_epoch": 1, "expires_at": lease_end, "imported": true}),
                at,
            ));
        }
        if let Some(at) = finished_at {
            let (event, data) = match self.state {
                RunState::Succeeded => (
                    LifecycleEvent::Succeeded,
                    json!({"lease_epoch": 1, "result": self.result, "error": self.error}),
                ),
                RunState::Failed => (
                    LifecycleEvent::Failed,
                    json!({"lease_epoch": 1, "result": self.result, "error": self.error}),
                ),
                RunState::Cancelled => (
                    LifecycleEvent::Cancelled,
                    json!({"reason": self.error, "cancelled_by": null}),
                ),
                _ => (
                    LifecycleEvent::TimedOut,
                    json!({"lease_epoch": 1, "owner": self.owner, "expired_at": at}),
                ),
            };
            events.push((event, data, at));
        }
        let events: Vec<(NewEvent, Timestamp)> = events
            .into_iter()
            .enumerate()
            .map(|(index, (event, data, at))| {
                let new = NewEvent {
                    seq: index as u64 + 1,
                    event_type: event.as_str().to_owned(),
                    data,
                };
                (new, at)
            })
            .collect();
        let count = events.len() as u64;
        let updated_at = events.last().map_or(created_at, |(_, at)| *at);
        let run = Run {
            id: self.id.clone(),
            tenant: tenant.clone(),
            kind: self.kind.clone(),
            parent_id: self.parent_id.clone(),
            key: self.key.clone(),
            state: self.state,
            concurrency_key: None,
            concurrency_limit: None,
            concurrency_on_full: None,
            attributes: self.attributes.clone(),
            result: self.result.clone(),
            error: self.error.clone(),
            version: count,
            last_seq: count,
            lease: (self.state == RunState::Running).then(|| Lease {
                owner: self.owner.clone(),
                epoch: 1,
                expires_at,
            }),
            children: Children::default(),
            created_at,
            updated_at,
            started_at,
            finished_at,
        };
        Ok(History {
            record: Record {
                run,
                epoch: u64::from(started_at.is_some()),
                lease_ttl_ms: if started_at.is_some() {
                    self.lease_ttl_ms
                } else {
                    0
                },
            },
            events,
        })
    }

    /// The limits every create and finish honours: a lease length in range,
    /// attributes an object of bounded size, a bounded result and error.
    fn check_limits(&self) -> Result<(), Error> {
        let invalid =
            |field: &'static str, detail: String| Err(Error::InvalidRequest { field, detail });
        if !(limits::LEASE_TTL_MS_MIN..=limits::LEASE_TTL_MS_MAX).contains(&self.lease_ttl_ms) {
            return invalid(
                "lease_ttl_ms",
                format!(
                    "must be between {} and {}",
                    limits::LEASE_TTL_MS_MIN,
                    limits::LEASE_TTL_MS_MAX
                ),
            );
        }
        if !self.attributes.is_object() {
            return invalid("attributes", "must be a JSON object".to_owned());
        }
        if self.attributes.to_string().len() > limits::ATTRIBUTES_BYTES_MAX {
            return invalid(
                "attributes",
                format!("larger than {} bytes", limits::ATTRIBUTES_BYTES_MAX),
            );
        }
        if self
            .result
            .as_ref()
            .is_some_and(|result| result.to_string().len() > limits::RESULT_BYTES_MAX)
        {
            return invalid(
                "result",
                format!("larger than {} bytes", limits::RESULT_BYTES_MAX),
            );
        }
        if self
            .error
            .as_ref()
            .is_some_and(|error| error.len() > limits::ERROR_BYTES_MAX)
        {
            return invalid(
                "error",
                format!("longer than {} bytes", limits::ERROR_BYTES_MAX),
            );
        }
        Ok(())
    }

    /// The existing run when it is the one this import describes (a run
    /// imported `running` may since have been timed out by the reaper or
    /// ended by a worker: its creation and start still have to agree);
    /// `run_conflict` naming the differing fields otherwise. Times the
    /// table does not give (the import filled them in) are not compared.
    pub(crate) fn match_existing(
        &self,
        existing: Run,
        history: &History,
    ) -> Result<Created, Error> {
        let wanted = &history.record.run;
        let mut fields: Vec<&'static str> = Vec::new();
        let mut differ = |same: bool, field: &'static str| {
            if !same {
                fields.push(field);
            }
        };
        differ(existing.kind == wanted.kind, "kind");
        differ(existing.parent_id == wanted.parent_id, "parent_id");
        differ(existing.key == wanted.key, "key");
        differ(existing.attributes == wanted.attributes, "attributes");
        let given = |time: Option<Timestamp>| time.is_some();
        differ(
            !given(self.created_at) || existing.created_at == wanted.created_at,
            "created_at",
        );
        differ(
            !given(self.started_at) || existing.started_at == wanted.started_at,
            "started_at",
        );
        if wanted.state != RunState::Running {
            differ(existing.state == wanted.state, "state");
            differ(existing.result == wanted.result, "result");
            differ(existing.error == wanted.error, "error");
            differ(
                !given(self.finished_at) || existing.finished_at == wanted.finished_at,
                "finished_at",
            );
        } else {
            differ(existing.started_at.is_some(), "state");
        }
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

#[cfg(test)]
mod tests;
