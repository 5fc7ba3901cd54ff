//! Turns at the write lock for the writers of several processes on one file.
//!
//! SQLite's write lock has no queue: a writer that finds it taken can only
//! sleep and try again, and a writer that keeps losing (its tries fall while
//! the lock is held, which is nearly always under load) waited seconds while
//! the others went on. So before `BEGIN IMMEDIATE` each runledger writer
//! takes an exclusive `flock` on `<file>-turn`, and lets it go after the
//! commit. A writer blocked on a `flock` is woken by the kernel as soon as
//! it is released, while the releasing writer is still answering its
//! callers, so the lock goes round the waiting processes with no idle gap
//! and no polling. SQLite's lock stays the referee: the turn only orders
//! runledger's own writers (migrations and other programs take SQLite's lock
//! directly and never wait for a turn, so waits cannot form a cycle).
//!
//! A blocking `flock` has no timeout, so the wait happens on a helper thread
//! while the writer waits at most `TURN_WAIT_MS_MAX` for it; a turn granted
//! after the writer gave up is handed straight back.

use runledger_core::Error;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Longest a writer waits for its turn: as long as SQLite's busy timeout.
const TURN_WAIT_MS_MAX: u64 = 30_000;

/// The turn file of one open ledger, shared by its writer and helper thread.
pub(crate) struct Turns {
    file: Arc<File>,
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Nobody waits.
    Idle,
    /// The writer waits; the helper is (or is about to be) blocked on `flock`.
    Wanted,
    /// The helper holds the `flock` for the writer.
    Granted,
    /// The writer stopped waiting; the helper lets go of the lock it gets.
    Abandoned,
    /// The writer is gone; the helper ends.
    Closed,
}

impl Turns {
    /// Opens (creating if needed) `<database>-turn` and starts its helper.
    /// `None` when the file cannot be created (a read-only directory): then
    /// writers rely on SQLite's busy handler alone.
    pub(crate) fn open(database: &Path) -> Option<Turns> {
        let mut path = database.as_os_str().to_owned();
        path.push("-turn");
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
        {
            Ok(file) => Arc::new(file),
            Err(error) => {
                tracing::warn!(%error, path = %Path::new(&path).display(),
                    "no turn file: writers of several processes take SQLite's lock unordered");
                return None;
            }
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State::Idle),
            changed: Condvar::new(),
        });
        let (helper_file, helper_shared) = (file.clone(), shared.clone());
        std::thread::Builder::new()
            .name("runledger-sqlite-turn".into())
            .spawn(move || wait_for_turns(&helper_file, &helper_shared))
            .ok()?;
        Some(Turns { file, shared })
    }

    /// Takes this process's turn; hold it until `release`.
    pub(crate) fn take(&self) -> Result<(), Error> {
        let mut state = self.shared.lock();
        // While the helper still waits for a turn the writer gave up, only
        // the helper may take it: a lock taken here would be the helper's
        // too (flock belongs to the open file), and it would let it go.
        if *state == State::Idle {
            match self.file.try_lock() {
                Ok(()) => return Ok(()),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(error)) => return Err(Error::storage(error)),
            }
        }
        let deadline = Instant::now() + Duration::from_millis(TURN_WAIT_MS_MAX);
        *state = State::Wanted;
        self.shared.changed.notify_all();
        loop {
            match *state {
                State::Granted => {
                    *state = State::Idle;
                    return Ok(());
                }
                State::Wanted => {}
                // The helper could not wait (it logged why).
                State::Idle | State::Abandoned | State::Closed => {
                    return Err(Error::storage("cannot wait for the write turn"));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                *state = State::Abandoned;
                return Err(Error::storage(format!(
                    "another process kept the write turn of this SQLite file for {TURN_WAIT_MS_MAX} ms"
                )));
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// Hands the turn on.
    pub(crate) fn release(&self) {
        if let Err(error) = self.file.unlock() {
            tracing::error!(%error, "cannot release the write turn");
        }
    }
}

impl Drop for Turns {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        *state = State::Closed;
        self.shared.changed.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The helper: blocks on `flock` each time the writer wants a turn.
fn wait_for_turns(file: &File, shared: &Shared) {
    let mut state = shared.lock();
    loop {
        match *state {
            State::Closed => return,
            State::Wanted => {
                drop(state);
                let locked = file.lock();
                state = shared.lock();
                match (*state, locked) {
                    (State::Wanted, Ok(())) => *state = State::Granted,
                    (_, Ok(())) => {
                        // Nobody waits for it any more.
                        let _ = file.unlock();
                        if *state == State::Abandoned {
                            *state = State::Idle;
                        }
                    }
                    (_, Err(error)) => {
                        tracing::error!(%error, "cannot wait for the write turn");
                        if *state != State::Closed {
                            *state = State::Idle;
                        }
                    }
                }
                shared.changed.notify_all();
            }
            State::Idle | State::Granted | State::Abandoned => {
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Turns;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[test]
    fn a_turn_taken_elsewhere_is_waited_for_and_handed_on() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("turns.db");
        // Two ledgers on one file exclude each other as two processes do.
        let first = Turns::open(&database).unwrap();
        let second = Arc::new(Turns::open(&database).unwrap());
        for _ in 0..3 {
            first.take().unwrap();
            let got_it = Arc::new(AtomicBool::new(false));
            let waiter = {
                let (second, got_it) = (second.clone(), got_it.clone());
                std::thread::spawn(move || {
                    second.take().unwrap();
                    got_it.store(true, Ordering::SeqCst);
                    second.release();
                })
            };
            std::thread::sleep(Duration::from_millis(50));
            assert!(!got_it.load(Ordering::SeqCst), "the turn is still taken");
            first.release();
            waiter.join().unwrap();
            assert!(got_it.load(Ordering::SeqCst));
        }
    }
}
