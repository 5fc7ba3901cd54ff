//! What a bench measured: operation counts and a latency histogram per
//! caller, merged across callers and processes, and the summary printed at
//! the end (a table, or JSON with the keys SPEC §5 names).
//!
//! Latencies are recorded in microseconds in an HDR histogram with 3
//! significant digits. Worker processes send theirs to the parent as the
//! histogram's non-empty buckets (`[value_us, count]` pairs), which the
//! parent records again: the merge is exact to the histogram's precision
//! and needs no serializer dependency.

use super::target::OpError;
use crate::cli::BenchArgs;
use crate::failure::Failure;
use comfy_table::{Table, presets};
use hdrhistogram::Histogram;
use runledger::ErrorCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Largest latency the histogram tells apart: one minute.
const LATENCY_US_MAX: u64 = 60_000_000;
/// Significant digits the histogram keeps.
const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;
/// Error kinds whose first message is kept for the report.
const ERROR_KINDS_MAX: usize = 32;

/// Counts and latencies of some callers.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Operations that got an answer, refusals included.
    pub ops: u64,
    /// Operations that failed unexpectedly.
    pub errors: u64,
    /// Operations refused as the workload expects (race only).
    pub refused: u64,
    /// Per error code: how many, and the first message seen.
    pub errors_by_code: BTreeMap<String, (u64, String)>,
    /// Latency of every operation, in microseconds.
    pub latency_us: Histogram<u64>,
}

/// A [`Tally`] as a worker process sends it to its parent.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireTally {
    ops: u64,
    errors: u64,
    refused: u64,
    errors_by_code: BTreeMap<String, (u64, String)>,
    /// The histogram's non-empty buckets: `[value_us, count]`.
    latency_us: Vec<(u64, u64)>,
}

impl WireTally {
    /// Operations the worker counted.
    pub fn ops(&self) -> u64 {
        self.ops
    }
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Tally {
        Tally {
            ops: 0,
            errors: 0,
            refused: 0,
            errors_by_code: BTreeMap::new(),
            latency_us: Histogram::new_with_bounds(1, LATENCY_US_MAX, LATENCY_SIGNIFICANT_DIGITS)
                .expect("the histogram bounds are valid constants"),
        }
    }

    /// Records one operation that succeeded after `elapsed`.
    pub fn record_ok(&mut self, elapsed: Duration) {
        self.ops += 1;
        self.record_latency(elapsed);
    }

    /// Records one operation that failed after `elapsed`; `expected` lists
    /// the codes that the workload provokes on purpose.
    pub fn record_error(&mut self, elapsed: Duration, error: &OpError, expected: &[ErrorCode]) {
        self.ops += 1;
        self.record_latency(elapsed);
        if error.code.is_some_and(|code| expected.contains(&code)) {
            self.refused += 1;
            return;
        }
        self.record_failure(error);
    }

    /// Counts one failure that is not a timed operation (a stream
    /// subscriber that could not connect, say): an error, no latency.
    pub fn record_failure(&mut self, error: &OpError) {
        self.errors += 1;
        let kinds = self.errors_by_code.len();
        match self.errors_by_code.get_mut(&error.name) {
            Some((count, _)) => *count += 1,
            None if kinds < ERROR_KINDS_MAX => {
                self.errors_by_code
                    .insert(error.name.clone(), (1, error.message.clone()));
            }
            None => {}
        }
    }

    /// Records one latency without counting an operation (the stream
    /// workload's deliveries).
    pub fn record_latency(&mut self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.saturating_record(micros.max(1));
    }

    /// Adds `other` into this tally.
    pub fn merge(&mut self, other: &Tally) {
        self.ops += other.ops;
        self.errors += other.errors;
        self.refused += other.refused;
        for (code, (count, message)) in &other.errors_by_code {
            self.errors_by_code
                .entry(code.clone())
                .and_modify(|(total, _)| *total += count)
                .or_insert_with(|| (*count, message.clone()));
        }
        self.latency_us
            .add(&other.latency_us)
            .expect("tallies share one histogram configuration");
    }

    /// The tally as a worker sends it.
    pub fn to_wire(&self) -> WireTally {
        WireTally {
            ops: self.ops,
            errors: self.errors,
            refused: self.refused,
            errors_by_code: self.errors_by_code.clone(),
            latency_us: self
                .latency_us
                .iter_recorded()
                .map(|bucket| (bucket.value_iterated_to(), bucket.count_at_value()))
                .collect(),
        }
    }

    /// The tally a worker sent.
    pub fn from_wire(wire: WireTally) -> Tally {
        let mut tally = Tally::new();
        tally.ops = wire.ops;
        tally.errors = wire.errors;
        tally.refused = wire.refused;
        tally.errors_by_code = wire.errors_by_code;
        for (value_us, count) in wire.latency_us {
            tally
                .latency_us
                .saturating_record_n(value_us.clamp(1, LATENCY_US_MAX), count);
        }
        tally
    }

