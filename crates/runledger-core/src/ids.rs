//! The SPEC's names, parsed at the edge and trusted inside: run ids and their
//! segments, tenants, kinds, concurrency keys and lease owners. A parser never
//! repairs, trims or truncates; it says which character or rule failed.

use crate::Error;
use crate::limits::{
    CONCURRENCY_KEY_CHARS_MAX, IDEMPOTENCY_KEY_CHARS_MAX, KIND_CHARS_MAX, OWNER_CHARS_MAX,
    RUN_ID_SEGMENTS_MAX, SEGMENT_CHARS_MAX, TENANT_CHARS_MAX,
};

/// A character class: which characters may come first, which after, and how
/// to say so in an error message.
pub(crate) struct Grammar {
    pub(crate) what: &'static str,
    pub(crate) chars_max: usize,
    pub(crate) first: fn(char) -> bool,
    pub(crate) first_rule: &'static str,
    pub(crate) rest: fn(char) -> bool,
    pub(crate) rest_rule: &'static str,
}

impl Grammar {
    /// `Ok` when `text` matches; else a message naming the failed rule.
    pub(crate) fn check(&self, text: &str) -> Result<(), String> {
        let what = self.what;
        if text.is_empty() {
            return Err(format!("{what} must not be empty"));
        }
        for (index, character) in text.chars().enumerate() {
            let (allowed, rule) = if index == 0 {
                ((self.first)(character), self.first_rule)
            } else {
                ((self.rest)(character), self.rest_rule)
            };
            if !allowed {
                return Err(format!(
                    "{what} has {} at position {}; {rule}",
                    describe(character),
                    index + 1
                ));
            }
        }
        let length = text.chars().count();
        if length > self.chars_max {
            return Err(format!(
                "{what} is {length} characters long; at most {} are allowed",
                self.chars_max
            ));
        }
        Ok(())
    }
}

/// A character as a person can read it in a message, control characters included.
fn describe(character: char) -> String {
    if character.is_control() || character.is_whitespace() {
        format!("character U+{:04X}", character as u32)
    } else {
        format!("character '{character}' (U+{:04X})", character as u32)
    }
}

fn is_alphanumeric(character: char) -> bool {
    character.is_ascii_alphanumeric()
}
fn is_segment_char(character: char) -> bool {
    character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '-')
}
fn is_tenant_first(character: char) -> bool {
    character.is_ascii_lowercase() || character.is_ascii_digit()
}
fn is_tenant_char(character: char) -> bool {
    is_tenant_first(character) || matches!(character, '_' | '-')
}
fn is_concurrency_key_char(character: char) -> bool {
    is_segment_char(character) || matches!(character, ':' | '/')
}
fn is_printable(character: char) -> bool {
    !character.is_control()
}

const SEGMENT: Grammar = Grammar {
    what: "segment",
    chars_max: SEGMENT_CHARS_MAX,
    first: is_alphanumeric,
    first_rule: "a segment starts with an ASCII letter or digit",
    rest: is_segment_char,
    rest_rule: "a segment holds only ASCII letters, digits, '.', '_' and '-'",
};

const TENANT: Grammar = Grammar {
    what: "tenant",
    chars_max: TENANT_CHARS_MAX,
    first: is_tenant_first,
    first_rule: "a tenant starts with a lowercase ASCII letter or digit",
    rest: is_tenant_char,
    rest_rule: "a tenant holds only lowercase ASCII letters, digits, '_' and '-'",
};

const KIND: Grammar = Grammar {
    what: "kind",
    chars_max: KIND_CHARS_MAX,
    first: is_segment_char,
    first_rule: "a kind holds only ASCII letters, digits, '.', '_' and '-'",
    rest: is_segment_char,
    rest_rule: "a kind holds only ASCII letters, digits, '.', '_' and '-'",
};

const CONCURRENCY_KEY: Grammar = Grammar {
    what: "concurrency key",
    chars_max: CONCURRENCY_KEY_CHARS_MAX,
    first: is_alphanumeric,
    first_rule: "a concurrency key starts with an ASCII letter or digit",
    rest: is_concurrency_key_char,
    rest_rule: "a concurrency key holds only ASCII letters, digits, '.', '_', ':', '/' and '-'",
};

const OWNER: Grammar = Grammar {
    what: "owner",
    chars_max: OWNER_CHARS_MAX,
    first: is_printable,
    first_rule: "an owner holds only printable characters",
    rest: is_printable,
    rest_rule: "an owner holds only printable characters",
};

