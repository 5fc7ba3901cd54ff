//! `runledger runs …`: the HTTP client verbs of SPEC §5, built on the
//! `runledger-client` crate. `args` is the command line, `exec` the verbs,
//! `batch` `create --from-file`, `follow` the live `--follow`, `render` the tables and lines.

pub mod args;
mod batch;
mod exec;
mod follow;
mod render;

pub use args::{RUNS_EXAMPLES, RunsArgs};
pub use exec::run;
