//! What every handler and layer shares: the ledger, the cached "are tokens
//! required" answer, the rate limiter and the server's settings.

use crate::auth::AuthRequired;
use crate::problem::Problem;
use crate::rate_limit::{RATE_LIMIT_BURST_DEFAULT, RATE_LIMIT_RPS_DEFAULT, RateLimiter};
use runledger::Ledger;
use std::sync::Arc;

/// The server's settings (the `runledger serve` flags that reach HTTP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Requests per second per token; 0 turns the limit off.
    pub rate_limit_rps: u32,
    /// Burst per token; 0 turns the limit off.
    pub rate_limit_burst: u32,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            rate_limit_rps: RATE_LIMIT_RPS_DEFAULT,
            rate_limit_burst: RATE_LIMIT_BURST_DEFAULT,
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
}

impl ServerState {
    /// A server over `ledger` with `config`.
    pub fn new(ledger: Ledger, config: ServerConfig) -> ServerState {
        ServerState {
            inner: Arc::new(Inner {
                ledger,
                auth_required: AuthRequired::default(),
                rate_limiter: RateLimiter::new(config.rate_limit_rps, config.rate_limit_burst),
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

    /// The per-token limiter, when the limit is on.
    pub(crate) fn rate_limiter(&self) -> Option<&RateLimiter> {
        self.inner.rate_limiter.as_ref()
    }
}
