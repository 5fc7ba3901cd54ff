//! The dashboard proper: counts by state, the filter form, one page of
//! runs and the open run. `<main id="dashboard">` carries what the script
//! needs to go live: the tenant position the page was read at (the event
//! stream resumes after it), the filters and whether this is the last page
//! (only there do new runs belong).

use super::detail::{Detail, detail};
use super::layout::{TopBar, page};
use super::links::Filter;
use super::text;
use maud::{Markup, html};
use runledger::{Run, RunState, Tenant};

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
    /// This page of runs, oldest first.
    pub runs: &'a [Run],
    /// The cursor of the next page; `None` on the last page.
    pub next_cursor: Option<&'a str>,
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
    };
    let filter = view.filter;
    let body = html! {
        main #dashboard
            data-position=(view.position)
            data-filter-state=(filter.state)
            data-filter-kind=(filter.kind)
            data-last-page=(if view.next_cursor.is_none() && view.error.is_none() { "true" } else { "false" })
        {
            (counts(view.counts, &filter.state))
            (filters(filter))
            @if let Some(error) = view.error {
                p #filter-error .error role="alert" { (error) }
            }
            div.panes {
                section.runs aria-label="Runs" {
                    (runs_table(view.runs, filter))
                    (paging(filter, view.next_cursor))
                }
                @if let Some(open) = &view.detail {
                    (detail(open, &filter.without_run().href()))
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

fn runs_table(runs: &[Run], filter: &Filter) -> Markup {
    html! {
        table #runs {
            thead {
                tr {
                    th { "Run" } th { "Kind" } th { "State" } th { "Parent" }
                    th { "Children" } th { "Concurrency key" } th { "Lease" }
                    th { "Created" } th { "Updated" }
                }
            }
            tbody #runs-body {
                @if runs.is_empty() {
                    tr.empty { td colspan="9" { "No runs." } }
                }
                @for run in runs {
                    (run_row(run, filter))
                }
            }
        }
    }
}

/// One row; `static/app.js` builds the same cells for rows it adds.
fn run_row(run: &Run, filter: &Filter) -> Markup {
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
                    Some(key) => (key),
                    None => (text::NONE),
                }
            }
            td.lease { (text::lease(run.lease.as_ref())) }
            td.created { time datetime=(run.created_at) title=(run.created_at) { (text::short_time(&run.created_at)) } }
            td.updated { time datetime=(run.updated_at) title=(run.updated_at) { (text::short_time(&run.updated_at)) } }
        }
    }
}

fn paging(filter: &Filter, next_cursor: Option<&str>) -> Markup {
    html! {
        nav.paging aria-label="Pages" {
            @if !filter.cursor.is_empty() {
                a #first-page href=(filter.with_cursor("").href()) { "First page" }
            }
            @if let Some(cursor) = next_cursor {
                a #next-page href=(filter.with_cursor(cursor).href()) { "Next page" }
            }
        }
    }
}
