//! The storage boundary. One enum, one arm per backend (dispatch.rs): the
//! ledger calls the same methods whatever the database, and each backend
//! keeps its SQL to itself. What both backends must agree on (the columns
//! they read, the audit's checks) is written once, in schema.rs.

mod dispatch;
mod postgres;
mod schema;
mod sqlite;

pub(crate) use dispatch::{SqliteOptions, Store};
