//! The route handlers, one file per resource.

pub mod events;
pub mod lifecycle;
pub mod runs;
pub mod system;
