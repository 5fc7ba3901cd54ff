//! The single writer: one OS thread owns the write connection, drains a
//! bounded queue, and commits many operations per transaction (group
//! commit). Creates without parent or concurrency group go in together, a
//! few statements for all of them ([`write::create_many`]); every other
//! operation, and any create whose set-based attempt failed, runs in its own
//! savepoint, so one failure does not fail the others. Each caller is
//! answered only after the commit that holds its operation is on disk.

use super::connection::run_cached;
use super::turns::Turns;
use super::write::{self, CreateManyFailed};
use crate::clock::MonotonicClock;
use crate::failpoints;
use crate::requests::{Created, ResolvedCreate};
use runledger_core::transition;
use runledger_core::{Error, Tenant, Timestamp};
use rusqlite::Connection;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Operations waiting for the writer; senders wait when it is full.
const WRITER_QUEUE_OPS_MAX: usize = 4_096;
/// Most operations committed in one transaction.
const WRITER_BATCH_OPS_MAX: usize = 512;
/// Longest the writer waits for callers it expects back before it starts a
/// batch (see [`gather`]): far less than a commit's `fsync`.
const WRITER_GATHER_WAIT_US_MAX: u64 = 250;

/// A write other than a create: run inside the batch, answered after the commit.
trait Operation: Send {
    /// Runs the operation; `true` when it succeeded (its savepoint is kept).
    fn run(&mut self, connection: &Connection, now: Timestamp) -> bool;
    /// Answers the caller with the operation's result, or the commit's failure.
    fn reply(self: Box<Self>, committed: Result<(), Error>);
}

struct Closure<T, F> {
    operation: Option<F>,
    outcome: Option<Result<T, Error>>,
    answer: oneshot::Sender<Result<T, Error>>,
}

impl<T, F> Operation for Closure<T, F>
where
    T: Send,
    F: FnOnce(&Connection, Timestamp) -> Result<T, Error> + Send,
{
    fn run(&mut self, connection: &Connection, now: Timestamp) -> bool {
        let operation = self.operation.take().expect("a job runs once");
        let outcome = operation(connection, now);
        // A refusal for an expired lease keeps its savepoint: the operation
        // timed the run out before refusing (SPEC §2.5, reap.rs).
        let keep = match &outcome {
            Ok(_) => true,
            Err(error) => transition::refused_for_expiry(error),
        };
        self.outcome = Some(outcome);
        keep
    }

    fn reply(self: Box<Self>, committed: Result<(), Error>) {
        let _ = self.answer.send(answer(self.outcome, committed));
    }
}

/// A create: the writer can see what it creates, so it may put it together
/// with the batch's other creates.
struct Create {
    tenant: Tenant,
    request: ResolvedCreate,
    outcome: Option<Result<Created, Error>>,
    answer: oneshot::Sender<Result<Created, Error>>,
}

/// One queued operation.
enum Job {
    Create(Box<Create>),
    Other(Box<dyn Operation>),
}

impl Job {
    /// Runs the job unless the set-based create already answered it;
    /// `true` when it succeeded (its savepoint is kept).
    fn run(&mut self, connection: &Connection, now: Timestamp) -> bool {
        match self {
            Job::Create(create) => {
                let outcome = create.outcome.get_or_insert_with(|| {
                    write::create(connection, &create.tenant, &create.request, now)
                });
                outcome.is_ok()
            }
            Job::Other(operation) => operation.run(connection, now),
        }
    }

    /// Whether the job still has to run.
    fn pending(&self) -> bool {
        match self {
            Job::Create(create) => create.outcome.is_none(),
            Job::Other(_) => true,
        }
    }

    fn reply(self, committed: Result<(), Error>) {
        match self {
            Job::Create(create) => {
                let _ = create.answer.send(answer(create.outcome, committed));
            }
            Job::Other(operation) => operation.reply(committed),
        }
    }
}

