//! Filters and page of a run listing (SPEC §4 `GET /v1/runs`), sent as
//! the query string.

use crate::limits::{PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX};
use crate::{ConcurrencyKey, Error, Kind, RunId, RunState, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Filters and page of a listing, oldest first unless `newest_first`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRuns {
    /// Only runs in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<RunState>,
    /// Only runs of this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// Only direct children of this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<RunId>,
    /// Only runs of this concurrency group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_key: Option<ConcurrencyKey>,
    /// Only runs created strictly after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_after: Option<Timestamp>,
    /// Only runs created strictly before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_before: Option<Timestamp>,
    /// Newest first: `order=desc`; oldest first (`asc`, the default) when
    /// `false`.
    #[serde(
        rename = "order",
        default,
        serialize_with = "order_text",
        deserialize_with = "order_newest_first",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub newest_first: bool,
    /// Page size, default 50, at most 1,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl ListRuns {
    /// The page size, checked.
    pub fn page_limit(&self) -> Result<u32, Error> {
        page_limit(self.limit)
    }

    /// The creation order the page starts beyond (after it oldest first,
    /// before it newest first), from the cursor.
    pub fn after_order(&self) -> Result<i64, Error> {
        match &self.cursor {
            None if self.newest_first => Ok(i64::MAX),
            None => Ok(0),
            Some(cursor) => cursor
                .parse::<i64>()
                .ok()
                .filter(|order| *order >= 0)
                .ok_or_else(|| {
                    Error::invalid(
                        "cursor",
                        "cursor is not one this server issued; pass next_cursor from the previous page",
                    )
                }),
        }
    }
}

/// Checks a page size (of runs or events): default 50, 1 to 1,000.
pub fn page_limit(limit: Option<u32>) -> Result<u32, Error> {
    match limit {
        None => Ok(PAGE_LIMIT_DEFAULT),
        Some(limit) if (1..=PAGE_LIMIT_MAX).contains(&limit) => Ok(limit),
        Some(limit) => Err(Error::invalid(
            "limit",
            format!("limit {limit} is out of range; expected 1 to {PAGE_LIMIT_MAX}"),
        )),
    }
}

fn order_text<S: Serializer>(newest_first: &bool, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(if *newest_first { "desc" } else { "asc" })
}

fn order_newest_first<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match String::deserialize(deserializer)?.as_str() {
        "asc" => Ok(false),
        "desc" => Ok(true),
        other => Err(serde::de::Error::custom(format_args!(
            "order '{other}' is not asc or desc"
        ))),
    }
}
