//! Open event streams per caller (SPEC §4 "Limits" and "Auth"): a caller —
//! an API token, or the tokenless caller of a tenant while no token exists —
//! may hold at most `--max-streams-per-token` streams at once (`429
//! too_many_streams` past it; 0 turns the cap off). An SSE response counts
//! one, a WebSocket connection one, and each subscription on it one more: a
//! connection with no subscription still holds a socket, and each
//! subscription holds its own catch-up page.
//!
//! Every [`STREAM_REVALIDATE_INTERVAL`] one task per server asks the
//! database whether each caller with open streams is still valid — its
//! token still resolves; for the tokenless caller, still no token exists —
//! and revokes the streams of one that is not, so a revoked token's streams
//! close within a second. A database error revokes nothing (a blip must
//! not cut every stream).

use crate::auth::Caller;
use crate::problem::Problem;
use crate::state::WeakServerState;
use runledger::ErrorCode;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Open streams per caller by default.
pub const MAX_STREAMS_PER_TOKEN_DEFAULT: u32 = 100;
/// How often the callers of open streams are checked against the database.
pub const STREAM_REVALIDATE_INTERVAL: Duration = Duration::from_millis(500);

/// The open streams of every caller.
pub(crate) struct StreamSlots {
    /// Streams per caller; 0: no cap.
    max: u32,
    callers: Mutex<Callers>,
    revalidating: AtomicBool,
}

#[derive(Default)]
struct Callers {
    by_caller: HashMap<Caller, Holder>,
    /// Tells a holder from an earlier one of the same caller.
    next_generation: u64,
}

/// One caller's open streams.
struct Holder {
    open: u32,
    generation: u64,
    /// Set to `true` when the caller is revoked.
    revoked: watch::Sender<bool>,
}

/// One open stream of a caller; dropping it frees the slot.
pub(crate) struct StreamSlot {
    slots: Arc<StreamSlots>,
    caller: Caller,
    generation: u64,
    revoked: watch::Receiver<bool>,
}

impl StreamSlots {
    /// Slots for at most `max` streams per caller (0: no cap).
    pub(crate) fn new(max: u32) -> StreamSlots {
        StreamSlots {
            max,
            callers: Mutex::new(Callers::default()),
            revalidating: AtomicBool::new(false),
        }
    }

    /// Takes a slot for `caller`, or `429 too_many_streams`.
    pub(crate) fn open(self: &Arc<StreamSlots>, caller: &Caller) -> Result<StreamSlot, Problem> {
        let mut callers = self.lock();
        let Callers {
            by_caller,
            next_generation,
        } = &mut *callers;
        let holder = by_caller.entry(caller.clone()).or_insert_with(|| {
            *next_generation += 1;
            Holder {
                open: 0,
                generation: *next_generation,
                revoked: watch::Sender::new(false),
            }
        });
        if self.max != 0 && holder.open >= self.max {
            return Err(Problem::too_many_streams(self.max));
        }
        holder.open += 1;
        metrics::gauge!(crate::http_metrics::OPEN_STREAMS).increment(1.0);
        Ok(StreamSlot {
            slots: Arc::clone(self),
            caller: caller.clone(),
            generation: holder.generation,
            revoked: holder.revoked.subscribe(),
        })
    }

    /// Whether the revalidation task still has to be started (true once).
    pub(crate) fn start_revalidating(&self) -> bool {
        !self.revalidating.swap(true, Ordering::AcqRel)
    }

    /// The callers holding open streams.
    fn callers(&self) -> Vec<Caller> {
        self.lock().by_caller.keys().cloned().collect()
    }

    /// Ends every open stream of `caller`.
    fn revoke(&self, caller: &Caller) {
        if let Some(holder) = self.lock().by_caller.remove(caller) {
            holder.revoked.send_replace(true);
        }
    }

    fn release(&self, caller: &Caller, generation: u64) {
        let mut callers = self.lock();
        let Some(holder) = callers.by_caller.get_mut(caller) else {
            return; // revoked meanwhile
        };
        if holder.generation != generation {
            return;
        }
        holder.open -= 1;
        if holder.open == 0 {
            callers.by_caller.remove(caller);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Callers> {
        self.callers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl StreamSlot {
    /// Another slot for the same caller (a WebSocket subscription), or `429
    /// too_many_streams`.
    pub(crate) fn another(&self) -> Result<StreamSlot, Problem> {
        if self.is_revoked() {
            return Err(Problem::new(
                ErrorCode::Unauthorized,
                "the token of this connection is no longer valid",
            ));
        }
        self.slots.open(&self.caller)
    }

    /// Whether the caller has been revoked.
    pub(crate) fn is_revoked(&self) -> bool {
        *self.revoked.borrow()
    }

    /// Completes when the caller is revoked (never, while it stays valid).
    pub(crate) fn revoked(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut revoked = self.revoked.clone();
        async move {
            // The sender also goes away when the caller's last slot is
            // released (a stream that simply ended): that is no revocation,
            // and must not close the connection the stream was answered on
            // (a kept-alive connection serves the client's next request).
            if revoked.wait_for(|revoked| *revoked).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        metrics::gauge!(crate::http_metrics::OPEN_STREAMS).decrement(1.0);
        self.slots.release(&self.caller, self.generation);
    }
}

/// The revalidation task: runs until the server state is gone.
pub(crate) async fn revalidate(state: WeakServerState) {
    loop {
        tokio::time::sleep(STREAM_REVALIDATE_INTERVAL).await;
        let Some(state) = state.upgrade() else {
            return;
        };
        for caller in state.stream_slots().callers() {
            let valid = match &caller {
                Caller::Token(token) => state
                    .ledger()
                    .authenticate(token)
                    .await
                    .map(|tenant| tenant.is_some())
                    .map_err(|error| error.to_string()),
                Caller::Tokenless(_) => state
                    .auth_required(true)
                    .await
                    .map(|required| !required)
                    .map_err(|problem| problem.body().detail.clone()),
            };
            match valid {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!("closing the event streams of a caller that is no longer valid");
                    state.stream_slots().revoke(&caller);
                }
                Err(error) => {
                    tracing::warn!(%error, "could not check the callers of open streams");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runledger::Tenant;

    #[tokio::test]
    async fn slots_are_capped_per_caller_freed_on_drop_and_revoked_together() {
        let slots = Arc::new(StreamSlots::new(2));
        let (a, b) = (
            Caller::Token("a".into()),
            Caller::Tokenless(Tenant::default()),
        );
        let first = slots.open(&a).unwrap();
        let second = first.another().unwrap();
        let refused = slots.open(&a).err().expect("the third is refused");
        assert_eq!(refused.body().limit, Some(2));
        let other = slots.open(&b).unwrap();
        drop(second);
        let third = slots.open(&a).unwrap();
        let revoked = tokio::spawn(first.revoked());
        slots.revoke(&a);
        revoked.await.unwrap();
        assert!(first.is_revoked() && third.is_revoked() && !other.is_revoked());
        drop((first, third));
        assert_eq!(slots.callers(), vec![b.clone()]);
        drop(other);
        assert!(slots.callers().is_empty());
        let uncapped = Arc::new(StreamSlots::new(0));
        let many: Vec<_> = (0..1_000).map(|_| uncapped.open(&a).unwrap()).collect();
        assert_eq!(many.len(), 1_000);
    }
}
