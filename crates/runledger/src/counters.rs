//! The ledger's Prometheus counters of what it wrote: caller events
//! appended and runs that reached a terminal state, by outcome. Counted
//! through the `metrics` facade (the server renders them at `/metrics`;
//! a library user without a recorder pays nothing). A run is counted where
//! every transition of both backends is written (`write_transition`), so
//! finishes, cancels (cascades and runs cancelled to make room included)
//! and reaps are all seen, and an idempotent repeat, which writes nothing,
//! is not. Counted as the write is made, before its commit: a transaction
//! that is then rolled back (a full disk, a lost connection) was counted.

use runledger_core::RunState;
use runledger_core::transition::Transition;

/// Caller events appended (`POST /v1/runs/{id}/events`, `append_event`).
pub const EVENTS_APPENDED_TOTAL: &str = "runledger_events_appended_total";

/// Runs that reached a terminal state, by `outcome`: `succeeded`,
/// `failed`, `cancelled` or `timed_out`.
pub const RUNS_FINISHED_TOTAL: &str = "runledger_runs_finished_total";

/// Counts one appended caller event.
pub(crate) fn event_appended() {
    metrics::counter!(EVENTS_APPENDED_TOTAL).increment(1);
}

/// Counts `transition` when it ends its run (from a state that had not).
pub(crate) fn transition_written(before: RunState, transition: &Transition) {
    let after = transition.after.run.state;
    if after.is_terminal() && !before.is_terminal() {
        metrics::counter!(RUNS_FINISHED_TOTAL, "outcome" => after.as_str()).increment(1);
    }
}
