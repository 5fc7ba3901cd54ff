//! The requests of SPEC §4, one type per operation, shared by every crate
//! that speaks them: the library takes them, the Rust client serializes
//! them as the server's bodies and queries, the CLI builds them from its
//! flags. Fields are the core's parsed types, so a request that exists
//! holds no malformed id; `check()` applies the rules a single field's
//! parser cannot (ranges, sizes). Header-borne fields (`If-Match`,
//! `Idempotency-Key`) are never serialized.

mod changes;
mod create;
mod lease;
mod list;

pub use changes::{AppendEvent, Cancel, Finish, Heartbeat, check_error_text};
pub use create::{ConcurrencyRequest, CreateBatch, CreateRun};
pub use lease::{ClaimBody, ClaimRun, KindFilter, StartLease, StartRun, check_lease_ttl_ms};
pub use list::{ListRuns, page_limit};

#[cfg(test)]
mod tests;
