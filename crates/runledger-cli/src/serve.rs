//! `runledger serve` (SPEC §4, §5): opens (and migrates) the ledger, runs
//! its reaper, refuses to expose an unauthenticated API beyond loopback, and
//! serves the HTTP API until SIGTERM or Ctrl-C; then it stops accepting,
//! finishes the requests in flight and closes the ledger.

use crate::cli::LedgerDb;
use crate::failure::{Failure, Verdict};
use clap::{Args, ValueEnum};
use runledger::relay::Relay;
use runledger::{Ledger, Options};
use runledger_server::{MetricsToken, ServerConfig, ServerState, check_exposure, serve};
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// Examples shown under `runledger serve --help`.
pub const SERVE_EXAMPLES: &str = "\
Examples:
  # the defaults: sqlite://runledger.db, 127.0.0.1:7878
  runledger serve

  # another file and port, logs as JSON lines
  runledger serve --db sqlite:///var/lib/runledger/runs.db --listen 127.0.0.1:8080 --log-format json

  # beyond loopback: create a token first (or pass --insecure-no-auth)
  runledger tenant add acme --db sqlite:///var/lib/runledger/runs.db
  runledger serve --db sqlite:///var/lib/runledger/runs.db --listen 0.0.0.0:7878

  # relay every event to NATS JetStream (one server publishes at a time)
  runledger serve --publish nats://127.0.0.1:4222

  # a free port chosen by the OS; the first line says which
  runledger serve --listen 127.0.0.1:0

  # a browser app on another origin may call the API with its token
  runledger serve --cors-origin https://app.example.com

  # many subscribers on one token (a load test); 0 lifts the cap
  runledger serve --max-streams-per-token 2000

Limits: each API token (or, while no token exists, each tenant) may hold
--max-streams-per-token open event streams: an SSE stream counts one, a
WebSocket connection one and each of its subscriptions one more; past it,
429 too_many_streams. A subscriber that does not read holds at most about
1 MiB of events on the server. A revoked token's streams close within a
second. A client must send a request's head within --header-read-timeout-ms
(a kept-alive connection must send its next request within it too), and a
connection on which no byte moves for --idle-timeout-ms is closed (live
streams send keep-alives every --stream-keep-alive-ms, which must be
shorter).

Every flag can also be set by environment: RUNLEDGER_DB, RUNLEDGER_LISTEN,
RUNLEDGER_INSECURE_NO_AUTH, RUNLEDGER_RATE_LIMIT_RPS, RUNLEDGER_RATE_LIMIT_BURST,
RUNLEDGER_REAP_INTERVAL_MS, RUNLEDGER_STREAM_KEEP_ALIVE_MS,
RUNLEDGER_MAX_STREAMS_PER_TOKEN, RUNLEDGER_HEADER_READ_TIMEOUT_MS,
RUNLEDGER_IDLE_TIMEOUT_MS, RUNLEDGER_CORS_ORIGIN, RUNLEDGER_PUBLIC_HOST,
RUNLEDGER_METRICS_TOKEN, RUNLEDGER_PUBLISH, RUNLEDGER_LOG_FORMAT. RUST_LOG sets the log filter.

Browsers: while no token exists, requests must be addressed to a loopback
name or a --public-host (421 otherwise); a state change by the dashboard's
cookie (or by anyone while no token exists), and every WebSocket upgrade,
must come from this server's own pages or a --cors-origin (403 otherwise).

Exit codes: 0 after a clean shutdown (SIGTERM or Ctrl-C), 2 when the database
cannot be opened or a flag is wrong, 4 when the --listen address cannot be
listened on (the port is in use, or not allowed).";

