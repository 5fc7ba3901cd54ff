//! `runledger bench`: the project's load generator (SPEC §5).
//!
//! [`run`] is the verb. The load goes to a [`target`] (the library
//! in-process, or a server over HTTP) from the callers of [`callers`], each
//! driving one [`workload`] plan; [`worker`] re-executes the binary for
//! `--processes`; [`stream`] drives the SSE workload with its
//! [`subscriber`]s (reading with [`sse`]); [`stats`] tallies and prints;
//! [`http_audit`] counts the race's outcome from the server's run list.

mod callers;
mod http_audit;
mod names;
mod progress;
mod run;
mod sse;
mod stats;
mod stream;
mod subscriber;
mod target;
mod worker;
mod workload;

pub use run::run;
