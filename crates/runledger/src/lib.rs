//! Run records whose guarantees the database enforces. Start at [`Ledger`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), runledger::Error> {
//! use runledger::{CreateRun, Kind, Ledger, Tenant};
//! let ledger = Ledger::open("sqlite://runledger.db").await?;
//! let created = ledger
//!     .create_run(&Tenant::default(), CreateRun::new(Kind::parse("nightly-etl")?))
//!     .await?;
//! println!("{} is {}", created.run.id, created.run.state);
//! # Ok(()) }
//! ```

mod access;
mod audit;
mod batch;
mod clock;
pub mod counters;
mod failpoints;
mod fanout;
mod import;
mod ledger;
mod ledger_access;
mod reaper;
mod redact;
pub mod relay;
mod requests;
mod store;
mod subscribe;

pub use access::{
    IdempotencyBegin, IdempotencyMark, NewToken, TokenInfo, check_token_id, planned_run_id,
};
pub use audit::{Audit, Problem, ProblemKind};
pub use batch::{BatchAnswers, BatchRefused};
pub use import::ImportRun;
pub use ledger::{Ledger, Options};
pub use reaper::IDEMPOTENCY_PURGE_INTERVAL;
pub use redact::redact_db_url;
pub use requests::{Appended, Created, RunPage};
pub use runledger_core::requests::{
    AppendEvent, Cancel, ClaimBody, ClaimRun, ConcurrencyRequest, CreateBatch, CreateRun, Finish,
    Heartbeat, KindFilter, ListRuns, StartLease, StartRun,
};
pub use runledger_core::{
    Children, ConcurrencyGroup, ConcurrencyKey, Epoch, Error, ErrorCode, Event, EventType,
    IdempotencyKey, Kind, Lease, OnFull, Operation, Outcome, Owner, Run, RunId, RunState, Segment,
    StorageKind, Tenant, Timestamp, canonical_json, limits,
};
pub use subscribe::{
    CATCH_UP_PAGE_BYTES_MAX, FEED_BUFFER_BYTES_MAX, SUBSCRIBER_BUFFER_EVENTS_MAX, Subscription,
};
