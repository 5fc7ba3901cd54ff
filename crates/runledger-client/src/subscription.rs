//! [`Subscription`]: the caller's end of one subscription, a stream of
//! events fed by the client's WebSocket task.

use crate::error::ClientError;
use futures_core::Stream;
use runledger_core::{Event, RunId};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// What a subscription follows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// One run's events, by seq; ends after its terminal event.
    Run(RunId),
    /// The whole tenant's events, by position.
    Tenant,
}

impl Topic {
    /// The `run_id` of the WebSocket messages (`None` = the tenant).
    pub(crate) fn run_id(&self) -> Option<&RunId> {
        match self {
            Topic::Run(id) => Some(id),
            Topic::Tenant => None,
        }
    }

    /// The counter this topic resumes by: the seq of a run's event, the
    /// position of a tenant's.
    pub(crate) fn counter(&self, event: &Event) -> Option<u64> {
        match self {
            Topic::Run(id) if *id == event.run_id => Some(event.seq),
            Topic::Run(_) => None,
            Topic::Tenant => Some(event.position),
        }
    }
}

/// Sent to the WebSocket task when a subscription is dropped.
pub(crate) type DropNotice = (mpsc::Sender<crate::socket::Command>, u64);

/// Events of one run or of the tenant, each exactly once and in order.
/// An `Err` item (a refusal such as `not_found`) is the last. Implements
/// [`Stream`]; [`Subscription::next`] is the same without a `StreamExt`.
#[derive(Debug)]
pub struct Subscription {
    events: mpsc::Receiver<Result<Event, ClientError>>,
    topic: Topic,
    drop_notice: Option<DropNotice>,
}

impl Subscription {
    pub(crate) fn new(
        topic: Topic,
        events: mpsc::Receiver<Result<Event, ClientError>>,
        drop_notice: DropNotice,
    ) -> Subscription {
        Subscription {
            events,
            topic,
            drop_notice: Some(drop_notice),
        }
    }

    /// The next event; `None` once a run's terminal event was delivered
    /// (or the client is gone).
    pub async fn next(&mut self) -> Option<Result<Event, ClientError>> {
        self.events.recv().await
    }

    /// What this subscription follows.
    pub fn topic(&self) -> &Topic {
        &self.topic
    }
}

impl Stream for Subscription {
    type Item = Result<Event, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Best effort: when the command queue is full, the task still finds
        // the closed channel at its next sweep.
        if let Some((commands, id)) = self.drop_notice.take() {
            let _ = commands.try_send(crate::socket::Command::Forget { id });
        }
    }
}
