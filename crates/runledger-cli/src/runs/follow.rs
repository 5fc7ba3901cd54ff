//! `runs events --follow`: print events as they happen, through the client
//! crate's WebSocket subscription (which resumes by itself, without a
//! duplicate or a gap, when the connection drops). A run's follow ends
//! after its terminal event; the tenant's runs until Ctrl-C.

use super::render;
use crate::failure::{Failure, Verdict};
use runledger::{Event, RunId};
use runledger_client::{Client, ListRuns, Subscription};
use std::io::Write;

/// Follows run `id` from seq `after` until its terminal event or Ctrl-C.
pub async fn run(client: &Client, id: &RunId, after: u64, json: bool) -> Result<Verdict, Failure> {
    // Also the reachability and token check: a WebSocket that cannot
    // connect would otherwise just keep retrying.
    let run = client.get_run(id).await?;
    if !json {
        println!("{}", render::follow_header(false));
    }
    if run.state.is_terminal() && after >= run.last_seq {
        // Nothing can follow a terminal event.
        return Ok(Verdict::Success);
    }
    let subscription = client.subscribe_run(id, after).await;
    print_until_end(subscription, false, json).await
}

/// Follows every run of the tenant from position `after` until Ctrl-C.
pub async fn tenant(client: &Client, after: u64, json: bool) -> Result<Verdict, Failure> {
    // Checks the server answers and takes the token before subscribing.
    let probe = ListRuns {
        limit: Some(1),
        ..ListRuns::default()
    };
    client.list_runs(&probe).await?;
    if !json {
        println!("{}", render::follow_header(true));
    }
    let subscription = client.subscribe_tenant(after).await;
    print_until_end(subscription, true, json).await
}

async fn print_until_end(
    mut subscription: Subscription,
    with_run: bool,
    json: bool,
) -> Result<Verdict, Failure> {
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            next = subscription.next() => match next {
                Some(Ok(event)) => {
                    if print_event(&event, with_run, json).is_err() {
                        // A closed pipe (`| head`) ends the follow like Ctrl-C.
                        return Ok(Verdict::Success);
                    }
                }
                Some(Err(error)) => return Err(error.into()),
                None => return Ok(Verdict::Success),
            },
            _ = &mut interrupted => return Ok(Verdict::Success),
        }
    }
}

fn print_event(event: &Event, with_run: bool, json: bool) -> std::io::Result<()> {
    let line = if json {
        render::json_line(event)
    } else {
        render::follow_line(event, with_run)
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").and_then(|()| stdout.flush())
}
