//! The operations that change a run, by name: what an `invalid_transition`
//! error says was refused, and what the store's writes are labelled with
//! (their failpoint sites among them).

/// An operation that changes a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Creating a run.
    Create,
    /// Starting a queued run under a lease.
    Start,
    /// Extending a running run's lease.
    Heartbeat,
    /// Ending a running run with its outcome.
    Finish,
    /// Cancelling a pending, queued or running run.
    Cancel,
    /// Appending an event to a run's log.
    Append,
    /// Timing out a run whose lease expired.
    Reap,
    /// Moving a pending run into a freed slot of its group.
    Promote,
}

impl Operation {
    /// The operation's name, as messages and failpoint sites spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Start => "start",
            Operation::Heartbeat => "heartbeat",
            Operation::Finish => "finish",
            Operation::Cancel => "cancel",
            Operation::Append => "append",
            Operation::Reap => "reap",
            Operation::Promote => "promote",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
