//! Serving: the refusal to expose an unauthenticated API beyond loopback
//! (SPEC §4 "Auth"), and the server loop with its background tasks and a
//! graceful shutdown (stop accepting, finish in-flight requests, then let
//! go of the ledger).

use crate::http_metrics::spawn_background;
use crate::router::router;
use crate::state::ServerState;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use tokio::net::TcpListener;

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
    let stopping = state.clone();
    let shutdown = async move {
        shutdown.await;
        stopping.begin_shutdown();
    };
    let app = router(state);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    drop(background);
    served
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
