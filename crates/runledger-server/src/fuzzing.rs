//! Entry points for the fuzz targets in `fuzz/` and the corpus replay test
//! (`tests/fuzz_corpus.rs`): the strict JSON body parser applied to each
//! request body the API reads, exactly as the routes' extractor applies it
//! to a non-empty `application/json` body. Not part of the API, so hidden
//! from the documentation; nothing here decides anything of its own.

use crate::json::parse_strict;
use crate::problem::ProblemBody;
use runledger::{AppendEvent, Cancel, CreateRun, Finish, Heartbeat, StartLease};

/// A request body the API parses with the strict JSON extractor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBody {
    /// `POST /v1/runs`.
    CreateRun,
    /// `POST /v1/runs/{id}/start`.
    Start,
    /// `POST /v1/runs/{id}/heartbeat`.
    Heartbeat,
    /// `POST /v1/runs/{id}/finish`.
    Finish,
    /// `POST /v1/runs/{id}/cancel`.
    Cancel,
    /// `POST /v1/runs/{id}/events`.
    AppendEvent,
}

impl RequestBody {
    /// Every body, in a fixed order (a fuzz input's first byte picks one).
    pub const ALL: [RequestBody; 6] = [
        RequestBody::CreateRun,
        RequestBody::Start,
        RequestBody::Heartbeat,
        RequestBody::Finish,
        RequestBody::Cancel,
        RequestBody::AppendEvent,
    ];
}

/// Parses `bytes` as `body` the way its route does: `Ok` when the
/// extractor accepts it, else the problem the client would get.
pub fn parse_request_body(body: RequestBody, bytes: &[u8]) -> Result<(), Box<ProblemBody>> {
    let parsed = match body {
        RequestBody::CreateRun => parse_strict::<CreateRun>(bytes).map(drop),
        RequestBody::Start => parse_strict::<StartLease>(bytes).map(drop),
        RequestBody::Heartbeat => parse_strict::<Heartbeat>(bytes).map(drop),
        RequestBody::Finish => parse_strict::<Finish>(bytes).map(drop),
        RequestBody::Cancel => parse_strict::<Cancel>(bytes).map(drop),
        RequestBody::AppendEvent => parse_strict::<AppendEvent>(bytes).map(drop),
    };
    parsed.map_err(|problem| Box::new(problem.body().clone()))
}
