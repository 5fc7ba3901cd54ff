//! A database password never shows: not in `serve`'s log (at trace level),
//! nor `doctor`'s output, nor any error of a database that cannot be
//! reached, nor `--help` when `RUNLEDGER_DB` holds the URL. Every output of
//! every run is searched for the password. (The test server trusts local
//! connections, so any password connects.)
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use support::{fresh_dir, run, runledger};

const PASSWORD: &str = "Pw0rd-n3ver-shown";

/// `url` with the password in its user info.
fn with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, host) = rest.split_once('@').unwrap();
    format!("{scheme}://{user}:{PASSWORD}@{host}")
}

fn assert_no_password(what: &str, output: &Output) {
    for (stream, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains(PASSWORD),
            "{what}: the password is in {stream}:\n{text}"
        );
    }
}

fn quiet(command: &mut Command) -> &mut Command {
    command
        .env_remove("RUNLEDGER_DB")
        .env("RUST_LOG", "trace")
        .env("RUST_BACKTRACE", "1")
}

/// Runs `serve` until it listens (or exits), lets it run a moment, stops it.
fn serve_briefly(db: &str) -> Output {
    let mut child = quiet(&mut runledger())
        .args(["serve", "--db", db, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    let _ = stdout.read_line(&mut first);
    std::thread::sleep(Duration::from_millis(500));
    let _ = child.kill();
    let mut output = child.wait_with_output().unwrap();
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut stdout, &mut rest).unwrap();
    output.stdout = [first.into_bytes(), rest].concat();
    output
}

#[test]
fn no_output_of_serve_doctor_or_help_shows_the_database_password() {
    let _dir = fresh_dir("no-secret-leaks");
    let db = support::postgres_url("no_secret_leaks");
    let good = with_password(&db.url);
    let missing = with_password(&format!("{}_missing", db.url));
    let refused = format!("postgres://bob:{PASSWORD}@127.0.0.1:1/x");

    let served = serve_briefly(&good);
    assert!(
        String::from_utf8_lossy(&served.stdout).contains("listening on"),
        "{}",
        String::from_utf8_lossy(&served.stderr)
    );
    assert!(String::from_utf8_lossy(&served.stderr).contains("listening"));
    assert_no_password("serve", &served);
    for db in [&missing, &refused] {
        assert_no_password("serve of a failing database", &serve_briefly(db));
    }
    for db in [&good, &missing, &refused] {
        for args in [
            &["doctor", "--db", db][..],
            &["doctor", "--db", db, "--json"],
            &["tenant", "list", "--db", db],
        ] {
            let output = run(quiet(&mut runledger()).args(args));
            assert_no_password(&format!("{args:?}"), &output);
        }
    }
    // doctor names the database it audited, its password masked.
    let doctor = run(quiet(&mut runledger()).args(["doctor", "--db", &good]));
    let said = String::from_utf8_lossy(&doctor.stdout);
    assert!(said.contains(":***@"), "{said}");
    for args in [
        &["serve", "--help"][..],
        &["doctor", "--help"],
        &["tenant", "list", "--help"],
        &["tenant", "add", "--help"],
        &["import", "--help"],
    ] {
        let output = run(runledger().env("RUNLEDGER_DB", &good).args(args));
        assert_no_password(&format!("{args:?} with RUNLEDGER_DB set"), &output);
    }
}
