//! Who is looking at the dashboard: the tenant of the `runledger_token`
//! cookie, checked against the ledger on every page (SPEC §4 "Auth"), or
//! the `default` tenant while no token exists, exactly as for the API. Also
//! the cookie's `Set-Cookie` lines and the same-origin check that keeps
//! another site from signing a browser in or out.

use crate::auth::{TOKEN_COOKIE, cookie_token};
use crate::problem::Problem;
use crate::state::ServerState;
use axum::http::{HeaderMap, HeaderValue, header};
use runledger::Tenant;

/// What a dashboard request may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Access {
    /// No token exists: the `default` tenant, no sign-in.
    Open(Tenant),
    /// The cookie holds a valid token of this tenant.
    SignedIn(Tenant),
    /// Tokens exist and no valid cookie came; `stale` when a cookie came
    /// whose token is not (or no longer) valid, so it is cleared.
    SignInNeeded {
        /// A cookie was sent and refused.
        stale: bool,
    },
}

impl Access {
    /// The tenant the page shows, unless a sign-in is needed.
    pub(crate) fn tenant(&self) -> Option<&Tenant> {
        match self {
            Access::Open(tenant) | Access::SignedIn(tenant) => Some(tenant),
            Access::SignInNeeded { .. } => None,
        }
    }
}

/// Settles what the request may see from its cookie.
pub(crate) async fn access(state: &ServerState, headers: &HeaderMap) -> Result<Access, Problem> {
    let token = cookie_token(headers);
    // As in the API: a request with a token never gets in as `default` on a
    // stale "no token exists" answer.
    if !state.auth_required(token.is_some()).await? {
        return Ok(Access::Open(Tenant::default()));
    }
    let Some(token) = token else {
        return Ok(Access::SignInNeeded { stale: false });
    };
    Ok(match state.ledger().authenticate(&token).await? {
        Some(tenant) => Access::SignedIn(tenant),
        None => Access::SignInNeeded { stale: true },
    })
}

/// Whether `token` may be written into a cookie as it is: the ledger's
/// tokens are `rl_` and hex, so anything with `;`, `,`, spaces or control
/// characters is refused before it could add cookie attributes.
pub(crate) fn is_cookie_safe(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 256
        && token
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

/// `Set-Cookie` for a signed-in browser: HttpOnly (page scripts never see
/// the token), SameSite=Strict (other sites' requests never carry it),
/// Path=/ (the API under `/v1` gets it), a session cookie; `Secure` when
/// the request reached a TLS proxy in front of the server.
pub(crate) fn set_cookie(token: &str, headers: &HeaderMap) -> Option<HeaderValue> {
    if !is_cookie_safe(token) {
        return None;
    }
    HeaderValue::from_str(&format!(
        "{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{}",
        secure_suffix(headers)
    ))
    .ok()
}

/// `Set-Cookie` that removes the cookie (same name, path and attributes).
pub(crate) fn clear_cookie(headers: &HeaderMap) -> HeaderValue {
    let text = format!(
        "{TOKEN_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
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
    fn only_plain_token_characters_go_into_a_cookie() {
        assert!(is_cookie_safe("rl_0123abcdef"));
        for bad in ["", "a;b", "a b", "a,b", "a=b", "a\"b", "ä", "x\r\ny"] {
            assert!(!is_cookie_safe(bad), "{bad:?}");
            assert!(set_cookie(bad, &HeaderMap::new()).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_only_behind_https() {
        let plain = set_cookie("rl_ab", &HeaderMap::new()).unwrap();
        assert_eq!(
            plain,
            "runledger_token=rl_ab; Path=/; HttpOnly; SameSite=Strict"
        );
        let proxied = set_cookie("rl_ab", &headers(&[("x-forwarded-proto", "https")])).unwrap();
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
