//! The dashboard proper: counts by state, the filter form, one page of
//! runs (newest first, paged both ways), the open run, and, for a tenant
//! with no run at all, how to create the first one. `<main id="dashboard">`
//! carries what the script needs to go live: the tenant position the page
//! was read at (the event stream resumes after it), the filters, whether
//! this is the newest page (only there do new runs belong, at the top) and
//! the CSRF token the run pane's forms carry.

use super::detail::{Detail, detail};
use super::layout::{TopBar, page};
use super::links::{Filter, group_href};
use super::text;
use crate::dashboard::listing::Newer;
use maud::{Markup, html};
use runledger::{Run, RunState, Tenant, Timestamp};

/// Everything one dashboard page shows.
#[derive(Debug)]
pub(crate) struct RunsPage<'a> {
    /// The tenant shown.
    pub tenant: &'a Tenant,
    /// Whether the browser signed in (sign-out is offered).
    pub signed_in: bool,
    /// The filters as given, the cursor and the open run.
    pub filter: &'a Filter,
    /// Why the filters were refused, if they were.
    pub error: Option<&'a str>,
    /// Runs per state, every state listed.
    pub counts: &'a [(RunState, u64)],
    /// This page of runs, newest first.
    pub runs: &'a [Run],
    /// The cursor of the next older page, if any.
    pub older: Option<&'a str>,
    /// Where the newer link leads; `None` on the newest page.
    pub newer: Option<&'a Newer>,
    /// The server's `scheme://host` the page was asked for, for the
    /// empty state's commands.
    pub origin: &'a str,
    /// Whether API tokens exist (the empty state's curl needs one).
    pub tokens_exist: bool,
    /// The CSRF token of the run pane's forms.
    pub csrf: &'a str,
    /// The server's clock when the page was read.
    pub now: Timestamp,
    /// The tenant's newest event position when the page was read.
    pub position: u64,
    /// The open run, if one was asked for.
    pub detail: Option<Detail<'a>>,
}

/// The dashboard page.
pub(crate) fn runs_page(view: &RunsPage<'_>) -> Markup {
    let top = TopBar {
        tenant: Some(view.tenant),
        signed_in: view.signed_in,
        live: true,
    };
    let filter = view.filter;
    let body = html! {
        main #dashboard
            data-position=(view.position)
            data-filter-state=(filter.state)
            data-filter-kind=(filter.kind)
            data-newest-page=(if filter.is_newest_page() && view.error.is_none() { "true" } else { "false" })
            data-csrf=(view.csrf)
        {
            (counts(view.counts, &filter.state))
            @let total: u64 = view.counts.iter().map(|(_, count)| count).sum();
            @if total == 0 && view.error.is_none() {
                (empty_state(view.origin, view.tokens_exist))
            }
            (filters(filter))
            @if let Some(error) = view.error {
                p #filter-error .error role="alert" { (error) }
            }
            div.panes {
                section.runs aria-label="Runs" {
                    (runs_table(view.runs, filter, &view.now))
                    (paging(filter, view.older, view.newer))
                }
                @if let Some(open) = &view.detail {
                    (detail(open, &filter.without_run().href(), view.csrf, &view.now))
                }
            }
        }
    };
    page("runs", top, body)
}

fn counts(counts: &[(RunState, u64)], current: &str) -> Markup {
    let total: u64 = counts.iter().map(|(_, count)| count).sum();
    html! {
        nav.counts aria-label="Runs by state" {
            a.count href="/" aria-current=[current.is_empty().then_some("true")] {
                span.count-label { "all" }
                span.count-value #count-total { (total) }
            }
            @for (state, count) in counts {
                a class={ "count state-" (state) }
                    href=(Filter::state_only(state.as_str()).href())
                    aria-current=[(current == state.as_str()).then_some("true")]
                {
                    span.count-label { (state) }
                    span.count-value id={ "count-" (state) } { (count) }
                }
            }
        }
    }
}

fn filters(filter: &Filter) -> Markup {
    html! {
        form.filters method="get" action="/" {
            label {
                "State "
                select name="state" {
                    option value="" selected[filter.state.is_empty()] { "any" }
                    @for state in RunState::ALL {
                        option value=(state) selected[filter.state == state.as_str()] { (state) }
                    }
                }
            }
            label {
                "Kind "
                input type="text" name="kind" value=(filter.kind) placeholder="any"
                    maxlength="128" spellcheck="false";
            }
            button type="submit" { "Filter" }
            a href="/" { "Clear" }
        }
    }
}

