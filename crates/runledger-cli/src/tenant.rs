//! `runledger tenant add NAME` (SPEC §5): creates the tenant if it is new
//! and an API token for it, and prints the token once. Only its SHA-256 is
//! stored; from the first token on, the server requires tokens (SPEC §4).

use crate::failure::{Failure, Verdict};
use clap::{Args, Subcommand};
use runledger::{Ledger, Options, Tenant};

/// Examples shown under `runledger tenant --help` and `tenant add --help`.
pub const TENANT_EXAMPLES: &str = "\
Examples:
  runledger tenant add acme --db sqlite://runledger.db
  runledger tenant add acme --db sqlite:///var/lib/runledger/runs.db --json

The token is printed once and cannot be shown again; store it now. Send it as
`Authorization: Bearer <token>`. Once any token exists, every /v1 request
needs one, and the token decides the tenant. Tenant names:
[a-z0-9][a-z0-9_-]{0,63}.

Exit codes: 0 token created, 2 invalid name or the database cannot be opened.";

/// `runledger tenant`.
#[derive(Debug, Args)]
pub struct TenantArgs {
    /// The tenant verb.
    #[command(subcommand)]
    pub command: TenantCommand,
}

/// Tenant verbs.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (if new) and an API token for it; print the token once.
    #[command(after_help = TENANT_EXAMPLES)]
    Add(TenantAddArgs),
}

/// `runledger tenant add`.
#[derive(Debug, Args)]
pub struct TenantAddArgs {
    /// The tenant: [a-z0-9][a-z0-9_-]{0,63}.
    pub name: String,
    /// The database: sqlite://relative.db, sqlite:///abs/path.db, a plain
    /// path, or postgres://…; created and migrated when missing.
    #[arg(
        long,
        value_name = "URL",
        env = "RUNLEDGER_DB",
        default_value = "sqlite://runledger.db"
    )]
    pub db: String,
    /// Print `{"tenant": …, "token": …}` instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `runledger tenant …`.
pub async fn run(args: TenantArgs) -> Result<Verdict, Failure> {
    match args.command {
        TenantCommand::Add(args) => add(args).await,
    }
}

async fn add(args: TenantAddArgs) -> Result<Verdict, Failure> {
    // Checked before the database is touched: a typo creates no file.
    let tenant = Tenant::parse(&args.name).map_err(|error| Failure::Usage(error.to_string()))?;
    let options = Options {
        reap_interval: None,
        ..Options::default()
    };
    let ledger = Ledger::open_with(&args.db, options).await?;
    let created = ledger.add_tenant_token(&tenant).await?;
    if args.json {
        let json = serde_json::json!({"tenant": created.tenant.as_str(), "token": created.token});
        println!("{json}");
    } else {
        println!("{}", created.token);
        eprintln!(
            "runledger: token for tenant {} created; it is shown only this once. Send it as `Authorization: Bearer <token>`.",
            created.tenant
        );
    }
    Ok(Verdict::Success)
}
