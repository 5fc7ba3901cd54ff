//! The route handlers, one file per resource.

pub mod batch;
pub mod claim;
pub mod events;
pub mod lifecycle;
pub mod runs;
pub mod streams;
pub mod system;
pub mod ws;
