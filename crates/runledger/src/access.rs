//! Tenants, API tokens and Idempotency-Key records: the ledger's side of
//! SPEC §4 "Auth" and "Idempotency-Key". Tokens are random, shown once, and
//! stored only as their SHA-256.

use runledger_core::{Error, Tenant};
use sha2::{Digest, Sha256};

/// A token just created: the only time its text exists outside the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The tenant the token acts for.
    pub tenant: Tenant,
    /// `rl_` followed by 32 random bytes in hex.
    pub token: String,
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

/// What the first look at an `Idempotency-Key` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// The key is new (or expired, or abandoned): this request runs, and must
    /// end with `idempotency_complete` or `idempotency_release`.
    Started,
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
