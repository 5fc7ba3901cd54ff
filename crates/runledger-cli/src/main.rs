//! `runledger`: the command-line face of the run ledger: the load generator
//! (`bench`), the database audit (`doctor`), the HTTP server (`serve`) and
//! its tokens (`tenant add`), the HTTP client verbs (`runs`) and the loader
//! of legacy records (`import`) (SPEC §5).
//!
//! This file only parses the command line, starts the Tokio runtime and
//! turns each verb's ending into an exit code (see [`failure`]).

mod bench;
mod cli;
mod doctor;
mod duration;
mod failure;
mod import;
mod panic_report;
mod runs;
mod serve;
mod tenant;

use clap::Parser;
use cli::{Cli, Command};
use failure::Failure;
use std::process::ExitCode;

fn main() -> ExitCode {
    panic_report::install();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return report(Failure::Failed(format!(
                "cannot start the Tokio runtime: {error}"
            )));
        }
    };
    let before = cli.server;
    let ended = match cli.command {
        // `--server` after the verb, else before it.
        Command::Bench(mut args) => {
            let server = args.server.take().or(before);
            runtime.block_on(bench::run(server, args))
        }
        Command::Runs(mut args) => {
            let server = args.server.take().or(before);
            runtime.block_on(runs::run(server, args))
        }
        _ if before.is_some() => Err(Failure::Usage(
            "--server is for `runs` and `bench` only; serve takes --listen, the others --db"
                .to_owned(),
        )),
        Command::Doctor(args) => runtime.block_on(doctor::run(args)),
        Command::Import(args) => runtime.block_on(import::run(args)),
        Command::Serve(args) => runtime.block_on(serve::run(args)),
        Command::Tenant(args) => runtime.block_on(tenant::run(args)),
    };
    match ended {
        Ok(verdict) => verdict.exit_code(),
        Err(failure) => report(failure),
    }
}

fn report(failure: Failure) -> ExitCode {
    eprintln!("runledger: {failure}");
    failure.exit_code()
}
