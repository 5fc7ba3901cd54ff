//! `POST /v1/runs/batch` (SPEC §4): each item's answer, typed as a single
//! create's would be (the body sent is the core's `CreateBatch`).

use crate::answers::Created;
use crate::error::ClientError;
use runledger_core::Run;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The most creates one request may carry (SPEC §4).
pub use runledger_core::limits::BATCH_RUNS_MAX;

/// One item's answer: what `POST /v1/runs` would have answered for it.
pub type BatchItem = Result<Created, ClientError>;

/// The answer of `POST /v1/runs/batch`, as sent.
#[derive(Debug, Deserialize)]
pub(crate) struct BatchAnswer {
    results: Vec<ItemAnswer>,
}

/// One item's answer, as sent.
#[derive(Debug, Deserialize)]
struct ItemAnswer {
    status: u16,
    run: Option<Run>,
    problem: Option<Map<String, Value>>,
}

impl BatchAnswer {
    /// Each item's answer, in request order; `url` names the server in an
    /// unexpected answer.
    pub(crate) fn into_items(self, url: &str) -> Vec<BatchItem> {
        self.results
            .into_iter()
            .map(|item| match (item.run, item.problem) {
                (Some(run), _) => Ok(Created {
                    run,
                    created: item.status == 201,
                }),
                (None, Some(problem)) => Err(ClientError::from_problem(
                    item.status,
                    problem.clone(),
                )
                .unwrap_or_else(|| ClientError::UnexpectedAnswer {
                    url: url.to_owned(),
                    status: item.status,
                    body: Value::Object(problem).to_string(),
                })),
                (None, None) => Err(ClientError::UnexpectedAnswer {
                    url: url.to_owned(),
                    status: item.status,
                    body: "an item with neither run nor problem".to_owned(),
                }),
            })
            .collect()
    }
}
