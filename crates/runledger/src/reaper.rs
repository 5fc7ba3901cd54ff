//! Lease expiry. Every process that opens a ledger runs a reaper; any may
//! reap. The change is conditional on the version read under the write lock,
//! so each expiry is reaped exactly once however many reapers race. The
//! reaper also deletes expired idempotency keys, every
//! [`IDEMPOTENCY_PURGE_INTERVAL`].

use crate::ledger::Inner;
use runledger_core::limits::IDEMPOTENCY_KEY_KEPT_MS;
use std::sync::Weak;
use std::time::{Duration, Instant};

/// How often a reaper deletes idempotency keys past their keeping window.
pub const IDEMPOTENCY_PURGE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Starts the reaper; it ends when the ledger is dropped.
pub(crate) fn spawn(ledger: Weak<Inner>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_purge = Instant::now();
        loop {
            ticks.tick().await;
            let Some(inner) = ledger.upgrade() else {
                return;
            };
            if Instant::now() >= next_purge {
                next_purge = Instant::now() + IDEMPOTENCY_PURGE_INTERVAL;
                match inner.store.idempotency_purge(IDEMPOTENCY_KEY_KEPT_MS).await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "deleted expired idempotency keys"),
                    Err(error) => {
                        tracing::warn!(%error, "the reaper could not delete expired idempotency keys")
                    }
                }
            }
            // A cheap read first: an idle ledger never takes the write lock.
            match inner.store.has_expired_leases().await {
                Ok(false) => continue,
                Ok(true) => {}
                Err(error) => {
                    tracing::warn!(%error, "the reaper could not look for expired leases");
                    continue;
                }
            }
            match inner.store.reap().await {
                Ok(0) => {}
                Ok(reaped) => {
                    metrics::counter!("runledger_reaped_leases_total").increment(reaped);
                    tracing::info!(reaped, "timed out runs whose lease expired");
                }
                Err(error) => tracing::warn!(%error, "the reaper could not reap"),
            }
        }
    })
}
