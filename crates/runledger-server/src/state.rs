//! What every handler and layer shares: the ledger, the cached "are tokens
//! required" answer, the rate limiter, the open streams per caller and the
//! server's settings.

use crate::auth::{AuthRequired, Caller};
use crate::problem::Problem;
use crate::rate_limit::{RATE_LIMIT_BURST_DEFAULT, RATE_LIMIT_RPS_DEFAULT, RateLimiter};
use crate::sessions::Sessions;
use crate::stream_slots::{MAX_STREAMS_PER_TOKEN_DEFAULT, StreamSlot, StreamSlots, revalidate};
use runledger::Ledger;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Weak};
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
    /// The bearer token `/metrics` needs once API tokens exist.
    pub metrics_token: Option<MetricsToken>,
    /// Open event streams per caller (token, or tokenless tenant); 0 turns
    /// the cap off.
    pub max_streams_per_token: u32,
    /// How long a client may take to send a request's head (and how long a
    /// kept-alive connection may wait for its next request), in
    /// milliseconds; 0 turns it off.
    pub header_read_timeout_ms: u64,
    /// How long a connection may move no byte either way before it is
    /// closed, in milliseconds; 0 turns it off. Live streams send
    /// keep-alives, so only a stuck or silent connection reaches it.
    pub idle_timeout_ms: u64,
}

/// The token Prometheus sends to `/metrics` (`--metrics-token`), kept as its
/// SHA-256 so neither `Debug` nor a log line can show it.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken {
    sha256: [u8; 32],
}

impl MetricsToken {
    /// The token `text`.
    pub fn new(text: &str) -> MetricsToken {
        MetricsToken {
            sha256: Sha256::digest(text.as_bytes()).into(),
        }
    }

    /// Whether `presented` is this token (compared as digests, so the time
    /// taken says nothing about the token).
    pub fn matches(&self, presented: &str) -> bool {
        MetricsToken::new(presented) == *self
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(***)")
    }
}

/// The default [`ServerConfig::stream_keep_alive_ms`]: 15 s, well inside
/// the idle timeouts of common proxies.
pub const STREAM_KEEP_ALIVE_MS_DEFAULT: u64 = 15_000;
/// The default [`ServerConfig::header_read_timeout_ms`]: 30 s.
pub const HEADER_READ_TIMEOUT_MS_DEFAULT: u64 = 30_000;
/// The default [`ServerConfig::idle_timeout_ms`]: 120 s, well above the
/// keep-alive interval of the streams.
pub const IDLE_TIMEOUT_MS_DEFAULT: u64 = 120_000;

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            rate_limit_rps: RATE_LIMIT_RPS_DEFAULT,
            rate_limit_burst: RATE_LIMIT_BURST_DEFAULT,
            stream_keep_alive_ms: STREAM_KEEP_ALIVE_MS_DEFAULT,
            cors_origins: Vec::new(),
            public_hosts: Vec::new(),
            metrics_token: None,
            max_streams_per_token: MAX_STREAMS_PER_TOKEN_DEFAULT,
            header_read_timeout_ms: HEADER_READ_TIMEOUT_MS_DEFAULT,
            idle_timeout_ms: IDLE_TIMEOUT_MS_DEFAULT,
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
    metrics_token: Option<MetricsToken>,
    stream_slots: Arc<StreamSlots>,
    header_read_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    sessions: Sessions,
}

/// A [`ServerState`] that does not keep the server alive (for its
/// background tasks).
#[derive(Clone)]
pub(crate) struct WeakServerState {
    inner: Weak<Inner>,
}

impl WeakServerState {
    /// The state, while the server holds it.
    pub(crate) fn upgrade(&self) -> Option<ServerState> {
        self.inner.upgrade().map(|inner| ServerState { inner })
    }
}

/// `Some(ms)` unless 0.
fn timeout(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
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
                metrics_token: config.metrics_token,
                stream_slots: Arc::new(StreamSlots::new(config.max_streams_per_token)),
                header_read_timeout: timeout(config.header_read_timeout_ms),
                idle_timeout: timeout(config.idle_timeout_ms),
                sessions: Sessions::new(),
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

    /// The token `/metrics` needs once API tokens exist, if one was given.
    pub(crate) fn metrics_token(&self) -> Option<&MetricsToken> {
        self.inner.metrics_token.as_ref()
    }

    /// The names allowed with `--public-host`.
    pub(crate) fn public_hosts(&self) -> &[String] {
        &self.inner.public_hosts
    }

    /// How long a client may take to send a request head, if limited.
    pub(crate) fn header_read_timeout(&self) -> Option<Duration> {
        self.inner.header_read_timeout
    }

    /// How long a connection may stay silent both ways, if limited.
    pub(crate) fn idle_timeout(&self) -> Option<Duration> {
        self.inner.idle_timeout
    }

    /// Takes a stream slot for `caller` (`429 too_many_streams` past the
    /// cap); the slot ends when the caller is revoked.
    pub(crate) fn open_stream(&self, caller: &Caller) -> Result<StreamSlot, Problem> {
        let slot = self.inner.stream_slots.open(caller)?;
        if self.inner.stream_slots.start_revalidating() {
            tokio::spawn(revalidate(WeakServerState {
                inner: Arc::downgrade(&self.inner),
            }));
        }
        Ok(slot)
    }

    /// The open streams per caller.
    pub(crate) fn stream_slots(&self) -> &StreamSlots {
        &self.inner.stream_slots
    }

    /// The dashboard's sessions.
    pub(crate) fn sessions(&self) -> &Sessions {
        &self.inner.sessions
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
