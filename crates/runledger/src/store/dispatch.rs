//! The `Store` enum: opens the backend a URL names and hands every call to
//! it, one two-arm match per method.

use super::{postgres, sqlite};
use crate::access::IdempotencyBegin;
use crate::audit::Audit;
use crate::batch::{BatchAnswers, BatchRefused};
use crate::requests::{Appended, Created, LogPage, ResolvedCreate, RunPage};
use runledger_core::requests::Finish;
use runledger_core::requests::{AppendEvent, Cancel, ClaimRun, Heartbeat, ListRuns, StartRun};
use runledger_core::{Error, Event, IdempotencyKey, Run, RunId, RunState, Tenant};
use tokio::sync::watch;

pub(crate) use sqlite::SqliteOptions;

/// A ledger's database.
pub(crate) enum Store {
    /// An embedded SQLite file.
    Sqlite(sqlite::Store),
    /// A PostgreSQL database shared by any number of processes.
    Postgres(postgres::Store),
}

impl Store {
    /// Opens the database at `url`: PostgreSQL for `postgres://` and
    /// `postgresql://` URLs, else a SQLite file (with `sqlite`'s settings);
    /// any other `scheme://` is refused naming the schemes there are.
    pub(crate) async fn open(url: &str, sqlite: SqliteOptions) -> Result<Store, Error> {
        refuse_unknown_scheme(url)?;
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(postgres::Store::open(url).await?))
        } else {
            Ok(Store::Sqlite(sqlite::Store::open(url, sqlite).await?))
        }
    }

    /// Starts bumping `signal` after commits of any process, for as long as
    /// `signal` has receivers. SQLite checks the file only while `active`
    /// answers true (someone subscribes); PostgreSQL is told by NOTIFY.
    pub(crate) fn watch_commits(
        &self,
        signal: watch::Sender<u64>,
        active: impl Fn() -> bool + Send + 'static,
    ) -> Result<(), Error> {
        match self {
            Store::Sqlite(store) => store.watch_commits(signal, active),
            Store::Postgres(store) => {
                store.watch_commits(signal);
                Ok(())
            }
        }
    }

    pub(crate) async fn create(
        &self,
        tenant: &Tenant,
        request: ResolvedCreate,
    ) -> Result<Created, Error> {
        match self {
            Store::Sqlite(store) => store.create(tenant, request).await,
            Store::Postgres(store) => store.create(tenant, request).await,
        }
    }

    /// Creates `creates` in item order (batch.rs); a refusal's index is
    /// into `creates`.
    pub(crate) async fn create_batch(
        &self,
        tenant: &Tenant,
        creates: Vec<ResolvedCreate>,
        atomic: bool,
    ) -> Result<BatchAnswers, BatchRefused> {
        match self {
            Store::Sqlite(store) => store.create_batch(tenant, creates, atomic).await,
            Store::Postgres(store) => store.create_batch(tenant, creates, atomic).await,
        }
    }

    /// Writes an imported run with its history (import.rs).
    pub(crate) async fn import_run(
        &self,
        tenant: &Tenant,
        request: crate::import::ImportRun,
    ) -> Result<Created, Error> {
        match self {
            Store::Sqlite(store) => store.import_run(tenant, request).await,
            Store::Postgres(store) => store.import_run(tenant, request).await,
        }
    }

    pub(crate) async fn get(&self, tenant: &Tenant, id: &RunId) -> Result<Option<Run>, Error> {
        match self {
            Store::Sqlite(store) => store.get(tenant, id).await,
            Store::Postgres(store) => store.get(tenant, id).await,
        }
    }

    pub(crate) async fn list(&self, tenant: &Tenant, filter: ListRuns) -> Result<RunPage, Error> {
        match self {
            Store::Sqlite(store) => store.list(tenant, filter).await,
            Store::Postgres(store) => store.list(tenant, filter).await,
        }
    }

    pub(crate) async fn claim(
        &self,
        tenant: &Tenant,
        request: &ClaimRun,
    ) -> Result<Option<Run>, Error> {
        match self {
            Store::Sqlite(store) => store.claim(tenant, request).await,
            Store::Postgres(store) => store.claim(tenant, request).await,
        }
    }

    pub(crate) async fn start(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: StartRun,
    ) -> Result<Run, Error> {
        match self {
            Store::Sqlite(store) => store.start(tenant, id, request).await,
            Store::Postgres(store) => store.start(tenant, id, request).await,
        }
    }

    pub(crate) async fn heartbeat(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: Heartbeat,
    ) -> Result<Run, Error> {
        match self {
            Store::Sqlite(store) => store.heartbeat(tenant, id, request).await,
            Store::Postgres(store) => store.heartbeat(tenant, id, request).await,
        }
    }

    pub(crate) async fn finish(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: Finish,
        if_version: Option<u64>,
    ) -> Result<Run, Error> {
        match self {
            Store::Sqlite(store) => store.finish(tenant, id, request, if_version).await,
            Store::Postgres(store) => store.finish(tenant, id, request, if_version).await,
        }
    }

    pub(crate) async fn cancel(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: Cancel,
    ) -> Result<Run, Error> {
        match self {
            Store::Sqlite(store) => store.cancel(tenant, id, request).await,
            Store::Postgres(store) => store.cancel(tenant, id, request).await,
        }
    }

    pub(crate) async fn append(
        &self,
        tenant: &Tenant,
        id: &RunId,
        request: AppendEvent,
    ) -> Result<Appended, Error> {
        match self {
            Store::Sqlite(store) => store.append(tenant, id, request).await,
            Store::Postgres(store) => store.append(tenant, id, request).await,
        }
    }

    pub(crate) async fn events(
        &self,
        tenant: &Tenant,
        id: &RunId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<Event>, Error> {
        match self {
            Store::Sqlite(store) => store.events(tenant, id, after_seq, limit).await,
            Store::Postgres(store) => store.events(tenant, id, after_seq, limit).await,
        }
    }

    pub(crate) async fn tenant_events(
        &self,
        tenant: &Tenant,
        after_position: u64,
        limit: u32,
    ) -> Result<Vec<Event>, Error> {
        match self {
            Store::Sqlite(store) => store.tenant_events(tenant, after_position, limit).await,
            Store::Postgres(store) => store.tenant_events(tenant, after_position, limit).await,
        }
    }

    /// Makes every event committed before this call readable by the next
    /// read (PostgreSQL stamps positions after commit; SQLite has nothing to wait for).
    pub(crate) async fn settle(&self, tenant: &Tenant) -> Result<(), Error> {
        match self {
            Store::Sqlite(_) => Ok(()),
            Store::Postgres(store) => store.settle(tenant).await,
        }
    }

    pub(crate) async fn has_expired_leases(&self) -> Result<bool, Error> {
        match self {
            Store::Sqlite(store) => store.has_expired_leases().await,
            Store::Postgres(store) => store.has_expired_leases().await,
        }
    }

    pub(crate) async fn reap(&self) -> Result<u64, Error> {
        match self {
            Store::Sqlite(store) => store.reap().await,
            Store::Postgres(store) => store.reap().await,
        }
    }

    pub(crate) async fn add_token(
        &self,
        tenant: &Tenant,
        token_sha256: String,
        prefix: String,
    ) -> Result<(), Error> {
        match self {
            Store::Sqlite(store) => store.add_token(tenant, token_sha256, prefix).await,
            Store::Postgres(store) => store.add_token(tenant, token_sha256, prefix).await,
        }
    }

    pub(crate) async fn tokens(&self) -> Result<Vec<crate::access::TokenInfo>, Error> {
        match self {
            Store::Sqlite(store) => store.tokens().await,
            Store::Postgres(store) => store.tokens().await,
        }
    }

    pub(crate) async fn revoke_token(&self, id: String) -> Result<usize, Error> {
        match self {
            Store::Sqlite(store) => store.revoke_token(id).await,
            Store::Postgres(store) => store.revoke_token(id).await,
        }
    }

    pub(crate) async fn tenant_for_token(
        &self,
        token_sha256: String,
    ) -> Result<Option<Tenant>, Error> {
        match self {
            Store::Sqlite(store) => store.tenant_for_token(token_sha256).await,
            Store::Postgres(store) => store.tenant_for_token(token_sha256).await,
        }
    }

    pub(crate) async fn any_token(&self) -> Result<bool, Error> {
        match self {
            Store::Sqlite(store) => store.any_token().await,
            Store::Postgres(store) => store.any_token().await,
        }
    }

    pub(crate) async fn idempotency_begin(
        &self,
        tenant: &Tenant,
        key: &IdempotencyKey,
        fingerprint: String,
    ) -> Result<IdempotencyBegin, Error> {
        match self {
            Store::Sqlite(store) => store.idempotency_begin(tenant, key, fingerprint).await,
            Store::Postgres(store) => store.idempotency_begin(tenant, key, fingerprint).await,
        }
    }

    pub(crate) async fn idempotency_complete(
        &self,
        tenant: &Tenant,
        key: &IdempotencyKey,
        status: u16,
        body: String,
    ) -> Result<(), Error> {
        match self {
            Store::Sqlite(store) => store.idempotency_complete(tenant, key, status, body).await,
            Store::Postgres(store) => store.idempotency_complete(tenant, key, status, body).await,
        }
    }

    pub(crate) async fn idempotency_release(
        &self,
        tenant: &Tenant,
        key: &IdempotencyKey,
    ) -> Result<(), Error> {
        match self {
            Store::Sqlite(store) => store.idempotency_release(tenant, key).await,
            Store::Postgres(store) => store.idempotency_release(tenant, key).await,
        }
    }

    pub(crate) async fn idempotency_touch(
        &self,
        tenant: &Tenant,
        key: &IdempotencyKey,
    ) -> Result<(), Error> {
        match self {
            Store::Sqlite(store) => store.idempotency_touch(tenant, key).await,
            Store::Postgres(store) => store.idempotency_touch(tenant, key).await,
        }
    }

    pub(crate) async fn idempotency_purge(&self, retention_ms: i64) -> Result<u64, Error> {
        match self {
            Store::Sqlite(store) => store.idempotency_purge(retention_ms).await,
            Store::Postgres(store) => store.idempotency_purge(retention_ms).await,
        }
    }

    pub(crate) async fn relay_acquire(
        &self,
        owner: String,
        ttl_ms: i64,
    ) -> Result<Option<u64>, Error> {
        match self {
            Store::Sqlite(store) => store.relay_acquire(owner, ttl_ms).await,
            Store::Postgres(store) => store.relay_acquire(owner, ttl_ms).await,
        }
    }

    pub(crate) async fn relay_advance(
        &self,
        owner: String,
        epoch: u64,
        tenant: &Tenant,
        position: u64,
    ) -> Result<bool, Error> {
        match self {
            Store::Sqlite(store) => store.relay_advance(owner, epoch, tenant, position).await,
            Store::Postgres(store) => store.relay_advance(owner, epoch, tenant, position).await,
        }
    }

    pub(crate) async fn relay_cursors(&self) -> Result<Vec<(Tenant, u64)>, Error> {
        match self {
            Store::Sqlite(store) => store.relay_cursors().await,
            Store::Postgres(store) => store.relay_cursors().await,
        }
    }

    pub(crate) async fn relay_events(
        &self,
        tenant: &Tenant,
        after: u64,
        limit: u32,
    ) -> Result<Vec<(Event, runledger_core::Kind)>, Error> {
        match self {
            Store::Sqlite(store) => store.relay_events(tenant, after, limit).await,
            Store::Postgres(store) => store.relay_events(tenant, after, limit).await,
        }
    }

    /// The next events after `after` (a position, or `run`'s seq), at most
    /// `limit` and `bytes_max` bytes (the first event always), with their sizes.
    pub(crate) async fn event_page(
        &self,
        tenant: &Tenant,
        page: LogPage,
    ) -> Result<Vec<(Event, usize)>, Error> {
        match self {
            Store::Sqlite(store) => store.event_page(tenant, page).await,
            Store::Postgres(store) => store.event_page(tenant, &page).await,
        }
    }

    pub(crate) async fn last_position(&self, tenant: &Tenant) -> Result<u64, Error> {
        match self {
            Store::Sqlite(store) => store.last_position(tenant).await,
            Store::Postgres(store) => store.last_position(tenant).await,
        }
    }

    pub(crate) async fn run_counts(&self) -> Result<Vec<(RunState, u64)>, Error> {
        match self {
            Store::Sqlite(store) => store.run_counts().await,
            Store::Postgres(store) => store.run_counts().await,
        }
    }

    pub(crate) async fn tenant_run_counts(
        &self,
        tenant: &Tenant,
    ) -> Result<Vec<(RunState, u64)>, Error> {
        match self {
            Store::Sqlite(store) => store.tenant_run_counts(tenant).await,
            Store::Postgres(store) => store.tenant_run_counts(tenant).await,
        }
    }

    pub(crate) async fn audit(&self) -> Result<Audit, Error> {
        match self {
            Store::Sqlite(store) => store.audit().await,
            Store::Postgres(store) => store.audit().await,
        }
    }
}

