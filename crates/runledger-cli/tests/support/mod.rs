//! What the CLI tests share: the real `runledger` binary, a database file
//! of the test's own under `target/`, and a parsed JSON answer.

#![allow(dead_code)] // each test file uses its own part of this

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary Cargo built for these tests.
pub fn runledger() -> Command {
    Command::new(env!("CARGO_BIN_EXE_runledger"))
}

/// A fresh, empty directory for the test `name`, under Cargo's test tmpdir.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("runledger-cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the test directory can be created");
    dir
}

/// The `sqlite:///…` URL of `file` in `dir`.
pub fn sqlite_url(dir: &Path, file: &str) -> String {
    format!("sqlite://{}", dir.join(file).display())
}

/// Runs `command` and answers its output, with stderr shown on failure.
pub fn run(command: &mut Command) -> Output {
    let output = command.output().expect("the runledger binary runs");
    eprintln!("stderr: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The exit code of `output`.
pub fn exit_code(output: &Output) -> i32 {
    output.status.code().expect("the binary exited, not killed")
}

/// `output`'s stdout as one JSON value.
pub fn json(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {stdout}"))
}

/// A database of the test's own on the PostgreSQL server `RUNLEDGER_TEST_PG`
/// names (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped
/// when the test ends.
pub struct PgDb {
    /// Its URL, for `runledger serve --db`.
    pub url: String,
    admin: String,
    name: String,
}

/// A fresh PostgreSQL database for the test `name`.
pub fn postgres_url(name: &str) -> PgDb {
    let admin = std::env::var("RUNLEDGER_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut db: String = format!("rlc_{}_{name}", std::process::id())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    db.truncate(63);
    psql(
        &admin,
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
    );
    psql(&admin, &format!("CREATE DATABASE {db}"));
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    PgDb {
        url: format!("{base}/{db}"),
        admin,
        name: db,
    }
}

/// Runs one SQL statement with `psql`, failing the test on an error.
pub fn psql(url: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql, url])
        .output()
        .expect("psql runs (PostgreSQL client tools are installed)");
    assert!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = Command::new("psql")
                .args(["-X", "-q", "-c", &sql, &self.admin])
                .output();
        }
    }
}
