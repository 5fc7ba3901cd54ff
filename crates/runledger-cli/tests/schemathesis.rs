//! SPEC §4 against its own OpenAPI document: schemathesis (from PyPI)
//! generates requests from `/v1/openapi.json` for every operation (coverage,
//! fuzzing and stateful phases) against a real `runledger serve`, on SQLite
//! and on PostgreSQL, and fails on any 5xx, any undocumented status or
//! content type, and any body or header that violates the schema.
//!
//! `bash .ci/run` installs schemathesis (`pip install schemathesis`); the
//! test fails, never skips, when it is missing.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod support;

use server::TestServer;
use std::path::Path;
use std::process::Command;
use support::{fresh_dir, postgres_url, sqlite_url};

/// The checks the issue asks for: no server errors, nothing outside the schema.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_schema_conformance,response_headers_conformance";

/// The request/response operations of SPEC §4 (the streams are excluded:
/// a stream that stays open is not a response schemathesis can check).
const OPERATIONS: usize = 11;

/// Seconds of generated traffic per backend.
const BUDGET_SECONDS: &str = "45";

fn schemathesis_finds_nothing_against(server: &TestServer, dir: &Path) {
    let output = Command::new("schemathesis")
        .args(["run", &server.url("/v1/openapi.json")])
        .args(["--checks", CHECKS, "--max-time", BUDGET_SECONDS])
        .args(["--workers", "1", "--request-timeout", "10"])
        .args(["--exclude-path-regex", "/stream$|^/v1/ws$"])
        .env("SCHEMATHESIS_HOOKS", "")
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .output()
        .unwrap_or_else(|error| {
            panic!("schemathesis does not run ({error}); install it: pip install schemathesis")
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.log()
    );
    // A run that tested nothing would pass too: insist it covered the API.
    let tested: usize = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("Tested: "))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or_else(|| panic!("no operation count in:\n{stdout}"));
    assert!(
        tested >= OPERATIONS,
        "only {tested} operations tested:\n{stdout}"
    );
}

#[test]
fn schemathesis_on_sqlite() {
    let dir = fresh_dir("schemathesis-sqlite");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "st.db"));
    schemathesis_finds_nothing_against(&server, &dir);
}

#[test]
fn schemathesis_on_postgres() {
    let dir = fresh_dir("schemathesis-postgres");
    let db = postgres_url("schemathesis");
    let server = TestServer::start(&dir, &db.url);
    schemathesis_finds_nothing_against(&server, &dir);
}
