//! How a command ends, and the exit code each ending maps to (SPEC §5):
//! 0 success, 1 refused or problems found, 2 usage error or a database that
//! could not be opened. One table, here, so every verb agrees.

use std::fmt;
use std::process::ExitCode;

/// What a command concluded when it ran to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Everything went as asked (exit 0).
    Success,
    /// The command ran, but found problems or had operations refused (exit 1).
    Problems,
}

/// Why a command could not run to the end (exit 2).
#[derive(Debug)]
pub enum Failure {
    /// The command line asks for something this build cannot do.
    Usage(String),
    /// The database could not be opened or read.
    Database(runledger::Error),
    /// A bench worker process misbehaved, or the OS refused something.
    Failed(String),
}

impl Verdict {
    /// The process exit code for this verdict.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Verdict::Success => ExitCode::SUCCESS,
            Verdict::Problems => ExitCode::from(1),
        }
    }
}

impl Failure {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Usage(_) | Failure::Database(_) | Failure::Failed(_) => ExitCode::from(2),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(detail) => write!(f, "usage: {detail}"),
            Failure::Database(error) => write!(f, "database: {error}"),
            Failure::Failed(detail) => f.write_str(detail),
        }
    }
}

impl std::error::Error for Failure {}

impl From<runledger::Error> for Failure {
    fn from(error: runledger::Error) -> Failure {
        Failure::Database(error)
    }
}
