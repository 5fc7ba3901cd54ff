//! Request JSON, strictly (SPEC §4): a JSON object with known fields only,
//! no duplicate keys, at most [`JSON_DEPTH_MAX`] levels deep, sent as
//! `application/json`. serde alone would take the last of two duplicate keys
//! silently, so the body is first read into a `Value` by a visitor that
//! refuses duplicates and depth, then deserialized with
//! `deny_unknown_fields`. Every refusal is a problem, never a plain-text
//! rejection.

use crate::problem::Problem;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use runledger::ErrorCode;
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;

/// Deepest nesting of objects and arrays a request may have; the body
/// object itself is level 1.
pub const JSON_DEPTH_MAX: usize = 64;

/// A request body parsed strictly into `T`. An empty body without a
/// `Content-Type` reads as `{}`, so a request whose fields are all optional
/// (cancel) may send none.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, _state: &S) -> Result<JsonBody<T>, Problem> {
        let (parts, body) = request.into_parts();
        // The body was read (and its size limited) by the body layer.
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|error| {
                Problem::invalid_body(format!("the request body could not be read: {error}"))
            })?;
        // A bodiless POST with no Content-Type counts as `{}`; any other
        // content type is 415 even when the body is empty (a form post).
        if !bytes.is_empty() || parts.headers.contains_key(header::CONTENT_TYPE) {
            require_json_content_type(&parts.headers)?;
        }
        if bytes.is_empty() {
            return parse_strict(b"{}").map(JsonBody);
        }
        parse_strict(&bytes).map(JsonBody)
    }
}

/// `415` unless the request says its body is `application/json`.
fn require_json_content_type(headers: &HeaderMap) -> Result<(), Problem> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap_or("(not ASCII)"));
    let essence = content_type.map(|value| {
        value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    match essence.as_deref() {
        Some("application/json") => Ok(()),
        Some(_) => Err(Problem::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "content type {} is not supported; send the body as application/json",
                content_type.unwrap_or_default()
            ),
        )),
        None => Err(Problem::new(
            ErrorCode::UnsupportedMediaType,
            "the request has a body but no Content-Type; send it as application/json",
        )),
    }
}

/// Parses `bytes` as one JSON object into `T`, one of the core's request
/// types: syntax, UTF-8, duplicate keys, depth, unknown fields and a field
/// its parser refuses are `422 invalid_request` naming the field, except a
/// run id, which is `422 invalid_run_id` as everywhere else.
pub fn parse_strict<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let value = checked_value(bytes)?;
    if !value.is_object() {
        return Err(Problem::invalid_body(format!(
            "the request body must be a JSON object, not {}",
            json_type_name(&value)
        )));
    }
    // Read from the owned value (its strings move, a batch's items are not
    // copied); only a refusal reads the body again, to find the value.
    serde_path_to_error::deserialize(value).map_err(|error| {
        let body = checked_value(bytes).unwrap_or(Value::Null);
        refusal(&body, error).into_problem()
    })
}

/// Why a body (or one batch item) could not be read as its request type.
#[derive(Debug)]
pub enum Refusal {
    /// Its shape: a missing or unknown field, or a value of the wrong JSON
    /// type.
    Shape(Problem),
    /// The text of one field: a string its parser refused (or sent for a
    /// field that takes another type).
    Field(Problem),
}

impl Refusal {
    /// The problem the client gets.
    pub fn into_problem(self) -> Problem {
        match self {
            Refusal::Shape(problem) | Refusal::Field(problem) => problem,
        }
    }
}

/// Deserializes `value`, already read strictly, into the request type `T`.
pub fn from_value_strict<T: DeserializeOwned>(value: &Value) -> Result<T, Refusal> {
    serde_path_to_error::deserialize(value).map_err(|error| refusal(value, error))
}

/// Why `value` could not be read: the refused field's path, and whether it
/// was a field's text or the shape.
fn refusal(value: &Value, error: serde_path_to_error::Error<serde_json::Error>) -> Refusal {
    let path = error.path().to_string();
    let refused = value_at(value, error.path());
    let inner = error.into_inner();
    if path != "." {
        return match refused {
            Some(Value::String(text)) => Refusal::Field(
                run_id_refusal(&path, text)
                    .unwrap_or_else(|| Problem::invalid_request(&path, format!("{path}: {inner}"))),
            ),
            _ => Refusal::Shape(Problem::invalid_request(
                &path,
                format!("invalid {path}: {inner}"),
            )),
        };
    }
    // A missing or unknown top-level field is named by serde only in
    // its message: "missing field `x`", "unknown field `x`, expected …".
    Refusal::Shape(match named_field(&inner.to_string()) {
        Some(field) => Problem::invalid_request(field, format!("invalid request body: {inner}")),
        None => Problem::invalid_body(format!("invalid request body: {inner}")),
    })
}

