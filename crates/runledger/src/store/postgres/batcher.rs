//! The queue every batcher of this backend shares (plain creates, creates
//! in groups, appends): callers queue their item and wait for its answer; a
//! task takes whatever queued as one batch whenever one of its in-flight
//! slots is free, and hands it to the batcher's writer with the batcher's
//! kept connection (held.rs). Nothing is waited for to fill a batch: a
//! batch is whatever queued while the previous ones were in flight, so a
//! lone caller is written at once.

use super::held::Held;
use super::positions::Sequencer;
use runledger_core::Error;
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Most creates (or appends) written by one statement.
pub(super) const BATCH_ITEMS_MAX: usize = 256;
/// Creates (or appends) waiting for a batch before callers wait to queue.
const QUEUE_ITEMS_MAX: usize = 4096;

/// Queues one caller's item, built around the channel of its answer, and
/// waits for the answer. `what` names the operation in errors.
pub(super) async fn submit<T, R>(
    queue: &mpsc::Sender<T>,
    item: impl FnOnce(oneshot::Sender<Result<R, Error>>) -> T,
    what: &str,
) -> Result<R, Error> {
    let (answer, answered) = oneshot::channel();
    queue
        .send(item(answer))
        .await
        .map_err(|_| Error::storage("the ledger is closing"))?;
    answered.await.map_err(|_| {
        Error::storage(format!(
            "{what} was abandoned in its batch; whether it was written is unknown"
        ))
    })?
}

/// Starts a batcher's task on `pool`: whatever queued is taken as one batch
/// whenever one of `in_flight` slots is free and written by `write` (given
/// the pool, the batcher's kept connection and `sequencer`). Answers the
/// queue; the task ends once it is dropped and empty.
pub(super) fn spawn_batches<T, F, Fut>(
    pool: PgPool,
    sequencer: Arc<Sequencer>,
    in_flight: usize,
    write: F,
) -> mpsc::Sender<T>
where
    T: Send + 'static,
    F: Fn(PgPool, Held, Arc<Sequencer>, Vec<T>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (queue, waiting) = mpsc::channel(QUEUE_ITEMS_MAX);
    let held = Held::default();
    tokio::spawn(write_batches(
        pool,
        waiting,
        in_flight,
        move |pool, batch| write(pool, held.clone(), sequencer.clone(), batch),
    ));
    queue
}

/// Takes whatever queued as one batch whenever one of `in_flight` slots is
/// free, and writes it with `write`.
async fn write_batches<T, F, Fut>(
    pool: PgPool,
    mut waiting: mpsc::Receiver<T>,
    in_flight: usize,
    write: F,
) where
    T: Send + 'static,
    F: Fn(PgPool, Vec<T>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(in_flight));
    while let Some(first) = waiting.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < BATCH_ITEMS_MAX {
            match waiting.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let written = write(pool.clone(), batch);
        tokio::spawn(async move {
            written.await;
            drop(slot);
        });
    }
}
