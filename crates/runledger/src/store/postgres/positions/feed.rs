//! The commit signal on PostgreSQL: every stamping pass that numbers events
//! sends `NOTIFY runledger_positions`; each ledger LISTENs (reconnecting
//! after a failure) and bumps its signal. Its own passes bump it directly.
//! Plus the pages subscriptions catch up with, bounded in bytes as well as
//! in events.

use super::stamping::CHANNEL;
use crate::requests::LogPage;
use crate::store::postgres::error::storage;
use crate::store::postgres::rows;
use crate::store::schema::EVENT_ENVELOPE_BYTES;
use runledger_core::{Error, Event, Tenant};
use sqlx::postgres::PgListener;
use sqlx::{AssertSqlSafe, PgPool, Row};
use std::time::Duration;
use tokio::sync::watch;

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

/// The stamped events of `tenant`'s log that `page` names, each with its
/// size ([`EVENT_ENVELOPE_BYTES`] more than its data's). The sizes are
/// summed in the database (`octet_length` of a stored text reads its
/// header, not its value), so rows past the bound are never sent.
pub(crate) async fn event_page(
    pool: &PgPool,
    tenant: &Tenant,
    page: &LogPage,
) -> Result<Vec<(Event, usize)>, Error> {
    let (filter, order) = match page.run {
        Some(_) => (
            "tenant = $1 AND run_id = $5 AND seq > $2 AND position IS NOT NULL",
            "seq",
        ),
        None => ("tenant = $1 AND position > $2", "position"),
    };
    let sql = format!(
        "SELECT run_id, seq, position, type, data, at, size FROM ( \
           SELECT *, SUM(size) OVER (ORDER BY {order} ROWS UNBOUNDED PRECEDING) AS through FROM ( \
             SELECT run_id, seq, position, type, data, at, \
                    octet_length(data)::bigint + {EVENT_ENVELOPE_BYTES} AS size \
             FROM events WHERE {filter} ORDER BY {order} LIMIT $3 \
           ) AS next \
         ) AS sized WHERE through <= $4 OR through = size ORDER BY {order}"
    );
    let mut query = sqlx::query(AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(i64::try_from(page.after).unwrap_or(i64::MAX))
        .bind(i64::from(page.limit))
        .bind(i64::try_from(page.bytes_max).unwrap_or(i64::MAX));
    if let Some(run) = &page.run {
        query = query.bind(run.as_str());
    }
    let found = query.fetch_all(pool).await.map_err(storage)?;
    found
        .iter()
        .map(|row| {
            let size: i64 = row.try_get(6).map_err(storage)?;
            Ok((
                rows::event(row)?,
                usize::try_from(size).unwrap_or(usize::MAX),
            ))
        })
        .collect()
}
