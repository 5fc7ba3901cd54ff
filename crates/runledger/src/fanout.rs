//! The buffer a tenant's feed shares with its subscriptions: the newest
//! events, bounded both in count and in bytes, so a subscription that stops
//! reading costs the process nothing more (tokio's broadcast bounds only the
//! count: 1,024 events of 256 KiB each would be 256 MiB). A receiver that
//! falls behind the oldest event kept is told it lagged and catches up from
//! the database; the publisher never waits for anyone.

use runledger_core::Event;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The newest published events and how to wake their receivers.
pub(crate) struct Fanout {
    buffer: Mutex<Buffer>,
    /// The number of events ever published; receivers wait for it to change.
    published: watch::Sender<u64>,
    events_max: usize,
    bytes_max: usize,
}

struct Buffer {
    /// Each event with the bytes it counts for.
    events: VecDeque<(Arc<Event>, usize)>,
    /// The publication number of `events[0]`.
    first: u64,
    bytes: usize,
}

/// What a receiver gets next.
pub(crate) enum Received {
    /// The next event published after the previous one received.
    Event(Arc<Event>),
    /// Events were dropped from the buffer before this receiver got them;
    /// it goes on with the oldest event still kept.
    Lagged,
}

impl Fanout {
    /// An empty buffer keeping at most `events_max` events and `bytes_max`
    /// bytes (but always the newest event).
    pub(crate) fn new(events_max: usize, bytes_max: usize) -> Fanout {
        Fanout {
            buffer: Mutex::new(Buffer {
                events: VecDeque::new(),
                first: 0,
                bytes: 0,
            }),
            published: watch::Sender::new(0),
            events_max: events_max.max(1),
            bytes_max,
        }
    }

    /// Adds `events` (each with its size) and wakes every receiver, dropping
    /// the oldest events beyond the bounds.
    pub(crate) fn publish(&self, events: impl IntoIterator<Item = (Event, usize)>) {
        let end = {
            let mut buffer = self.lock();
            for (event, bytes) in events {
                buffer.events.push_back((Arc::new(event), bytes));
                buffer.bytes += bytes;
                while buffer.events.len() > 1
                    && (buffer.events.len() > self.events_max || buffer.bytes > self.bytes_max)
                {
                    let (_, dropped) = buffer.events.pop_front().expect("more than one event");
                    buffer.bytes -= dropped;
                    buffer.first += 1;
                }
            }
            buffer.first + buffer.events.len() as u64
        };
        self.published.send_replace(end);
    }

    /// A receiver of the events published from now on.
    pub(crate) fn subscribe(self: &Arc<Fanout>) -> Receiver {
        let published = self.published.subscribe();
        let next = {
            let buffer = self.lock();
            buffer.first + buffer.events.len() as u64
        };
        Receiver {
            fanout: Arc::clone(self),
            next,
            published,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        self.buffer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One subscription's place in a [`Fanout`].
pub(crate) struct Receiver {
    fanout: Arc<Fanout>,
    /// The publication number of the next event to hand out.
    next: u64,
    published: watch::Receiver<u64>,
}

impl Receiver {
    /// The next event, waiting for one to be published.
    pub(crate) async fn recv(&mut self) -> Received {
        loop {
            // Marked seen before looking, so a publish after the look wakes us.
            self.published.borrow_and_update();
            if let Some(received) = self.try_recv() {
                return received;
            }
            // The sender lives in the fanout this receiver holds: never closed.
            let _ = self.published.changed().await;
        }
    }

    fn try_recv(&mut self) -> Option<Received> {
        let buffer = self.fanout.lock();
        if self.next < buffer.first {
            self.next = buffer.first;
            return Some(Received::Lagged);
        }
        let index = usize::try_from(self.next - buffer.first).ok()?;
        let (event, _) = buffer.events.get(index)?;
        self.next += 1;
        Some(Received::Event(Arc::clone(event)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runledger_core::{RunId, Timestamp};

    fn event(position: u64) -> Event {
        Event {
            run_id: RunId::parse("run").unwrap(),
            seq: position,
            position,
            event_type: "progress".to_owned(),
            data: serde_json::Value::Null,
            at: Timestamp::from_unix_ms(0),
        }
    }

    async fn next_position(receiver: &mut Receiver) -> Option<u64> {
        match receiver.recv().await {
            Received::Event(event) => Some(event.position),
            Received::Lagged => None,
        }
    }

    #[tokio::test]
    async fn receivers_get_what_was_published_after_they_subscribed() {
        let fanout = Arc::new(Fanout::new(10, 1_000));
        fanout.publish([(event(1), 10)]);
        let mut receiver = fanout.subscribe();
        fanout.publish([(event(2), 10), (event(3), 10)]);
        assert_eq!(next_position(&mut receiver).await, Some(2));
        assert_eq!(next_position(&mut receiver).await, Some(3));
        let waiting = tokio::spawn(async move { next_position(&mut receiver).await });
        tokio::task::yield_now().await;
        fanout.publish([(event(4), 10)]);
        assert_eq!(waiting.await.unwrap(), Some(4));
    }

    #[tokio::test]
    async fn a_receiver_behind_the_byte_bound_lags_and_the_newest_event_is_always_kept() {
        let fanout = Arc::new(Fanout::new(1_000, 100));
        let mut receiver = fanout.subscribe();
        // 5 × 30 bytes: only the newest 3 fit in 100 bytes.
        fanout.publish((1..=5).map(|position| (event(position), 30)));
        assert_eq!(next_position(&mut receiver).await, None, "lagged");
        assert_eq!(next_position(&mut receiver).await, Some(3));
        assert_eq!(fanout.lock().bytes, 90);
        // One event over the bound on its own is still kept.
        fanout.publish([(event(6), 500)]);
        assert_eq!(next_position(&mut receiver).await, None, "lagged");
        assert_eq!(next_position(&mut receiver).await, Some(6));
        assert_eq!(fanout.lock().events.len(), 1);
    }

    #[tokio::test]
    async fn the_count_bound_holds_too() {
        let fanout = Arc::new(Fanout::new(2, usize::MAX));
        let mut receiver = fanout.subscribe();
        fanout.publish((1..=3).map(|position| (event(position), 1)));
        assert_eq!(next_position(&mut receiver).await, None);
        assert_eq!(next_position(&mut receiver).await, Some(2));
        assert_eq!(next_position(&mut receiver).await, Some(3));
    }
}
