//! The single writer: one OS thread owns the write connection, drains a
//! bounded queue, and commits many operations per transaction (group
//! commit). Each operation runs in its own savepoint, so one failure does not
//! fail the others; each caller is answered only after the commit that holds
//! its operation is on disk.

use crate::clock::MonotonicClock;
use crate::failpoints;
use runledger_core::{Error, Timestamp};
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

/// Operations waiting for the writer; senders wait when it is full.
const WRITER_QUEUE_OPS_MAX: usize = 4_096;
/// Most operations committed in one transaction.
const WRITER_BATCH_OPS_MAX: usize = 512;

/// One queued operation: run it inside the batch, answer after the commit.
trait Job: Send {
    /// Runs the operation; `true` when it succeeded (its savepoint is kept).
    fn run(&mut self, connection: &Connection, now: Timestamp) -> bool;
    /// Answers the caller with the operation's result, or the commit's failure.
    fn reply(self: Box<Self>, committed: Result<(), Error>);
}

struct Operation<T, F> {
    operation: Option<F>,
    outcome: Option<Result<T, Error>>,
    answer: oneshot::Sender<Result<T, Error>>,
}

impl<T, F> Job for Operation<T, F>
where
    T: Send,
    F: FnOnce(&Connection, Timestamp) -> Result<T, Error> + Send,
{
    fn run(&mut self, connection: &Connection, now: Timestamp) -> bool {
        let operation = self.operation.take().expect("a job runs once");
        let outcome = operation(connection, now);
        let succeeded = outcome.is_ok();
        self.outcome = Some(outcome);
        succeeded
    }

    fn reply(self: Box<Self>, committed: Result<(), Error>) {
        let answer = match (self.outcome, committed) {
            // A refusal (conflict, stale lease, …) wrote nothing: it stands
            // whatever happened to the rest of the batch.
            (Some(Err(refusal)), _) => Err(refusal),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(failure)) => Err(failure),
            (None, Ok(())) => Err(Error::storage("the operation was not run")),
        };
        // The caller may have given up waiting; its operation stands.
        let _ = self.answer.send(answer);
    }
}

/// The handle callers submit write operations through.
pub(crate) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `connection`. It stops when every handle is dropped.
    pub(crate) fn spawn(connection: Connection) -> Writer {
        let (queue, receiver) = mpsc::channel(WRITER_QUEUE_OPS_MAX);
        std::thread::Builder::new()
            .name("runledger-sqlite-writer".into())
            .spawn(move || run(connection, receiver))
            .expect("the OS starts the writer thread");
        Writer { queue }
    }

    /// Runs `operation` in the next batch and answers after its commit.
    pub(crate) async fn write<T, F>(&self, operation: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, Timestamp) -> Result<T, Error> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job = Box::new(Operation {
            operation: Some(operation),
            outcome: None,
            answer,
        });
        self.queue.send(job).await.map_err(|_| writer_stopped())?;
        answered.await.map_err(|_| writer_stopped())?
    }
}

fn writer_stopped() -> Error {
    Error::storage("the SQLite writer stopped")
}

fn run(connection: Connection, mut receiver: mpsc::Receiver<Box<dyn Job>>) {
    let mut clock = MonotonicClock::default();
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(WRITER_BATCH_OPS_MAX);
    while let Some(first) = receiver.blocking_recv() {
        batch.push(first);
        while batch.len() < WRITER_BATCH_OPS_MAX {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        metrics::gauge!("runledger_writer_queue_depth").set(receiver.len() as f64);
        metrics::histogram!("runledger_writer_batch_operations").record(batch.len() as f64);
        let committed = commit_batch(&connection, &mut batch, clock.now());
        for job in batch.drain(..) {
            job.reply(committed.clone());
        }
    }
}

/// Runs every job of the batch in one `BEGIN IMMEDIATE` transaction.
fn commit_batch(
    connection: &Connection,
    batch: &mut [Box<dyn Job>],
    now: Timestamp,
) -> Result<(), Error> {
    connection
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(Error::storage)?;
    let outcome = run_jobs(connection, batch, now)
        .and_then(|()| failpoints::hit("batch", "before_commit"))
        .and_then(|()| connection.execute_batch("COMMIT").map_err(Error::storage));
    if let Err(failure) = outcome {
        if !connection.is_autocommit() {
            // The transaction is still open: discard all of it.
            let _ = connection.execute_batch("ROLLBACK");
        }
        tracing::error!(%failure, operations = batch.len(), "a write batch was rolled back");
        return Err(failure);
    }
    failpoints::hit("batch", "after_commit")
}

fn run_jobs(
    connection: &Connection,
    batch: &mut [Box<dyn Job>],
    now: Timestamp,
) -> Result<(), Error> {
    for job in batch.iter_mut() {
        connection
            .execute_batch("SAVEPOINT operation")
            .map_err(Error::storage)?;
        let end = if job.run(connection, now) {
            "RELEASE operation"
        } else {
            "ROLLBACK TO operation; RELEASE operation"
        };
        if connection.is_autocommit() {
            // SQLite rolled the whole transaction back (disk full, I/O error):
            // operations that already ran are gone, so the batch fails.
            return Err(Error::storage("the database rolled the transaction back"));
        }
        connection.execute_batch(end).map_err(Error::storage)?;
    }
    Ok(())
}
