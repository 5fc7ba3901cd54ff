//! SPEC §5: "every command has `--help` with examples", `--version` works,
//! and usage errors exit 2 (clap's own and ours).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use support::{exit_code, fresh_dir, run, runledger, sqlite_url};

#[test]
fn help_of_every_verb_has_examples() {
    for args in [
        &["--help"][..],
        &["bench", "--help"],
        &["doctor", "--help"],
        &["runs", "--help"],
    ] {
        let output = run(runledger().args(args));
        assert_eq!(exit_code(&output), 0, "{args:?}");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(
            help.contains("Examples:"),
            "{args:?} shows no examples: {help}"
        );
    }
}

#[test]
fn no_help_nor_the_openapi_document_refers_to_internal_documents() {
    let mut texts = vec![(
        "openapi.json".to_owned(),
        include_str!("../../runledger-server/openapi.json").to_owned(),
    )];
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["doctor", "--help"],
        &["tenant", "--help"],
        &["tenant", "list", "--help"],
        &["tenant", "token", "revoke", "--help"],
        &["runs", "cancel", "--help"],
    ] {
        let output = run(runledger().args(args));
        assert_eq!(exit_code(&output), 0, "{args:?}");
        texts.push((
            format!("{args:?}"),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ));
    }
    for (what, text) in texts {
        assert!(
            !text.contains("SPEC §"),
            "{what} refers to the SPEC:\n{text}"
        );
    }
}

#[test]
fn version_names_the_package_version() {
    let output = run(runledger().arg("--version"));
    assert_eq!(exit_code(&output), 0);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("runledger {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_workload_is_a_usage_error() {
    let dir = fresh_dir("unknown-workload");
    let output = run(runledger().args([
        "bench",
        "--db",
        &sqlite_url(&dir, "bench.db"),
        "--workload",
        "teleport",
    ]));
    assert_eq!(exit_code(&output), 2);
    assert!(
        !dir.join("bench.db").exists(),
        "a usage error touches no file"
    );
}

#[test]
fn bench_without_a_database_is_a_usage_error() {
    let output = run(runledger().args(["bench", "--workload", "create"]));
    assert_eq!(exit_code(&output), 2);
}
