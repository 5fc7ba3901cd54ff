//! The local subscriptions of the client's WebSocket task: handing an
//! event to each local whose next counter it is, and ending locals.

use super::{Local, Task};
use crate::error::ClientError;
use crate::subscription::Topic;
use runledger_core::{Event, LifecycleEvent};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

impl Task {
    /// Hands `event` to every local of a `confirmed` topic expecting it
    /// next; answers the topics some of whose locals ended (terminal event,
    /// dropped receiver).
    pub(super) fn deliver(
        &mut self,
        event: &Event,
        confirmed: impl Fn(&Topic) -> bool,
    ) -> Vec<Topic> {
        let terminal = is_terminal(&event.event_type);
        let mut ended = Vec::new();
        for (id, local) in &mut self.locals {
            let Some(counter) = local.topic.counter(event) else {
                continue;
            };
            if !confirmed(&local.topic) {
                continue;
            }
            if local.behind || counter != local.last + 1 {
                continue;
            }
            match local.events.try_send(Ok(event.clone())) {
                Ok(()) => {
                    local.last = counter;
                    if terminal && matches!(local.topic, Topic::Run(_)) {
                        ended.push(*id);
                    }
                }
                Err(TrySendError::Full(_)) => local.behind = true,
                Err(TrySendError::Closed(_)) => ended.push(*id),
            }
        }
        ended
            .into_iter()
            .filter_map(|id| self.locals.remove(&id))
            .map(|local| local.topic)
            .collect()
    }

    /// Ends the locals `which` selects, each with the error `error` makes.
    pub(super) fn end_locals(
        &mut self,
        which: impl Fn(&Local) -> bool,
        error: impl Fn(&Local) -> ClientError,
    ) {
        let ids: Vec<u64> = self
            .locals
            .iter()
            .filter(|(_, local)| which(local))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(local) = self.locals.remove(&id) {
                let _ = local.events.try_send(Err(error(&local)));
            }
        }
    }
}

/// A new local subscription resuming after `after`.
pub(super) fn local(
    topic: Topic,
    after: u64,
    events: mpsc::Sender<Result<Event, ClientError>>,
) -> Local {
    Local {
        topic,
        last: after,
        events,
        behind: false,
    }
}

/// A run's stream ends after one of these.
pub(super) fn is_terminal(event_type: &str) -> bool {
    matches!(
        LifecycleEvent::from_name(event_type),
        Some(
            LifecycleEvent::Succeeded
                | LifecycleEvent::Failed
                | LifecycleEvent::Cancelled
                | LifecycleEvent::TimedOut
        )
    )
}
