//! What every handler and layer shares: the ledger, the cached "are tokens
//! required" answer, the rate limiter and the server's settings.

use crate::auth::AuthRequired;
use crate::problem::Problem;
use crate::rate_limit::{RATE_LIMIT_BURST_DEFAULT, RATE_LIMIT_RPS_DEFAULT, RateLimiter};
use runledger::Ledger;
use std::sync::Arc;
use std::time::Duration;

/// The server's settings (the `runledger serve` flags that reach HTTP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Requests per second per token; 0 turns the limit off.
    pub rate_limit_rps: u32,
    /// Burst per token; 0 turns the limit off.
    pub rate_limit_burst: u32,
    /// How often an idle event stream (SSE comment, WebSocket ping) shows
    /// it is alive, in milliseconds.
    pub stream_keep_alive_ms: u64,
    /// Origins (`scheme://host[:port]`) of browser apps allowed to call the
    /// API across origins (CORS) and to change state with the cookie.
    pub cors_origins: Vec<String>,
    /// Names besides loopback that `Host` may carry while no token exists.
    pub public_hosts: Vec<String>,
}

/// The default [`ServerConfig::stream_keep_alive_ms`]: 15 s, well inside
/// the idle timeouts of common proxies.
pub const STREAM_KEEP_ALIVE_MS_DEFAULT: u64 = 15_000;

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            rate_limit_rps: RATE_LIMIT_RPS_DEFAULT,
            rate_limit_burst: RATE_LIMIT_BURST_DEFAULT,
            stream_keep_alive_ms: STREAM_KEEP_ALIVE_MS_DEFAULT,
            cors_origins: Vec::new(),
            public_hosts: Vec::new(),
        }
    }
}

/// The state behind [`crate::router`]. Cheap to clone.
#[derive(Clone)]
pub struct ServerState {
    inner: Arc<Inner>,
}

struct Inner {
    ledger: Ledger,
    auth_required: AuthRequired,
    rate_limiter: Option<RateLimiter>,
    shutdown: tokio::sync::watch::Sender<bool>,
    stream_keep_alive: Duration,
    cors_origins: Vec<String>,
    public_hosts: Vec<String>,
}

impl ServerState {
    /// A server over `ledger` with `config`.
    pub fn new(ledger: Ledger, config: ServerConfig) -> ServerState {
        ServerState {
            inner: Arc::new(Inner {
                ledger,
                auth_required: AuthRequired::default(),
                rate_limiter: RateLimiter::new(config.rate_limit_rps, config.rate_limit_burst),
                shutdown: tokio::sync::watch::Sender::new(false),
                // Zero would make the keep-alive timers spin.
                stream_keep_alive: Duration::from_millis(config.stream_keep_alive_ms.max(1)),
                cors_origins: config.cors_origins,
                public_hosts: config.public_hosts,
            }),
        }
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.inner.ledger
    }

    /// Whether API requests need a token (cached unless `fresh`; see
    /// [`AuthRequired`]).
    pub async fn auth_required(&self, fresh: bool) -> Result<bool, Problem> {
        self.inner
            .auth_required
            .get(&self.inner.ledger, fresh)
            .await
    }

    /// Completes once the server starts shutting down. Long-lived responses
    /// (the event streams) end on it, so a graceful shutdown, which waits for
    /// every response to finish, is not held open by a subscriber.
    pub fn shutdown_started(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.inner.shutdown.subscribe();
        async move {
            // An error means the state is gone: that is a shutdown too.
            let _ = receiver.wait_for(|started| *started).await;
        }
    }

    /// Tells every [`ServerState::shutdown_started`] waiter to finish.
    pub fn begin_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// How often an idle event stream shows it is alive.
    pub(crate) fn stream_keep_alive(&self) -> Duration {
        self.inner.stream_keep_alive
    }

    /// The origins allowed with `--cors-origin`.
    pub(crate) fn cors_origins(&self) -> &[String] {
        &self.inner.cors_origins
    }

    /// The names allowed with `--public-host`.
    pub(crate) fn public_hosts(&self) -> &[String] {
        &self.inner.public_hosts
    }

    /// The per-token limiter, when the limit is on.
    pub(crate) fn rate_limiter(&self) -> Option<&RateLimiter> {
        self.inner.rate_limiter.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_started_completes_after_begin_shutdown() {
        let dir = std::env::temp_dir().join(format!("rls-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("state.db").display());
        let ledger = Ledger::open(&url).await.unwrap();
        let state = ServerState::new(ledger, ServerConfig::default());
        let waiting = tokio::spawn(state.shutdown_started());
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        state.begin_shutdown();
        waiting.await.unwrap();
        // A waiter that arrives late finishes at once.
        state.shutdown_started().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
