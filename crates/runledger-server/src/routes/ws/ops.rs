//! The client messages of `/v1/ws`: a JSON object with `op` and that op's
//! fields only, refused with the API's problems (named field, rule broken).

use super::Target;
use crate::problem::Problem;
use runledger::RunId;
use serde_json::Value;

/// A client operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Op {
    Subscribe { target: Target, after: u64 },
    Unsubscribe { target: Target },
}

/// Parses a client message: a JSON object with `op` and that op's fields only.
pub(super) fn parse_op(text: &str) -> Result<Op, Problem> {
    let value: Value = serde_json::from_str(text)
        .map_err(|error| Problem::invalid_body(format!("the message is not JSON: {error}")))?;
    let Value::Object(mut fields) = value else {
        return Err(Problem::invalid_body(
            "the message must be a JSON object with an `op`",
        ));
    };
    let Some(Value::String(op)) = fields.remove("op") else {
        return Err(Problem::invalid_request(
            "op",
            "op is required: \"subscribe\" or \"unsubscribe\"",
        ));
    };
    let target = parse_target(fields.remove("run_id"))?;
    let parsed = match op.as_str() {
        "subscribe" => Op::Subscribe {
            target,
            after: parse_after(fields.remove("after"))?,
        },
        "unsubscribe" => Op::Unsubscribe { target },
        other => {
            return Err(Problem::invalid_request(
                "op",
                format!("unknown op '{other}'; expected \"subscribe\" or \"unsubscribe\""),
            ));
        }
    };
    if let Some(unknown) = fields.keys().next() {
        return Err(Problem::invalid_request(
            unknown,
            format!("unknown field '{unknown}' in a {op} message"),
        ));
    }
    Ok(parsed)
}

fn parse_target(value: Option<Value>) -> Result<Target, Problem> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => Ok(Some(RunId::parse(&id)?)),
        Some(_) => Err(Problem::invalid_request(
            "run_id",
            "run_id must be a run id string, or null for the whole tenant",
        )),
    }
}

fn parse_after(value: Option<Value>) -> Result<u64, Problem> {
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(number)) => number.as_u64().ok_or_else(after_problem),
        Some(_) => Err(after_problem()),
    }
}

fn after_problem() -> Problem {
    Problem::invalid_request(
        "after",
        "after must be a whole number: a seq for a run, a position for the tenant",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use runledger::ErrorCode;

    #[test]
    fn ops_parse_or_name_what_is_wrong() {
        let run = RunId::parse("job-1").unwrap();
        assert_eq!(
            parse_op(r#"{"op":"subscribe","run_id":"job-1","after":3}"#).unwrap(),
            Op::Subscribe {
                target: Some(run.clone()),
                after: 3
            }
        );
        assert_eq!(
            parse_op(r#"{"op":"subscribe","run_id":null}"#).unwrap(),
            Op::Subscribe {
                target: None,
                after: 0
            }
        );
        assert_eq!(
            parse_op(r#"{"op":"unsubscribe","run_id":"job-1"}"#).unwrap(),
            Op::Unsubscribe { target: Some(run) }
        );
        for (text, code) in [
            ("not json", ErrorCode::InvalidRequest),
            ("[1]", ErrorCode::InvalidRequest),
            (r#"{"op":"jump"}"#, ErrorCode::InvalidRequest),
            (r#"{"run_id":null}"#, ErrorCode::InvalidRequest),
            (
                r#"{"op":"subscribe","after":-1}"#,
                ErrorCode::InvalidRequest,
            ),
            (
                r#"{"op":"subscribe","after":"1"}"#,
                ErrorCode::InvalidRequest,
            ),
            (r#"{"op":"subscribe","extra":1}"#, ErrorCode::InvalidRequest),
            (
                r#"{"op":"subscribe","run_id":7}"#,
                ErrorCode::InvalidRequest,
            ),
            (
                r#"{"op":"subscribe","run_id":"a b"}"#,
                ErrorCode::InvalidRunId,
            ),
        ] {
            assert_eq!(parse_op(text).unwrap_err().code(), code, "{text}");
        }
    }
}
