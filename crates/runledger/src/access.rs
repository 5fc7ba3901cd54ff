//! Tenants, API tokens and Idempotency-Key records: the ledger's side of
//! SPEC §4 "Auth" and "Idempotency-Key". Tokens are random, shown once, and
//! stored only as their SHA-256.

use runledger_core::{Error, IdempotencyKey, RunId, Tenant, Timestamp};
use sha2::{Digest, Sha256};

/// A token just created: the only time its text exists outside the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The tenant the token acts for.
    pub tenant: Tenant,
    /// `rl_` followed by 32 random bytes in hex.
    pub token: String,
    /// Its id, for `tenant token revoke` ([`token_id`]).
    pub id: String,
    /// Its visible start ([`token_prefix`]).
    pub prefix: String,
}

/// A stored token as `runledger tenant list` shows it: never its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Its id: the first [`TOKEN_ID_CHARS`] hex digits of its SHA-256.
    pub id: String,
    /// The tenant it acts for.
    pub tenant: Tenant,
    /// Its first characters (`None` for a token made before they were kept).
    pub prefix: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When a request last brought it (updated at most once a minute).
    pub last_used_at: Option<Timestamp>,
    /// When it was revoked; a revoked token is refused.
    pub revoked_at: Option<Timestamp>,
}

/// How many hex digits of a token's SHA-256 make its id.
pub const TOKEN_ID_CHARS: usize = 12;

/// How many leading characters of a token are kept and shown (`rl_` and 8
/// hex digits: 32 of its 256 random bits).
pub const TOKEN_PREFIX_CHARS: usize = 11;

/// How stale `last_used_at` may get before a request updates it.
pub const TOKEN_LAST_USED_PRECISION_MS: i64 = 60_000;

/// A [`TokenInfo`] from its stored columns.
pub(crate) fn token_info(
    token_sha256: &str,
    tenant: &str,
    prefix: Option<String>,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
) -> Result<TokenInfo, Error> {
    Ok(TokenInfo {
        id: token_id(token_sha256),
        tenant: Tenant::parse(tenant)?,
        prefix,
        created_at: Timestamp::from_unix_ms(created_at),
        last_used_at: last_used_at.map(Timestamp::from_unix_ms),
        revoked_at: revoked_at.map(Timestamp::from_unix_ms),
    })
}

/// `id` as a token id (lower case), or why it is not one.
pub fn check_token_id(id: &str) -> Result<String, Error> {
    let id = id.trim().to_ascii_lowercase();
    if id.len() != TOKEN_ID_CHARS || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::invalid(
            "id",
            format!(
                "{id:?} is not a token id; expected {TOKEN_ID_CHARS} hex digits as `runledger tenant list` shows them"
            ),
        ));
    }
    Ok(id)
}

/// Whether a revoke of `id` that matched `matching` tokens revoked one.
pub(crate) fn revoked_one(id: &str, matching: usize) -> Result<(), Error> {
    match matching {
        1 => Ok(()),
        0 => Err(Error::invalid("id", format!("no token has the id {id}"))),
        _ => Err(Error::invalid(
            "id",
            format!("several tokens have the id {id}; nothing revoked"),
        )),
    }
}

/// A token's id, from its stored hash.
pub fn token_id(token_sha256: &str) -> String {
    token_sha256.chars().take(TOKEN_ID_CHARS).collect()
}

/// A token's visible start.
pub fn token_prefix(token: &str) -> String {
    token.chars().take(TOKEN_PREFIX_CHARS).collect()
}

/// A fresh random token.
pub(crate) fn generate_token() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|error| Error::storage(format!("no randomness for a token: {error}")))?;
    Ok(format!("rl_{}", to_hex(&bytes)))
}

/// The stored form of a token.
pub(crate) fn token_sha256(token: &str) -> String {
    to_hex(&Sha256::digest(token.as_bytes()))
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The run id a create without one gets when it carries an
/// `Idempotency-Key`: a UUIDv7 whose time is the key's first claim and whose
/// random bits come from the tenant, key and that time. Every attempt of the
/// request (a retry after a crash included) plans the same id, so a create
/// whose first attempt committed is answered as that run, never a second.
pub fn planned_run_id(tenant: &Tenant, key: &IdempotencyKey, since: Timestamp) -> RunId {
    let digest = Sha256::new()
        .chain_update(tenant.as_str().as_bytes())
        .chain_update([0])
        .chain_update(key.as_str().as_bytes())
        .chain_update([0])
        .chain_update(since.unix_ms().to_be_bytes())
        .finalize();
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest[..10]);
    let millis = u64::try_from(since.unix_ms()).unwrap_or(0);
    let uuid = uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
    RunId::parse(&uuid.to_string()).expect("a UUID is a valid run id segment")
}

/// What the first look at an `Idempotency-Key` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// The key is new (or expired, or abandoned): this request runs, and must
    /// end with `idempotency_complete` or `idempotency_release`.
    Started {
        /// When the key was first claimed. A retry that takes over an
        /// abandoned claim gets the same date, so a run id planned from it
        /// ([`crate::planned_run_id`]) is the same on every attempt.
        since: Timestamp,
        /// What an earlier attempt of this request committed, when it was
        /// an append or a claim that marked the key in its own transaction
        /// and then died before answering: the retry answers from it and
        /// writes nothing.
        committed: Option<IdempotencyMark>,
    },
    /// The first request with this key is still running (`409`).
    InFlight,
    /// The first request was answered: replay its response.
    Replay {
        /// Its HTTP status.
        status: u16,
        /// Its body.
        body: String,
    },
    /// The key was used with a different request (`422`).
    Reused,
}

/// What an append or a claim carrying an `Idempotency-Key` wrote, recorded
/// on the key in the write's own transaction ([`crate::AppendEvent`] and
/// [`crate::ClaimRun`]'s `idempotency_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyMark {
    /// The run appended to, or claimed.
    pub run_id: RunId,
    /// The appended event's seq, or the claimed lease's epoch.
    pub seq: u64,
}

impl IdempotencyMark {
    /// The mark from its stored columns, when both are set.
    pub(crate) fn from_columns(
        run_id: Option<String>,
        seq: Option<i64>,
    ) -> Result<Option<IdempotencyMark>, Error> {
        match (run_id, seq) {
            (Some(run_id), Some(seq)) => Ok(Some(IdempotencyMark {
                run_id: RunId::parse(&run_id)?,
                seq: u64::try_from(seq).map_err(Error::storage)?,
            })),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hash_stably() {
        let (a, b) = (generate_token().unwrap(), generate_token().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with("rl_") && a.len() == 3 + 64);
        assert_eq!(token_sha256(&a), token_sha256(&a));
        assert_eq!(
            token_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
