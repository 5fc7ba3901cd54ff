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