/// What a caller is told once its batch has ended.
fn answer<T>(outcome: Option<Result<T, Error>>, committed: Result<(), Error>) -> Result<T, Error> {
    // The caller may have given up waiting; its operation stands.
    match (outcome, committed) {
        // A refusal (conflict, stale lease, …) wrote nothing: it stands
        // whatever happened to the rest of the batch.
        (Some(Err(refusal)), _) => Err(refusal),
        (Some(Ok(value)), Ok(())) => Ok(value),
        (_, Err(failure)) => Err(failure),
        (None, Ok(())) => Err(Error::storage("the operation was not run")),
    }
}

/// The handle callers submit write operations through.
pub(crate) struct Writer {
    queue: mpsc::Sender<Job>,
    /// The writer thread, woken after each send while it gathers a batch.
    thread: std::thread::Thread,
}

impl Writer {
    /// Starts the writer thread on `connection`, taking `turns` (when
    /// given) around each transaction. It stops when every handle is dropped.
    pub(crate) fn spawn(connection: Connection, turns: Option<Turns>) -> Writer {
        let (queue, receiver) = mpsc::channel(WRITER_QUEUE_OPS_MAX);
        let thread = std::thread::Builder::new()
            .name("runledger-sqlite-writer".into())
            .spawn(move || run(connection, turns, receiver))
            .expect("the OS starts the writer thread")
            .thread()
            .clone();
        Writer { queue, thread }
    }

    async fn submit(&self, job: Job) -> Result<(), Error> {
        self.queue.send(job).await.map_err(|_| writer_stopped())?;
        self.thread.unpark();
        Ok(())
    }

    /// Runs `operation` in the next batch and answers after its commit.
    pub(crate) async fn write<T, F>(&self, operation: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, Timestamp) -> Result<T, Error> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job = Job::Other(Box::new(Closure {
            operation: Some(operation),
            outcome: None,
            answer,
        }));
        self.submit(job).await?;
        answered.await.map_err(|_| writer_stopped())?
    }

    /// Creates the run (or answers the existing one) in the next batch, and
    /// answers after its commit. A repeat is answered from inside the write
    /// transaction and writes nothing.
    pub(crate) async fn create(
        &self,
        tenant: Tenant,
        request: ResolvedCreate,
    ) -> Result<Created, Error> {
        let (answer, answered) = oneshot::channel();
        let job = Job::Create(Box::new(Create {
            tenant,
            request,
            outcome: None,
            answer,
        }));
        self.submit(job).await?;
        answered.await.map_err(|_| writer_stopped())?
    }
}

fn writer_stopped() -> Error {
    Error::storage("the SQLite writer stopped")
}

fn run(connection: Connection, turns: Option<Turns>, mut receiver: mpsc::Receiver<Job>) {
    let mut clock = MonotonicClock::default();
    let mut batch: Vec<Job> = Vec::with_capacity(WRITER_BATCH_OPS_MAX);
    // Callers waiting for the writer when the last batch ended: about as
    // many as will be back soon.
    let mut expected = 1;
    while let Some(first) = receiver.blocking_recv() {
        batch.push(first);
        gather(&mut receiver, &mut batch, expected);
        metrics::gauge!("runledger_writer_queue_depth").set(receiver.len() as f64);
        metrics::histogram!("runledger_writer_batch_operations").record(batch.len() as f64);
        let committed = match &turns {
            Some(turns) => turns.take().and_then(|()| {
                let committed = commit_batch(&connection, &mut batch, clock.now());
                turns.release();
                committed
            }),
            None => commit_batch(&connection, &mut batch, clock.now()),
        };
        expected = batch.len() + receiver.len();
        for job in batch.drain(..) {
            job.reply(committed.clone());
        }
    }
}

/// Fills the batch from the queue. A commit costs an `fsync` however many
/// operations it holds, and callers answered by the last commit come back
/// within microseconds: starting on the first one back would commit a few
/// now and the rest after another `fsync`, and split the callers into
/// half-batches for good. So while fewer than `expected` operations are in,
/// it waits for more, at most `WRITER_GATHER_WAIT_US_MAX` in all. With one
/// caller, `expected` is 1 and nothing waits.
fn gather(receiver: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>, expected: usize) {
    let wanted = expected.min(WRITER_BATCH_OPS_MAX);
    let mut deadline = None;
    while batch.len() < WRITER_BATCH_OPS_MAX {
        match receiver.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) if batch.len() >= wanted => break,
            Err(_) => {
                let now = Instant::now();
                let deadline = *deadline
                    .get_or_insert_with(|| now + Duration::from_micros(WRITER_GATHER_WAIT_US_MAX));
                if now >= deadline {
                    break;
                }
                // Senders unpark this thread after each send.
                std::thread::park_timeout(deadline - now);
            }
        }
    }
}

