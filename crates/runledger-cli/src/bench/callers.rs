//! The measured load: `--clients` callers of one plan, in this process.

use super::stats::Tally;
use super::target::Target;
use super::workload::Plan;
use crate::failure::Failure;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// Runs `clients` callers of `plan` for `duration`, counting completed
/// operations in `ops` as they go. Answers the merged tally and how long
/// the load took (from the start to the last caller's last answer).
pub async fn run_callers(
    plan: Arc<Plan>,
    target: &Target,
    clients: u32,
    duration: Duration,
    ops: Arc<AtomicU64>,
) -> Result<(Tally, Duration), Failure> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..clients {
        callers.spawn(
            plan.clone()
                .run_caller(target.clone(), caller, deadline, ops.clone()),
        );
    }
    let mut tally = Tally::new();
    while let Some(joined) = callers.join_next().await {
        let caller_tally =
            joined.map_err(|error| Failure::Failed(format!("a caller failed: {error}")))??;
        tally.merge(&caller_tally);
    }
    Ok((tally, started.elapsed()))
}
