//! The order runs are written in: parents before their children.

use super::plan::Planned;
use runledger::RunId;
use std::collections::HashSet;

/// The runs in waves: each run comes in the wave after its parent's (when
/// the parent is in the file), so parents exist before their children.
pub fn waves(runs: Vec<Planned>) -> Vec<Vec<Planned>> {
    let in_file: HashSet<RunId> = runs.iter().map(|run| run.id.clone()).collect();
    let mut done: HashSet<RunId> = HashSet::new();
    let mut waiting = runs;
    let mut waves = Vec::new();
    while !waiting.is_empty() {
        let (ready, later): (Vec<Planned>, Vec<Planned>) =
            waiting.into_iter().partition(|run| match &run.parent {
                Some((parent, _)) => !in_file.contains(parent) || done.contains(parent),
                None => true,
            });
        if ready.is_empty() {
            // Unreachable for a tree; a cycle cannot occur because a child's
            // id extends its parent's. Write the rest anyway: the ledger
            // refuses what has no parent.
            waves.push(later);
            break;
        }
        done.extend(ready.iter().map(|run| run.id.clone()));
        waves.push(ready);
        waiting = later;
    }
    waves
}
