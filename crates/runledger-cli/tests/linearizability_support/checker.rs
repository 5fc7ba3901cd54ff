//! Linearizability of a recorded history (Herlihy & Wing): is there one
//! order of the operations, consistent with real time (an operation that
//! answered before another was invoked comes first), in which the
//! sequential [`Model`] gives every recorded answer? Searched as Wing & Gong
//! do, depth first over "which pending operation takes effect next", with
//! Lowe's memoization: a (set of linearized operations, model state) pair
//! already explored is never explored again, which keeps the search small.
//!
//! An operation whose answer is [`Answer::Unknown`] (a connection error, a
//! timeout, a 5xx) may take effect at any point after its invocation, or
//! never: it has no answer time, is not required to be linearized, and any
//! answer of the model fits it.
//!
//! Runs interact only through the concurrency group, so a history is split
//! into independent parts (the group's runs together, each other run alone)
//! and each part is checked on its own (Herlihy & Wing's locality).

use super::model::{Answer, Model, Operation, RUNS, in_group};
use std::collections::HashSet;
use std::fmt::Write as _;

/// Most operations one part of a history may hold (a bit each in a `u128`).
pub const PART_OPERATIONS_MAX: usize = 128;

/// One recorded operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The client that made the call.
    pub client: usize,
    /// What was called.
    pub operation: Operation,
    /// When the call was invoked (ns on the test's monotonic clock).
    pub invoked_ns: u64,
    /// When the answer arrived; `None` for an [`Answer::Unknown`].
    pub answered_ns: Option<u64>,
    /// The answer.
    pub answer: Answer,
}

/// A history that no order explains: the part that failed, printed.
#[derive(Debug)]
pub struct Violation {
    /// The runs of the part.
    pub runs: Vec<usize>,
    /// The part's entries, in invocation order, one per line.
    pub entries: String,
}

/// Checks every independent part of `history`.
pub fn check(history: &[Entry]) -> Result<(), Violation> {
    let group: Vec<usize> = (0..RUNS).filter(|&run| in_group(run)).collect();
    let mut parts = vec![group];
    parts.extend((0..RUNS).filter(|&run| !in_group(run)).map(|run| vec![run]));
    for runs in parts {
        let mut part: Vec<&Entry> = history
            .iter()
            .filter(|entry| runs.contains(&entry.operation.run()))
            .collect();
        part.sort_by_key(|entry| entry.invoked_ns);
        assert!(
            part.len() <= PART_OPERATIONS_MAX,
            "a part holds at most {PART_OPERATIONS_MAX} operations"
        );
        let required = part
            .iter()
            .enumerate()
            .filter(|(_, entry)| entry.answered_ns.is_some())
            .fold(0u128, |bits, (index, _)| bits | (1 << index));
        let mut search = Search {
            part: &part,
            required,
            explored: HashSet::new(),
        };
        if !search.linearizable(0, &Model::default()) {
            return Err(Violation {
                runs,
                entries: describe(&part),
            });
        }
    }
    Ok(())
}

/// One part's search.
struct Search<'a> {
    part: &'a [&'a Entry],
    /// The operations that answered: every one must be linearized.
    required: u128,
    /// (linearized operations, model) pairs already explored without success.
    explored: HashSet<(u128, Model)>,
}

impl Search<'_> {
    /// Whether the operations not in `done` can follow, from `model`.
    fn linearizable(&mut self, done: u128, model: &Model) -> bool {
        if done & self.required == self.required {
            return true;
        }
        if !self.explored.insert((done, model.clone())) {
            return false;
        }
        // No operation invoked after a pending one answered may go first.
        let horizon = self
            .pending(done)
            .filter_map(|(_, entry)| entry.answered_ns)
            .min()
            .unwrap_or(u64::MAX);
        let candidates: Vec<usize> = self
            .pending(done)
            .filter(|(_, entry)| entry.invoked_ns <= horizon)
            .map(|(index, _)| index)
            .collect();
        for index in candidates {
            let entry = self.part[index];
            let (next, answer) = model.step(&entry.operation);
            let fits = entry.answer == Answer::Unknown || entry.answer == answer;
            if fits && self.linearizable(done | (1 << index), &next) {
                return true;
            }
        }
        false
    }

    fn pending(&self, done: u128) -> impl Iterator<Item = (usize, &Entry)> + '_ {
        self.part
            .iter()
            .enumerate()
            .filter(move |(index, _)| done & (1 << index) == 0)
            .map(|(index, entry)| (index, *entry))
    }
}

fn describe(part: &[&Entry]) -> String {
    let mut text = String::new();
    for entry in part {
        let answered = entry.answered_ns.map_or("never".to_owned(), |ns| {
            format!("{:.3} ms", ns as f64 / 1e6)
        });
        let _ = writeln!(
            text,
            "  client {} [{:.3} ms .. {answered}] {:?} -> {:?}",
            entry.client,
            entry.invoked_ns as f64 / 1e6,
            entry.operation,
            entry.answer
        );
    }
    text
}