    fn quantile_ms(&self, quantile: f64) -> f64 {
        if self.latency_us.is_empty() {
            return 0.0;
        }
        micros_to_ms(self.latency_us.value_at_quantile(quantile))
    }
}

/// What the race audit counted (SPEC §5: duplicates, over-limit groups, orphans).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RaceAudit {
    /// Duplicate runs and duplicate children.
    pub duplicates: usize,
    /// Groups with more active runs than their limit.
    pub over_limit: usize,
    /// Runs without their `created` event, and events without their run.
    pub orphans: usize,
    /// Every problem the audit found, these three kinds and the others.
    pub problems: usize,
}

/// What the stream workload's subscribers checked, added up over all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamCheck {
    /// SSE subscribers opened.
    pub subscribers: u64,
    /// Events of this bench received, over all subscribers.
    pub deliveries: u64,
    /// Appended events that a subscriber never received (summed over subscribers).
    pub missing: u64,
    /// Events a subscriber received more than once.
    pub duplicates: u64,
    /// Events a subscriber received after one with a higher position.
    pub out_of_order: u64,
}

impl StreamCheck {
    /// Whether any subscriber missed, repeated or reordered an event.
    pub fn has_problems(&self) -> bool {
        self.missing + self.duplicates + self.out_of_order > 0
    }
}

/// The summary of one bench, with exactly the JSON keys of SPEC §5.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The workload's name.
    pub workload: &'static str,
    /// Callers in all processes together.
    pub clients: u64,
    /// How long the load ran, in seconds.
    pub duration_s: f64,
    /// Operations that got an answer.
    pub ops: u64,
    /// `ops` per second of `duration_s`.
    pub ops_per_sec: f64,
    /// Operations that failed unexpectedly.
    pub errors: u64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile latency, milliseconds.
    pub p90_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// Slowest operation, milliseconds.
    pub max_ms: f64,
    /// Batch only: runs created (or answered) per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs_per_sec: Option<f64>,
    /// Stream only: SSE subscribers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscribers: Option<u64>,
    /// Stream only: events received, over all subscribers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<u64>,
    /// Stream only: `deliveries` per second, from the start of the load to
    /// the last delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries_per_sec: Option<f64>,
    /// Stream only: appended events a subscriber never received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<u64>,
    /// Race: duplicate runs or children found by the audit. Stream: events
    /// a subscriber received more than once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicates: Option<u64>,
    /// Stream only: events received after one with a higher position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_of_order: Option<u64>,
    /// Race only: groups over their limit found by the audit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub over_limit: Option<usize>,
    /// Race only: orphan runs or events found by the audit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orphans: Option<usize>,
}

impl Summary {
    /// The summary of `tally` over `elapsed`, with the race audit if there was one.
    pub fn new(
        workload: &'static str,
        clients: u64,
        elapsed: Duration,
        tally: &Tally,
        race: Option<RaceAudit>,
    ) -> Summary {
        let seconds = elapsed.as_secs_f64();
        let ops_per_sec = if seconds > 0.0 {
            tally.ops as f64 / seconds
        } else {
            0.0
        };
        Summary {
            workload,
            clients,
            duration_s: round_to(seconds, 3),
            ops: tally.ops,
            ops_per_sec: round_to(ops_per_sec, 1),
            errors: tally.errors,
            p50_ms: tally.quantile_ms(0.50),
            p90_ms: tally.quantile_ms(0.90),
            p99_ms: tally.quantile_ms(0.99),
            max_ms: micros_to_ms(tally.latency_us.max()),
            runs_per_sec: None,
            subscribers: None,
            deliveries: None,
            deliveries_per_sec: None,
            missing: None,
            duplicates: race.map(|audit| audit.duplicates as u64),
            out_of_order: None,
            over_limit: race.map(|audit| audit.over_limit),
            orphans: race.map(|audit| audit.orphans),
        }
    }

    /// This summary with the stream workload's check; `delivering` is the
    /// time from the start of the load to the last delivery.
    pub fn with_stream(mut self, check: &StreamCheck, delivering: Duration) -> Summary {
        let seconds = delivering.as_secs_f64();
        let per_sec = if seconds > 0.0 {
            check.deliveries as f64 / seconds
        } else {
            0.0
        };
        self.subscribers = Some(check.subscribers);
        self.deliveries = Some(check.deliveries);
        self.deliveries_per_sec = Some(round_to(per_sec, 1));
        self.missing = Some(check.missing);
        self.duplicates = Some(check.duplicates);
        self.out_of_order = Some(check.out_of_order);
        self
    }

