//! hyper's header-read timeout without a timer per request. hyper asks its
//! [`Timer`] for a new sleep each time it starts reading a request head and
//! drops it once the head is read: with tokio's timer that is one timer
//! registration and removal per request, which cost a few % of throughput.
//! Here each connection keeps one tokio sleep; hyper's sleeps carry only
//! their deadline and share it, and it is re-armed only when it fires before
//! the deadline being waited for — about once per timeout period, not once
//! per request.

use hyper::rt::{Sleep, Timer};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// One connection's timer (hand each connection its own).
pub(crate) struct HeadTimer {
    shared: Arc<Mutex<Pin<Box<tokio::time::Sleep>>>>,
}

impl HeadTimer {
    /// A timer whose sleep is not armed yet.
    pub(crate) fn new() -> HeadTimer {
        // Far off; the first sleep polled brings it in.
        let idle = tokio::time::sleep(Duration::from_secs(86_400));
        HeadTimer {
            shared: Arc::new(Mutex::new(Box::pin(idle))),
        }
    }
}

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(SharedSleep {
            deadline: tokio::time::Instant::from_std(deadline),
            shared: Arc::clone(&self.shared),
        })
    }
}

/// A deadline waited for on the connection's one tokio sleep.
struct SharedSleep {
    deadline: tokio::time::Instant,
    shared: Arc<Mutex<Pin<Box<tokio::time::Sleep>>>>,
}

impl Sleep for SharedSleep {}

impl Future for SharedSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        if tokio::time::Instant::now() >= deadline {
            return Poll::Ready(());
        }
        let mut sleep = self
            .shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // The shared sleep must fire no later than this deadline.
        if sleep.deadline() > deadline {
            sleep.as_mut().reset(deadline);
        }
        loop {
            match sleep.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if tokio::time::Instant::now() >= deadline => {
                    return Poll::Ready(());
                }
                // It fired for an earlier deadline: wait for this one.
                Poll::Ready(()) => sleep.as_mut().reset(deadline),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleeps_end_at_their_own_deadline_sharing_one_timer() {
        let timer = HeadTimer::new();
        let start = Instant::now();
        let early = timer.sleep(Duration::from_millis(20));
        early.await;
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(20), "{elapsed:?}");
        // A later deadline after an earlier one fired; then one that is
        // dropped before its end leaves the next deadline intact.
        let dropped = timer.sleep(Duration::from_millis(10));
        drop(dropped);
        let start = Instant::now();
        timer.sleep(Duration::from_millis(40)).await;
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(40), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    }
}
