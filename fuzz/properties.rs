//! The properties every fuzz input is held to, shared by the cargo-fuzz
//! targets (`fuzz_targets/*.rs`) and the stable replay test that runs in CI
//! (`crates/runledger-server/tests/fuzz_corpus.rs`), both of which include
//! this file with `#[path]`. Each function takes raw fuzz bytes and panics
//! when a property fails; returning means the input passed.
//!
//! - Names (run id, segment, tenant, kind, concurrency key, owner, event
//!   type, Idempotency-Key): the parser never panics; it accepts exactly the
//!   SPEC grammar (checked against a reference written here from the SPEC,
//!   not from the parser), an accepted name is byte for byte the input and
//!   survives a JSON round trip, and a refusal carries the right code
//!   (`invalid_run_id` for ids and segments, `invalid_request` otherwise).
//! - Text: `check_text` refuses exactly the strings holding U+0000, and
//!   `check_json_text` exactly the JSON values holding it in a string or key.
//! - Timestamps: parsing never panics; a parsed instant formats to
//!   canonical RFC 3339 that parses back to it (so no instant outside the
//!   years 0000–9999 UTC is accepted); canonical text round-trips exactly
//!   (a leap second excepted); any millisecond count formats without
//!   panicking.
//! - Request bodies: the strict JSON extractor never panics; what it accepts
//!   is one JSON object with known fields only, no duplicate keys and at
//!   most 64 levels; everything else is `422 invalid_request`, except a
//!   create whose `id` or `parent_id` breaks the run id grammar, which is
//!   `422 invalid_run_id` as the route answers it.

#![allow(dead_code)] // each target uses one property

use runledger_core::text::{check_json_text, check_text};
use runledger_core::{
    ConcurrencyKey, ErrorCode, EventType, IdempotencyKey, Kind, Owner, RunId, Segment, Tenant,
    Timestamp,
};
use runledger_server::JSON_DEPTH_MAX;
use runledger_server::fuzzing::{RequestBody, parse_request_body};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// A property: panics when `data` breaks it.
pub type Property = fn(&[u8]);

/// The fuzz targets, by name (their corpus folders under `fuzz/corpus/`).
pub const TARGETS: [(&str, Property); 4] = [
    ("names", names),
    ("text", text),
    ("timestamp", timestamp),
    ("json_body", json_body),
];

/// First byte: which name parser; the rest: the text (lossy UTF-8).
pub fn names(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let text = text.as_ref();
    match selector % 8 {
        0 => name(
            text,
            RunId::parse(text).map(|v| v.to_string()),
            run_id_ok(text),
            true,
        ),
        1 => name(
            text,
            Segment::parse(text).map(|v| v.to_string()),
            segment_ok(text),
            true,
        ),
        2 => name(
            text,
            Tenant::parse(text).map(|v| v.to_string()),
            tenant_ok(text),
            false,
        ),
        3 => name(
            text,
            Kind::parse(text).map(|v| v.to_string()),
            kind_ok(text),
            false,
        ),
        4 => name(
            text,
            ConcurrencyKey::parse(text).map(|v| v.to_string()),
            concurrency_key_ok(text),
            false,
        ),
        5 => name(
            text,
            Owner::parse(text).map(|v| v.to_string()),
            owner_ok(text),
            false,
        ),
        6 => name(
            text,
            EventType::parse(text).map(|v| v.as_str().to_owned()),
            event_type_ok(text),
            false,
        ),
        _ => name(
            text,
            IdempotencyKey::parse(text).map(|v| v.to_string()),
            idempotency_key_ok(text),
            false,
        ),
    }
    json_round_trips(text);
}

fn name(text: &str, parsed: Result<String, runledger_core::Error>, expected: bool, id: bool) {
    match parsed {
        Ok(shown) => {
            assert!(
                expected,
                "{text:?} was accepted but breaks the SPEC grammar"
            );
            assert_eq!(shown, text, "an accepted name is the input, unchanged");
        }
        Err(error) => {
            assert!(
                !expected,
                "{text:?} matches the SPEC grammar but was refused: {error}"
            );
            let code = if id {
                ErrorCode::InvalidRunId
            } else {
                ErrorCode::InvalidRequest
            };
            assert_eq!(error.code(), code, "{text:?}: {error}");
            assert!(!error.to_string().is_empty(), "a refusal says why");
        }
    }
}

/// Parsed through serde (as a request field), a name is the same name.
fn json_round_trips(text: &str) {
    let quoted = Value::String(text.to_owned());
    if let Ok(id) = serde_json::from_value::<RunId>(quoted.clone()) {
        assert_eq!(serde_json::to_value(&id).expect("an id serializes"), quoted);
    }
    if let Ok(owner) = serde_json::from_value::<Owner>(quoted.clone()) {
        assert_eq!(
            serde_json::to_value(&owner).expect("an owner serializes"),
            quoted
        );
    }
}

// The SPEC grammars, written out plainly as the reference.

fn chars_between(text: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&text.chars().count())
}

