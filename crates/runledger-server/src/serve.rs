//! Serving: the refusal to expose an unauthenticated API beyond loopback
//! (SPEC §4 "Auth"), and the server loop with its background tasks and a
//! graceful shutdown (stop accepting, finish in-flight requests, then let
//! go of the ledger). Each connection has a header-read timeout (hyper's,
//! on a timer that costs nothing per request: head_timer.rs; it also ends a
//! kept-alive connection that sends no next request), an idle timeout
//! (idle.rs) and a [`ConnectionCloser`] its responses can use to drop it.

use crate::head_timer::HeadTimer;
use crate::http_metrics::spawn_background;
use crate::idle::IdleIo;
use crate::router::router;
use crate::state::ServerState;
use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

/// Drops the connection a request came on (a request extension, set for
/// every request [`serve`] reads): a long response whose client reads
/// nothing is never polled by hyper again, so it cannot end itself.
#[derive(Clone)]
pub struct ConnectionCloser {
    close: Arc<Notify>,
}

impl ConnectionCloser {
    fn new() -> ConnectionCloser {
        ConnectionCloser {
            close: Arc::new(Notify::new()),
        }
    }

    /// Closes the connection now, whatever it is doing.
    pub fn close(&self) {
        self.close.notify_one();
    }
}

/// The timeouts of every connection.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    header_read: Option<Duration>,
    idle: Option<Duration>,
}

/// Why the server will not listen where it was asked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenRefused {
    /// The address asked for.
    pub address: SocketAddr,
}

impl fmt::Display for ListenRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refusing to listen on {} without authentication: no API token exists, so anyone who can reach this address could read and change every run. Create a token first with `runledger tenant add NAME --db URL`, listen on a loopback address (127.0.0.1 or ::1), or pass --insecure-no-auth",
            self.address
        )
    }
}

impl std::error::Error for ListenRefused {}

/// Whether `ip` is loopback: 127.0.0.0/8, ::1, or 127.0.0.0/8 mapped into IPv6.
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Refuses a non-loopback `address` while no token exists, unless
/// `insecure_no_auth`.
pub fn check_exposure(
    address: SocketAddr,
    auth_required: bool,
    insecure_no_auth: bool,
) -> Result<(), ListenRefused> {
    if is_loopback(address.ip()) || auth_required || insecure_no_auth {
        Ok(())
    } else {
        Err(ListenRefused { address })
    }
}

/// Serves the API on `listener` until `shutdown` completes, then finishes
/// the requests in flight and returns. The background audit runs meanwhile.
/// When `shutdown` completes, [`ServerState::shutdown_started`] completes
/// too, so long-lived responses can end.
pub async fn serve(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let background = spawn_background(state.ledger().clone());
    let app = router(state.clone());
    // Dropped to tell every connection to finish; each holds a receiver
    // of `closed` until it has.
    let (stop, stopped) = watch::channel(());
    let (closed_sender, closed) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    let timeouts = Timeouts {
        header_read: state.header_read_timeout(),
        idle: state.idle_timeout(),
    };
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        serve_connection(
            stream,
            app.clone(),
            timeouts,
            stopped.clone(),
            closed.clone(),
        );
    }
    state.begin_shutdown();
    drop((stop, stopped, closed));
    closed_sender.closed().await;
    drop(background);
    Ok(())
}

/// Wait after a failed `accept` before the next.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);
/// Header fields hyper itself accepts: well above [`crate::HEADERS_MAX`], so
/// that a request with too many is answered by a problem, not by hyper's
/// empty `431`.
const CONNECTION_HEADERS_MAX: usize = 1_000;

/// Serves HTTP/1.1 (and upgrades to WebSocket) on one connection in its own
/// task, until the client is done, a timeout or a [`ConnectionCloser`] ends
/// it, or `stopped` says to finish; drops its `closed` receiver when the
/// connection has ended.
fn serve_connection(
    stream: TcpStream,
    app: Router,
    timeouts: Timeouts,
    mut stopped: watch::Receiver<()>,
    closed: watch::Receiver<()>,
) {
    // Small answers go out at once rather than waiting for an ACK.
    let _ = stream.set_nodelay(true);
    let closer = ConnectionCloser::new();
    let close = Arc::clone(&closer.close);
    let service = TowerToHyperService::new(app.map_request(
        move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(closer.clone());
            request.map(Body::new)
        },
    ));
    tokio::spawn(async move {
        let mut builder = http1::Builder::new();
        builder.max_headers(CONNECTION_HEADERS_MAX);
        match timeouts.header_read {
            Some(timeout) => {
                builder.timer(HeadTimer::new()).header_read_timeout(timeout);
            }
            None => {
                builder.header_read_timeout(None);
            }
        }
        let io = IdleIo::new(stream, timeouts.idle);
        let connection = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        let mut connection = std::pin::pin!(connection);
        let mut stopping = false;
        loop {
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                    break;
                }
                () = close.notified() => {
                    tracing::debug!("connection closed by its response");
                    break;
                }
                _ = stopped.changed(), if !stopping => {
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
        drop(closed);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_listen_without_tokens() {
        let check = |text: &str, auth: bool, insecure: bool| {
            check_exposure(text.parse().unwrap(), auth, insecure).is_ok()
        };
        assert!(check("127.0.0.1:7878", false, false));
        assert!(check("127.1.2.3:0", false, false));
        assert!(check("[::1]:7878", false, false));
        assert!(check("[::ffff:127.0.0.1]:7878", false, false));
        assert!(!check("0.0.0.0:7878", false, false));
        assert!(!check("[::]:7878", false, false));
        assert!(!check("192.168.1.5:7878", false, false));
        assert!(check("0.0.0.0:7878", true, false));
        assert!(check("0.0.0.0:7878", false, true));
        let refused = check_exposure("0.0.0.0:1".parse().unwrap(), false, false).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("runledger tenant add NAME --db URL")
        );
    }
}
