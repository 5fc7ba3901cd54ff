//! The race audit of `bench --server` without the database at hand: counted
//! from the server's run list (every run whose id starts with the bench's
//! tag), once the race has settled.
//!
//! - duplicates: an id listed twice, or two runs of one `(parent_id, key)`;
//! - over-limit groups: a concurrency key with more active (queued +
//!   running) runs than the largest limit among them;
//! - orphans: a run whose `last_seq` is 0, i.e. without its `created` event.
//!
//! The list is read page by page, not as one snapshot, so the audit first
//! waits until none of the bench's runs is running any more (the race's
//! leases are short and the server's reaper times abandoned ones out): after
//! that no state changes by itself and the pages agree. Give `--db` beside
//! `--server` for the library's full `audit()` instead (it also checks
//! events, gaps and leases).

use super::stats::RaceAudit;
use super::workload::RACE_LEASE_TTL_MS;
use crate::failure::Failure;
use runledger::{Run, RunState};
use runledger_client::{Client, ListRuns};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Runs per list page.
const PAGE_RUNS_MAX: u32 = 1_000;
/// How long the audit waits for the race's running runs to end.
const SETTLE_MAX: Duration = Duration::from_millis(RACE_LEASE_TTL_MS * 10);
/// How often it looks meanwhile.
const SETTLE_POLL: Duration = Duration::from_millis(200);

/// Counts duplicates, over-limit groups and orphans among the runs of the
/// bench tagged `tag`.
pub async fn race_audit(client: &Client, tag: &str) -> Result<RaceAudit, Failure> {
    let deadline = Instant::now() + SETTLE_MAX;
    loop {
        let running = runs_of(client, tag, Some(RunState::Running)).await?;
        if running.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "runledger: {} race runs still running after {} s; auditing anyway",
                running.len(),
                SETTLE_MAX.as_secs()
            );
            break;
        }
        tokio::time::sleep(SETTLE_POLL).await;
    }
    let runs = runs_of(client, tag, None).await?;
    let audit = count(&runs);
    Ok(audit)
}

/// What the audit finds in `runs`.
fn count(runs: &[Run]) -> RaceAudit {
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut children: HashMap<(&str, &str), usize> = HashMap::new();
    let mut groups: HashMap<&str, (usize, u32)> = HashMap::new();
    let mut orphans = 0;
    for run in runs {
        *ids.entry(run.id.as_str()).or_default() += 1;
        if let (Some(parent), Some(key)) = (&run.parent_id, &run.key) {
            *children.entry((parent.as_str(), key.as_str())).or_default() += 1;
        }
        if let (Some(key), Some(limit)) = (&run.concurrency_key, run.concurrency_limit)
            && run.state.is_active()
        {
            let group = groups.entry(key.as_str()).or_default();
            group.0 += 1;
            group.1 = group.1.max(limit);
        }
        if run.last_seq == 0 {
            orphans += 1;
        }
    }
    let duplicates = ids.values().chain(children.values()).map(|n| n - 1).sum();
    let over_limit = groups
        .values()
        .filter(|(active, limit)| *active > *limit as usize)
        .count();
    RaceAudit {
        duplicates,
        over_limit,
        orphans,
        problems: duplicates + over_limit + orphans,
    }
}

/// Every run (in `state`, if given) whose id starts with `tag`.
async fn runs_of(client: &Client, tag: &str, state: Option<RunState>) -> Result<Vec<Run>, Failure> {
    let mut query = ListRuns {
        state,
        limit: Some(PAGE_RUNS_MAX),
        ..ListRuns::default()
    };
    let mut runs = Vec::new();
    loop {
        let page = client.list_runs(&query).await?;
        runs.extend(
            page.runs
                .into_iter()
                .filter(|run| run.id.as_str().starts_with(tag)),
        );
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(runs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(id: &str, state: &str, group: Option<(&str, u32)>, last_seq: u64) -> Run {
        let (parent_id, key) = match id.split_once(':') {
            Some((parent, key)) => (json!(parent), json!(key)),
            None => (json!(null), json!(null)),
        };
        serde_json::from_value(json!({
            "id": id, "tenant": "default", "kind": "bench", "parent_id": parent_id, "key": key,
            "state": state, "concurrency_key": group.map(|g| g.0),
            "concurrency_limit": group.map(|g| g.1), "attributes": {}, "result": null,
            "error": null, "version": 1, "last_seq": last_seq, "lease": null,
            "children": {"total": 0}, "created_at": "2026-11-26T00:00:00.000Z",
            "updated_at": "2026-11-26T00:00:00.000Z", "started_at": null, "finished_at": null
        }))
        .expect("a run")
    }

    #[test]
    fn counts_duplicates_over_limit_groups_and_orphans() {
        let clean = [
            run("t-a", "queued", Some(("g", 1)), 1),
            run("t-b", "pending", Some(("g", 1)), 1),
            run("t-c", "running", Some(("h", 3)), 2),
            run("t-c:k", "succeeded", None, 3),
        ];
        assert_eq!(count(&clean), RaceAudit::default());
        let broken = [
            run("t-a", "queued", Some(("g", 1)), 1),
            run("t-a", "queued", Some(("g", 1)), 1),
            run("t-b", "running", Some(("g", 1)), 0),
        ];
        assert_eq!(
            count(&broken),
            RaceAudit {
                duplicates: 1,
                over_limit: 1,
                orphans: 1,
                problems: 3
            }
        );
    }
}