    /// The summary as a human table; `refused` is shown for the race.
    pub fn table(&self, processes: u32, refused: u64) -> Table {
        let mut table = Table::new();
        table.load_style(presets::UTF8_FULL_CONDENSED);
        table.set_header(["measure", "value"]);
        let clients = if processes > 1 {
            format!(
                "{} ({processes} processes × {})",
                self.clients,
                self.clients / u64::from(processes)
            )
        } else {
            self.clients.to_string()
        };
        let mut rows = vec![
            ("workload", self.workload.to_owned()),
            ("clients", clients),
            ("duration", format!("{:.2} s", self.duration_s)),
            ("ops", self.ops.to_string()),
            ("ops/s", format!("{:.0}", self.ops_per_sec)),
            ("errors", self.errors.to_string()),
        ];
        if let Some(runs_per_sec) = self.runs_per_sec {
            rows.push(("runs/s", format!("{runs_per_sec:.0}")));
        }
        rows.extend([
            ("p50", format!("{:.3} ms", self.p50_ms)),
            ("p90", format!("{:.3} ms", self.p90_ms)),
            ("p99", format!("{:.3} ms", self.p99_ms)),
            ("max", format!("{:.3} ms", self.max_ms)),
        ]);
        if let (Some(subscribers), Some(deliveries), Some(per_sec), Some(missing)) = (
            self.subscribers,
            self.deliveries,
            self.deliveries_per_sec,
            self.missing,
        ) {
            rows[0].1 = format!("{} (latencies: commit to delivery)", self.workload);
            rows.push(("subscribers", subscribers.to_string()));
            rows.push(("deliveries", deliveries.to_string()));
            rows.push(("deliveries/s", format!("{per_sec:.0}")));
            rows.push(("missing", missing.to_string()));
            rows.push(("duplicates", self.duplicates.unwrap_or(0).to_string()));
            rows.push(("out of order", self.out_of_order.unwrap_or(0).to_string()));
        }
        if let (Some(duplicates), Some(over_limit), Some(orphans)) =
            (self.duplicates, self.over_limit, self.orphans)
        {
            rows.push(("refused (expected)", refused.to_string()));
            rows.push(("duplicates", duplicates.to_string()));
            rows.push(("over-limit groups", over_limit.to_string()));
            rows.push(("orphans", orphans.to_string()));
        }
        for (measure, value) in rows {
            table.add_row([measure.to_owned(), value]);
        }
        table
    }
}

fn micros_to_ms(micros: u64) -> f64 {
    round_to(micros as f64 / 1_000.0, 3)
}

fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// Prints `summary` as `--json` or a table, then one line per kind of
/// error in `tally`.
pub fn print_summary(summary: &Summary, args: &BenchArgs, tally: &Tally) -> Result<(), Failure> {
    if args.json {
        let json = serde_json::to_string(summary)
            .map_err(|error| Failure::Failed(format!("cannot print the summary: {error}")))?;
        println!("{json}");
    } else {
        println!("{}", summary.table(args.processes, tally.refused));
    }
    for (code, (count, first)) in &tally.errors_by_code {
        eprintln!("runledger: {count} operations failed with {code}, first: {first}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_survives_the_wire_and_merges() {
        let mut first = Tally::new();
        for micros in [100, 200, 300, 5_000] {
            first.record_ok(Duration::from_micros(micros));
        }
        first.record_error(
            Duration::from_micros(50),
            &runledger::Error::storage("disk full").into(),
            &[ErrorCode::StaleLease],
        );
        let wire = serde_json::to_string(&first.to_wire()).expect("a tally serializes");
        let back = Tally::from_wire(serde_json::from_str(&wire).expect("and parses back"));
        assert_eq!(back.ops, 5);
        assert_eq!(back.errors, 1);
        assert_eq!(back.latency_us.len(), 5);
        assert_eq!(back.latency_us.max(), first.latency_us.max());

        let mut merged = Tally::new();
        merged.merge(&back);
        merged.merge(&first);
        assert_eq!(merged.ops, 10);
        assert_eq!(merged.errors, 2);
        assert_eq!(merged.latency_us.len(), 10);
        assert_eq!(merged.errors_by_code["internal"].0, 2);
    }

    #[test]
    fn expected_refusals_are_not_errors() {
        let mut tally = Tally::new();
        let refusal = runledger::Error::InvalidTransition {
            id: runledger::RunId::parse("a").expect("a valid id"),
            state: runledger::RunState::Succeeded,
            operation: runledger::Operation::Start,
        };
        tally.record_error(
            Duration::from_micros(10),
            &refusal.into(),
            &[ErrorCode::InvalidTransition],
        );
        assert_eq!((tally.ops, tally.errors, tally.refused), (1, 0, 1));
    }
}
