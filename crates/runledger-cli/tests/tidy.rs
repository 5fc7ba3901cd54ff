//! Tidy: the house rules a reviewer should not have to check by eye, run by
//! `cargo test`. It reads the repository's files and fails, naming each
//! offender, on
//!
//! - a `.rs` file over [`RS_LINES_MAX`] lines outside a `tests/` folder;
//! - a `mod.rs` or `lib.rs` holding anything but docs, attributes, `mod`
//!   lines and `use` re-exports (STYLE rule 9: the reader opening a folder
//!   sees its parts);
//! - a doc comment quoting a benchmark figure (`12,000 creates/s`,
//!   `5.7 ms p99`): figures date, so they live in `BENCHMARKS.md` and
//!   `docs/benchmarks-log.md`;
//! - a Markdown or doc-comment link to a file outside the repository (an
//!   absolute path, or a relative one that climbs out of it), or a mention
//!   of the `../shared/` folder beside it: a clone has neither.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::fs;
use std::path::{Component, Path, PathBuf};

/// The longest a source file may grow (outside `tests/` folders).
const RS_LINES_MAX: usize = 500;

/// Files allowed to break the rules while a change elsewhere fixes them
/// (empty: every file complies). The test fails on an entry that complies
/// or is gone, so the list can only shrink.
const KNOWN_OFFENDERS: &[&str] = &[];

/// This file: its docs show what the rules catch.
const THIS_FILE: &str = "crates/runledger-cli/tests/tidy.rs";

/// Kept verbatim as history: the sitting-by-sitting benchmark log quotes
/// the commands of its day, including the shared bench scripts.
const VERBATIM_HISTORY: &[&str] = &["docs/benchmarks-log.md"];

/// Folders never read: build output, dependencies, version control.
const SKIPPED_DIRS: &[&str] = &["target", "node_modules", ".git", ".venv", "__pycache__"];

#[test]
fn the_repository_keeps_the_house_rules() {
    let root = repository_root();
    let mut files = Vec::new();
    collect(&root, &mut files);
    let mut offences = Vec::new();
    for path in &files {
        let relative = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let Ok(text) = fs::read_to_string(path) else {
            continue;
        };
        if relative == THIS_FILE {
            continue;
        }
        let mut found = Vec::new();
        if relative.ends_with(".rs") {
            found.extend(long_file(&relative, &text));
            found.extend(logic_in_a_declaring_file(&relative, &text));
            found.extend(figures_in_doc_comments(&relative, &text));
            found.extend(outside_links(&root, path, &relative, &doc_comments(&text)));
        } else if relative.ends_with(".md") && !VERBATIM_HISTORY.contains(&relative.as_str()) {
            found.extend(outside_links(&root, path, &relative, &text));
        }
        if KNOWN_OFFENDERS.contains(&relative.as_str()) {
            if found.is_empty() {
                offences.push(format!(
                    "{relative}: complies now; remove it from KNOWN_OFFENDERS"
                ));
            }
            continue;
        }
        offences.extend(found);
    }
    for known in KNOWN_OFFENDERS {
        if !root.join(known).exists() {
            offences.push(format!("{known}: gone; remove it from KNOWN_OFFENDERS"));
        }
    }
    assert!(
        offences.is_empty(),
        "tidy found {} problem(s):\n{}",
        offences.len(),
        offences.join("\n")
    );
}

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !SKIPPED_DIRS.contains(&name.as_str()) && !name.starts_with("target-") {
                collect(&path, files);
            }
        } else if name.ends_with(".rs") || name.ends_with(".md") {
            files.push(path);
        }
    }
}

fn in_tests_folder(relative: &str) -> bool {
    relative
        .split('/')
        .rev()
        .skip(1)
        .any(|folder| folder == "tests")
}

fn long_file(relative: &str, text: &str) -> Option<String> {
    let lines = text.lines().count();
    (lines > RS_LINES_MAX && !in_tests_folder(relative)).then(|| {
        format!(
            "{relative}: {lines} lines, over {RS_LINES_MAX}; split it into files with one job each"
        )
    })
}

/// `mod.rs` and `lib.rs` may hold docs, comments, attributes, `mod` lines
/// and `use` items only. A `mod.rs` under `tests/` is Cargo's way to share
/// test helpers without making them a test binary, so it is exempt.
fn logic_in_a_declaring_file(relative: &str, text: &str) -> Option<String> {
    let declaring = relative.ends_with("/mod.rs") || relative.ends_with("src/lib.rs");
    if !declaring || in_tests_folder(relative) {
        return None;
    }
    let mut in_use = false;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if in_use {
            in_use = !line.ends_with(';');
            continue;
        }
        let item = strip_visibility(line);
        let allowed = line.is_empty()
            || line.starts_with("//")
            || line.starts_with("#[")
            || line.starts_with("#![")
            || (item.starts_with("mod ") && line.ends_with(';'));
        if allowed {
            continue;
        }
        if item.starts_with("use ") {
            in_use = !line.ends_with(';');
            continue;
        }
        return Some(format!(
            "{relative}:{}: `{line}` — a mod.rs or lib.rs only declares and re-exports; move the logic into a named file",
            index + 1
        ));
    }
    None
}

