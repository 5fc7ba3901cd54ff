//! SPEC §2.8 "Bad input is refused, not absorbed", for every parser: the
//! fuzz properties of `fuzz/properties.rs` (never panic; accept exactly the
//! SPEC grammar, byte for byte; refuse with the right code; the strict JSON
//! extractor accepts only objects with known fields, no duplicate keys, at
//! most 64 levels) checked on stable Rust inside `cargo test`: first every
//! seed of the committed corpus (`fuzz/corpus/<target>/`), then
//! [`MUTATIONS_DEFAULT`] seeded mutations of it per target
//! (`RUNLEDGER_TORTURE_FUZZ_CASES=N` for N, the long mode of
//! RELIABILITY.md). A failing input is written under the test's tmpdir and
//! printed, to be added to the corpus once fixed. The same targets run
//! under libFuzzer with `cargo fuzz run` (see `fuzz/README.md`).

#[path = "../../../fuzz/properties.rs"]
mod properties;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Mutated inputs per target in CI.
const MUTATIONS_DEFAULT: usize = 50_000;
/// Longest input the mutator grows (the JSON depth limit needs ~130 bytes).
const INPUT_BYTES_MAX: usize = 4096;

#[test]
fn every_parser_holds_its_properties_on_the_corpus_and_its_mutations() {
    let mutations = std::env::var("RUNLEDGER_TORTURE_FUZZ_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(MUTATIONS_DEFAULT);
    let corpus_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut crashes = Vec::new();
    for (target, property) in properties::TARGETS {
        let started = Instant::now();
        let seeds = corpus(&corpus_root.join(target));
        assert!(seeds.len() >= 10, "{target}: the corpus has its seeds");
        let mut executions = 0usize;
        let mut run = |input: &[u8]| {
            executions += 1;
            if catch_unwind(AssertUnwindSafe(|| property(input))).is_err() {
                crashes.push(save_crash(target, input));
            }
        };
        for seed in &seeds {
            run(seed);
        }
        let mut rng = Rng(0x0f22_u64 ^ target.len() as u64);
        for _ in 0..mutations {
            let input = mutate(&mut rng, &seeds);
            run(&input);
        }
        println!(
            "fuzz [{target}]: {} seeds + {mutations} mutations = {executions} executions, {:.1} s",
            seeds.len(),
            started.elapsed().as_secs_f64()
        );
    }
    println!("fuzz: {} crashes", crashes.len());
    assert!(
        crashes.is_empty(),
        "inputs that break a property: {crashes:?}"
    );
}

/// Every file of a corpus folder, in name order.
fn corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| std::fs::read(path).expect("a corpus file"))
        .collect()
}

fn save_crash(target: &str, input: &[u8]) -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-crashes");
    std::fs::create_dir_all(&dir).expect("the crash folder");
    let path = dir.join(format!("{target}-{:016x}", hash(input)));
    std::fs::write(&path, input).expect("the crash file");
    format!("{} {:?}", path.display(), String::from_utf8_lossy(input))
}

fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Tokens worth splicing in: JSON syntax, NUL in both spellings, the
/// separators and edge characters of the grammars, numbers at the edges.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"\\",
    b"\\u0000",
    b"\0",
    b"null",
    b"true",
    b"-1",
    b"1e999",
    b"18446744073709551616",
    b"0.5",
    b"\"kind\":\"k\"",
    b"\"id\":\"a\"",
    b"\"lease_epoch\":1",
    b"\"owner\":\"w\"",
    b"\"a\":1,\"a\":2",
    b"{\"x\":",
    b"[[[[[[[[",
    b"]]]]]]]]",
    b".",
    b"_",
    b"-",
    b"/",
    b":",
    b" ",
    b"\t",
    b"\n",
    b"\x7f",
    "é".as_bytes(),
    "😀".as_bytes(),
    "\u{202e}".as_bytes(),
    b"\xff",
    b"\xc3",
    b"T",
    b"Z",
    b"+01:00",
    b"60",
    b"9999",
    b"0000",
    b"created",
    b"started",
];

/// One to four mutations of a corpus seed (libFuzzer's basic moves).
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut input = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(8) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = rng.below(256) as u8;
            }
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                input.splice(at..at, token.iter().copied());
            }
            3 if !input.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(input.len());
                let start = at.min(end.saturating_sub(1));
                input.drain(start..end);
            }
            4 if !input.is_empty() => {
                let start = rng.below(input.len());
                let end = (start + 1 + rng.below(16)).min(input.len());
                let copy = input[start..end].to_vec();
                for _ in 0..=rng.below(8) {
                    input.splice(at..at, copy.iter().copied());
                }
            }
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                input.truncate(at);
                input.extend_from_slice(&other[from..]);
            }
            6 if !input.is_empty() => {
                // Keep the selector byte of the targets that have one, mostly.
                let i = if rng.below(4) == 0 {
                    0
                } else {
                    rng.below(input.len())
                };
                input[i] = input[i].wrapping_add(1);
            }
            _ => input.insert(at, rng.below(128) as u8),
        }
    }
    input.truncate(INPUT_BYTES_MAX);
    input
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n.max(1) as u64) as usize
    }
}
