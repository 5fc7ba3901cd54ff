//! `POST /v1/runs/batch` (SPEC §4): up to 1,000 creates decided in item
//! order, each as `POST /v1/runs` would decide it, or with `atomic: true`
//! all or nothing. The ledger decides (`Ledger::create_batch`); this file
//! parses the items and frames the answers. A problem about one item
//! carries its `index`.

use crate::auth::AuthTenant;
use crate::json::{JsonBody, Refusal, from_value_strict, json_response};
use crate::problem::{Problem, ProblemBody};
use crate::schema::RunBody;
use crate::state::ServerState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use runledger::{CreateBatch, CreateRun, Created, Error, Run, limits::BATCH_RUNS_MAX};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// The core's [`CreateBatch`] with its items not yet read: each is read as
/// a [`CreateRun`] on its own, so that an item whose field its parser
/// refuses is answered alone (when not atomic) while the others go on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchItems {
    /// The items, each to be read as a create.
    pub runs: Vec<Value>,
    /// All or nothing.
    #[serde(default)]
    pub atomic: bool,
}

/// One item's answer: `status` 201 or 200 with the run, or a 4xx (5xx)
/// status with the problem a single create would have answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchItemAnswer {
    /// The HTTP status a single create of this item would have answered.
    pub status: u16,
    /// The run, on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RunBody>)]
    pub run: Option<Run>,
    /// Why the item was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<ProblemBody>,
}

/// The answer of `POST /v1/runs/batch`: one entry per item, in request order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchAnswer {
    /// Each item's answer.
    pub results: Vec<BatchItemAnswer>,
}

/// Creates up to 1,000 runs in one request.
#[utoipa::path(
    post,
    path = "/v1/runs/batch",
    tag = "runs",
    request_body = CreateBatch,
    responses(
        (status = 200, description = "Each item's answer, in request order.", body = BatchAnswer),
        (status = 409, description = "`atomic`: the first refused item's problem (`run_conflict`, `concurrency_limit`, …) with its `index`; nothing was written.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`atomic`: an item's parent does not exist (`index` names it); nothing was written.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_request`: 0 or more than 1,000 items, an item that is not a create, a parent that is a later item, one id twice with different parameters (`index` names the item); for `atomic`, any invalid item.", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create_batch(
    State(state): State<ServerState>,
    AuthTenant(tenant): AuthTenant,
    JsonBody(body): JsonBody<BatchItems>,
) -> Result<Response, Problem> {
    let count = body.runs.len();
    if count == 0 || count > BATCH_RUNS_MAX {
        return Err(Problem::invalid_request(
            "runs",
            format!("{count} runs; expected 1 to {BATCH_RUNS_MAX}"),
        ));
    }
    let atomic = body.atomic;
    // Items that cannot be read as a create are refused whole; items whose
    // fields are invalid are, when not atomic, answered alone.
    let mut runs = Vec::with_capacity(count);
    let mut invalid: Vec<(usize, Problem)> = Vec::new();
    for (index, item) in body.runs.iter().enumerate() {
        if !item.is_object() {
            return Err(Problem::invalid_request(
                "runs",
                format!("item {index} is not a create: not a JSON object"),
            )
            .at_index(index));
        }
        match from_value_strict::<CreateRun>(item) {
            Ok(request) => runs.push(request),
            Err(Refusal::Shape(problem)) => {
                let detail = format!("item {index} is not a create: {}", problem.body().detail);
                return Err(Problem::invalid_request("runs", detail).at_index(index));
            }
            Err(Refusal::Field(problem)) if atomic => return Err(problem.at_index(index)),
            Err(Refusal::Field(problem)) => invalid.push((index, problem)),
        }
    }
    let indexes: Vec<usize> = (0..count)
        .filter(|index| !invalid.iter().any(|(at, _)| at == index))
        .collect();
    let mut results: Vec<Option<BatchItemAnswer>> = vec![None; count];
    for (index, problem) in invalid {
        results[index] = Some(item_problem(problem));
    }
    if !runs.is_empty() {
        let answers = state
            .ledger()
            .create_batch(&tenant, CreateBatch { runs, atomic })
            .await
            .map_err(|refused| {
                let problem = Problem::from(refused.error);
                match refused.index {
                    Some(at) => problem.at_index(indexes[at]),
                    None => problem,
                }
            })?;
        for (index, answer) in indexes.into_iter().zip(answers) {
            results[index] = Some(item_answer(answer));
        }
    }
    let results = results
        .into_iter()
        .map(|result| result.expect("every item is answered"))
        .collect();
    Ok(json_response(StatusCode::OK, &BatchAnswer { results }))
}

fn item_answer(answer: Result<Created, Error>) -> BatchItemAnswer {
    match answer {
        Ok(created) => BatchItemAnswer {
            status: if created.created { 201 } else { 200 },
            run: Some(created.run),
            problem: None,
        },
        Err(error) => item_problem(Problem::from(error)),
    }
}

fn item_problem(problem: Problem) -> BatchItemAnswer {
    let body = problem.body().clone();
    BatchItemAnswer {
        status: body.status,
        run: None,
        problem: Some(body),
    }
}
