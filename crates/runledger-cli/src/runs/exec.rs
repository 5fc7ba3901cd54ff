//! `runledger runs <verb>`: parse the flags into the client's typed
//! requests (a malformed id or JSON is a usage error, exit 2, and nothing
//! is sent), call the server, print the answer. The server's refusal is
//! exit 1 with its problem code and detail; no server is exit 3.

use super::args::{
    CancelArgs, ChangeArgs, ClaimArgs, CreateArgs, EventsArgs, FinishArgs, HeartbeatArgs, IdArgs,
    ListArgs, RunsArgs, RunsVerb, SERVER_DEFAULT, StartArgs,
};
use super::{follow, render};
use crate::failure::{Failure, Verdict};
use runledger::{ConcurrencyKey, Kind, Owner, RunId, RunState, Segment, Timestamp};
use runledger_client::{
    CallOptions, Cancel, ClaimRun, Client, ConcurrencyRequest, CreateRun, Finish, Heartbeat,
    ListRuns, StartRun,
};
use serde_json::Value;

/// Events fetched per page when listing a run's log.
const EVENTS_PAGE_MAX: u32 = 1_000;

/// Runs `runledger runs`, against `server` (`--server` before or after the verb, if given).
pub async fn run(server: Option<String>, args: RunsArgs) -> Result<Verdict, Failure> {
    let client = client(server)?;
    let json = args.json;
    match args.verb {
        RunsVerb::Create(create) => create_run(&client, create, json).await,
        RunsVerb::Get(IdArgs { id }) => {
            let run = client.get_run(&run_id(&id)?).await?;
            print_run(&run, None, json);
            Ok(Verdict::Success)
        }
        RunsVerb::List(list) => list_runs(&client, list, json).await,
        RunsVerb::Start(start) => start_run(&client, start, json).await,
        RunsVerb::Heartbeat(heartbeat) => heartbeat_run(&client, heartbeat, json).await,
        RunsVerb::Finish(finish) => finish_run(&client, finish, json).await,
        RunsVerb::Claim(claim) => claim_run(&client, claim, json).await,
        RunsVerb::Cancel(cancel) => cancel_run(&client, cancel, json).await,
        RunsVerb::Events(events) => list_events(&client, events, json).await,
    }
}

/// The client of `--server`, else `RUNLEDGER_SERVER`, else the local
/// default, with the token of `RUNLEDGER_TOKEN`.
fn client(server: Option<String>) -> Result<Client, Failure> {
    let server = server
        .or_else(|| std::env::var("RUNLEDGER_SERVER").ok())
        .filter(|server| !server.is_empty())
        .unwrap_or_else(|| SERVER_DEFAULT.to_owned());
    let token = std::env::var("RUNLEDGER_TOKEN")
        .ok()
        .filter(|token| !token.is_empty());
    Ok(Client::new(&server, token)?)
}

async fn create_run(client: &Client, args: CreateArgs, json: bool) -> Result<Verdict, Failure> {
    if let Some(path) = &args.from_file {
        return super::batch::create_from_file(client, path, args.atomic, json).await;
    }
    if args.atomic {
        return Err(Failure::Usage("--atomic goes with --from-file".to_owned()));
    }
    let kind = args.kind.as_deref().unwrap_or_default();
    let mut request = CreateRun::new(parse("--kind", kind, Kind::parse)?);
    if let Some(id) = &args.id {
        request = request.id(run_id(id)?);
    }
    if let (Some(parent), Some(key)) = (&args.parent, &args.key) {
        request = request.child_of(
            parse("--parent", parent, RunId::parse)?,
            parse("--key", key, Segment::parse)?,
        );
    }
    if let Some(attributes) = &args.attributes {
        request = request.attributes(json_arg("--attributes", attributes)?);
    }
    if let Some(key) = &args.concurrency_key {
        request.concurrency = Some(ConcurrencyRequest {
            key: parse("--concurrency-key", key, ConcurrencyKey::parse)?,
            limit: args.limit,
            on_full: args.on_full,
        });
    }
    if let (Some(owner), Some(lease_ttl_ms)) = (&args.start_owner, args.lease_ttl_ms) {
        request = request.start(parse("--start-owner", owner, Owner::parse)?, lease_ttl_ms);
    }
    let options = CallOptions {
        idempotency_key: args.idempotency_key,
        if_match: None,
    };
    let created = client.create_run(&request, &options).await?;
    print_run(&created.run, Some(created.created), json);
    Ok(Verdict::Success)
}

async fn list_runs(client: &Client, args: ListArgs, json: bool) -> Result<Verdict, Failure> {
    let query = ListRuns {
        state: args
            .state
            .as_deref()
            .map(|state| parse("--state", state, RunState::parse))
            .transpose()?,
        kind: args
            .kind
            .as_deref()
            .map(|kind| parse("--kind", kind, Kind::parse))
            .transpose()?,
        parent_id: args
            .parent
            .as_deref()
            .map(|parent| parse("--parent", parent, RunId::parse))
            .transpose()?,
        concurrency_key: args
            .concurrency_key
            .as_deref()
            .map(|key| parse("--concurrency-key", key, ConcurrencyKey::parse))
            .transpose()?,
        created_after: args
            .since
            .as_deref()
            .map(|time| {
                Timestamp::parse_rfc3339(time).ok_or_else(|| {
                    Failure::Usage(format!(
                        "--since '{time}' is not an RFC 3339 time, e.g. 2026-12-07T00:00:00Z"
                    ))
                })
            })
            .transpose()?,
        created_before: None,
        newest_first: args.newest,
        limit: args.limit,
        cursor: args.cursor,
    };
    let page = client.list_runs(&query).await?;
    if json {
        println!("{}", render::json_line(&page));
    } else {
        println!("{}", render::runs_table(&page.runs));
        match &page.next_cursor {
            Some(cursor) => println!("more: --cursor {cursor}"),
            None => println!("{} runs, last page", page.runs.len()),
        }
    }
    Ok(Verdict::Success)
}

