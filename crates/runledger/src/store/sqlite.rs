//! The embedded SQLite backend: one file in WAL mode with durable commits.
//!
//! In-process writes go through one writer thread (writer.rs) that commits
//! many operations per transaction (group commit, a savepoint per
//! operation, write.rs); writes from other processes on the same file
//! serialize on SQLite's write lock, taken up front with `BEGIN IMMEDIATE`
//! (turns.rs, connection.rs). Reads run on a small pool of read
//! connections and never wait for the writer. store.rs routes each
//! operation to the writer or the readers.

mod access;
mod audit;
mod batch;
mod connection;
mod error;
mod feed;
mod import;
mod migrate;
mod read;
mod reap;
mod relay;
mod rows;
mod store;
mod turns;
mod write;
mod writer;

pub(crate) use connection::SqliteOptions;
pub(crate) use store::Store;
