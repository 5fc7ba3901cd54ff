//! The sequential specification a history is checked against: SPEC §2–3
//! for [`RUNS`] runs, written from the SPEC (not from the server's code).
//! Runs `0` and `1` belong to one concurrency group with limit 1 and
//! `on_full: reject`; the others to none. Leases are long (a minute), so
//! nothing expires during a history and the reaper never acts: the states
//! reachable are `queued`, `running`, `succeeded`, `failed` and `cancelled`.
//!
//! Each run remembers what its answers show (state, version, last seq,
//! lease) plus what decides later answers: its creation parameters (the
//! attribute variant), its newest lease epoch (kept after the run ends, so
//! late calls are fenced) and whether it ever started.

/// Runs per history.
pub const RUNS: usize = 4;

/// Lease length of every start in a history: long enough that no lease
/// expires while a history runs.
pub const LEASE_TTL_MS: u64 = 60_000;

/// Whether run `run` is created in the history's concurrency group
/// (limit 1, `on_full: reject`).
pub fn in_group(run: usize) -> bool {
    run < 2
}

/// A run's state, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// `pending` (never reached here: the group rejects when full).
    Pending,
    /// `queued`.
    Queued,
    /// `running`.
    Running,
    /// `succeeded`.
    Succeeded,
    /// `failed`.
    Failed,
    /// `cancelled`.
    Cancelled,
    /// `timed_out` (never reached here: leases outlive a history).
    TimedOut,
}

impl State {
    /// The state named `text` in a run's JSON.
    pub fn parse(text: &str) -> Option<State> {
        Some(match text {
            "pending" => State::Pending,
            "queued" => State::Queued,
            "running" => State::Running,
            "succeeded" => State::Succeeded,
            "failed" => State::Failed,
            "cancelled" => State::Cancelled,
            "timed_out" => State::TimedOut,
            _ => return None,
        })
    }

    /// Counts against the group's limit (SPEC §2.4: `queued` + `running`).
    fn is_active(self) -> bool {
        matches!(self, State::Queued | State::Running)
    }
}

/// How a finish ends a run. Each outcome has one fixed body (`succeeded`
/// with `result: {"ok": true}`, `failed` with `error: "boom"`), so a repeat
/// of the same outcome is a repeat of the same finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// `succeeded`.
    Succeeded,
    /// `failed`.
    Failed,
}

impl Outcome {
    fn state(self) -> State {
        match self {
            Outcome::Succeeded => State::Succeeded,
            Outcome::Failed => State::Failed,
        }
    }
}

/// One call a client makes. Runs are numbered `0..RUNS`, lease owners
/// `0..` (`w0`, `w1`, … on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `POST /v1/runs` with the run's id, `attributes: {"variant": variant}`,
    /// the group for runs 0 and 1, and `start` when `start` names an owner.
    Create {
        /// The run.
        run: usize,
        /// The creation parameters' variant; a different one conflicts.
        variant: u8,
        /// The owner of a create-and-start.
        start: Option<u8>,
    },
    /// `POST /v1/runs/{id}/start`.
    Start {
        /// The run.
        run: usize,
        /// The lease owner.
        owner: u8,
    },
    /// `POST /v1/runs/{id}/heartbeat`.
    Heartbeat {
        /// The run.
        run: usize,
        /// The lease epoch given.
        epoch: u64,
    },
    /// `POST /v1/runs/{id}/events` (type `progress`).
    Append {
        /// The run.
        run: usize,
        /// The lease epoch given, if any.
        epoch: Option<u64>,
    },
    /// `POST /v1/runs/{id}/finish`.
    Finish {
        /// The run.
        run: usize,
        /// The lease epoch given.
        epoch: u64,
        /// Succeeded or failed.
        outcome: Outcome,
    },
    /// `POST /v1/runs/{id}/cancel`.
    Cancel {
        /// The run.
        run: usize,
    },
    /// `GET /v1/runs/{id}`.
    Get {
        /// The run.
        run: usize,
    },
}

