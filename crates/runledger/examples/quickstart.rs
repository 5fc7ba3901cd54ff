//! Opens `runledger.db` in the current directory, creates a run with a
//! child, starts and finishes the child, and prints the events.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

use runledger::{
    AppendEvent, CreateRun, EventType, Finish, Kind, Ledger, Outcome, Owner, RunId, Segment,
    StartRun, Tenant,
};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), runledger::Error> {
    let ledger = Ledger::open("sqlite://runledger.db").await?;
    let tenant = Tenant::default();

    let parent_id = RunId::parse(&format!("nightly-{}", std::process::id()))?;
    let parent = ledger
        .create_run(
            &tenant,
            CreateRun::new(Kind::parse("nightly-etl")?)
                .id(parent_id.clone())
                .attributes(json!({"source": "quickstart"})),
        )
        .await?;
    println!("created {} ({})", parent.run.id, parent.run.state);

    let child = ledger
        .create_run(
            &tenant,
            CreateRun::new(Kind::parse("load-client")?)
                .child_of(parent_id.clone(), Segment::parse("acme")?),
        )
        .await?;
    println!("created child {}", child.run.id);

    let running = ledger
        .start(
            &tenant,
            &child.run.id,
            StartRun::new(Owner::parse("quickstart-worker")?, 30_000),
        )
        .await?;
    let epoch = running
        .lease
        .as_ref()
        .map(|lease| lease.epoch)
        .unwrap_or_default();
    let mut progress = AppendEvent::new(EventType::parse("progress")?, json!({"percent": 50}));
    progress.lease_epoch = Some(epoch);
    ledger
        .append_event(&tenant, &child.run.id, progress)
        .await?;
    let finish = Finish {
        lease_epoch: epoch,
        outcome: Outcome::Succeeded,
        result: Some(json!({"rows": 42})),
        error: None,
    };
    let finished = ledger.finish(&tenant, &child.run.id, finish, None).await?;
    println!(
        "{} is {} at version {}",
        finished.id, finished.state, finished.version
    );

    let parent = ledger.get_run(&tenant, &parent_id).await?;
    println!(
        "{} children: {}",
        parent.id,
        serde_json::to_string(&parent.children).unwrap_or_default()
    );
    for event in ledger.events(&tenant, &child.run.id, 0, None).await? {
        println!(
            "  seq {} position {} {:<10} {}",
            event.seq, event.position, event.event_type, event.data
        );
    }
    let audit = ledger.audit().await?;
    println!("audit: {} problems", audit.problems.len());
    Ok(())
}