/// A run id refused is `invalid_run_id` with the rule it broke, here as
/// in a path: the core's own error for `text` when `path` holds a run id.
fn run_id_refusal(path: &str, text: &str) -> Option<Problem> {
    matches!(path, "id" | "parent_id")
        .then(|| runledger::RunId::parse(text).err())
        .flatten()
        .map(Problem::from)
}

/// The value `path` names inside `value`, if it is there.
fn value_at<'v>(value: &'v Value, path: &serde_path_to_error::Path) -> Option<&'v Value> {
    use serde_path_to_error::Segment;
    path.iter().try_fold(value, |value, segment| match segment {
        Segment::Map { key } => value.get(key.as_str()),
        Segment::Seq { index } => value.get(*index),
        Segment::Enum { .. } | Segment::Unknown => None,
    })
}

/// The field a serde "missing field" or "unknown field" message names.
fn named_field(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))?;
    rest.split('`').next().filter(|field| !field.is_empty())
}

/// Reads `bytes` into a `Value`, refusing duplicate keys and nesting deeper
/// than [`JSON_DEPTH_MAX`].
pub fn checked_value(bytes: &[u8]) -> Result<Value, Problem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Checked { depth: 1 }
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(|error| {
            let what = if error.is_data() {
                "invalid request body"
            } else {
                "the request body is not valid JSON"
            };
            Problem::invalid_body(format!("{what}: {error}"))
        })?;
    Ok(value)
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON value at nesting level `depth`.
struct Checked {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Checked {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Checked {
    /// The seed for the values inside this container.
    fn nested(&self) -> Checked {
        Checked {
            depth: self.depth + 1,
        }
    }

    /// Refuses a container at a level deeper than [`JSON_DEPTH_MAX`].
    fn enter<E: de::Error>(&self) -> Result<(), E> {
        if self.depth > JSON_DEPTH_MAX {
            return Err(E::custom(format_args!(
                "nesting is deeper than {JSON_DEPTH_MAX} levels"
            )));
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(value)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number must be finite"))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut items = Vec::new();
        while let Some(item) = sequence.next_element_seed(self.nested())? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut object = Map::new();
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key \"{key}\"; each key may appear once"
                )));
            }
            let value = map.next_value_seed(self.nested())?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// A JSON response with `status`.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut response = (status, Bytes::from(bytes)).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => Problem::internal(format!("a response could not be serialized: {error}"))
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[allow(dead_code)]
        a: Option<Value>,
    }

    fn refusal(text: &[u8]) -> String {
        parse_strict::<Sample>(text)
            .unwrap_err()
            .body()
            .detail
            .clone()
    }

    #[test]
    fn a_missing_or_unknown_field_is_named_in_the_problem() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Needs {
            #[allow(dead_code)]
            lease_epoch: u64,
        }
        let field = |text: &[u8]| {
            parse_strict::<Needs>(text)
                .unwrap_err()
                .body()
                .field
                .clone()
        };
        assert_eq!(field(b"{}").as_deref(), Some("lease_epoch"));
        assert_eq!(
            field(br#"{"lease_epoch": 1, "x": 2}"#).as_deref(),
            Some("x")
        );
        assert_eq!(
            field(br#"{"lease_epoch": "one"}"#).as_deref(),
            Some("lease_epoch")
        );
    }

    #[test]
    fn strict_parsing_refuses_what_serde_would_absorb() {
        assert!(parse_strict::<Sample>(br#"{"a": {"b": 1, "c": [1, {"d": 2}]}}"#).is_ok());
        assert!(refusal(br#"{"a": 1, "a": 2}"#).contains("duplicate key \"a\""));
        assert!(refusal(br#"{"a": {"x": 1, "x": 1}}"#).contains("duplicate key \"x\""));
        assert!(refusal(br#"{"b": 1}"#).contains("unknown field"));
        assert!(refusal(b"[1]").contains("must be a JSON object"));
        assert!(refusal(b"{\"a\": \"\xff\"}").contains("not valid JSON"));
        assert!(refusal(br#"{"a": 1} x"#).contains("not valid JSON"));
        let arrays_64 = format!("{{\"a\":{}{}}}", "[".repeat(63), "]".repeat(63));
        let parsed = parse_strict::<Sample>(arrays_64.as_bytes());
        assert!(parsed.is_ok(), "{:?}", parsed.err());
        let arrays_65 = format!("{{\"a\":{}{}}}", "[".repeat(64), "]".repeat(64));
        assert!(refusal(arrays_65.as_bytes()).contains("deeper than 64"));
        let arrays_500 = format!("{{\"a\":{}{}}}", "[".repeat(500), "]".repeat(500));
        assert!(parse_strict::<Sample>(arrays_500.as_bytes()).is_err());
    }
}