/// Refuses `scheme://…` for a scheme no backend speaks (say `mysql://`),
/// which would otherwise be taken for a SQLite file path. The URL is shown
/// with its password redacted.
fn refuse_unknown_scheme(url: &str) -> Result<(), Error> {
    let Some((scheme, _)) = url.split_once("://") else {
        return Ok(());
    };
    let looks_like_scheme = scheme
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !looks_like_scheme || ["sqlite", "postgres", "postgresql"].contains(&scheme) {
        return Ok(());
    }
    Err(Error::invalid(
        "db",
        format!(
            "{} uses scheme {scheme:?}, which runledger does not speak; the schemes are \
             sqlite: (sqlite://relative.db, sqlite:///abs/path.db, or a plain path) and \
             postgres:// (also postgresql://)",
            crate::redact_db_url(url)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::refuse_unknown_scheme;

    #[test]
    fn only_sqlite_and_postgres_schemes_are_taken() {
        for url in [
            "sqlite://a.db",
            "sqlite:///tmp/a.db",
            "sqlite:a.db",
            "postgres://u@h/db",
            "postgresql://u@h/db",
            "runs.db",
            "/tmp/runs.db",
        ] {
            assert!(refuse_unknown_scheme(url).is_ok(), "{url}");
        }
        for url in ["mysql://u:secret@h/db", "http://h/db", "SQLITE://a.db"] {
            let refused = refuse_unknown_scheme(url).unwrap_err().to_string();
            assert!(
                refused.contains("sqlite:") && refused.contains("postgres://"),
                "{refused}"
            );
            assert!(!refused.contains("secret"), "{refused}");
        }
    }
}
