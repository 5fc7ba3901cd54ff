//! `runledger tenant add NAME` (SPEC §5, also `tenant token add NAME`):
//! creates the tenant if it is new and an API token for it, and prints the
//! token once. Only its SHA-256 is stored, with its visible prefix; from the
//! first token on, the server requires tokens (SPEC §4). `tenant list`
//! shows tenants and their tokens (id, prefix, created, last used,
//! revoked), `tenant token revoke ID` revokes one: every server refuses it
//! from its next request.

use crate::cli::LedgerDb;
use crate::failure::{Failure, Verdict};
use clap::{Args, Subcommand};
use runledger::{Ledger, Options, Tenant, Timestamp, TokenInfo};

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

/// Examples shown under `runledger tenant list --help` and `tenant token revoke --help`.
pub const TOKEN_EXAMPLES: &str = "\
Examples:
  runledger tenant list --db sqlite://runledger.db
  runledger tenant token add acme --db sqlite://runledger.db
  runledger tenant token revoke 3f2a9c01b7e4 --db sqlite://runledger.db

A token is listed by its id and its first characters (rl_…), never whole. A
revoked token is refused by every server from its next request; it stays
listed, and tokens stay required. `tenant list --json` prints
[{\"tenant\", \"tokens\": [{\"id\", \"prefix\", \"created_at\", \"last_used_at\", \"revoked_at\"}]}].

Exit codes: 0 done, 1 no token has that id (nothing revoked), 2 a malformed
id or a database that cannot be opened.";

/// Tenant verbs.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (if new) and an API token for it; print the token once.
    #[command(after_help = TENANT_EXAMPLES)]
    Add(TenantAddArgs),
    /// List tenants and their tokens (ids and prefixes, never whole tokens).
    #[command(after_help = TOKEN_EXAMPLES)]
    List(TenantListArgs),
    /// Add or revoke API tokens.
    #[command(subcommand, after_help = TOKEN_EXAMPLES)]
    Token(TokenCommand),
}

/// `runledger tenant token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a tenant (if new) and an API token for it; print the token once.
    #[command(after_help = TENANT_EXAMPLES)]
    Add(TenantAddArgs),
    /// Revoke a token by its id (from `tenant list`).
    #[command(after_help = TOKEN_EXAMPLES)]
    Revoke(TokenRevokeArgs),
}

/// `runledger tenant list`.
#[derive(Debug, Args)]
pub struct TenantListArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub db: LedgerDb,
    /// Print `[{"tenant", "tokens": [{"id", "tenant", "prefix", "created_at", "last_used_at", "revoked_at"}]}]`, one entry per tenant.
    #[arg(long)]
    pub json: bool,
}

/// `runledger tenant token revoke`.
#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// The token's id, as `runledger tenant list` shows it.
    pub id: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub db: LedgerDb,
    /// Print the revoked token as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `runledger tenant add`.
