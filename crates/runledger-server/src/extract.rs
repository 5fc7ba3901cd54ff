//! Extractors for the parts of a request outside its JSON body: the run id
//! in the path, `If-Match`, and query strings. Each refuses with a problem,
//! never with axum's plain-text rejections.

use crate::problem::Problem;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::header;
use axum::http::request::Parts;
use runledger::{ErrorCode, RunId};
use serde::de::DeserializeOwned;

/// The `{id}` of a run route, parsed by the SPEC's grammar (an invalid id is
/// `422 invalid_run_id`, never repaired).
#[derive(Debug, Clone)]
pub struct RunIdPath(pub RunId);

impl<S: Send + Sync> FromRequestParts<S> for RunIdPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<RunIdPath, Problem> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                Problem::new(
                    ErrorCode::InvalidRunId,
                    format!("invalid run id in the path: {}", rejection.body_text()),
                )
            })?;
        Ok(RunIdPath(RunId::parse(&id)?))
    }
}

/// `If-Match: "<version>"`: the change applies only at that version
/// (`412 version_conflict` otherwise). `*` and an absent header check nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfMatch(pub Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<IfMatch, Problem> {
        let mut values = parts.headers.get_all(header::IF_MATCH).iter();
        let Some(value) = values.next() else {
            return Ok(IfMatch(None));
        };
        if values.next().is_some() {
            return Err(if_match_problem("If-Match was sent more than once"));
        }
        let text = value
            .to_str()
            .map_err(|_| if_match_problem("If-Match is not ASCII"))?
            .trim();
        if text == "*" {
            return Ok(IfMatch(None));
        }
        let digits = text
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or(text);
        digits
            .parse::<u64>()
            .ok()
            .filter(|_| !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()))
            .map(|version| IfMatch(Some(version)))
            .ok_or_else(|| {
                if_match_problem(format!(
                    "If-Match {text} is not a run version; expected a quoted version such as \"3\""
                ))
            })
    }
}

fn if_match_problem(detail: impl Into<String>) -> Problem {
    Problem::invalid_request("If-Match", detail)
}

/// A query string deserialized into `T` (whose fields are all strings, so
/// each is checked with its own message); unknown and repeated parameters
/// are `422`.
#[derive(Debug, Clone)]
pub struct StrictQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for StrictQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<StrictQuery<T>, Problem> {
        let Query(query) = Query::<T>::try_from_uri(&parts.uri).map_err(|rejection| {
            Problem::invalid_body(format!("invalid query string: {}", rejection.body_text()))
        })?;
        Ok(StrictQuery(query))
    }
}

/// Parses an optional whole-number query parameter.
pub fn parse_number<N: std::str::FromStr>(
    name: &str,
    text: Option<&str>,
) -> Result<Option<N>, Problem> {
    text.map(|text| {
        text.parse::<N>().map_err(|_| {
            Problem::invalid_request(
                name,
                format!("{name} '{text}' is not a whole number in range"),
            )
        })
    })
    .transpose()
}