/// `runledger serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub db: LedgerDb,
    /// Address to listen on (port 0: any free port).
    #[arg(
        long,
        value_name = "ADDR",
        env = "RUNLEDGER_LISTEN",
        default_value = "127.0.0.1:7878"
    )]
    pub listen: String,
    /// Allow listening beyond loopback while no API token exists.
    #[arg(long, env = "RUNLEDGER_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// Requests per second per API token (0 turns the limit off).
    #[arg(long, value_name = "N", env = "RUNLEDGER_RATE_LIMIT_RPS", default_value_t = runledger_server::RATE_LIMIT_RPS_DEFAULT)]
    pub rate_limit_rps: u32,
    /// Burst per API token (0 turns the limit off).
    #[arg(long, value_name = "N", env = "RUNLEDGER_RATE_LIMIT_BURST", default_value_t = runledger_server::RATE_LIMIT_BURST_DEFAULT)]
    pub rate_limit_burst: u32,
    /// How often expired leases are looked for, in milliseconds.
    #[arg(long, value_name = "MS", env = "RUNLEDGER_REAP_INTERVAL_MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub reap_interval_ms: u64,
    /// How often an idle event stream (SSE, WebSocket) shows it is alive, in milliseconds.
    #[arg(long, value_name = "MS", env = "RUNLEDGER_STREAM_KEEP_ALIVE_MS",
          default_value_t = runledger_server::STREAM_KEEP_ALIVE_MS_DEFAULT,
          value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub stream_keep_alive_ms: u64,
    /// Open event streams per API token, or per tenant while no token
    /// exists (SSE streams, WebSocket connections and their subscriptions;
    /// 0 turns the cap off).
    #[arg(long, value_name = "N", env = "RUNLEDGER_MAX_STREAMS_PER_TOKEN",
          default_value_t = runledger_server::MAX_STREAMS_PER_TOKEN_DEFAULT)]
    pub max_streams_per_token: u32,
    /// How long a client may take to send a request's head, and a
    /// kept-alive connection to start its next request, in milliseconds
    /// (0 turns it off).
    #[arg(long, value_name = "MS", env = "RUNLEDGER_HEADER_READ_TIMEOUT_MS",
          default_value_t = runledger_server::HEADER_READ_TIMEOUT_MS_DEFAULT,
          value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub header_read_timeout_ms: u64,
    /// How long a connection may move no byte either way before it is
    /// closed, in milliseconds (0 turns it off); must exceed
    /// --stream-keep-alive-ms.
    #[arg(long, value_name = "MS", env = "RUNLEDGER_IDLE_TIMEOUT_MS",
          default_value_t = runledger_server::IDLE_TIMEOUT_MS_DEFAULT,
          value_parser = clap::value_parser!(u64).range(0..=86_400_000))]
    pub idle_timeout_ms: u64,
    /// Relay every event to NATS JetStream at this URL, e.g.
    /// nats://127.0.0.1:4222. Any number of servers may pass it: one
    /// publishes at a time.
    #[arg(long, value_name = "URL", env = "RUNLEDGER_PUBLISH", value_parser = parse_nats_url)]
    pub publish: Option<String>,
    /// A browser app's origin (scheme://host[:port]) allowed to call the API
    /// across origins (CORS) and to change state with the dashboard cookie.
    /// Repeatable; none by default.
    #[arg(long = "cors-origin", value_name = "ORIGIN", env = "RUNLEDGER_CORS_ORIGIN",
          value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,
    /// A host name, besides loopback, that requests may be addressed to
    /// while no API token exists (DNS-rebinding guard). Repeatable.
    #[arg(
        long = "public-host",
        value_name = "NAME",
        env = "RUNLEDGER_PUBLIC_HOST",
        value_delimiter = ','
    )]
    pub public_hosts: Vec<String>,
    /// The bearer token Prometheus must send to /metrics once API tokens
    /// exist (until then /metrics is open, like the rest of the server).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "RUNLEDGER_METRICS_TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,
    /// Log lines for people or for machines.
    #[arg(
        long,
        value_enum,
        env = "RUNLEDGER_LOG_FORMAT",
        default_value = "human"
    )]
    pub log_format: LogFormat,
}

/// How logs are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per line.
    Json,
}

