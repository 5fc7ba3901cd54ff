//! The per-token rate limit (SPEC §4 "Limits"): a token bucket per API
//! token, `rate_limit_rps` refilled per second up to `rate_limit_burst`.
//! Only authenticated tokens are keys, so the map holds at most one entry
//! per real token.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::num::NonZeroU32;

/// Requests per second per token by default.
pub const RATE_LIMIT_RPS_DEFAULT: u32 = 1_000;
/// Burst per token by default.
pub const RATE_LIMIT_BURST_DEFAULT: u32 = 2_000;

/// Token buckets keyed by API token.
pub struct RateLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl RateLimiter {
    /// A limiter of `rps` per second with bursts of `burst`; `None` when
    /// either is 0 (the limit is off).
    pub fn new(rps: u32, burst: u32) -> Option<RateLimiter> {
        let quota = Quota::per_second(NonZeroU32::new(rps)?).allow_burst(NonZeroU32::new(burst)?);
        Some(RateLimiter {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        })
    }

    /// Takes one request from `token`'s bucket, or answers how many whole
    /// seconds to wait (at least 1) for the next one.
    pub fn check(&self, token: &str) -> Result<(), u64> {
        self.limiter
            .check_key(&token.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.clock.now());
                (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gets_its_burst_then_waits_and_zero_turns_it_off() {
        let limiter = RateLimiter::new(1, 3).unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.check("a"), Ok(()));
        }
        let wait = limiter.check("a").unwrap_err();
        assert!((1..=2).contains(&wait), "{wait}");
        assert_eq!(limiter.check("b"), Ok(()), "buckets are per token");
        assert!(RateLimiter::new(0, 10).is_none());
        assert!(RateLimiter::new(10, 0).is_none());
    }
}
