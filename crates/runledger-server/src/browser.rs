//! Browser safety (SPEC §4 "Browsers"): what keeps a web page the operator
//! happens to have open from acting with the operator's cookie, or, while no
//! token exists, with nothing at all.
//!
//! - **DNS rebinding.** While no token exists, a request whose `Host` is not
//!   a loopback name or address (`localhost`, `*.localhost`, `127.0.0.0/8`,
//!   `[::1]`) nor a `--public-host` is `421 misdirected_request`: a page on
//!   `evil.example` that rebinds its name to 127.0.0.1 still sends
//!   `Host: evil.example`.
//! - **Cross-site requests.** A request that changes state (any method but
//!   GET, HEAD and OPTIONS) and is authenticated by the dashboard's cookie,
//!   or made while no token exists, and every WebSocket upgrade, is `403
//!   forbidden_origin` when its `Origin` is neither the server's own (the
//!   origin its `Host` names) nor a `--cors-origin`, or when it has no
//!   `Origin` but `Sec-Fetch-Site: cross-site`. A request with a bearer
//!   token is not checked: a page cannot make a browser send one.
//!   Requests from programs (no `Origin`, no `Sec-Fetch-Site`) pass.
//! - **JSON only** on `/v1` is the body extractor's job (`json.rs`): a form
//!   post, even an empty one, is `415`.

use crate::problem::Problem;
use crate::sessions::session_cookie;
use crate::state::ServerState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use runledger::ErrorCode;
use std::net::IpAddr;

/// Middleware: refuses misdirected and cross-site requests.
pub async fn guard_browsers(
    State(state): State<ServerState>,
    request: Request,
    next: Next,
) -> Response {
    match check(&state, request.method(), request.headers()).await {
        Ok(()) => next.run(request).await,
        Err(problem) => problem.into_response(),
    }
}

async fn check(state: &ServerState, method: &Method, headers: &HeaderMap) -> Result<(), Problem> {
    let open = !state.auth_required(false).await?;
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    if open
        && let Some(host) = host
        && !host_allowed(host, state.public_hosts())
    {
        return Err(Problem::new(
            ErrorCode::MisdirectedRequest,
            format!(
                "Host {host} is not a loopback name and no API token exists; \
                 start the server with --public-host {} to serve that name, \
                 or create a token with `runledger tenant add NAME`",
                host_name(host)
            ),
        ));
    }
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
    let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let by_cookie =
        !headers.contains_key(header::AUTHORIZATION) && session_cookie(headers).is_some();
    if upgrade || (changes_state && (open || by_cookie)) {
        check_origin(headers, host, state.cors_origins())?;
    }
    Ok(())
}

/// Refuses a request whose `Origin` is foreign, or that a browser marked
/// cross-site.
fn check_origin(
    headers: &HeaderMap,
    host: Option<&str>,
    allowed: &[String],
) -> Result<(), Problem> {
    let origin = headers
        .get(header::ORIGIN)
        .map(|value| value.to_str().unwrap_or("(not ASCII)"));
    let refused = match origin {
        Some(origin) => {
            !(host.is_some_and(|host| same_origin(origin, host))
                || allowed.iter().any(|allowed| allowed == origin))
        }
        None => headers
            .get("sec-fetch-site")
            .is_some_and(|site| site.as_bytes() == b"cross-site"),
    };
    if refused {
        return Err(Problem::new(
            ErrorCode::ForbiddenOrigin,
            format!(
                "a request from origin {} may not change state here; only this server's own \
                 pages, or an origin given with --cors-origin, may",
                origin.unwrap_or("(cross-site, no Origin)")
            ),
        ));
    }
    Ok(())
}

/// Whether `origin` (`scheme://host[:port]`) names the server at `host`.
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme {
        "http" => "80",
        "https" => "443",
        _ => return false,
    };
    with_port(authority, default_port).eq_ignore_ascii_case(&with_port(host, default_port))
}

/// `authority` with its port spelled out.
fn with_port(authority: &str, default_port: &str) -> String {
    if split_port(authority).1.is_some() {
        authority.to_owned()
    } else {
        format!("{authority}:{default_port}")
    }
}

/// `host[:port]` → (host, port); IPv6 literals keep their brackets.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    match authority.rfind(':') {
        Some(at) if !authority[at..].contains(']') && authority[..at].matches(':').count() == 0 => {
            (&authority[..at], Some(&authority[at + 1..]))
        }
        Some(at) if authority.starts_with('[') && authority[..at].ends_with(']') => {
            (&authority[..at], Some(&authority[at + 1..]))
        }
        _ => (authority, None),
    }
}

/// The name in a `Host` header, without its port.
fn host_name(host: &str) -> &str {
    split_port(host).0
}

/// Whether `host` is a loopback name or address, or one of `public`.
fn host_allowed(host: &str, public: &[String]) -> bool {
    let name = host_name(host).to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if bare
        .parse::<IpAddr>()
        .is_ok_and(|address| address.is_loopback())
    {
        return true;
    }
    public
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_public_hosts_are_allowed() {
        let public = vec!["runs.example.com".to_owned()];
        for host in [
            "localhost",
            "localhost:7878",
            "app.localhost:1",
            "127.0.0.1:7878",
            "127.1.2.3",
            "[::1]:7878",
            "[::1]",
            "RUNS.example.com:443",
        ] {
            assert!(host_allowed(host, &public), "{host}");
        }
        for host in [
            "evil.example",
            "10.0.0.1:7878",
            "localhost.evil.example",
            "[::2]:1",
        ] {
            assert!(!host_allowed(host, &public), "{host}");
        }
    }

    #[test]
    fn an_origin_is_the_servers_own_only_with_the_same_host_and_port() {
        assert!(same_origin("http://127.0.0.1:7878", "127.0.0.1:7878"));
        assert!(same_origin("http://localhost", "localhost:80"));
        assert!(same_origin("http://[::1]:7878", "[::1]:7878"));
        assert!(!same_origin("http://127.0.0.1:7879", "127.0.0.1:7878"));
        assert!(!same_origin("https://127.0.0.1:7878", "127.0.0.1:80"));
        assert!(!same_origin("null", "127.0.0.1:7878"));
        assert!(!same_origin("http://evil.example", "127.0.0.1:7878"));
    }
}
