//! `runledger import` refuses a file or a flag it cannot honour (SPEC §10):
//! broken encoding, a ragged CSV row, a JSON line that is not an object, a
//! `--map` naming a missing column, a `--child-pattern` that does not
//! compile or has the wrong number of groups, an unknown `--timezone`.
//! Each exits 2 with a message naming the line or the flag, and writes
//! nothing, even with `--apply`.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use support::{exit_code, fresh_dir, run, runledger, sqlite_url};

#[test]
fn bad_input_exits_2_names_the_line_or_flag_and_writes_nothing() {
    let dir = fresh_dir("import-bad-input");
    let db = sqlite_url(&dir, "bad.db");
    let good = b"id,kind,created_at\na,etl,2025-09-26 12:45:30\n".to_vec();
    let mut broken = b"id,kind,created_at\na,etl,1758890730\nb,et".to_vec();
    broken.extend_from_slice(&[0xff, 0xfe]);
    broken.extend_from_slice(b"l,1758890730\n");
    let ragged = b"id,kind,created_at\na,etl,1758890730\nb,etl,1758890730\nc,etl\n".to_vec();
    let cases: [(&str, Vec<u8>, &[&str], &str); 8] = [
        ("broken.csv", broken, &[], "line 3"),
        ("ragged.csv", ragged, &[], "line 4"),
        (
            "lines.jsonl",
            b"{\"id\":\"a\",\"kind\":\"etl\"}\nnot json\n".to_vec(),
            &[],
            "line 2",
        ),
        (
            "map.csv",
            good.clone(),
            &["--map", "started_at=Begun"],
            "--map started_at=Begun",
        ),
        (
            "regex.csv",
            good.clone(),
            &["--child-pattern", "^(\\d{6"],
            "--child-pattern",
        ),
        (
            "groups.csv",
            good.clone(),
            &["--child-pattern", "^(.+)$"],
            "two",
        ),
        (
            "zone.csv",
            good.clone(),
            &["--timezone", "Mars/Olympus"],
            "--timezone",
        ),
        ("offset.csv", good, &["--timezone", "+25:00"], "--timezone"),
    ];
    for (name, bytes, extra, expected) in cases {
        let file = dir.join(name);
        std::fs::write(&file, bytes).unwrap();
        let output = run(runledger()
            .arg("import")
            .arg(&file)
            .args(["--db", &db, "--apply", "--kind", "etl"])
            .args(extra)
            .env_remove("RUNLEDGER_DB"));
        assert_eq!(exit_code(&output), 2, "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(
            !dir.join("bad.db").exists(),
            "{name}: the database was written"
        );
    }
}

#[test]
fn an_id_is_never_invented_without_the_flag() {
    let dir = fresh_dir("import-no-invented-ids");
    let db = sqlite_url(&dir, "ids.db");
    let file = dir.join("runs.csv");
    std::fs::write(&file, "id,kind\n,etl\nb,etl\n").unwrap();
    let output = run(runledger()
        .arg("import")
        .arg(&file)
        .args(["--db", &db, "--json", "--apply"])
        .env_remove("RUNLEDGER_DB"));
    assert_eq!(exit_code(&output), 1);
    let report = support::json(&output);
    assert_eq!(report["rejected"][0]["line"], 2, "{report}");
    assert!(
        report["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("--generate-missing-ids"),
        "{report}"
    );
    let output = run(runledger()
        .arg("import")
        .arg(&file)
        .args(["--db", &db, "--json", "--apply", "--generate-missing-ids"])
        .env_remove("RUNLEDGER_DB"));
    assert_eq!(exit_code(&output), 0);
    let report = support::json(&output);
    assert_eq!(report["generated"][0]["line"], 2, "{report}");
    assert!(
        report["generated"][0]["run_id"]
            .as_str()
            .unwrap()
            .starts_with("gen-"),
        "{report}"
    );
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_header() {
    let dir = fresh_dir("import-bom");
    let db = sqlite_url(&dir, "bom.db");
    let file = dir.join("excel.csv");
    std::fs::write(&file, b"\xef\xbb\xbfJobID,Kind\n250926-124530,etl\n").unwrap();
    let output = run(runledger()
        .arg("import")
        .arg(&file)
        .args([
            "--db",
            &db,
            "--json",
            "--map",
            "id=JobID",
            "--map",
            "kind=Kind",
        ])
        .env_remove("RUNLEDGER_DB"));
    assert_eq!(
        exit_code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = support::json(&output);
    assert_eq!(report["runs"][0]["run_id"], "250926-124530", "{report}");
}
