//! The queue of creates waiting for a batch: one per batcher, plain
//! creates' (plain.rs) and group creates' (groups.rs) alike.

use crate::requests::{Created, ResolvedCreate};
use crate::store::postgres::batcher::{spawn_batches, submit};
use crate::store::postgres::held::Held;
use crate::store::postgres::positions::Sequencer;
use runledger_core::{ConcurrencyGroup, Error, Tenant};
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// One caller's create, waiting for its batch.
pub(super) struct Pending {
    pub(super) tenant: Tenant,
    pub(super) request: ResolvedCreate,
    pub(super) answer: oneshot::Sender<Result<Created, Error>>,
}

impl Pending {
    /// The `(tenant, id)` the create names.
    pub(super) fn key(&self) -> (&str, &str) {
        (self.tenant.as_str(), self.request.id.as_str())
    }

    /// The group of a create queued for a group batch.
    pub(super) fn group(&self) -> &ConcurrencyGroup {
        self.request
            .params
            .concurrency
            .as_ref()
            .expect("only creates in a group are queued for a group batch")
    }
}

/// Answers every create of `batch` with `error`.
pub(super) fn answer_all(batch: Vec<Pending>, error: &Error) {
    for pending in batch {
        let _ = pending.answer.send(Err(error.clone()));
    }
}

/// A queue of creates waiting to be written, and the task that writes them;
/// dropped with the store, which ends its task once the queue is empty.
pub(crate) struct CreateBatcher {
    queue: mpsc::Sender<Pending>,
}

impl CreateBatcher {
    /// A batcher whose batches `write` writes, `in_flight` at once (see
    /// [`spawn_batches`]).
    pub(super) fn writing_with<F, Fut>(
        pool: PgPool,
        sequencer: Arc<Sequencer>,
        in_flight: usize,
        write: F,
    ) -> CreateBatcher
    where
        F: Fn(PgPool, Held, Arc<Sequencer>, Vec<Pending>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        CreateBatcher {
            queue: spawn_batches(pool, sequencer, in_flight, write),
        }
    }

    /// Creates the run of `request` in the next batch, or answers why not.
    pub(crate) async fn create(
        &self,
        tenant: &Tenant,
        request: &ResolvedCreate,
    ) -> Result<Created, Error> {
        let pending = |answer| Pending {
            tenant: tenant.clone(),
            request: request.clone(),
            answer,
        };
        submit(&self.queue, pending, "the create").await
    }
}