/// Runs every job of the batch in one `BEGIN IMMEDIATE` transaction.
fn commit_batch(connection: &Connection, batch: &mut [Job], now: Timestamp) -> Result<(), Error> {
    run_cached(connection, "BEGIN IMMEDIATE")?;
    let outcome = create_together(connection, batch, now)
        .and_then(|()| run_jobs(connection, batch, now))
        .and_then(|()| failpoints::hit("batch", "before_commit"))
        .and_then(|()| run_cached(connection, "COMMIT"));
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

/// Answers the batch's creates that have no parent and no group with
/// [`write::create_many`], in one savepoint. If that fails, the savepoint is
/// rolled back and those creates stay pending for [`run_jobs`], which runs
/// each in its own savepoint: a bad create then fails alone. A create of a
/// run named earlier in the batch also waits for `run_jobs`, which finds the
/// run the first one created.
fn create_together(
    connection: &Connection,
    batch: &mut [Job],
    now: Timestamp,
) -> Result<(), Error> {
    let mut named = HashSet::new();
    let together: Vec<usize> = batch
        .iter()
        .enumerate()
        .filter_map(|(index, job)| match job {
            Job::Create(create)
                if write::creates_together(&create.request)
                    && named.insert((create.tenant.as_str(), create.request.id.as_str())) =>
            {
                Some(index)
            }
            _ => None,
        })
        .collect();
    if together.is_empty() {
        return Ok(());
    }
    let requests: Vec<(&Tenant, &ResolvedCreate)> = together
        .iter()
        .map(|&index| match &batch[index] {
            Job::Create(create) => (&create.tenant, &create.request),
            Job::Other(_) => unreachable!("only creates were picked"),
        })
        .collect();
    run_cached(connection, "SAVEPOINT creates")?;
    let created = write::create_many(connection, &requests, now);
    if connection.is_autocommit() {
        // SQLite rolled the whole transaction back (disk full, I/O error).
        return Err(match created {
            Err(CreateManyFailed::All(error) | CreateManyFailed::One { error, .. }) => error,
            Ok(_) => Error::storage("the database rolled the transaction back"),
        });
    }
    let outcomes = match created {
        Ok(outcomes) => outcomes,
        Err(failed) => {
            run_cached(connection, "ROLLBACK TO creates")?;
            run_cached(connection, "RELEASE creates")?;
            match failed {
                CreateManyFailed::One { index, error } => {
                    set_outcome(&mut batch[together[index]], Err(error));
                }
                CreateManyFailed::All(error) => {
                    tracing::debug!(%error, "creates go one by one");
                }
            }
            return Ok(());
        }
    };
    run_cached(connection, "RELEASE creates")?;
    for (index, outcome) in together.into_iter().zip(outcomes) {
        set_outcome(&mut batch[index], outcome);
    }
    Ok(())
}

fn set_outcome(job: &mut Job, outcome: Result<Created, Error>) {
    match job {
        Job::Create(create) => create.outcome = Some(outcome),
        Job::Other(_) => unreachable!("only creates were picked"),
    }
}

fn run_jobs(connection: &Connection, batch: &mut [Job], now: Timestamp) -> Result<(), Error> {
    for job in batch.iter_mut().filter(|job| job.pending()) {
        run_cached(connection, "SAVEPOINT operation")?;
        let succeeded = job.run(connection, now);
        if connection.is_autocommit() {
            // SQLite rolled the whole transaction back (disk full, I/O error):
            // operations that already ran are gone, so the batch fails.
            return Err(Error::storage("the database rolled the transaction back"));
        }
        if !succeeded {
            run_cached(connection, "ROLLBACK TO operation")?;
        }
        run_cached(connection, "RELEASE operation")?;
    }
    Ok(())
}
