//! The progress bar and spinner of a bench (drawn only on a terminal).

use crate::cli::Workload;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the progress bar is redrawn.
pub const PROGRESS_TICK: Duration = Duration::from_millis(100);

/// The spinner shown while a workload is prepared.
pub fn preparing_spinner(workload: Workload) -> ProgressBar {
    let preparing = ProgressBar::new_spinner()
        .with_message(format!("preparing the {} workload", workload.as_str()));
    preparing.enable_steady_tick(PROGRESS_TICK);
    preparing
}

/// The bar shown while the load runs (drawn only on a terminal).
pub fn progress_bar(workload: Workload, duration: Duration) -> ProgressBar {
    let length = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let style = ProgressStyle::with_template("{prefix:>8} [{bar:32}] {msg}")
        .expect("the progress template is valid")
        .progress_chars("=> ");
    ProgressBar::new(length)
        .with_style(style)
        .with_prefix(workload.as_str())
}

/// Shows `ops` operations after `elapsed` of `duration` on the bar.
pub fn show_progress(bar: &ProgressBar, elapsed: Duration, duration: Duration, ops: u64) {
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        ops as f64 / seconds
    } else {
        0.0
    };
    bar.set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
    bar.set_message(format!(
        "{seconds:.1}/{:.1} s  {ops} ops  {rate:.0} ops/s",
        duration.as_secs_f64()
    ));
}

/// Redraws `bar` with the count in `ops` until aborted.
pub async fn tick_progress(bar: ProgressBar, ops: Arc<AtomicU64>, duration: Duration) {
    let started = Instant::now();
    let mut ticks = tokio::time::interval(PROGRESS_TICK);
    loop {
        ticks.tick().await;
        show_progress(
            &bar,
            started.elapsed(),
            duration,
            ops.load(Ordering::Relaxed),
        );
    }
}
