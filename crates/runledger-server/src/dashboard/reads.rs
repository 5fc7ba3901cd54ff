//! What the dashboard reads from the ledger, shared by its pages and
//! fragments: counts per state, and the open run with its first children
//! and newest events.

use crate::problem::Problem;
use runledger::{ErrorCode, Event, Ledger, ListRuns, Run, RunId, RunState, Tenant};

/// Events shown for the open run: its newest, one API page.
pub(crate) const EVENTS_SHOWN_MAX: u32 = 1_000;

/// Children listed per level of the tree.
pub(crate) const CHILDREN_SHOWN_MAX: u32 = 100;

/// The open run and what its pane shows with it.
#[derive(Debug)]
pub(crate) struct OpenRun {
    /// The run.
    pub run: Run,
    /// Its first [`CHILDREN_SHOWN_MAX`] direct children, oldest first.
    pub children: Vec<Run>,
    /// Whether it has more.
    pub more_children: bool,
    /// Its newest [`EVENTS_SHOWN_MAX`] events, oldest first.
    pub events: Vec<Event>,
}

/// Runs per state for every state, zeros included.
pub(crate) async fn counts(
    ledger: &Ledger,
    tenant: &Tenant,
) -> Result<Vec<(RunState, u64)>, Problem> {
    let found = ledger.tenant_run_counts(tenant).await?;
    Ok(RunState::ALL
        .into_iter()
        .map(|state| {
            let count = found
                .iter()
                .find(|(counted, _)| *counted == state)
                .map_or(0, |(_, count)| *count);
            (state, count)
        })
        .collect())
}

/// The run `id` (as typed), or a 4xx problem saying why not (a malformed
/// id; an unknown run and another tenant's alike, as in the API).
pub(crate) async fn run(ledger: &Ledger, tenant: &Tenant, id: &str) -> Result<Run, Problem> {
    let id = RunId::parse(id.trim())?;
    match ledger.get_run(tenant, &id).await {
        Ok(run) => Ok(run),
        Err(error) if error.code() == ErrorCode::NotFound => Err(Problem::new(
            ErrorCode::NotFound,
            format!("no run {id} in this tenant"),
        )),
        Err(error) => Err(error.into()),
    }
}

/// The run `id` with its children and newest events.
pub(crate) async fn open_run(
    ledger: &Ledger,
    tenant: &Tenant,
    id: &str,
) -> Result<OpenRun, Problem> {
    let run = run(ledger, tenant, id).await?;
    let (children, more_children) = children(ledger, tenant, &run.id).await?;
    let after_seq = run.last_seq.saturating_sub(u64::from(EVENTS_SHOWN_MAX));
    let events = ledger
        .events(tenant, &run.id, after_seq, Some(EVENTS_SHOWN_MAX))
        .await?;
    Ok(OpenRun {
        run,
        children,
        more_children,
        events,
    })
}

/// The first [`CHILDREN_SHOWN_MAX`] direct children of `id`, and whether
/// there are more.
pub(crate) async fn children(
    ledger: &Ledger,
    tenant: &Tenant,
    id: &RunId,
) -> Result<(Vec<Run>, bool), Problem> {
    let page = ledger
        .list_runs(
            tenant,
            ListRuns {
                parent_id: Some(id.clone()),
                limit: Some(CHILDREN_SHOWN_MAX),
                ..ListRuns::default()
            },
        )
        .await?;
    Ok((page.runs, page.next_cursor.is_some()))
}

/// Whether `problem` is the caller's (4xx), so it is shown on the page
/// rather than failing it.
pub(crate) fn is_refusal(problem: &Problem) -> bool {
    crate::problem::status(problem.code()).is_client_error()
}