fn empty_state(origin: &str, tokens_exist: bool) -> Markup {
    let auth = if tokens_exist {
        " \\\n  -H \"Authorization: Bearer $RUNLEDGER_TOKEN\""
    } else {
        ""
    };
    let curl = format!(
        "curl -X POST {origin}/v1/runs \\\n  -H 'Content-Type: application/json'{auth} \\\n  -d '{{\"kind\": \"hello\"}}'"
    );
    let cli = format!("runledger runs create --kind hello --server {origin}");
    html! {
        section #empty-state .empty-state aria-label="No runs yet" {
            h2 { "No runs yet" }
            p { "Create the first run of this tenant with the CLI"
                @if tokens_exist { " (with " code { "RUNLEDGER_TOKEN" } " set to an API token of this tenant)" }
                ":" }
            pre #empty-cli { (cli) }
            p { "or with curl:" }
            pre #empty-curl { (curl) }
            p { "It shows here at once, with no reload." }
        }
    }
}

fn runs_table(runs: &[Run], filter: &Filter, now: &Timestamp) -> Markup {
    html! {
        table #runs {
            thead {
                tr {
                    th { "Run" } th { "Kind" } th { "State" } th { "Parent" }
                    th { "Children" } th { "Group" } th { "Lease" }
                    th { "Duration" } th { "Created" }
                }
            }
            tbody #runs-body {
                @if runs.is_empty() {
                    tr.empty { td colspan="9" { "No runs." } }
                }
                @for run in runs {
                    (run_row(run, filter, now))
                }
            }
        }
    }
}

/// One row; `static/app.js` builds the same cells for rows it adds.
fn run_row(run: &Run, filter: &Filter, now: &Timestamp) -> Markup {
    html! {
        tr data-run-id=(run.id) data-state=(run.state) data-version=(run.version) {
            td.id { a.run-link href=(filter.with_run(run.id.as_str()).href()) { (run.id) } }
            td.kind { (run.kind) }
            td.state { span class={ "state state-" (run.state) } { (run.state) } }
            td.parent {
                @match &run.parent_id {
                    Some(parent) => a.run-link href=(filter.with_run(parent.as_str()).href()) { (parent) },
                    None => (text::NONE),
                }
            }
            td.children { (text::children(&run.children)) }
            td.concurrency {
                @match &run.concurrency_key {
                    Some(key) => a.group-link href=(group_href(key.as_str())) { (key) },
                    None => (text::NONE),
                }
            }
            td.lease { (text::lease(run.lease.as_ref())) }
            (duration_cell(run, now))
            td.created { (time_cell(&run.created_at, now)) }
        }
    }
}

/// A run's duration; a running one carries its start so the script can
/// keep counting.
pub(crate) fn duration_cell(run: &Run, now: &Timestamp) -> Markup {
    let running_since = (run.state == RunState::Running)
        .then_some(run.started_at)
        .flatten()
        .map(|at| at.to_string());
    html! {
        td.duration data-running-since=[running_since] {
            (text::run_duration(run, now).unwrap_or_else(|| text::NONE.to_owned()))
        }
    }
}

/// `2026-11-27 00:10:13 UTC` and, beneath, how long ago (kept current by
/// the script).
pub(crate) fn time_cell(at: &Timestamp, now: &Timestamp) -> Markup {
    html! {
        time datetime=(at) title=(at) { (text::short_time(at)) }
        " " span.ago data-at=(at) { (text::ago(at, now)) }
    }
}

fn paging(filter: &Filter, older: Option<&str>, newer: Option<&Newer>) -> Markup {
    html! {
        nav.paging aria-label="Pages" {
            @if let Some(newer) = newer {
                a #newest-page href=(filter.with_cursor("").href()) { "Newest" }
                @match newer {
                    Newer::Newest => a #newer-page href=(filter.with_cursor("").href()) { "← Newer" },
                    Newer::From(cursor) => a #newer-page href=(filter.with_newer(cursor).href()) { "← Newer" },
                }
            }
            @if let Some(cursor) = older {
                a #older-page href=(filter.with_cursor(cursor).href()) { "Older →" }
            }
        }
    }
}
