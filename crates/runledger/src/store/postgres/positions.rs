//! Tenant positions on PostgreSQL: gap-free and in commit order. Writers
//! that can stamp their own events do, with the CTEs of stamping.rs; the
//! others leave them to the sequencer (sequencer.rs), which stamps after
//! commit. feed.rs tells every ledger when positions were stamped and reads
//! the pages subscriptions catch up with.

mod feed;
mod sequencer;
mod stamping;

pub(crate) use feed::{event_page, last_position, spawn_listener};
pub(crate) use sequencer::{Sequencer, announce, lock_positions, number_pending, stamp};
pub(crate) use stamping::{CHANNEL, counter_cte, created_events_ctes};
