//! The one clock every timestamp and lease decision reads. On SQLite all
//! processes that can open a file share its host, so the host's clock is the
//! shared source; within a writer, time never runs backwards.

use runledger_core::Timestamp;
use std::time::{SystemTime, UNIX_EPOCH};

/// The host's wall clock, in whole milliseconds.
pub(crate) fn now() -> Timestamp {
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp::from_unix_ms(unix_ms)
}

/// A clock that never goes back: each reading is at least the previous one.
#[derive(Debug, Default)]
pub(crate) struct MonotonicClock {
    last: Option<Timestamp>,
}

impl MonotonicClock {
    /// The later of now and the previous reading.
    pub(crate) fn now(&mut self) -> Timestamp {
        let reading = self.last.map_or(now(), |last| last.max(now()));
        self.last = Some(reading);
        reading
    }
}
