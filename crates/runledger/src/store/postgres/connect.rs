//! The only place PostgreSQL is configured: the session settings every
//! connection gets, and the two pools a store opens (one for single
//! operations and the sequencer, one for the batchers).

use runledger_core::Error;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// Connections per ledger.
const POOL_CONNECTIONS_MAX: u32 = 32;
/// Connections of the batchers' own pool (one batch each of creates, group
/// creates and appends in flight, and room for a replacement).
const BATCH_POOL_CONNECTIONS_MAX: u32 = 5;
/// How long a statement may wait for a row or advisory lock.
const LOCK_TIMEOUT: &str = "10s";
/// How long one statement may run.
const STATEMENT_TIMEOUT: &str = "30s";
/// How long a connection may sit idle inside a transaction (a hung client).
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "60s";
/// How long to wait for a free connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The pools of one store.
pub(crate) struct Pools {
    /// For single operations, reads and the sequencer.
    pub(crate) pool: PgPool,
    /// For the batchers, whose statements run on cached generic plans.
    pub(crate) batch_pool: PgPool,
}

/// Connects both pools to the database at `url`.
pub(crate) async fn pools(url: &str) -> Result<Pools, Error> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|error| {
            Error::invalid(
                "db",
                format!("database URL is not a valid postgres:// URL: {error}"),
            )
        })?
        .application_name("runledger")
        .options([
            ("lock_timeout", LOCK_TIMEOUT),
            ("statement_timeout", STATEMENT_TIMEOUT),
            (
                "idle_in_transaction_session_timeout",
                IDLE_IN_TRANSACTION_TIMEOUT,
            ),
            ("synchronous_commit", "on"),
            // Short statements only: compiling one (which a plan's cost,
            // inflated by `enable_seqscan = off`, could trigger) would
            // take longer than running it many times over.
            ("jit", "off"),
        ]);
    let pool = connect(options.clone(), POOL_CONNECTIONS_MAX).await?;
    // The batchers' statements are prepared once per connection and run
    // on cached generic plans; a plan made while a table was new and
    // tiny must not scan it whole forever after (see
    // lookup::run_and_children). Named apart in `pg_stat_activity`.
    let batch_pool = connect(
        options
            .application_name("runledger-batches")
            .options([("enable_seqscan", "off")]),
        BATCH_POOL_CONNECTIONS_MAX,
    )
    .await?;
    Ok(Pools { pool, batch_pool })
}

/// A pool of at most `connections` connections made with `options`.
async fn connect(options: PgConnectOptions, connections: u32) -> Result<PgPool, Error> {
    PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A dead connection fails one call and is dropped; no ping per acquire.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(|error| Error::storage(format!("cannot connect to PostgreSQL: {error}")))
}