#[derive(Debug, Args)]
pub struct TenantAddArgs {
    /// The tenant: [a-z0-9][a-z0-9_-]{0,63}.
    pub name: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub db: LedgerDb,
    /// Print `{"tenant": …, "token": …}` instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `runledger tenant …`.
pub async fn run(args: TenantArgs) -> Result<Verdict, Failure> {
    match args.command {
        TenantCommand::Add(args) | TenantCommand::Token(TokenCommand::Add(args)) => add(args).await,
        TenantCommand::List(args) => list(args).await,
        TenantCommand::Token(TokenCommand::Revoke(args)) => revoke(args).await,
    }
}

async fn open(db: &str) -> Result<Ledger, Failure> {
    let options = Options {
        reap_interval: None,
        ..Options::default()
    };
    Ok(Ledger::open_with(db, options).await?)
}

fn token_json(token: &TokenInfo) -> serde_json::Value {
    let time = |at: Option<Timestamp>| at.map(Timestamp::to_rfc3339);
    serde_json::json!({
        "id": token.id,
        "tenant": token.tenant.as_str(),
        "prefix": token.prefix,
        "created_at": token.created_at.to_rfc3339(),
        "last_used_at": time(token.last_used_at),
        "revoked_at": time(token.revoked_at),
    })
}

/// `[{"tenant", "tokens": [...]}]`, tenants in name order, each token as
/// [`token_json`] shows it.
fn by_tenant(tokens: &[TokenInfo]) -> Vec<serde_json::Value> {
    let mut tenants: std::collections::BTreeMap<&str, Vec<serde_json::Value>> =
        std::collections::BTreeMap::new();
    for token in tokens {
        tenants
            .entry(token.tenant.as_str())
            .or_default()
            .push(token_json(token));
    }
    tenants
        .into_iter()
        .map(|(tenant, tokens)| serde_json::json!({"tenant": tenant, "tokens": tokens}))
        .collect()
}

async fn list(args: TenantListArgs) -> Result<Verdict, Failure> {
    let ledger = open(&args.db.url).await?;
    let tokens = ledger.tokens().await?;
    if args.json {
        println!("{}", serde_json::Value::Array(by_tenant(&tokens)));
        return Ok(Verdict::Success);
    }
    if tokens.is_empty() {
        println!(
            "no tokens: every request acts for tenant default (runledger tenant token add NAME creates one)"
        );
        return Ok(Verdict::Success);
    }
    println!(
        "TENANT  TOKEN ID      PREFIX        CREATED                   LAST USED                 REVOKED"
    );
    for token in &tokens {
        let time = |at: Option<Timestamp>| at.map_or_else(|| "-".to_owned(), Timestamp::to_rfc3339);
        println!(
            "{}  {}  {}  {}  {}  {}",
            token.tenant,
            token.id,
            token
                .prefix
                .as_deref()
                .map_or_else(|| "-".to_owned(), |prefix| format!("{prefix}…")),
            token.created_at.to_rfc3339(),
            time(token.last_used_at),
            time(token.revoked_at),
        );
    }
    Ok(Verdict::Success)
}

async fn revoke(args: TokenRevokeArgs) -> Result<Verdict, Failure> {
    // A malformed id is a usage error (2), checked before the database is
    // opened; a well-formed id that names no token is a refusal (1).
    runledger::check_token_id(&args.id).map_err(|error| Failure::Usage(error.to_string()))?;
    let ledger = open(&args.db.url).await?;
    let token = match ledger.revoke_token(&args.id).await {
        Ok(token) => token,
        Err(error @ runledger::Error::InvalidRequest { .. }) => {
            eprintln!(
                "runledger: {error}; nothing revoked (`runledger tenant list` shows the ids)"
            );
            return Ok(Verdict::Problems);
        }
        Err(error) => return Err(Failure::Database(error)),
    };
    if args.json {
        println!("{}", token_json(&token));
    } else {
        println!(
            "revoked token {} of tenant {}; every server refuses it from its next request",
            token.id, token.tenant
        );
    }
    Ok(Verdict::Success)
}

async fn add(args: TenantAddArgs) -> Result<Verdict, Failure> {
    // Checked before the database is touched: a typo creates no file.
    let tenant = Tenant::parse(&args.name).map_err(|error| Failure::Usage(error.to_string()))?;
    let options = Options {
        reap_interval: None,
        ..Options::default()
    };
    let ledger = Ledger::open_with(&args.db.url, options).await?;
    let first = !ledger.auth_required().await?;
    let created = ledger.add_tenant_token(&tenant).await?;
    if first && tenant != Tenant::default() {
        let default_runs: u64 = ledger
            .tenant_run_counts(&Tenant::default())
            .await?
            .iter()
            .map(|(_, count)| count)
            .sum();
        if default_runs > 0 {
            eprintln!(
                "runledger: warning: this is the first token, so every request now needs one; {} of tenant default {} reachable only with a token of tenant default. Create one with:\n  runledger tenant token add default --db {}",
                if default_runs == 1 {
                    "the 1 run".to_owned()
                } else {
                    format!("the {default_runs} runs")
                },
                if default_runs == 1 { "is" } else { "are" },
                shown_db(&args.db.url)
            );
        }
    }
    if args.json {
        let json = serde_json::json!({
            "tenant": created.tenant.as_str(),
            "token": created.token,
            "id": created.id,
            "prefix": created.prefix,
        });
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

/// The `--db` to print in a suggested command: the URL itself unless it
/// carries credentials, which are never printed.
fn shown_db(db: &str) -> String {
    if db.contains('@') {
        "\"$RUNLEDGER_DB\"".to_owned()
    } else {
        db.to_owned()
    }
}
