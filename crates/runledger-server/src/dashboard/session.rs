//! Who is looking at the dashboard: the tenant of the session the
//! `runledger_token` cookie names, its token checked against the ledger
//! on every page (SPEC §4 "Auth"), or the `default` tenant while no token
//! exists, exactly as for the API. Also the cookie's `Set-Cookie` lines and
//! the same-origin check that keeps another site from signing a browser in
//! or out or posting a form.

use crate::problem::Problem;
use crate::sessions::{SESSION_COOKIE, session_cookie};
use crate::state::ServerState;
use axum::http::{HeaderMap, HeaderValue, header};
use runledger::Tenant;
use std::time::Instant;

/// What a dashboard request may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Access {
    /// No token exists: the `default` tenant, no sign-in; forms carry the
    /// server's open CSRF token.
    Open {
        /// `default`.
        tenant: Tenant,
        /// The token the page's forms carry.
        csrf: String,
    },
    /// The cookie names a live session whose token is valid for `tenant`.
    SignedIn {
        /// The token's tenant.
        tenant: Tenant,
        /// The session's CSRF token.
        csrf: String,
    },
    /// Tokens exist and no valid session came; `stale` when a cookie came
    /// whose session has ended (signed out, expired, token revoked), so it
    /// is cleared.
    SignInNeeded {
        /// A cookie was sent and refused.
        stale: bool,
    },
}

impl Access {
    /// The tenant the page shows, unless a sign-in is needed.
    pub(crate) fn tenant(&self) -> Option<&Tenant> {
        match self {
            Access::Open { tenant, .. } | Access::SignedIn { tenant, .. } => Some(tenant),
            Access::SignInNeeded { .. } => None,
        }
    }

    /// The CSRF token the page's forms must carry, unless a sign-in is
    /// needed.
    pub(crate) fn csrf(&self) -> Option<&str> {
        match self {
            Access::Open { csrf, .. } | Access::SignedIn { csrf, .. } => Some(csrf),
            Access::SignInNeeded { .. } => None,
        }
    }
}

/// Settles what the request may see from its session cookie.
pub(crate) async fn access(state: &ServerState, headers: &HeaderMap) -> Result<Access, Problem> {
    let cookie = session_cookie(headers);
    // As in the API: a request with a cookie never gets in as `default` on
    // a stale "no token exists" answer.
    if !state.auth_required(cookie.is_some()).await? {
        return Ok(Access::Open {
            tenant: Tenant::default(),
            csrf: state.sessions().open_csrf().to_owned(),
        });
    }
    let Some(session) = cookie else {
        return Ok(Access::SignInNeeded { stale: false });
    };
    let Some(grant) = state.sessions().lookup(&session, Instant::now()) else {
        return Ok(Access::SignInNeeded { stale: true });
    };
    Ok(match state.ledger().authenticate(&grant.token).await? {
        Some(tenant) => Access::SignedIn {
            tenant,
            csrf: grant.csrf,
        },
        None => {
            // The token was revoked: every session of it ends.
            state.sessions().end_token(&grant.token);
            Access::SignInNeeded { stale: true }
        }
    })
}

/// `Set-Cookie` for a signed-in browser: the session id (never the API
/// token), HttpOnly (page scripts never see it), SameSite=Strict (other
/// sites' requests never carry it), Path=/ (the API under `/v1` gets it),
/// a browser-session cookie; `Secure` when the request reached a TLS proxy
/// in front of the server.
pub(crate) fn set_cookie(session: &str, headers: &HeaderMap) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict{}",
        secure_suffix(headers)
    ))
    .ok()
}

/// `Set-Cookie` that removes the cookie (same name, path and attributes).
pub(crate) fn clear_cookie(headers: &HeaderMap) -> HeaderValue {
    let text = format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        secure_suffix(headers)
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| {
        HeaderValue::from_static("runledger_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
    })
}

/// `; Secure` when a proxy says the browser spoke HTTPS. Plain HTTP on
/// loopback (the default) must work, so it is not always set.
fn secure_suffix(headers: &HeaderMap) -> &'static str {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    if https { "; Secure" } else { "" }
}

/// Whether a form POST comes from a page of this server, so no other page
/// can sign a browser into some tenant or out. Browsers send
/// `Sec-Fetch-Site` (which page scripts cannot set): it must say
/// `same-origin`. Without it, every `Origin` must name this server's
/// `Host`; `Origin: null` (an opaque origin) is refused. A request with
/// neither header is not from a browser form and is let through.
pub(crate) fn is_same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
    else {
        return headers.get(header::ORIGIN).is_none();
    };
    // Every `Origin` must be this server (a forged second one cannot hide).
    headers.get_all(header::ORIGIN).iter().all(|origin| {
        let authority = origin.to_str().ok().and_then(|origin| {
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
        });
        authority.is_some_and(|authority| authority.eq_ignore_ascii_case(host.trim()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_only_behind_https() {
        let plain = set_cookie("ab12", &HeaderMap::new()).unwrap();
        assert_eq!(
            plain,
            "runledger_token=ab12; Path=/; HttpOnly; SameSite=Strict"
        );
        let proxied = set_cookie("ab12", &headers(&[("x-forwarded-proto", "https")])).unwrap();
        assert!(proxied.to_str().unwrap().ends_with("; Secure"));
        let cleared = clear_cookie(&HeaderMap::new());
        assert_eq!(
            cleared,
            "runledger_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        );
    }

    #[test]
    fn same_origin_is_decided_by_origin_and_fetch_metadata() {
        let table: [(&[(&'static str, &'static str)], bool); 10] = [
            (&[], true),
            (&[("host", "127.0.0.1:7878")], true),
            (
                &[
                    ("host", "127.0.0.1:7878"),
                    ("origin", "http://127.0.0.1:7878"),
                ],
                true,
            ),
            (
                &[
                    ("host", "127.0.0.1:7878"),
                    ("origin", "http://evil.example"),
                ],
                false,
            ),
            (&[("host", "127.0.0.1:7878"), ("origin", "null")], false),
            (&[("origin", "http://127.0.0.1:7878")], false),
            (&[("sec-fetch-site", "cross-site")], false),
            (
                &[("origin", "null"), ("sec-fetch-site", "same-origin")],
                true,
            ),
            (
                &[
                    ("host", "127.0.0.1:7878"),
                    ("origin", "http://127.0.0.1:7878"),
                    ("origin", "http://evil.example"),
                ],
                false,
            ),
            (
                &[
                    ("host", "localhost:1"),
                    ("origin", "http://localhost:1"),
                    ("sec-fetch-site", "same-origin"),
                ],
                true,
            ),
        ];
        for (pairs, expected) in table {
            assert_eq!(is_same_origin(&headers(pairs)), expected, "{pairs:?}");
        }
    }
}
