//! How a command ends, and the exit code each ending maps to (SPEC §5):
//! 0 success, 1 refused or problems found, 2 usage error or a database that
//! could not be opened, 3 a server that could not be reached, 4 a server
//! that could not listen (its address is in use or not allowed). One table,
//! here, so every verb agrees.

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

/// Why a command could not run to the end (exit 1, 2 or 3).
#[derive(Debug)]
pub enum Failure {
    /// The server refused the request: its problem `code` and `detail` (exit 1).
    Refused {
        /// The problem's stable code.
        code: String,
        /// The problem's detail.
        detail: String,
    },
    /// The server could not be reached (exit 3).
    Unreachable(String),
    /// The command line asks for something this build cannot do.
    Usage(String),
    /// The database could not be opened or read.
    Database(runledger::Error),
    /// `serve` could not listen on its address (exit 4): an operating
    /// condition, not a mistake on the command line.
    CannotListen {
        /// The address `--listen` named.
        address: String,
        /// The operating system's refusal.
        error: std::io::Error,
    },
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
            Failure::Refused { .. } => ExitCode::from(1),
            Failure::Usage(_) | Failure::Database(_) | Failure::Failed(_) => ExitCode::from(2),
            Failure::Unreachable(_) => ExitCode::from(3),
            Failure::CannotListen { .. } => ExitCode::from(4),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused { code, detail } => write!(f, "refused ({code}): {detail}"),
            Failure::Unreachable(detail) => write!(
                f,
                "{detail}\nhint: is `runledger serve` running there? Set the server with --server URL or RUNLEDGER_SERVER"
            ),
            Failure::Usage(detail) => write!(f, "usage: {detail}"),
            Failure::Database(error) => write!(f, "database: {error}"),
            Failure::CannotListen { address, error } => write_cannot_listen(f, address, error),
            Failure::Failed(detail) => f.write_str(detail),
        }
    }
}

/// Why `serve` could not listen, and how to pick another address.
fn write_cannot_listen(
    f: &mut fmt::Formatter<'_>,
    address: &str,
    error: &std::io::Error,
) -> fmt::Result {
    let why = match error.kind() {
        std::io::ErrorKind::AddrInUse => {
            "the port is in use (another runledger serve, or another program)".to_owned()
        }
        std::io::ErrorKind::PermissionDenied => {
            "not allowed (ports below 1024 need privileges)".to_owned()
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "the address belongs to no interface of this machine".to_owned()
        }
        _ => error.to_string(),
    };
    write!(
        f,
        "cannot listen on {address}: {why}\nhint: pick another address with --listen HOST:PORT \
         (or RUNLEDGER_LISTEN), e.g. --listen 127.0.0.1:7879; port 0 lets the system choose a free one"
    )
}

impl std::error::Error for Failure {}

impl From<runledger::Error> for Failure {
    fn from(error: runledger::Error) -> Failure {
        Failure::Database(error)
    }
}

impl From<runledger_client::ClientError> for Failure {
    fn from(error: runledger_client::ClientError) -> Failure {
        use runledger_client::ClientError;
        match error {
            ClientError::Problem { code, detail, .. } => Failure::Refused {
                code: code.as_str().to_owned(),
                detail,
            },
            ClientError::Unreachable { .. } => Failure::Unreachable(error.to_string()),
            ClientError::InvalidUrl { .. } => Failure::Usage(error.to_string()),
            ClientError::UnexpectedAnswer { .. } | ClientError::Closed => {
                Failure::Failed(error.to_string())
            }
        }
    }
}
