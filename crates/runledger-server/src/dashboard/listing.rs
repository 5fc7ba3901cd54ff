//! The runs list, newest first, paged both ways. An older page is the
//! API's own `order=desc` page after a cursor. A newer page (`newer=C`:
//! the runs at or after cursor `C`) is read oldest first from just before
//! `C` and shown reversed, so both directions use only the API's list. This
//! relies on the library's cursor being a run's creation order (a
//! non-negative integer, see `ListRuns::after_order`); a `newer` value that
//! is not one is refused with `422` naming `newer`.

use crate::problem::Problem;
use runledger::{Error, Kind, Ledger, ListRuns, Run, RunState, Tenant};

use super::view::Filter;

/// Runs on one dashboard page (the API's default page size).
pub(crate) const RUNS_PER_PAGE: u32 = 50;

/// One page of runs, newest first, and where the paging links lead.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Newest first.
    pub runs: Vec<Run>,
    /// The cursor of the next older page, if there is one.
    pub older: Option<String>,
    /// The next newer page, if this is not the newest.
    pub newer: Option<Newer>,
}

/// Where "newer" leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Newer {
    /// The newest page (`/` with the filters).
    Newest,
    /// The page of runs at or after this cursor.
    From(String),
}

/// Reads the page `filter` names; a 4xx problem for a refused filter,
/// cursor or `newer`.
pub(crate) async fn list(
    ledger: &Ledger,
    tenant: &Tenant,
    filter: &Filter,
) -> Result<Listing, Problem> {
    let base = ListRuns {
        state: non_empty(&filter.state).map(RunState::parse).transpose()?,
        kind: non_empty(&filter.kind).map(Kind::parse).transpose()?,
        limit: Some(RUNS_PER_PAGE),
        ..ListRuns::default()
    };
    if filter.newer.is_empty() {
        let page = ledger
            .list_runs(
                tenant,
                ListRuns {
                    newest_first: true,
                    cursor: non_empty(&filter.cursor).map(str::to_owned),
                    ..base
                },
            )
            .await?;
        return Ok(Listing {
            runs: page.runs,
            older: page.next_cursor,
            newer: (!filter.cursor.is_empty()).then(|| Newer::From(filter.cursor.clone())),
        });
    }
    let from = parse_newer(&filter.newer)?;
    let page = ledger
        .list_runs(
            tenant,
            ListRuns {
                newest_first: false,
                cursor: Some((from - 1).to_string()),
                ..base.clone()
            },
        )
        .await?;
    let newer = match page.next_cursor.as_deref().map(parse_newer).transpose()? {
        Some(last) => Newer::From((last + 1).to_string()),
        None => Newer::Newest,
    };
    let older_exists = !ledger
        .list_runs(
            tenant,
            ListRuns {
                newest_first: true,
                cursor: Some(from.to_string()),
                limit: Some(1),
                ..base
            },
        )
        .await?
        .runs
        .is_empty();
    let mut runs = page.runs;
    runs.reverse();
    Ok(Listing {
        runs,
        older: older_exists.then(|| from.to_string()),
        newer: Some(newer),
    })
}

/// A `newer` value: a cursor, at least 1.
fn parse_newer(text: &str) -> Result<i64, Problem> {
    text.parse::<i64>()
        .ok()
        .filter(|order| *order >= 1)
        .ok_or_else(|| {
            Error::invalid(
                "newer",
                "newer is not a cursor this server issued; follow the dashboard's Newer link",
            )
            .into()
        })
}

fn non_empty(text: &str) -> Option<&str> {
    if text.is_empty() { None } else { Some(text) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_is_a_positive_cursor() {
        assert_eq!(parse_newer("41").unwrap(), 41);
        for bad in ["", "0", "-3", "abc", "1.5"] {
            let problem = parse_newer(bad).unwrap_err();
            assert!(problem.body().detail.contains("newer"), "{bad}");
        }
    }
}
