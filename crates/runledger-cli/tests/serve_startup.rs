//! `runledger serve` refusing to start, with an error that says what to do
//! and touches nothing: a database URL of a scheme no backend speaks
//! (`mysql://`) names the schemes there are (its password redacted, no
//! file created; `doctor`, `tenant` and `import` say the same); a port another process holds is exit 4 — not a usage
//! error — saying the port is in use and how to pick another. Neither
//! message carries a source file or line.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use support::{exit_code, fresh_dir, run, runledger, sqlite_url};

/// No Rust source location (`src/serve.rs:197`) in what a user reads.
fn assert_no_source_location(text: &str) {
    assert!(
        !text.contains(".rs:") && !text.contains("panicked"),
        "a source location leaked: {text}"
    );
}

#[test]
fn an_unknown_database_scheme_names_the_schemes_and_creates_nothing() {
    let dir = fresh_dir("serve-unknown-scheme");
    for url in [
        "mysql://app:hunter2@db.example.com/runs",
        "redis://localhost/0",
    ] {
        let output = run(runledger()
            .current_dir(&dir)
            .env_remove("RUNLEDGER_DB")
            .args(["serve", "--listen", "127.0.0.1:0", "--db", url]));
        assert_eq!(exit_code(&output), 2, "{url}");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            stderr.contains("sqlite:") && stderr.contains("postgres://"),
            "{url}: {stderr}"
        );
        assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
        assert!(output.stdout.is_empty(), "nothing listened");
        assert_no_source_location(&stderr);
    }
    let url = "mysql://app:hunter2@db.example.com/runs";
    let input = fresh_dir("serve-unknown-scheme-input").join("runs.csv");
    std::fs::write(&input, "id,kind\nr1,etl\n").unwrap();
    let input = input.to_str().unwrap();
    for command in [
        &["doctor", "--db", url][..],
        &["tenant", "list", "--db", url],
        &["import", input, "--db", url, "--apply"],
    ] {
        let output = run(runledger().current_dir(&dir).args(command));
        assert_eq!(exit_code(&output), 2, "{command:?}");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            stderr.contains("sqlite:") && stderr.contains("postgres://"),
            "{command:?}: {stderr}"
        );
        assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "no file was created for a URL taken as a path"
    );
}

#[test]
fn a_busy_port_is_its_own_failure_saying_how_to_pick_another() {
    let dir = fresh_dir("serve-busy-port");
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = holder.local_addr().unwrap().to_string();
    let output = run(runledger().env_remove("RUNLEDGER_LISTEN").args([
        "serve",
        "--db",
        &sqlite_url(&dir, "busy.db"),
        "--listen",
        &busy,
    ]));
    assert_eq!(exit_code(&output), 4);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stderr.contains(&format!("cannot listen on {busy}")),
        "{stderr}"
    );
    assert!(stderr.contains("the port is in use"), "{stderr}");
    assert!(stderr.contains("--listen"), "{stderr}");
    assert!(!stderr.contains("usage"), "not a usage error: {stderr}");
    assert_no_source_location(&stderr);
    assert!(output.stdout.is_empty(), "nothing listened");
    drop(holder);
}
