//! The commit signal on PostgreSQL: every stamping pass that numbers events
//! sends `NOTIFY runledger_positions`; each ledger LISTENs (reconnecting
//! after a failure) and bumps its signal. Its own passes bump it directly.

use super::write::storage;
use runledger_core::{Error, Tenant};
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Row};
use std::time::Duration;
use tokio::sync::watch;

/// The channel stamping passes notify.
pub(crate) const CHANNEL: &str = "runledger_positions";
/// Wait before listening again after the connection failed.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Starts the listener; it stops when every receiver of `signal` is gone.
pub(crate) fn spawn_listener(pool: PgPool, signal: watch::Sender<u64>) {
    tokio::spawn(async move {
        while !signal.is_closed() {
            match listen(&pool, &signal).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, "the PostgreSQL commit listener failed; listening again");
                    // Anything committed meanwhile is read on the next wake-up.
                    signal.send_modify(|commits| *commits += 1);
                    tokio::time::sleep(RECONNECT_DELAY).await;
                }
            }
        }
    });
}

async fn listen(pool: &PgPool, signal: &watch::Sender<u64>) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    loop {
        tokio::select! {
            notification = listener.recv() => {
                notification?;
                signal.send_modify(|commits| *commits += 1);
            }
            () = signal.closed() => return Ok(()),
        }
    }
}

/// The newest stamped position of `tenant`'s log (0 when empty).
pub(crate) async fn last_position(pool: &PgPool, tenant: &Tenant) -> Result<u64, Error> {
    let row = sqlx::query("SELECT COALESCE(MAX(position), 0) FROM events WHERE tenant = $1")
        .bind(tenant.as_str())
        .fetch_one(pool)
        .await
        .map_err(storage)?;
    Ok(row.try_get::<i64, _>(0).map_err(storage)? as u64)
}
