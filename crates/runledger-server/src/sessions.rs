//! Dashboard sessions: what the browser's cookie holds instead of the
//! long-lived API token. Sign-in exchanges a valid token for a random
//! session id (256 bits); the server keeps, in its own memory, the id's
//! SHA-256 (so the table never holds a usable cookie value), the token it
//! stands for, an expiry and the session's CSRF token. Every use
//! re-authenticates the token with the ledger, so a revoked token ends its
//! sessions at once; sign-out removes the session, so a copied cookie
//! stops working. Sessions live as long as the server process: a restart
//! (or another server on the same database) asks the operator to sign in
//! again, which keeps the database schema and both backends untouched.

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie the dashboard's sign-in sets: a session id, never a token.
pub const SESSION_COOKIE: &str = "runledger_token";

/// How long a session lasts after sign-in, used or not.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);

/// Most sessions kept at once; past it the one expiring first is dropped.
pub const SESSIONS_MAX: usize = 10_000;

/// Random bytes in a session id and in a CSRF token.
const SECRET_BYTES: usize = 32;

/// The server's sessions, keyed by the SHA-256 of their id.
#[derive(Debug)]
pub(crate) struct Sessions {
    by_id_sha256: Mutex<HashMap<[u8; 32], Session>>,
    /// The CSRF token of pages served while no API token exists (there is
    /// no session then): random per process, so only this server's pages
    /// carry it.
    open_csrf: String,
}

/// One signed-in browser.
#[derive(Debug, Clone)]
struct Session {
    token: String,
    csrf: String,
    expires_at: Instant,
}

/// What a valid session cookie stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionGrant {
    /// The API token the operator signed in with.
    pub token: String,
    /// The token the session's forms must carry.
    pub csrf: String,
}

/// A new session: the cookie value, handed out once.
#[derive(Debug, Clone)]
pub(crate) struct NewSession {
    /// The session id, for the cookie.
    pub id: String,
}

impl Sessions {
    /// An empty table.
    pub(crate) fn new() -> Sessions {
        Sessions {
            by_id_sha256: Mutex::new(HashMap::new()),
            open_csrf: random_hex().expect("the operating system provides randomness (getrandom)"),
        }
    }

    /// A session for `token` (already authenticated by the caller),
    /// expiring [`SESSION_TTL`] from `now`.
    pub(crate) fn create(&self, token: String, now: Instant) -> Option<NewSession> {
        let id = random_hex()?;
        let csrf = random_hex()?;
        let session = Session {
            token,
            csrf,
            expires_at: now + SESSION_TTL,
        };
        let mut table = self.table();
        if table.len() >= SESSIONS_MAX {
            table.retain(|_, kept| kept.expires_at > now);
        }
        if table.len() >= SESSIONS_MAX
            && let Some(first) = table
                .iter()
                .min_by_key(|(_, kept)| kept.expires_at)
                .map(|(key, _)| *key)
        {
            table.remove(&first);
        }
        table.insert(sha256(&id), session);
        Some(NewSession { id })
    }

    /// What the session `id` stands for, unless unknown, ended or expired
    /// at `now` (an expired session is removed).
    pub(crate) fn lookup(&self, id: &str, now: Instant) -> Option<SessionGrant> {
        let key = sha256(id);
        let mut table = self.table();
        let session = table.get(&key)?;
        if session.expires_at <= now {
            table.remove(&key);
            return None;
        }
        Some(SessionGrant {
            token: session.token.clone(),
            csrf: session.csrf.clone(),
        })
    }

    /// Ends the session `id` (sign-out); whether it existed.
    pub(crate) fn end(&self, id: &str) -> bool {
        self.table().remove(&sha256(id)).is_some()
    }

    /// Ends every session of `token` (it was revoked).
    pub(crate) fn end_token(&self, token: &str) {
        self.table().retain(|_, session| session.token != token);
    }

    /// The CSRF token of pages served while no API token exists.
    pub(crate) fn open_csrf(&self) -> &str {
        &self.open_csrf
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.by_id_sha256
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The session id in the [`SESSION_COOKIE`] cookie, if one was sent.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((name, id)) = pair.trim().split_once('=')
                && name.trim() == SESSION_COOKIE
                && !id.trim().is_empty()
            {
                return Some(id.trim().to_owned());
            }
        }
    }
    None
}

/// Whether two secrets are equal, in time that does not depend on where
/// they first differ.
pub(crate) fn secrets_equal(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

fn sha256(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

fn random_hex() -> Option<String> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_stands_for_its_token_until_it_ends_or_expires() {
        let sessions = Sessions::new();
        let now = Instant::now();
        let first = sessions.create("rl_a".to_owned(), now).unwrap();
        let second = sessions.create("rl_a".to_owned(), now).unwrap();
        assert_ne!(first.id, second.id);
        assert_ne!(first.id, "rl_a");
        assert_eq!(first.id.len(), SECRET_BYTES * 2);
        let grant = sessions.lookup(&first.id, now).unwrap();
        assert_eq!(grant.token, "rl_a");
        assert_eq!(grant.csrf.len(), SECRET_BYTES * 2);
        assert_ne!(grant.csrf, first.id);
        assert!(sessions.lookup("not-a-session", now).is_none());

        assert!(sessions.end(&first.id));
        assert!(sessions.lookup(&first.id, now).is_none());
        assert!(!sessions.end(&first.id));
        assert!(sessions.lookup(&second.id, now).is_some());

        let later = now + SESSION_TTL;
        assert!(sessions.lookup(&second.id, later).is_none(), "expired");
        assert!(sessions.lookup(&second.id, now).is_none(), "and removed");
    }

    #[test]
    fn a_revoked_token_ends_all_its_sessions_and_only_those() {
        let sessions = Sessions::new();
        let now = Instant::now();
        let a = sessions.create("rl_a".to_owned(), now).unwrap();
        let b = sessions.create("rl_b".to_owned(), now).unwrap();
        sessions.end_token("rl_a");
        assert!(sessions.lookup(&a.id, now).is_none());
        assert!(sessions.lookup(&b.id, now).is_some());
    }

    #[test]
    fn the_table_is_bounded() {
        let sessions = Sessions::new();
        let now = Instant::now();
        let oldest = sessions.create("rl_x".to_owned(), now).unwrap();
        for offset in 1..=SESSIONS_MAX as u64 {
            sessions
                .create("rl_x".to_owned(), now + Duration::from_millis(offset))
                .unwrap();
        }
        assert_eq!(sessions.table().len(), SESSIONS_MAX);
        assert!(sessions.lookup(&oldest.id, now).is_none());
    }

    #[test]
    fn the_cookie_is_found_among_others_and_secrets_compare_whole() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "theme=dark; runledger_token=abc ; x=1".parse().unwrap(),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc"));
        assert!(session_cookie(&HeaderMap::new()).is_none());
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
        assert!(!secrets_equal("", "a"));
    }
}