/// Runs `runledger serve` until a shutdown signal.
pub async fn run(args: ServeArgs) -> Result<Verdict, Failure> {
    init_logging(args.log_format);
    if args.idle_timeout_ms != 0 && args.idle_timeout_ms <= args.stream_keep_alive_ms {
        return Err(Failure::Usage(format!(
            "--idle-timeout-ms {} must be greater than --stream-keep-alive-ms {}: an idle stream would be closed between two keep-alives",
            args.idle_timeout_ms, args.stream_keep_alive_ms
        )));
    }
    let address = resolve(&args.listen).await?;
    let options = Options {
        reap_interval: Some(Duration::from_millis(args.reap_interval_ms)),
        ..Options::default()
    };
    let ledger = Ledger::open_with(&args.db.url, options).await?;
    let auth_required = ledger.auth_required().await?;
    check_exposure(address, auth_required, args.insecure_no_auth)
        .map_err(|refused| Failure::Usage(refused.to_string()))?;
    if !auth_required {
        tracing::warn!("no API token exists: every request acts for the default tenant");
    }
    let listener = TcpListener::bind(address)
        .await
        .map_err(|error| Failure::CannotListen {
            address: address.to_string(),
            error,
        })?;
    let local = listener
        .local_addr()
        .map_err(|error| Failure::Failed(format!("no local address: {error}")))?;
    // The first line of stdout: scripts and tests read the port from it.
    println!("listening on http://{local}");
    let _ = std::io::stdout().flush();
    tracing::info!(address = %local, db = %runledger::redact_db_url(&args.db.url), "listening");
    // Dropped when serving ends, which stops it.
    let relay = args.publish.as_deref().map(|url| {
        tracing::info!(nats = %runledger::redact_db_url(url), "relaying events to NATS JetStream");
        Relay::spawn(&ledger, url)
    });
    let config = ServerConfig {
        rate_limit_rps: args.rate_limit_rps,
        rate_limit_burst: args.rate_limit_burst,
        stream_keep_alive_ms: args.stream_keep_alive_ms,
        cors_origins: args.cors_origins,
        public_hosts: args.public_hosts,
        metrics_token: args.metrics_token.as_deref().map(MetricsToken::new),
        max_streams_per_token: args.max_streams_per_token,
        header_read_timeout_ms: args.header_read_timeout_ms,
        idle_timeout_ms: args.idle_timeout_ms,
    };
    serve(
        listener,
        ServerState::new(ledger, config),
        shutdown_signal(),
    )
    .await
    .map_err(|error| Failure::Failed(format!("the server failed: {error}")))?;
    drop(relay);
    tracing::info!("stopped: in-flight requests answered, ledger closed");
    Ok(Verdict::Success)
}

/// A browser origin, `http(s)://host[:port]` with nothing after it.
fn parse_origin(text: &str) -> Result<String, String> {
    let authority = ["http://", "https://"]
        .iter()
        .find_map(|scheme| text.strip_prefix(scheme))
        .ok_or_else(|| {
            format!("'{text}' is not an origin; expected http://HOST[:PORT] or https://HOST[:PORT]")
        })?;
    if authority.is_empty()
        || authority.contains(['/', '?', '#', '@'])
        || authority.contains(char::is_whitespace)
    {
        return Err(format!(
            "'{text}' is not an origin: only scheme, host and port, e.g. https://app.example.com:8443"
        ));
    }
    Ok(text.to_owned())
}

/// A `nats://HOST:PORT` URL (also `tls://`), checked before anything starts.
fn parse_nats_url(text: &str) -> Result<String, String> {
    let rest = ["nats://", "tls://"]
        .iter()
        .find_map(|scheme| text.strip_prefix(scheme))
        .ok_or_else(|| format!("'{text}' is not a NATS URL; expected nats://HOST:PORT"))?;
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err(format!(
            "'{text}' names no server; expected nats://HOST:PORT"
        ));
    }
    Ok(text.to_owned())
}

/// `host:port` to one socket address (names like `localhost` resolve).
async fn resolve(listen: &str) -> Result<SocketAddr, Failure> {
    if let Ok(address) = listen.parse::<SocketAddr>() {
        return Ok(address);
    }
    tokio::net::lookup_host(listen)
        .await
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| {
            Failure::Usage(format!(
                "--listen {listen} is not an address; expected HOST:PORT such as 127.0.0.1:7878"
            ))
        })
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
}

fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if let Err(error) = installed {
        eprintln!("runledger: logs are off: {error}");
    }
}
