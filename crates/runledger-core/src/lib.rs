//! The pure core of runledger: the SPEC's nouns (run ids, tenants, kinds,
//! runs, events, leases, concurrency groups), their parsers, and the state
//! machine that decides every change of a run. No IO, no async, no SQL: the
//! storage layer reads a row, asks this crate what to do, and writes once.
//!
//! Start at [`Run`] and [`transition`].

mod error;
mod event;
mod ids;
pub mod limits;
mod operation;
pub mod requests;
mod run;
pub mod text;
mod timestamp;
pub mod transition;

pub use error::{Error, ErrorCode, StorageKind};
pub use event::{Event, EventType, LifecycleEvent};
pub use ids::{ConcurrencyKey, IdempotencyKey, Kind, Owner, RunId, Segment, Tenant};
pub use operation::Operation;
pub use run::{
    Children, ConcurrencyGroup, CreationParams, Epoch, Lease, OnFull, Outcome, Run, RunState,
    canonical_json,
};
pub use timestamp::Timestamp;
