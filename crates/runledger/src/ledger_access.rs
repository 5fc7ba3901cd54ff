//! The ledger's tenants, API tokens and `Idempotency-Key` records (SPEC §4
//! "Auth" and "Idempotency-Key"): the [`Ledger`] methods over `access.rs`
//! and the stores' access files, apart from the run operations of
//! `ledger.rs`.

use crate::access::{self, IdempotencyBegin, NewToken, TokenInfo};
use crate::ledger::Ledger;
use runledger_core::{Error, IdempotencyKey, Tenant};

impl Ledger {
    /// Creates `tenant` if it is new and a token for it; the token's text is
    /// returned only here (it is stored as its SHA-256).
    pub async fn add_tenant_token(&self, tenant: &Tenant) -> Result<NewToken, Error> {
        let token = access::generate_token()?;
        let sha256 = access::token_sha256(&token);
        let prefix = access::token_prefix(&token);
        self.inner
            .store
            .add_token(tenant, sha256.clone(), prefix.clone())
            .await?;
        Ok(NewToken {
            tenant: tenant.clone(),
            token,
            id: access::token_id(&sha256),
            prefix,
        })
    }

    /// Every token (revoked ones included), oldest first; never their text.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, Error> {
        self.inner.store.tokens().await
    }

    /// Revokes the token `id` (as [`TokenInfo::id`] shows it); from then on
    /// every server refuses it (each request looks the token up). A revoked
    /// token stays listed, and tokens stay required. Revoking twice is
    /// harmless. Answers the token as it is now.
    pub async fn revoke_token(&self, id: &str) -> Result<TokenInfo, Error> {
        let id = access::check_token_id(id)?;
        access::revoked_one(&id, self.inner.store.revoke_token(id.clone()).await?)?;
        let tokens = self.tokens().await?;
        tokens
            .into_iter()
            .find(|token| token.id == id)
            .ok_or_else(|| Error::invalid("id", format!("no token has the id {id}")))
    }

    /// The tenant `token` acts for, or `None` for an unknown token.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Tenant>, Error> {
        self.inner
            .store
            .tenant_for_token(access::token_sha256(token))
            .await
    }

    /// Whether any token exists: then every API request must carry one.
    pub async fn auth_required(&self) -> Result<bool, Error> {
        self.inner.store.any_token().await
    }

    /// Claims an `Idempotency-Key` for a request whose body hashes to
    /// `fingerprint`, or answers why it cannot run (in flight, replay, reused).
    pub async fn idempotency_begin(
        &self,
        tenant: &Tenant,
        key: &IdempotencyKey,
        fingerprint: &str,
    ) -> Result<IdempotencyBegin, Error> {
        self.inner
            .store
            .idempotency_begin(tenant, key, fingerprint.to_owned())
            .await
    }

    /// Stores the response of the request holding `key`, for replays.
    pub async fn idempotency_complete(
        &self,
        tenant: &Tenant,
        key: &IdempotencyKey,
        status: u16,
        body: &str,
    ) -> Result<(), Error> {
        self.inner
            .store
            .idempotency_complete(tenant, key, status, body.to_owned())
            .await
    }

    /// Shows the request holding `key` is still running, so no retry takes
    /// it over; a holder that stops touching it (its server died) is taken
    /// over [`crate::limits::IDEMPOTENCY_IN_FLIGHT_STALE_MS`] later.
    pub async fn idempotency_touch(
        &self,
        tenant: &Tenant,
        key: &IdempotencyKey,
    ) -> Result<(), Error> {
        self.inner.store.idempotency_touch(tenant, key).await
    }

    /// Lets go of `key` after a server-side failure, so a retry runs afresh
    /// (with the same planned run id).
    pub async fn idempotency_release(
        &self,
        tenant: &Tenant,
        key: &IdempotencyKey,
    ) -> Result<(), Error> {
        self.inner.store.idempotency_release(tenant, key).await
    }

    /// Deletes every idempotency key past its keeping window
    /// ([`crate::limits::IDEMPOTENCY_KEY_KEPT_MS`], by the database clock): such
    /// keys no longer replay, so nothing is lost. The reaper calls this every
    /// [`crate::IDEMPOTENCY_PURGE_INTERVAL`]; answers how many it deleted.
    pub async fn purge_expired_idempotency_keys(&self) -> Result<u64, Error> {
        self.inner
            .store
            .idempotency_purge(runledger_core::limits::IDEMPOTENCY_KEY_KEPT_MS)
            .await
    }
}
