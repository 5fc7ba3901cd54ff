//! SPEC §4 "Auth" and "Idempotency-Key", the ledger's side: tokens are
//! stored hashed and map to one tenant; an idempotency key is claimed by
//! exactly one request, replayed once answered, refused for another body.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{
    AppendEvent, ClaimRun, CreateRun, EventType, IdempotencyBegin, IdempotencyKey, IdempotencyMark,
    Kind, Owner, RunId, Tenant,
};
use serde_json::json;
use std::sync::Arc;
use support::TestDb;
use tokio::sync::Barrier;

conformance!(
    tokens_are_stored_hashed_and_decide_the_tenant,
    an_idempotency_key_is_claimed_once_then_replayed,
    racing_requests_with_one_key_start_exactly_one,
    a_keyed_append_or_claim_marks_its_key_in_its_own_transaction,
    expired_idempotency_keys_are_deleted_and_kept_ones_stay,
);

async fn tokens_are_stored_hashed_and_decide_the_tenant(db: TestDb) {
    let ledger = db.open().await;
    assert!(!ledger.auth_required().await.unwrap());
    let acme = Tenant::parse("acme").unwrap();
    let first = ledger.add_tenant_token(&acme).await.unwrap();
    let second = ledger.add_tenant_token(&acme).await.unwrap();
    assert_ne!(first.token, second.token);
    assert!(ledger.auth_required().await.unwrap());
    assert_eq!(
        ledger.authenticate(&first.token).await.unwrap(),
        Some(acme.clone())
    );
    assert_eq!(
        ledger.authenticate(&second.token).await.unwrap(),
        Some(acme)
    );
    assert_eq!(ledger.authenticate("rl_nope").await.unwrap(), None);
    let stored = db.count(&format!(
        "SELECT COUNT(*) FROM api_tokens WHERE token_sha256 = '{}'",
        first.token
    ));
    assert_eq!(stored, 0, "the token's text is never stored");
    assert_eq!(db.count("SELECT COUNT(*) FROM tenants"), 1);
}

async fn an_idempotency_key_is_claimed_once_then_replayed(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let key = IdempotencyKey::parse("retry-1").unwrap();
    assert!(matches!(
        ledger
            .idempotency_begin(&tenant, &key, "body-a")
            .await
            .unwrap(),
        IdempotencyBegin::Started { .. }
    ));
    assert_eq!(
        ledger
            .idempotency_begin(&tenant, &key, "body-a")
            .await
            .unwrap(),
        IdempotencyBegin::InFlight
    );
    assert_eq!(
        ledger
            .idempotency_begin(&tenant, &key, "body-b")
            .await
            .unwrap(),
        IdempotencyBegin::Reused
    );
    ledger
        .idempotency_complete(&tenant, &key, 201, "{\"id\":\"r\"}")
        .await
        .unwrap();
    let replay = IdempotencyBegin::Replay {
        status: 201,
        body: "{\"id\":\"r\"}".into(),
    };
    assert_eq!(
        ledger
            .idempotency_begin(&tenant, &key, "body-a")
            .await
            .unwrap(),
        replay
    );
    assert_eq!(
        ledger
            .idempotency_begin(&tenant, &key, "body-b")
            .await
            .unwrap(),
        IdempotencyBegin::Reused
    );
    // Keys are per tenant.
    let other = Tenant::parse("other").unwrap();
    assert!(matches!(
        ledger
            .idempotency_begin(&other, &key, "body-b")
            .await
            .unwrap(),
        IdempotencyBegin::Started { .. }
    ));
    // A released key (server-side failure) runs again, under its first
    // date (so with the same planned run id); another body is a reuse.
    let first = ledger
        .idempotency_begin(&other, &key, "body-c")
        .await
        .unwrap();
    assert_eq!(first, IdempotencyBegin::Reused, "other's key holds body-b");
    ledger.idempotency_release(&other, &key).await.unwrap();
    let IdempotencyBegin::Started { since, .. } = ledger
        .idempotency_begin(&other, &key, "body-b")
        .await
        .unwrap()
    else {
        panic!("a released key runs again");
    };
    ledger.idempotency_release(&other, &key).await.unwrap();
    assert_eq!(
        ledger
            .idempotency_begin(&other, &key, "body-b")
            .await
            .unwrap(),
        IdempotencyBegin::Started {
            since,
            committed: None
        },
        "the retry keeps the key's first date"
    );
    // An in-flight key whose holder died long ago may be taken over.
    db.execute_sql(
        "UPDATE idempotency_keys SET updated_at = updated_at - 3600000 WHERE tenant = 'other'",
    );
    assert!(matches!(
        ledger
            .idempotency_begin(&other, &key, "body-b")
            .await
            .unwrap(),
        IdempotencyBegin::Started { since: taken, .. } if taken == since
    ));
    // Keys older than 24 h are forgotten.
    db.execute_sql(
        "UPDATE idempotency_keys SET created_at = created_at - 90000000 WHERE tenant = 'default'",
    );
    assert!(matches!(
        ledger
            .idempotency_begin(&tenant, &key, "body-b")
            .await
            .unwrap(),
        IdempotencyBegin::Started { .. }
    ));
}