impl Operation {
    /// The run the operation is about.
    pub fn run(&self) -> usize {
        match *self {
            Operation::Create { run, .. }
            | Operation::Start { run, .. }
            | Operation::Heartbeat { run, .. }
            | Operation::Append { run, .. }
            | Operation::Finish { run, .. }
            | Operation::Cancel { run }
            | Operation::Get { run } => run,
        }
    }
}

/// What a run looks like in an answer: the fields the model decides.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunView {
    /// `state`.
    pub state: State,
    /// `version`.
    pub version: u64,
    /// `last_seq`.
    pub last_seq: u64,
    /// `lease`: its owner and epoch, or `None` for `null`.
    pub lease: Option<(u8, u64)>,
}

/// The answer to one operation, reduced to what the model decides.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Answer {
    /// `200` or `201` with a run.
    Run {
        /// `200` or `201`.
        status: u16,
        /// The run.
        run: RunView,
    },
    /// `201 {"seq": n, …}` of an append.
    Appended {
        /// The event's seq.
        seq: u64,
    },
    /// A problem (4xx) with its code; for `concurrency_limit`, the runs its
    /// `active_run_ids` names, sorted.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The problem's `code`.
        code: String,
        /// `active_run_ids`, as run numbers.
        active: Vec<usize>,
    },
    /// No answer (connection error, timeout) or a 5xx: the operation may
    /// have taken effect at any moment after it was invoked, or never.
    Unknown,
}

impl Answer {
    fn refused(status: u16, code: &str) -> Answer {
        Answer::Refused {
            status,
            code: code.to_owned(),
            active: Vec::new(),
        }
    }
}

/// One run as the model holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RunModel {
    variant: u8,
    state: State,
    version: u64,
    last_seq: u64,
    /// The newest lease epoch (0 before the first start), kept after the end.
    epoch: u64,
    /// The lease owner while running.
    owner: Option<u8>,
    /// Whether the run ever started (fenced calls on a run cancelled before
    /// it started are `invalid_transition`, after: `stale_lease`).
    started: bool,
}

impl RunModel {
    fn view(&self) -> RunView {
        RunView {
            state: self.state,
            version: self.version,
            last_seq: self.last_seq,
            lease: match (self.state, self.owner) {
                (State::Running, Some(owner)) => Some((owner, self.epoch)),
                _ => None,
            },
        }
    }

    /// SPEC §2.9: a heartbeat or finish of a run that never started
    /// (queued, pending, or cancelled before it started).
    fn never_started(&self) -> bool {
        !self.started
    }

    /// One more change of the row, with a lifecycle event when `event`.
    fn changed(&self, event: bool) -> RunModel {
        let mut after = self.clone();
        after.version += 1;
        if event {
            after.last_seq += 1;
        }
        after
    }
}

/// The state of every run of a history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Model {
    runs: [Option<RunModel>; RUNS],
}

