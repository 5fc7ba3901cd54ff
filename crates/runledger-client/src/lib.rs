//! Typed async client of the runledger HTTP API (SPEC §4).
//!
//! [`Client`] has one method per route, taking the core's request types
//! (re-exported in [`requests`]; built from parsed ids, so a malformed id
//! cannot be sent) and answering the core's [`Run`] and [`Event`] or the small
//! answer types of [`answers`]. A refusal is [`ClientError::Problem`] with
//! the server's stable [`ErrorCode`]; a server that cannot be reached is
//! [`ClientError::Unreachable`].
//!
//! Live events: [`Client::subscribe_run`] and [`Client::subscribe_tenant`]
//! return [`Subscription`] streams that all share the client's one
//! WebSocket. It reconnects with jittered back-off and resumes each
//! subscription from the last event it delivered, so no event is ever
//! delivered twice or skipped.
//!
//! ```no_run
//! # async fn example() -> Result<(), runledger_client::ClientError> {
//! use runledger_client::{CallOptions, Client, CreateRun};
//! use runledger_core::Kind;
//!
//! let client = Client::new("http://127.0.0.1:7878", std::env::var("RUNLEDGER_TOKEN").ok())?;
//! let kind = Kind::parse("etl").expect("a valid kind");
//! let created = client.create_run(&CreateRun::new(kind), &CallOptions::NONE).await?;
//! let mut events = client.subscribe_run(&created.run.id, 0).await;
//! while let Some(event) = events.next().await {
//!     println!("{:?}", event?);
//! }
//! # Ok(()) }
//! ```

pub mod answers;
mod backoff;
mod batch;
mod client;
mod error;
mod protocol;
pub mod requests;
mod socket;
mod subscription;
mod transport;

pub use answers::{Appended, Created, EventPage, Health, RunPage};
pub use backoff::{BACKOFF_BASE, BACKOFF_MAX};
pub use batch::{BATCH_RUNS_MAX, BatchItem};
pub use client::Client;
pub use error::{ClientError, error_code};
pub use requests::{
    AppendEvent, CallOptions, Cancel, ClaimRun, ConcurrencyRequest, CreateBatch, CreateRun, Finish,
    Heartbeat, ListRuns, StartLease, StartRun,
};
pub use runledger_core::{ErrorCode, Event, Run, RunId};
pub use socket::SUBSCRIPTION_BUFFER_EVENTS_MAX;
pub use subscription::{Subscription, Topic};
pub use transport::{CONNECT_TIMEOUT, REQUEST_TIMEOUT};
