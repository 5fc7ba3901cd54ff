//! The names a bench uses (every one starts with the bench's tag) and the
//! small seeded generator its callers choose with.

use runledger::{ConcurrencyKey, Error, RunId};
use std::time::Duration;

/// `count` run ids `<tag>-<letter><n>`.
pub(super) fn run_ids(tag: &str, letter: &str, count: usize) -> Result<Vec<RunId>, Error> {
    (0..count)
        .map(|n| RunId::parse(&format!("{tag}-{letter}{n}")))
        .collect()
}

/// `count` concurrency keys `<tag>-g<n>`.
pub(super) fn group_keys(tag: &str, count: usize) -> Result<Vec<ConcurrencyKey>, Error> {
    (0..count)
        .map(|n| ConcurrencyKey::parse(&format!("{tag}-g{n}")))
        .collect()
}

/// A fresh tag for one bench: time-based, so benches on one file never share names.
pub fn new_tag() -> String {
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis();
    format!("b{unix_ms:x}{:x}", std::process::id())
}

/// FNV-1a: a stable hash of the tag, for per-caller seeds.
pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// SplitMix64: a small, fast, seedable generator; the bench needs no
/// cryptographic randomness, only different choices per caller.
pub(super) struct Random(u64);

impl Random {
    pub(super) fn new(seed: u64) -> Random {
        Random(seed)
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    /// A number in `0..bound`; `bound` must be positive.
    pub(super) fn below(&mut self, bound: usize) -> usize {
        assert!(bound > 0, "a random choice needs at least one option");
        (self.next() % bound as u64) as usize
    }
}
