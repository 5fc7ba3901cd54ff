//! Where a bench's operations go: the library in-process (`--db`) or a
//! runledger server over HTTP (`--server`). Both take the core's request
//! types as they are; the server arm only turns the client's answers into
//! the library's, so one workload measures both.

use crate::cli::{BenchArgs, Workload};
use crate::failure::Failure;
use runledger::{
    AppendEvent, Appended, Cancel, ClaimRun, CreateBatch, CreateRun, Created, Error, ErrorCode,
    Finish, Heartbeat, Ledger, Options, Run, RunId, StartRun, Tenant,
};
use runledger_client::{CallOptions, Client, ClientError, ListRuns};

/// The system under load.
#[derive(Clone)]
pub enum Target {
    /// The library, in this process.
    Ledger(Ledger),
    /// A server, over HTTP (the tenant is the token's).
    Server(Client),
}

/// Why one operation failed, whichever the target.
#[derive(Debug, Clone, PartialEq)]
pub struct OpError {
    /// The stable code, when the ledger or the server refused.
    pub code: Option<ErrorCode>,
    /// The code's name, or what failed instead (`unreachable`, …).
    pub name: String,
    /// The message.
    pub message: String,
}

impl OpError {
    /// `true` when the server could not be reached.
    pub fn is_unreachable(&self) -> bool {
        self.name == UNREACHABLE
    }
}

/// [`OpError::name`] of a server that could not be reached.
const UNREACHABLE: &str = "unreachable";

impl From<Error> for OpError {
    fn from(error: Error) -> OpError {
        OpError {
            code: Some(error.code()),
            name: error.code().as_str().to_owned(),
            message: error.to_string(),
        }
    }
}

impl From<ClientError> for OpError {
    fn from(error: ClientError) -> OpError {
        let name = match &error {
            ClientError::Problem { code, .. } => code.as_str(),
            ClientError::Unreachable { .. } => UNREACHABLE,
            ClientError::UnexpectedAnswer { .. } => "unexpected_answer",
            ClientError::InvalidUrl { .. } => "invalid_url",
            ClientError::Closed => "closed",
        };
        OpError {
            code: error.code(),
            name: name.to_owned(),
            message: error.to_string(),
        }
    }
}

impl Target {
    /// Creates a run (or answers the identical existing one).
    pub async fn create_run(
        &self,
        tenant: &Tenant,
        request: CreateRun,
    ) -> Result<Created, OpError> {
        match self {
            Target::Ledger(ledger) => Ok(ledger.create_run(tenant, request).await?),
            Target::Server(client) => {
                let created = client.create_run(&request, &CallOptions::NONE).await?;
                Ok(Created {
                    run: created.run,
                    created: created.created,
                })
            }
        }
    }

    /// Starts a queued run.
    pub async fn start(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: StartRun,
    ) -> Result<Run, OpError> {
        match self {
            Target::Ledger(ledger) => Ok(ledger.start(tenant, id, request).await?),
            Target::Server(client) => Ok(client.start(id, &request, &CallOptions::NONE).await?),
        }
    }

    /// Extends a lease.
    pub async fn heartbeat(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: Heartbeat,
    ) -> Result<Run, OpError> {
        match self {
            Target::Ledger(ledger) => Ok(ledger.heartbeat(tenant, id, request).await?),
            Target::Server(client) => {
                Ok(client.heartbeat(id, &request, &CallOptions::NONE).await?)
            }
        }
    }

    /// Finishes a running run.
    pub async fn finish(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: Finish,
    ) -> Result<Run, OpError> {
        match self {
            Target::Ledger(ledger) => Ok(ledger.finish(tenant, id, request, None).await?),
            Target::Server(client) => Ok(client.finish(id, &request, &CallOptions::NONE).await?),
        }
    }

    /// Cancels a run.
    pub async fn cancel(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: Cancel,
    ) -> Result<Run, OpError> {
        match self {
            Target::Ledger(ledger) => Ok(ledger.cancel(tenant, id, request).await?),
            Target::Server(client) => Ok(client.cancel(id, &request, &CallOptions::NONE).await?),
        }
    }

    /// Claims the oldest queued run matching `request`; `None` when none is queued.
    pub async fn claim(&self, tenant: &Tenant, request: ClaimRun) -> Result<Option<Run>, OpError> {
        match self {
            Target::Ledger(ledger) => Ok(ledger.claim(tenant, request).await?),
            Target::Server(client) => Ok(client.claim(&request, &CallOptions::NONE).await?),
        }
    }

    /// Appends a caller event; answers its seq and position.
    pub async fn append_event(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: AppendEvent,
    ) -> Result<Appended, OpError> {
        match self {
            Target::Ledger(ledger) => Ok(ledger.append_event(tenant, id, request).await?),
            Target::Server(client) => {
                let appended = client
                    .append_event(id, &request, &CallOptions::NONE)
                    .await?;
                Ok(Appended {
                    seq: appended.seq,
                    position: appended.position,
                })
            }
        }
    }
}

/// The API token a bench sends: `RUNLEDGER_TOKEN`, unless empty.
pub fn token() -> Option<String> {
    std::env::var("RUNLEDGER_TOKEN")
        .ok()
        .filter(|token| !token.is_empty())
}

/// A client of the server at `server`, checked to answer (with [`token`]).
pub async fn server_client(server: &str) -> Result<Client, Failure> {
    let client = Client::new(server, token())?;
    let probe = ListRuns {
        limit: Some(1),
        ..ListRuns::default()
    };
    client.list_runs(&probe).await?;
    Ok(client)
}

impl Target {
    /// A batch create of `runs` (not atomic); answers how many items were
    /// answered with their run. A refused item fails the operation.
    pub async fn create_batch(
        &self,
        tenant: &Tenant,
        runs: Vec<CreateRun>,
    ) -> Result<usize, OpError> {
        let count = runs.len();
        let batch = CreateBatch {
            runs,
            atomic: false,
        };
        match self {
            Target::Ledger(ledger) => {
                let answers = ledger
                    .create_batch(tenant, batch)
                    .await
                    .map_err(|refused| OpError::from(refused.error))?;
                for answer in answers {
                    answer?;
                }
            }
            Target::Server(client) => {
                for answer in client.create_batch(&batch, &CallOptions::NONE).await? {
                    answer?;
                }
            }
        }
        Ok(count)
    }
}

/// The system a bench loads: the server at `server` (checked to answer,
/// with the token of `RUNLEDGER_TOKEN`), else the ledger at `--db`.
pub async fn target(server: Option<&str>, args: &BenchArgs) -> Result<Target, Failure> {
    match (server, &args.db) {
        (Some(server), _) => Ok(Target::Server(server_client(server).await?)),
        (None, Some(db)) => Ok(Target::Ledger(open(db, args.workload).await?)),
        (None, None) => Err(Failure::Usage(
            "bench needs --db URL or --server URL".to_owned(),
        )),
    }
}

/// Opens the ledger a bench loads. Only the race keeps the background
/// reaper (its abandoned leases must expire); elsewhere nothing but the
/// workload touches the database.
pub async fn open(db: &str, workload: Workload) -> Result<Ledger, Failure> {
    let options = match workload {
        Workload::Race => Options::default(),
        _ => Options {
            reap_interval: None,
            ..Options::default()
        },
    };
    Ok(Ledger::open_with(db, options).await?)
}

/// A failure outside the measured operations (preparing the workload).
pub fn op_failure(error: OpError) -> Failure {
    if error.is_unreachable() {
        Failure::Unreachable(error.message)
    } else {
        Failure::Failed(format!("preparing the workload failed: {}", error.message))
    }
}
