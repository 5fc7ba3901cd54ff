//! The connection a batcher keeps from one batch to the next.
//!
//! Giving a connection back to the pool costs a round trip: sqlx pings
//! every connection it takes back, and a batcher writes batch after batch
//! without pause. A batch therefore borrows its batcher's connection as a
//! [`Lease`] and hands it on to the next batch only when it ran clean;
//! after any storage error it goes back to the pool, whose ping tests it,
//! and the next batch takes one from the pool.
//!
//! A batch must end every transaction it begins before it keeps the
//! connection: a dropped sqlx transaction only *queues* its `ROLLBACK`,
//! sent when the connection is next used, so a kept connection would sit
//! idle holding the transaction's locks (in the pool, the ping sends it).

use super::error::storage;
use runledger_core::Error;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// A batcher's kept connection, if it has one.
#[derive(Clone, Default)]
pub(super) struct Held(Arc<Mutex<Option<PoolConnection<Postgres>>>>);

impl Held {
    /// The kept connection, or a new one from `pool`.
    pub(super) async fn take(&self, pool: &PgPool) -> Result<Lease, Error> {
        let kept = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let connection = match kept {
            Some(connection) => connection,
            None => pool.acquire().await.map_err(storage)?,
        };
        Ok(Lease {
            connection: Some(connection),
            held: self.clone(),
            clean: AtomicBool::new(true),
        })
    }
}

/// One batch's use of its batcher's connection. Dropped without
/// [`Lease::keep`], or after answering a storage error, the connection goes
/// back to the pool.
pub(super) struct Lease {
    connection: Option<PoolConnection<Postgres>>,
    held: Held,
    clean: AtomicBool,
}

impl Lease {
    /// Sends `answer` to a caller, noting a storage error (which may have
    /// left the connection broken).
    pub(super) fn answer<R>(
        &self,
        to: oneshot::Sender<Result<R, Error>>,
        answer: Result<R, Error>,
    ) {
        if let Err(Error::Storage { .. }) = &answer {
            self.clean.store(false, Ordering::Relaxed);
        }
        let _ = to.send(answer);
    }

    /// Hands the connection on to the batcher's next batch, unless a storage
    /// error was answered on it.
    pub(super) fn keep(mut self) {
        if self.clean.load(Ordering::Relaxed) {
            *self
                .held
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = self.connection.take();
        }
    }
}

impl Deref for Lease {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.connection
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.connection
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }
}