async fn start_run(client: &Client, args: StartArgs, json: bool) -> Result<Verdict, Failure> {
    let request = StartRun::new(
        parse("--owner", &args.owner, Owner::parse)?,
        args.lease_ttl_ms,
    );
    let run = client
        .start(&run_id(&args.id)?, &request, &options(args.change))
        .await?;
    print_run(&run, None, json);
    Ok(Verdict::Success)
}

async fn claim_run(client: &Client, args: ClaimArgs, json: bool) -> Result<Verdict, Failure> {
    let mut request = ClaimRun::new(
        parse("--owner", &args.owner, Owner::parse)?,
        args.lease_ttl_ms,
    );
    request.kinds = args
        .kinds
        .iter()
        .map(|kind| parse("--kind", kind, Kind::parse))
        .collect::<Result<_, _>>()?;
    request.concurrency_key = args
        .concurrency_key
        .as_deref()
        .map(|key| parse("--concurrency-key", key, ConcurrencyKey::parse))
        .transpose()?;
    request.wait_ms = args.wait.unwrap_or(0);
    let options = CallOptions {
        idempotency_key: args.idempotency_key,
        ..CallOptions::default()
    };
    match client.claim(&request, &options).await? {
        Some(run) => print_run(&run, None, json),
        None if json => println!("null"),
        None => println!("no queued run matched"),
    }
    Ok(Verdict::Success)
}

async fn heartbeat_run(
    client: &Client,
    args: HeartbeatArgs,
    json: bool,
) -> Result<Verdict, Failure> {
    let mut request = Heartbeat::new(args.lease_epoch);
    request.lease_ttl_ms = args.lease_ttl_ms;
    let run = client
        .heartbeat(&run_id(&args.id)?, &request, &options(args.change))
        .await?;
    print_run(&run, None, json);
    Ok(Verdict::Success)
}

async fn finish_run(client: &Client, args: FinishArgs, json: bool) -> Result<Verdict, Failure> {
    let request = Finish {
        lease_epoch: args.lease_epoch,
        outcome: args.outcome,
        result: args
            .result
            .as_deref()
            .map(|result| json_arg("--result", result))
            .transpose()?,
        error: args.error,
    };
    let run = client
        .finish(&run_id(&args.id)?, &request, &options(args.change))
        .await?;
    print_run(&run, None, json);
    Ok(Verdict::Success)
}

async fn cancel_run(client: &Client, args: CancelArgs, json: bool) -> Result<Verdict, Failure> {
    let request = Cancel {
        reason: args.reason,
        cascade: args.cascade,
        if_version: None,
    };
    let run = client
        .cancel(&run_id(&args.id)?, &request, &options(args.change))
        .await?;
    print_run(&run, None, json);
    Ok(Verdict::Success)
}

/// `runs events`: the whole log after `--after` (paged), or `--follow`.
async fn list_events(client: &Client, args: EventsArgs, json: bool) -> Result<Verdict, Failure> {
    let id = args.id.as_deref().map(run_id).transpose()?;
    if args.follow {
        return match id {
            Some(id) => follow::run(client, &id, args.after, json).await,
            None => follow::tenant(client, args.after, json).await,
        };
    }
    let Some(id) = id else {
        return Err(Failure::Usage(
            "runs events needs a run id, or --follow to follow the whole tenant".to_owned(),
        ));
    };
    let mut events = Vec::new();
    let mut after = args.after;
    loop {
        let page = client.events(&id, after, Some(EVENTS_PAGE_MAX)).await?;
        let full = page.events.len() == EVENTS_PAGE_MAX as usize;
        after = page.events.last().map_or(after, |event| event.seq);
        events.extend(page.events);
        if !full {
            break;
        }
    }
    if json {
        println!(
            "{}",
            render::json_line(&runledger_client::EventPage { events })
        );
    } else {
        println!("{}", render::events_table(&events));
    }
    Ok(Verdict::Success)
}

fn print_run(run: &runledger::Run, created: Option<bool>, json: bool) {
    if json {
        println!("{}", render::json_line(run));
    } else {
        println!("{}", render::run_table(run, created));
    }
}

fn options(change: ChangeArgs) -> CallOptions {
    CallOptions {
        idempotency_key: change.idempotency_key,
        if_match: change.if_match,
    }
}

/// A run id argument, checked by the SPEC grammar before anything is sent.
pub fn run_id(text: &str) -> Result<RunId, Failure> {
    parse("run id", text, RunId::parse)
}

fn parse<T>(
    what: &str,
    text: &str,
    parser: impl Fn(&str) -> Result<T, runledger::Error>,
) -> Result<T, Failure> {
    parser(text).map_err(|error| Failure::Usage(format!("{what} {text:?}: {error}")))
}

fn json_arg(what: &str, text: &str) -> Result<Value, Failure> {
    serde_json::from_str(text)
        .map_err(|error| Failure::Usage(format!("{what} is not valid JSON: {error}")))
}
