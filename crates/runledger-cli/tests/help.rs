//! SPEC §5: "every command has `--help` with examples", `--version` works,
//! and usage errors exit 2 (clap's own and ours). The top-level help
//! describes the whole tool; `--server` is offered only by the commands
//! that talk to a server (`runs`, `bench`) and refused elsewhere; the
//! `on_full` policies are spelled as in the API and also read in kebab case.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use support::{exit_code, fresh_dir, run, runledger, sqlite_url};

/// Every command and subcommand of this build, as argument lists.
const EVERY_COMMAND: [&[&str]; 21] = [
    &[],
    &["bench"],
    &["doctor"],
    &["serve"],
    &["import"],
    &["tenant"],
    &["tenant", "add"],
    &["tenant", "list"],
    &["tenant", "token"],
    &["tenant", "token", "add"],
    &["tenant", "token", "revoke"],
    &["runs"],
    &["runs", "create"],
    &["runs", "get"],
    &["runs", "list"],
    &["runs", "start"],
    &["runs", "heartbeat"],
    &["runs", "finish"],
    &["runs", "claim"],
    &["runs", "cancel"],
    &["runs", "events"],
];

fn help_of(command: &[&str]) -> String {
    let output = run(runledger().args(command).arg("--help"));
    assert_eq!(exit_code(&output), 0, "{command:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn help_of_every_verb_has_examples() {
    for command in EVERY_COMMAND {
        let help = help_of(command);
        assert!(
            help.contains("Examples:\n  "),
            "{command:?} shows no examples: {help}"
        );
    }
}

#[test]
fn top_level_help_describes_the_whole_tool() {
    let help = help_of(&[]);
    for says in [
        "run records",
        "SQLite",
        "PostgreSQL",
        "/v1/openapi.json",
        "/metrics",
        "dashboard",
        "runledger serve",
        "runledger runs create",
        "runledger runs claim",
        "runledger tenant token add",
        "runledger doctor",
        "runledger import",
        "runledger bench",
        "Exit codes:",
    ] {
        assert!(
            help.contains(says),
            "top-level help lacks {says:?}:\n{help}"
        );
    }
    assert!(
        !help.contains("load generator and database doctor."),
        "{help}"
    );
}

#[test]
fn server_is_offered_only_by_the_commands_that_use_it() {
    for command in EVERY_COMMAND {
        let help = help_of(command);
        let offers = help.contains("--server <URL>");
        let uses = matches!(command.first(), Some(&"runs" | &"bench"));
        // The top level takes it before `runs` or `bench`, and says so.
        if command.is_empty() {
            assert!(help.contains("runs") && help.contains("bench"), "{help}");
            continue;
        }
        assert_eq!(offers, uses, "{command:?}:\n{help}");
    }
    for command in [
        &["serve"][..],
        &["doctor", "--db", "x.db"],
        &["tenant", "list"],
    ] {
        let output = run(runledger()
            .args(["--server", "http://127.0.0.1:9"])
            .args(command));
        assert_eq!(exit_code(&output), 2, "{command:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("--server is for `runs` and `bench`"),
            "{stderr}"
        );
    }
    // Before or after the verb: both reach the server (none listens: exit 3).
    for args in [
        &["--server", "http://127.0.0.1:9", "runs", "get", "x"][..],
        &["runs", "get", "x", "--server", "http://127.0.0.1:9"],
    ] {
        let output = run(runledger().args(args).env_remove("RUNLEDGER_SERVER"));
        assert_eq!(exit_code(&output), 3, "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("127.0.0.1:9"));
    }
}

#[test]
fn on_full_is_spelled_as_in_the_api_and_read_in_kebab_case_too() {
    let help = help_of(&["runs", "create"]);
    assert!(
        help.contains("cancel_active") && help.contains("replace_pending"),
        "{help}"
    );
    assert!(
        !help.contains("cancel-active"),
        "one spelling is shown: {help}"
    );
    // Both spellings parse: the run reaches the (absent) server, exit 3.
    for policy in [
        "cancel_active",
        "cancel-active",
        "replace_pending",
        "replace-pending",
    ] {
        let output = run(runledger()
            .args(["runs", "create", "--kind", "k", "--concurrency-key", "g"])
            .args(["--on-full", policy, "--server", "http://127.0.0.1:9"]));
        assert_eq!(exit_code(&output), 3, "{policy}");
    }
    let output = run(runledger().args([
        "runs",
        "create",
        "--kind",
        "k",
        "--concurrency-key",
        "g",
        "--on-full",
        "cancel",
    ]));
    assert_eq!(exit_code(&output), 2);
    assert!(String::from_utf8_lossy(&output.stderr).contains("--on-full"));
}

#[test]
fn no_help_nor_the_openapi_document_refers_to_internal_documents() {
    let mut texts = vec![(
        "openapi.json".to_owned(),
        include_str!("../../runledger-server/openapi.json").to_owned(),
    )];
    for args in [
        &["--help"][..],
        &["import", "--help"],
        &["bench", "--help"],
        &["runs", "create", "--help"],
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
        assert!(!text.contains("SPEC"), "{what} refers to the SPEC:\n{text}");
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
