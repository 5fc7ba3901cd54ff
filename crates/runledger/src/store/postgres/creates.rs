//! The paths a create takes on PostgreSQL (store.rs chooses):
//!
//! - without a concurrency group: batched with other plain creates, one
//!   statement per batch (plain.rs); one that also starts its run is
//!   written alone on the batch's connection (alone.rs);
//! - in a group with `on_full: reject`, `enqueue` or `replace_pending`
//!   (but for a `replace_pending` create that finds its group full, which
//!   cancels the pending run: alone): batched with other
//!   group creates (groups.rs), most of them decided and written by one
//!   statement (group_statement.rs), the rest by an unlocked read and one
//!   insert, or under every group's lock;
//! - in a group with `on_full: cancel_active`, a full `replace_pending`
//!   group, and any group create a batch
//!   sends again: one transaction under the group's lock (alone.rs).
//!
//! A batch create (`POST /v1/runs/batch`) is one transaction of its own
//! (batch.rs). Batches queue in queue.rs; the insert of rows decided in Rust is
//! insert.rs.

mod alone;
mod batch;
mod group_statement;
mod groups;
mod insert;
mod plain;
mod queue;

pub(crate) use alone::create_in_group;
pub(crate) use batch::create_batch;
pub(crate) use queue::CreateBatcher;
pub(crate) use {groups::spawn as spawn_groups, plain::spawn as spawn_plain};