impl Model {
    /// Applies `operation` to a copy of the model: the state after it and
    /// the answer the SPEC requires.
    pub fn step(&self, operation: &Operation) -> (Model, Answer) {
        let run = operation.run();
        let Some(stored) = &self.runs[run] else {
            return self.on_missing(operation);
        };
        let step = match *operation {
            // Guarantee 2: `start` is not a creation parameter; the existing
            // run is answered as it is.
            Operation::Create { variant, .. } if variant == stored.variant => Step::Same,
            Operation::Create { .. } => Step::Refused(409, "run_conflict"),
            Operation::Start { owner, .. } => match stored.state {
                State::Queued => {
                    let mut after = stored.changed(true);
                    after.state = State::Running;
                    after.epoch += 1;
                    after.owner = Some(owner);
                    after.started = true;
                    Step::Change(after)
                }
                State::Running if stored.owner == Some(owner) => Step::Same,
                _ => Step::Refused(409, "invalid_transition"),
            },
            Operation::Heartbeat { epoch, .. } => {
                if stored.never_started() {
                    Step::Refused(409, "invalid_transition")
                } else if stored.state == State::Running && epoch == stored.epoch {
                    Step::Change(stored.changed(false))
                } else {
                    Step::Refused(409, "stale_lease")
                }
            }
            Operation::Append { epoch, .. } => {
                let allowed = match stored.state {
                    State::Pending | State::Queued => true,
                    State::Running => epoch == Some(stored.epoch),
                    _ => false,
                };
                if allowed {
                    Step::Appended(stored.changed(true))
                } else {
                    Step::Refused(409, "stale_lease")
                }
            }
            Operation::Finish { epoch, outcome, .. } => {
                if stored.never_started() {
                    Step::Refused(409, "invalid_transition")
                } else if stored.state == State::Running && epoch == stored.epoch {
                    let mut after = stored.changed(true);
                    after.state = outcome.state();
                    after.owner = None;
                    Step::Change(after)
                } else if stored.state == outcome.state() && epoch == stored.epoch {
                    Step::Same
                } else {
                    Step::Refused(409, "stale_lease")
                }
            }
            Operation::Cancel { .. } => match stored.state {
                State::Cancelled => Step::Same,
                State::Succeeded | State::Failed | State::TimedOut => {
                    Step::Refused(409, "invalid_transition")
                }
                State::Pending | State::Queued | State::Running => {
                    let mut after = stored.changed(true);
                    after.state = State::Cancelled;
                    after.owner = None;
                    Step::Change(after)
                }
            },
            Operation::Get { .. } => Step::Same,
        };
        match step {
            Step::Same => (self.clone(), run_answer(200, stored)),
            Step::Refused(status, code) => (self.clone(), Answer::refused(status, code)),
            Step::Change(after) => {
                let answer = run_answer(200, &after);
                (self.with(run, after), answer)
            }
            Step::Appended(after) => {
                let seq = after.last_seq;
                (self.with(run, after), Answer::Appended { seq })
            }
        }
    }

    fn with(&self, run: usize, after: RunModel) -> Model {
        let mut next = self.clone();
        next.runs[run] = Some(after);
        next
    }

    /// An operation on a run that does not exist: a create decides
    /// admission (SPEC §3, `reject`), anything else is `404`.
    fn on_missing(&self, operation: &Operation) -> (Model, Answer) {
        let Operation::Create {
            run,
            variant,
            start,
        } = *operation
        else {
            return (self.clone(), Answer::refused(404, "not_found"));
        };
        if in_group(run) {
            let active: Vec<usize> = (0..RUNS)
                .filter(|&other| in_group(other))
                .filter(|&other| {
                    self.runs[other]
                        .as_ref()
                        .is_some_and(|stored| stored.state.is_active())
                })
                .collect();
            if !active.is_empty() {
                return (
                    self.clone(),
                    Answer::Refused {
                        status: 409,
                        code: "concurrency_limit".into(),
                        active,
                    },
                );
            }
        }
        let created = match start {
            None => RunModel {
                variant,
                state: State::Queued,
                version: 1,
                last_seq: 1,
                epoch: 0,
                owner: None,
                started: false,
            },
            // One change: version 1, events `created` then `started`.
            Some(owner) => RunModel {
                variant,
                state: State::Running,
                version: 1,
                last_seq: 2,
                epoch: 1,
                owner: Some(owner),
                started: true,
            },
        };
        let answer = run_answer(201, &created);
        (self.with(run, created), answer)
    }
}

fn run_answer(status: u16, stored: &RunModel) -> Answer {
    Answer::Run {
        status,
        run: stored.view(),
    }
}

/// What one operation does to a stored run.
enum Step {
    /// Nothing changes; the run is answered as it is.
    Same,
    /// Nothing changes; a problem with this status and code.
    Refused(u16, &'static str),
    /// The run becomes this; answered `200` with it.
    Change(RunModel),
    /// An append: the run becomes this; answered with the new seq.
    Appended(RunModel),
}