fn segment_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`.
fn segment_ok(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(segment_char)
        && chars_between(text, 1, 128)
}

/// One to eight segments joined by `:`.
fn run_id_ok(text: &str) -> bool {
    let segments: Vec<&str> = text.split(':').collect();
    segments.len() <= 8 && segments.iter().all(|segment| segment_ok(segment))
}

/// `[a-z0-9][a-z0-9_-]{0,63}`.
fn tenant_ok(text: &str) -> bool {
    let lower = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut chars = text.chars();
    chars.next().is_some_and(lower)
        && chars.all(|c| lower(c) || matches!(c, '_' | '-'))
        && chars_between(text, 1, 64)
}

/// `[A-Za-z0-9._-]{1,128}`.
fn kind_ok(text: &str) -> bool {
    text.chars().all(segment_char) && chars_between(text, 1, 128)
}

/// `[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}`.
fn concurrency_key_ok(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| segment_char(c) || matches!(c, ':' | '/'))
        && chars_between(text, 1, 256)
}

/// 1–256 printable characters.
fn owner_ok(text: &str) -> bool {
    !text.chars().any(char::is_control) && chars_between(text, 1, 256)
}

/// `[a-z0-9][a-z0-9._-]{0,63}`, not a lifecycle event's name.
fn event_type_ok(text: &str) -> bool {
    let lower = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut chars = text.chars();
    let lifecycle = [
        "created",
        "promoted",
        "started",
        "succeeded",
        "failed",
        "cancelled",
        "timed_out",
    ];
    chars.next().is_some_and(lower)
        && chars.all(|c| lower(c) || matches!(c, '.' | '_' | '-'))
        && chars_between(text, 1, 64)
        && !lifecycle.contains(&text)
}

/// 1–255 printable ASCII characters.
fn idempotency_key_ok(text: &str) -> bool {
    text.chars().all(|c| (' '..='~').contains(&c)) && chars_between(text, 1, 255)
}

/// The input as text, and, when it is JSON, as a JSON value.
pub fn text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let has_nul = text.contains('\0');
    match check_text("reason", &text) {
        Ok(()) => assert!(!has_nul, "a NUL passed check_text"),
        Err(error) => {
            assert!(has_nul, "{text:?} has no NUL but was refused: {error}");
            assert_eq!(error.code(), ErrorCode::InvalidRequest);
        }
    }
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        let has_nul = value_has_nul(&value);
        match check_json_text("data", &value) {
            Ok(()) => assert!(!has_nul, "a NUL inside {value} passed check_json_text"),
            Err(error) => {
                assert!(has_nul, "{value} has no NUL but was refused: {error}");
                assert_eq!(error.code(), ErrorCode::InvalidRequest);
            }
        }
    }
}

fn value_has_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(value_has_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, item)| key.contains('\0') || value_has_nul(item)),
        _ => false,
    }
}

/// The input as RFC 3339 text, and its first 8 bytes as a millisecond count.
pub fn timestamp(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some(instant) = Timestamp::parse_rfc3339(&text) {
        let shown = instant.to_rfc3339();
        assert_eq!(
            Timestamp::parse_rfc3339(&shown),
            Some(instant),
            "{text:?} parsed to {instant:?}, shown as {shown:?}, which does not parse back"
        );
        // A leap second (`:60`) has no instant of its own: it reads as the
        // last millisecond of its minute, so only other seconds round-trip.
        if is_canonical(&text) && &text[17..19] != "60" {
            assert_eq!(shown, text, "canonical text is shown unchanged");
        }
    }
    let mut bytes = [0u8; 8];
    let n = data.len().min(8);
    bytes[..n].copy_from_slice(&data[..n]);
    let unix_ms = i64::from_le_bytes(bytes);
    let instant = Timestamp::from_unix_ms(unix_ms);
    let shown = instant.to_rfc3339();
    let _ = instant.plus_ms(unix_ms.unsigned_abs());
    // Years 0000–9999 (what RFC 3339 can write) round-trip exactly.
    if (-62_167_219_200_000..=253_402_300_799_999).contains(&unix_ms) {
        assert_eq!(Timestamp::parse_rfc3339(&shown), Some(instant), "{shown}");
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, the form runledger writes.
fn is_canonical(text: &str) -> bool {
    let bytes = text.as_bytes();
    let pattern = b"dddd-dd-ddTdd:dd:dd.dddZ";
    bytes.len() == pattern.len()
        && bytes.iter().zip(pattern).all(|(&b, &p)| {
            if p == b'd' {
                b.is_ascii_digit()
            } else {
                b == p
            }
        })
}

/// First byte: which request body; the rest: the body's bytes.
pub fn json_body(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let body = RequestBody::ALL[usize::from(selector) % RequestBody::ALL.len()];
    match parse_request_body(body, bytes) {
        Ok(()) => {
            let parsed = Strict::read(bytes).unwrap_or_else(|error| {
                panic!(
                    "{body:?} accepted {:?}, which is not strict JSON: {error}",
                    String::from_utf8_lossy(bytes)
                )
            });
            let Strict::Object(fields) = &parsed.0 else {
                panic!("{body:?} accepted a body that is not an object");
            };
            assert!(
                parsed.1 <= JSON_DEPTH_MAX,
                "{body:?} accepted depth {}",
                parsed.1
            );
            for (key, value) in fields {
                assert!(
                    known_fields(body).contains(&key.as_str()),
                    "{body:?} accepted the unknown field {key:?}"
                );
                if let (RequestBody::CreateRun, "concurrency" | "start", Strict::Object(inner)) =
                    (body, key.as_str(), value)
                {
                    let known: &[&str] = if key == "start" {
                        &["owner", "lease_ttl_ms"]
                    } else {
                        &["key", "limit", "on_full"]
                    };
                    for (inner_key, _) in inner {
                        assert!(
                            known.contains(&inner_key.as_str()),
                            "{body:?} accepted the unknown field {key}.{inner_key}"
                        );
                    }
                }
            }
        }
        Err(problem) => {
            assert_eq!(problem.status, 422, "{body:?}: {problem:?}");
            if problem.code == "invalid_run_id" {
                assert!(
                    holds_a_bad_run_id(body, bytes),
                    "{body:?} refused {:?} as invalid_run_id, but its id and parent_id are not bad run ids",
                    String::from_utf8_lossy(bytes)
                );
            } else {
                assert_eq!(problem.code, "invalid_request", "{body:?}: {problem:?}");
            }
            assert!(!problem.detail.is_empty(), "a refusal says why");
        }
    }
}

/// Whether `bytes` is a create whose `id` or `parent_id` is a string the
/// SPEC's run id grammar refuses (the one body field refused with its own
/// code, `invalid_run_id`).
fn holds_a_bad_run_id(body: RequestBody, bytes: &[u8]) -> bool {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(bytes) else {
        return false;
    };
    body == RequestBody::CreateRun
        && ["id", "parent_id"].iter().any(|field| {
            fields
                .get(*field)
                .and_then(Value::as_str)
                .is_some_and(|text| !run_id_ok(text))
        })
}

/// The fields SPEC §4 gives each body.
fn known_fields(body: RequestBody) -> &'static [&'static str] {
    match body {
        RequestBody::CreateRun => &[
            "id",
            "kind",
            "parent_id",
            "key",
            "attributes",
            "concurrency",
            "start",
        ],
        RequestBody::Start => &["owner", "lease_ttl_ms"],
        RequestBody::Heartbeat => &["lease_epoch", "lease_ttl_ms"],
        RequestBody::Finish => &["lease_epoch", "outcome", "result", "error"],
        RequestBody::Cancel => &["reason", "cascade"],
        RequestBody::AppendEvent => &["type", "data", "lease_epoch"],
    }
}

/// A JSON value read by the reference reader: objects keep every key in
/// order (so duplicates are seen), each read reports its depth.
#[derive(Debug)]
enum Strict {
    Scalar,
    Array(Vec<Strict>),
    Object(Vec<(String, Strict)>),
}

impl Strict {
    /// The value and its depth; an error for invalid JSON or a duplicate key.
    /// (serde_json's own recursion limit, 128, is above the 64 accepted.)
    fn read(bytes: &[u8]) -> Result<(Strict, usize), String> {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let value = Strict::deserialize(&mut deserializer).map_err(|error| error.to_string())?;
        deserializer.end().map_err(|error| error.to_string())?;
        if let Some(key) = value.duplicate() {
            return Err(format!("duplicate key {key:?}"));
        }
        let depth = value.depth();
        Ok((value, depth))
    }

    fn depth(&self) -> usize {
        match self {
            Strict::Scalar => 0,
            Strict::Array(items) => 1 + items.iter().map(Strict::depth).max().unwrap_or(0),
            Strict::Object(fields) => {
                1 + fields
                    .iter()
                    .map(|(_, value)| value.depth())
                    .max()
                    .unwrap_or(0)
            }
        }
    }

    fn duplicate(&self) -> Option<String> {
        match self {
            Strict::Scalar => None,
            Strict::Array(items) => items.iter().find_map(Strict::duplicate),
            Strict::Object(fields) => {
                let mut keys: Vec<&String> = fields.iter().map(|(key, _)| key).collect();
                keys.sort();
                keys.windows(2)
                    .find(|pair| pair[0] == pair[1])
                    .map(|pair| pair[0].clone())
                    .or_else(|| fields.iter().find_map(|(_, value)| value.duplicate()))
            }
        }
    }
}

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Strict, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Strict, E> {
        Ok(Strict::Scalar)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Strict, E> {
        Ok(Strict::Scalar)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Strict, E> {
        Ok(Strict::Scalar)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Strict, E> {
        Ok(Strict::Scalar)
    }
    fn visit_str<E>(self, _: &str) -> Result<Strict, E> {
        Ok(Strict::Scalar)
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict::Scalar)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = sequence.next_element()? {
            items.push(item);
        }
        Ok(Strict::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut fields = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            fields.push((key, map.next_value()?));
        }
        Ok(Strict::Object(fields))
    }
}
