//! The linearizability checker of `tests/linearizability.rs`: a sequential
//! model of SPEC §2–3 for a few runs ([`model`]), the operations and answers
//! a history records, and a Wing–Gong search with Lowe's memoization that
//! decides whether a concurrent history could have happened one operation at
//! a time ([`checker`]).

#![allow(dead_code)] // the checker's unit tests and the server test use different parts

pub mod checker;
pub mod model;