/// An append or a claim carrying its key marks the key's record with what
/// it wrote, in its own transaction: a retry that takes the key over after
/// its holder died learns what was committed; a key nobody wrote under
/// carries no mark, nor does a key forgotten after 24 h and used again.
async fn a_keyed_append_or_claim_marks_its_key_in_its_own_transaction(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let run = RunId::parse("marked").unwrap();
    let create = CreateRun::new(Kind::parse("job").unwrap()).id(run.clone());
    ledger.create_run(&tenant, create).await.unwrap();
    let appending = IdempotencyKey::parse("append-1").unwrap();
    let claiming = IdempotencyKey::parse("claim-1").unwrap();
    let unused = IdempotencyKey::parse("unused").unwrap();
    for key in [&appending, &claiming, &unused] {
        let begun = ledger.idempotency_begin(&tenant, key, "fp").await.unwrap();
        assert!(matches!(
            begun,
            IdempotencyBegin::Started {
                committed: None,
                ..
            }
        ));
    }
    let mut append = AppendEvent::new(EventType::parse("step").unwrap(), json!(1));
    append.idempotency_key = Some(appending.clone());
    let appended = ledger.append_event(&tenant, &run, append).await.unwrap();
    let mut claim = ClaimRun::new(Owner::parse("w").unwrap(), 60_000);
    claim.idempotency_key = Some(claiming.clone());
    let claimed = ledger.claim(&tenant, claim).await.unwrap().unwrap();
    assert_eq!(claimed.id, run);
    // Their holders die: nobody touches the keys for an hour.
    db.execute_sql("UPDATE idempotency_keys SET updated_at = updated_at - 3600000");
    let retried = |key: IdempotencyKey| {
        let ledger = ledger.clone();
        async move {
            match ledger
                .idempotency_begin(&Tenant::default(), &key, "fp")
                .await
                .unwrap()
            {
                IdempotencyBegin::Started { committed, .. } => committed,
                other => panic!("a dead holder's key is taken over, not {other:?}"),
            }
        }
    };
    let event = IdempotencyMark {
        run_id: run.clone(),
        seq: appended.seq,
    };
    assert_eq!(retried(appending.clone()).await, Some(event.clone()));
    let lease = IdempotencyMark {
        run_id: run.clone(),
        seq: claimed.lease.unwrap().epoch,
    };
    assert_eq!(retried(claiming.clone()).await, Some(lease));
    assert_eq!(retried(unused).await, None);
    // Taken over again, the mark stays; forgotten after 24 h, it goes.
    db.execute_sql("UPDATE idempotency_keys SET updated_at = updated_at - 3600000");
    assert_eq!(retried(appending.clone()).await, Some(event));
    db.execute_sql("UPDATE idempotency_keys SET created_at = created_at - 90000000");
    assert_eq!(retried(appending).await, None);
}

async fn racing_requests_with_one_key_start_exactly_one(db: TestDb) {
    let ledger = db.open().await;
    let barrier = Arc::new(Barrier::new(32));
    let handles: Vec<_> = (0..32)
        .map(|_| {
            let (ledger, barrier) = (ledger.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let key = IdempotencyKey::parse("same").unwrap();
                ledger
                    .idempotency_begin(&Tenant::default(), &key, "body")
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut started = 0;
    for handle in handles {
        match handle.await.unwrap() {
            IdempotencyBegin::Started { .. } => started += 1,
            IdempotencyBegin::InFlight => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(started, 1);
}

async fn expired_idempotency_keys_are_deleted_and_kept_ones_stay(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    for key in ["old-1", "old-2", "fresh"] {
        let key = IdempotencyKey::parse(key).unwrap();
        ledger
            .idempotency_begin(&tenant, &key, "body")
            .await
            .unwrap();
        ledger
            .idempotency_complete(&tenant, &key, 201, "{}")
            .await
            .unwrap();
    }
    assert_eq!(ledger.purge_expired_idempotency_keys().await.unwrap(), 0);
    // Two keys pass their keeping window (24 h, with a minute to spare).
    db.execute_sql(&format!(
        "UPDATE idempotency_keys SET created_at = created_at - {} WHERE key LIKE 'old-%'",
        runledger::limits::IDEMPOTENCY_KEY_KEPT_MS + 60_000
    ));
    assert_eq!(ledger.purge_expired_idempotency_keys().await.unwrap(), 2);
    assert_eq!(db.count("SELECT COUNT(*) FROM idempotency_keys"), 1);
    let fresh = IdempotencyKey::parse("fresh").unwrap();
    assert!(
        matches!(
            ledger
                .idempotency_begin(&tenant, &fresh, "body")
                .await
                .unwrap(),
            IdempotencyBegin::Replay { .. }
        ),
        "the kept key still replays"
    );
}