/// Implements the shared surface of a validated name: `as_str`, `Display`,
/// and serde as a plain string that is parsed on the way in.
macro_rules! validated_name {
    ($name:ident) => {
        impl $name {
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// One segment of a run id, and a child key: `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Segment(String);
validated_name!(Segment);

impl Segment {
    /// Parses a segment (a top-level run id or a child key).
    pub fn parse(text: &str) -> Result<Segment, Error> {
        SEGMENT
            .check(text)
            .map_err(|detail| Error::InvalidRunId { detail })?;
        Ok(Segment(text.to_owned()))
    }
}

/// A run id: one segment, or `<parent id>:<key>` for a child, at most
/// [`RUN_ID_SEGMENTS_MAX`] segments in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(String);
validated_name!(RunId);

impl RunId {
    /// Parses a run id of any depth.
    pub fn parse(text: &str) -> Result<RunId, Error> {
        if text.is_empty() {
            return Err(Error::InvalidRunId {
                detail: "run id must not be empty".into(),
            });
        }
        let segments: Vec<&str> = text.split(':').collect();
        if segments.len() > RUN_ID_SEGMENTS_MAX {
            return Err(Error::InvalidRunId {
                detail: format!(
                    "run id has {} segments; at most {RUN_ID_SEGMENTS_MAX} are allowed",
                    segments.len()
                ),
            });
        }
        for (index, segment) in segments.iter().enumerate() {
            SEGMENT.check(segment).map_err(|detail| {
                let detail = if segments.len() == 1 {
                    format!("run id: {detail}")
                } else {
                    format!(
                        "run id segment {} of {}: {detail}",
                        index + 1,
                        segments.len()
                    )
                };
                Error::InvalidRunId { detail }
            })?;
        }
        Ok(RunId(text.to_owned()))
    }

    /// The id of `parent`'s child with `key`; fails on a ninth segment.
    pub fn child(parent: &RunId, key: &Segment) -> Result<RunId, Error> {
        let segments = parent.segment_count() + 1;
        if segments > RUN_ID_SEGMENTS_MAX {
            return Err(Error::InvalidRunId {
                detail: format!(
                    "a child of {parent} would have {segments} segments; at most {RUN_ID_SEGMENTS_MAX} are allowed"
                ),
            });
        }
        Ok(RunId(format!("{parent}:{key}")))
    }

    /// A top-level run id made of one segment.
    pub fn top_level(segment: Segment) -> RunId {
        RunId(segment.0)
    }

    /// How many segments the id has (1 for a top-level run).
    pub fn segment_count(&self) -> usize {
        self.0.split(':').count()
    }

    /// The parent id and the key, read off a child id; `None` for a top-level run.
    pub fn parent_and_key(&self) -> Option<(RunId, Segment)> {
        let (parent, key) = self.0.rsplit_once(':')?;
        Some((RunId(parent.to_owned()), Segment(key.to_owned())))
    }
}

/// Isolation boundary: `[a-z0-9][a-z0-9_-]{0,63}`. The default is `default`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(String);
validated_name!(Tenant);

impl Tenant {
    /// Parses a tenant name.
    pub fn parse(text: &str) -> Result<Tenant, Error> {
        TENANT
            .check(text)
            .map_err(|detail| Error::invalid("tenant", detail))?;
        Ok(Tenant(text.to_owned()))
    }
}

impl Default for Tenant {
    fn default() -> Tenant {
        Tenant("default".to_owned())
    }
}

/// What is being run: `[A-Za-z0-9._-]{1,128}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kind(String);
validated_name!(Kind);

impl Kind {
    /// Parses a kind.
    pub fn parse(text: &str) -> Result<Kind, Error> {
        KIND.check(text)
            .map_err(|detail| Error::invalid("kind", detail))?;
        Ok(Kind(text.to_owned()))
    }
}

/// A concurrency group's key: `[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConcurrencyKey(String);
validated_name!(ConcurrencyKey);

impl ConcurrencyKey {
    /// Parses a concurrency key.
    pub fn parse(text: &str) -> Result<ConcurrencyKey, Error> {
        CONCURRENCY_KEY
            .check(text)
            .map_err(|detail| Error::invalid("concurrency.key", detail))?;
        Ok(ConcurrencyKey(text.to_owned()))
    }
}

/// Who holds a lease: 1–256 printable characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner(String);
validated_name!(Owner);

impl Owner {
    /// Parses a lease owner.
    pub fn parse(text: &str) -> Result<Owner, Error> {
        OWNER
            .check(text)
            .map_err(|detail| Error::invalid("owner", detail))?;
        Ok(Owner(text.to_owned()))
    }
}

/// An `Idempotency-Key` header value: 1–255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(String);
validated_name!(IdempotencyKey);

const IDEMPOTENCY_KEY: Grammar = Grammar {
    what: "Idempotency-Key",
    chars_max: IDEMPOTENCY_KEY_CHARS_MAX,
    first: is_visible_ascii,
    first_rule: "an Idempotency-Key holds only printable ASCII characters",
    rest: is_visible_ascii,
    rest_rule: "an Idempotency-Key holds only printable ASCII characters",
};

fn is_visible_ascii(character: char) -> bool {
    character.is_ascii_graphic() || character == ' '
}

impl IdempotencyKey {
    /// Parses an `Idempotency-Key` header value.
    pub fn parse(text: &str) -> Result<IdempotencyKey, Error> {
        IDEMPOTENCY_KEY
            .check(text)
            .map_err(|detail| Error::invalid("Idempotency-Key", detail))?;
        Ok(IdempotencyKey(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn detail(error: Error) -> String {
        match error {
            Error::InvalidRunId { detail } | Error::InvalidRequest { detail, .. } => detail,
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn run_ids_follow_the_grammar() {
        let valid = [
            "a",
            "job-1",
            "A.b_c-9",
            "job-1:acme",
            "job-1:acme:eu",
            "1:2:3:4:5:6:7:8",
        ];
        for text in valid {
            assert_eq!(RunId::parse(text).unwrap().as_str(), text);
        }
        let too_long = "a".repeat(129);
        let invalid: [(&str, &str); 12] = [
            ("", "must not be empty"),
            (" job", "U+0020 at position 1"),
            ("job 1", "U+0020 at position 4"),
            ("-job", "'-' (U+002D) at position 1"),
            (".job", "starts with an ASCII letter or digit"),
            ("job/1", "'/' (U+002F) at position 4"),
            ("job\u{0}", "U+0000 at position 4"),
            ("jöb", "'ö' (U+00F6) at position 2"),
            ("job:", "segment 2 of 2: segment must not be empty"),
            (":job", "segment 1 of 2: segment must not be empty"),
            ("1:2:3:4:5:6:7:8:9", "9 segments; at most 8"),
            (too_long.as_str(), "129 characters long; at most 128"),
        ];
        for (text, expected) in invalid {
            let message = detail(RunId::parse(text).unwrap_err());
            assert!(message.contains(expected), "{text:?}: {message}");
        }
    }

    #[test]
    fn a_child_id_is_parent_colon_key_and_reads_back() {
        let parent = RunId::parse("job-1:acme").unwrap();
        let key = Segment::parse("eu").unwrap();
        let child = RunId::child(&parent, &key).unwrap();
        assert_eq!(child.as_str(), "job-1:acme:eu");
        assert_eq!(child.parent_and_key(), Some((parent, key)));
        assert_eq!(RunId::parse("top").unwrap().parent_and_key(), None);
        let deepest = RunId::parse("1:2:3:4:5:6:7:8").unwrap();
        assert!(RunId::child(&deepest, &Segment::parse("9").unwrap()).is_err());
    }

    #[test]
    fn names_follow_their_grammars() {
        assert!(Tenant::parse("acme_1-x").is_ok());
        assert!(detail(Tenant::parse("Acme").unwrap_err()).contains("'A'"));
        assert!(detail(Tenant::parse(&"a".repeat(65)).unwrap_err()).contains("65 characters"));
        assert!(Kind::parse(".etl-nightly_2").is_ok());
        assert!(detail(Kind::parse("").unwrap_err()).contains("must not be empty"));
        assert!(detail(Kind::parse("a:b").unwrap_err()).contains("':'"));
        assert!(ConcurrencyKey::parse("tenant/acme:etl").is_ok());
        assert!(detail(ConcurrencyKey::parse("/x").unwrap_err()).contains("position 1"));
        assert!(Owner::parse("worker 7 @ host").is_ok());
        assert!(detail(Owner::parse("a\nb").unwrap_err()).contains("U+000A"));
        assert!(detail(Owner::parse(&"o".repeat(257)).unwrap_err()).contains("257"));
        assert_eq!(Tenant::default().as_str(), "default");
        assert!(IdempotencyKey::parse("8e03978e-40d5-43e8-bc93-6894a57f9324").is_ok());
        assert!(detail(IdempotencyKey::parse("a\u{7f}").unwrap_err()).contains("U+007F"));
        assert!(detail(IdempotencyKey::parse(&"k".repeat(256)).unwrap_err()).contains("256"));
    }

    proptest! {
        #[test]
        fn every_string_matching_the_segment_regex_parses(text in "[A-Za-z0-9][A-Za-z0-9._-]{0,127}") {
            let segment = Segment::parse(&text).unwrap();
            prop_assert_eq!(segment.as_str(), text.as_str());
        }

        #[test]
        fn a_parsed_run_id_is_byte_for_byte_the_input(text in "\\PC{0,300}") {
            if let Ok(id) = RunId::parse(&text) {
                prop_assert_eq!(id.as_str(), text.as_str());
                prop_assert!(id.segment_count() <= RUN_ID_SEGMENTS_MAX);
                prop_assert!(text.chars().all(|c| is_segment_char(c) || c == ':'));
            }
        }

        #[test]
        fn any_character_outside_the_class_is_refused_by_name(
            prefix in "[a-z]{1,5}", bad in "[^A-Za-z0-9._:-]", suffix in "[a-z]{0,5}"
        ) {
            let text = format!("{prefix}{bad}{suffix}");
            let message = detail(RunId::parse(&text).unwrap_err());
            let bad_char = bad.chars().next().unwrap();
            let expected = format!("U+{:04X}", bad_char as u32);
            prop_assert!(message.contains(&expected));
            let position = format!("position {}", prefix.chars().count() + 1);
            prop_assert!(message.contains(&position));
        }
    }
}
