//! The PostgreSQL backend: any number of processes on any number of machines
//! share one database with the same guarantees as the SQLite file.
//!
//! A tour, from the top: store.rs opens the pools (connect.rs) and routes
//! each operation. Creates take one of the paths of creates/; appends are
//! batched in appends.rs; start, heartbeat, finish, cancel and reap are one
//! transaction each in changes.rs. Batches share the queue of batcher.rs
//! and the kept connection of held.rs. Every operation is a transaction at
//! READ COMMITTED; those that can change a concurrency group's active count
//! first take the group's advisory lock (locks.rs). Event positions are
//! stamped by the statements that write them or, after commit, by the
//! sequencer (positions/). Database errors are classified by SQLSTATE in
//! error.rs, which retries deadlocks and serialization failures. Queries
//! live in read.rs (what the API reads) and lookup.rs (what a write reads
//! before it decides), row mapping in rows.rs.

mod access;
mod appends;
mod audit;
mod batcher;
mod changes;
mod claim;
mod connect;
mod creates;
mod error;
mod held;
mod import;
mod locks;
mod lookup;
mod migrate;
mod positions;
mod read;
mod relay;
mod rows;
mod store;

pub(crate) use store::Store;
