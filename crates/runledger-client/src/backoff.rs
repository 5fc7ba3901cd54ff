//! Reconnect delays: exponential from [`BACKOFF_BASE`] to [`BACKOFF_MAX`],
//! with "equal jitter" (half fixed, half random), so many clients cut off
//! by one server restart do not all come back in the same millisecond.

use std::time::Duration;

/// The delay before the first reconnect attempt (before jitter).
pub const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// The longest delay between two attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The delay before reconnect attempt `attempt` (0 for the first).
pub(crate) fn delay(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(BACKOFF_MAX);
    let half = ceiling / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    let random = getrandom::u64().unwrap_or(0);
    half + Duration::from_millis(random % jitter_ms.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_stay_in_their_band() {
        for attempt in 0..40 {
            let ceiling = (BACKOFF_BASE * 2u32.pow(attempt.min(16))).min(BACKOFF_MAX);
            for _ in 0..20 {
                let delay = delay(attempt);
                assert!(delay >= ceiling / 2, "{attempt}: {delay:?}");
                assert!(delay <= ceiling, "{attempt}: {delay:?}");
            }
        }
    }
}
