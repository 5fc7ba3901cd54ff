//! One concurrency group (SPEC §3): its active runs (queued and running,
//! the ones that take a slot) against the limit, and its pending runs in
//! the order they will be promoted (oldest first, FIFO).

use super::layout::{TopBar, page};
use super::links::run_href;
use super::runs::time_cell;
use super::text;
use maud::{Markup, html};
use runledger::{Run, Tenant, Timestamp};

/// Everything the group page shows.
#[derive(Debug)]
pub(crate) struct GroupPage<'a> {
    /// The tenant shown.
    pub tenant: &'a Tenant,
    /// Whether the browser signed in (sign-out is offered).
    pub signed_in: bool,
    /// The group's key.
    pub key: &'a str,
    /// Its active runs, oldest first.
    pub active: &'a [Run],
    /// Its pending runs in promotion order.
    pub pending: &'a [Run],
    /// Whether there are more pending runs than these.
    pub more_pending: bool,
    /// The server's clock when the page was read.
    pub now: Timestamp,
}

/// The group page.
pub(crate) fn group_page(view: &GroupPage<'_>) -> Markup {
    let top = TopBar {
        tenant: Some(view.tenant),
        signed_in: view.signed_in,
        live: false,
    };
    // The limit the next create is decided with is its own; the newest
    // active or pending run's is what was last asked for.
    let limit = view
        .pending
        .last()
        .or_else(|| view.active.last())
        .and_then(|run| run.concurrency_limit);
    let body = html! {
        main #group data-key=(view.key) {
            p { a href="/" { "← All runs" } }
            h1 { "Concurrency group " code #group-key { (view.key) } }
            p #group-slots {
                @match limit {
                    Some(limit) => { (view.active.len()) " of " (limit) " slots in use" },
                    None => { (view.active.len()) " active" },
                }
                ", " (view.pending.len()) @if view.more_pending { "+" } " pending"
            }
            p.read-at { "Read at " (text::short_time(&view.now)) "; reload for the current state." }
            h2 { "Active (queued or running)" }
            (runs_list("group-active", view.active, &view.now))
            h2 { "Pending, in promotion order" }
            (runs_list("group-pending", view.pending, &view.now))
            @if view.more_pending {
                p { "More pending runs are in " a href={ "/v1/runs?state=pending&concurrency_key=" (super::links::percent_encode(view.key)) } { "the API" } "." }
            }
        }
    };
    page("group", top, body)
}

fn runs_list(id: &str, runs: &[Run], now: &Timestamp) -> Markup {
    html! {
        table id=(id) .group-runs {
            thead { tr { th { "#" } th { "Run" } th { "Kind" } th { "State" } th { "Lease" } th { "Created" } } }
            tbody {
                @if runs.is_empty() {
                    tr.empty { td colspan="6" { "None." } }
                }
                @for (place, run) in runs.iter().enumerate() {
                    tr data-run-id=(run.id) {
                        td { (place + 1) }
                        td.id { a href=(run_href(run.id.as_str())) { (run.id) } }
                        td.kind { (run.kind) }
                        td.state { span class={ "state state-" (run.state) } { (run.state) } }
                        td.lease { (text::lease(run.lease.as_ref())) }
                        td.created { (time_cell(&run.created_at, now)) }
                    }
                }
            }
        }
    }
}
