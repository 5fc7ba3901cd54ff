//! SPEC §4 `GET /v1/runs`: `order=desc` lists newest first, pages included,
//! and `created_after` / `created_before` keep the runs created strictly
//! inside the window; on both backends.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{CreateRun, Kind, Ledger, ListRuns, RunId, Tenant, Timestamp};
use support::TestDb;

conformance!(newest_first_pages_and_creation_windows);

async fn ids(ledger: &Ledger, mut filter: ListRuns) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let page = ledger
            .list_runs(&Tenant::default(), filter.clone())
            .await
            .unwrap();
        ids.extend(page.runs.iter().map(|run| run.id.to_string()));
        match page.next_cursor {
            Some(cursor) => filter.cursor = Some(cursor),
            None => return ids,
        }
    }
}

async fn newest_first_pages_and_creation_windows(db: TestDb) {
    let ledger = db.open().await;
    let tenant = Tenant::default();
    let mut created_at = Vec::new();
    for n in 0..7 {
        let request =
            CreateRun::new(Kind::parse("etl").unwrap()).id(RunId::parse(&format!("r{n}")).unwrap());
        let run = ledger.create_run(&tenant, request).await.unwrap().run;
        created_at.push(run.created_at);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let all: Vec<String> = (0..7).map(|n| format!("r{n}")).collect();
    let oldest_first = ids(
        &ledger,
        ListRuns {
            limit: Some(3),
            ..ListRuns::default()
        },
    )
    .await;
    assert_eq!(oldest_first, all);
    let newest = ListRuns {
        newest_first: true,
        limit: Some(3),
        ..ListRuns::default()
    };
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(
        ids(&ledger, newest.clone()).await,
        reversed,
        "newest first, across pages"
    );
    let window = ListRuns {
        created_after: Some(created_at[1]),
        created_before: Some(created_at[5]),
        ..ListRuns::default()
    };
    assert_eq!(
        ids(&ledger, window.clone()).await,
        ["r2", "r3", "r4"],
        "strictly inside"
    );
    let newest_in_window = ListRuns {
        newest_first: true,
        ..window
    };
    assert_eq!(ids(&ledger, newest_in_window).await, ["r4", "r3", "r2"]);
    let future = ListRuns {
        created_after: Some(Timestamp::from_unix_ms(created_at[6].unix_ms() + 1)),
        ..newest
    };
    assert!(ids(&ledger, future).await.is_empty());
}