fn strip_visibility(line: &str) -> &str {
    let Some(rest) = line.strip_prefix("pub") else {
        return line;
    };
    match rest.strip_prefix('(') {
        Some(scoped) => scoped
            .split_once(')')
            .map_or(line, |(_, item)| item.trim_start()),
        None => rest.trim_start(),
    }
}

/// The text of every `///` and `//!` comment, one line each.
fn doc_comments(text: &str) -> String {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            line.strip_prefix("///")
                .or_else(|| line.strip_prefix("//!"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A number followed by a per-second unit (`12,000/s`, `8 req/s`,
/// `4,474 decisions/s`), or a latency percentile (`5.7 ms p99`,
/// `p99 5.7 ms`, `p99 of 5.7 ms`).
fn figures_in_doc_comments(relative: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let Some(doc) = trimmed
            .strip_prefix("///")
            .or_else(|| trimmed.strip_prefix("//!"))
        else {
            continue;
        };
        if let Some(figure) = rate_figure(doc).or_else(|| percentile_figure(doc)) {
            found.push(format!(
                "{relative}:{}: `{figure}` — benchmark figures go in BENCHMARKS.md, not in doc comments",
                index + 1
            ));
        }
    }
    found
}

/// Splits `text` into words on spaces, keeping punctuation attached.
fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

fn is_number(word: &str) -> bool {
    let word = word.trim_start_matches(['(', '~', '≈', '`']);
    let word = word.trim_end_matches(['k', 'K', 'M']);
    !word.is_empty()
        && word.starts_with(|c: char| c.is_ascii_digit())
        && word
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '.' || c == '–' || c == '-')
}

/// `12,000/s`, `12,000 /s`, `12,000 ops/s`, `12,000 creates/s` …: a number,
/// then (directly or as the next word) a unit ending in `/s`.
fn rate_figure(doc: &str) -> Option<String> {
    let words = words(doc);
    for (index, word) in words.iter().enumerate() {
        let word_clean = word.trim_end_matches(['.', ',', ';', ':', ')', '`']);
        if let Some(number) = word_clean.strip_suffix("/s")
            && is_number(number)
        {
            return Some(word_clean.to_owned());
        }
        if is_number(word_clean)
            && let Some(next) = words.get(index + 1)
        {
            let unit = next.trim_end_matches(['.', ',', ';', ':', ')', '`']);
            if unit.ends_with("/s")
                && unit.len() > 2
                && unit[..unit.len() - 2].chars().all(char::is_alphabetic)
                || unit == "/s"
            {
                return Some(format!("{word_clean} {unit}"));
            }
        }
    }
    None
}

/// `5.7 ms p99`, `p99 5.7 ms`, `p99 of 5.7 ms`, `p99 ≤ 5 ms` is a target
/// and allowed only without a number measured: any `pNN` within three words
/// of `<number> ms` counts.
fn percentile_figure(doc: &str) -> Option<String> {
    let words = words(doc);
    let is_percentile = |word: &str| {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric());
        word.len() == 3 && word.starts_with('p') && word[1..].chars().all(|c| c.is_ascii_digit())
    };
    for (index, word) in words.iter().enumerate() {
        let unit = words
            .get(index + 1)
            .map(|unit| unit.trim_end_matches(['.', ',', ';', ':', ')']));
        if !(is_number(word) && unit == Some("ms")) {
            continue;
        }
        let near = index.saturating_sub(3)..(index + 5).min(words.len());
        if words[near.clone()].iter().any(|word| is_percentile(word)) {
            return Some(words[near].join(" "));
        }
    }
    None
}

/// Markdown links `[text](target)` whose target is an absolute path or
/// climbs out of the repository, and any mention of `../shared/`.
fn outside_links(root: &Path, path: &Path, relative: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    if text.contains("../shared/") {
        found.push(format!(
            "{relative}: mentions ../shared/, which is outside the repository"
        ));
    }
    let folder = path.parent().unwrap();
    for (start, _) in text.match_indices("](") {
        let rest = &text[start + 2..];
        let Some(end) = rest.find(')') else { continue };
        let target = rest[..end].split_whitespace().next().unwrap_or("");
        let target = target.split('#').next().unwrap_or("");
        if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let escapes = target.starts_with('/') || !stays_inside(root, &folder.join(target));
        if escapes {
            found.push(format!(
                "{relative}: links to {target}, outside the repository"
            ));
        }
    }
    found
}

/// Whether `path`, with `..` resolved by name, is still under `root`.
fn stays_inside(root: &Path, path: &Path) -> bool {
    let mut resolved = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                if !resolved.pop() {
                    return false;
                }
            }
            Component::CurDir => {}
            other => resolved.push(other),
        }
    }
    resolved.starts_with(root)
}
