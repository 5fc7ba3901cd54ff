//! The idle timeout of a connection: [`IdleIo`] wraps its socket and fails
//! reads and writes once no byte has moved either way for the timeout, so
//! hyper (or, after an upgrade, the WebSocket) drops the connection. A live
//! stream writes keep-alives, so only a silent or stuck connection — a
//! client that stopped reading, or went away without a FIN — reaches it.
//! The cost per read or write is one clock read; the one tokio sleep of the
//! connection is re-armed only when it fires.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A socket closed after `idle` without traffic.
pub(crate) struct IdleIo<T> {
    io: T,
    /// `None`: no idle timeout.
    idle: Option<Duration>,
    /// Fires at `last_activity + idle` or earlier; checked when it fires.
    deadline: Pin<Box<Sleep>>,
    last_activity: Instant,
}

impl<T> IdleIo<T> {
    /// `io`, closed after `idle` without traffic (never when `None`).
    pub(crate) fn new(io: T, idle: Option<Duration>) -> IdleIo<T> {
        let now = Instant::now();
        let first = idle.unwrap_or(Duration::from_secs(86_400));
        IdleIo {
            io,
            idle,
            deadline: Box::pin(tokio::time::sleep_until(now + first)),
            last_activity: now,
        }
    }

    fn touch(&mut self) {
        if self.idle.is_some() {
            self.last_activity = Instant::now();
        }
    }

    /// Called when the socket is not ready: an error once idle too long.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let Some(idle) = self.idle else {
            return Poll::Pending;
        };
        loop {
            ready!(self.deadline.as_mut().poll(cx));
            let due = self.last_activity + idle;
            if Instant::now() >= due {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the connection was idle for too long",
                ));
            }
            self.deadline.as_mut().reset(due);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.touch();
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(result) => {
                this.touch();
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => {
                this.touch();
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn traffic_keeps_a_connection_open_and_silence_closes_it() {
        let (client, server) = tokio::io::duplex(64);
        let mut server = IdleIo::new(server, Some(Duration::from_millis(150)));
        let mut client = client;
        let mut byte = [0u8; 1];
        // Bytes every 50 ms: well past one timeout in all, never idle.
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            client.write_all(b"x").await.unwrap();
            server.read_exact(&mut byte).await.unwrap();
        }
        let start = std::time::Instant::now();
        let error = server.read_exact(&mut byte).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(100));
        // Without a timeout nothing fails.
        let (_client, server) = tokio::io::duplex(64);
        let mut server = IdleIo::new(server, None);
        let waited =
            tokio::time::timeout(Duration::from_millis(300), server.read_exact(&mut byte)).await;
        assert!(waited.is_err(), "still waiting");
    }
}
