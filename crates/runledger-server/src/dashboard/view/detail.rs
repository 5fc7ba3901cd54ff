//! The open run: its fields, durations, group, the cancel form, its
//! children as a tree, attributes, result and event log.
//! `<section id="run-detail">` carries the run id and the last seq shown;
//! the script appends later events to `#events-body` and swaps
//! `#detail-live` (everything above the events) when the run changes.

use super::links::group_href;
use super::runs::time_cell;
use super::text;
use super::tree::children_list;
use maud::{Markup, html};
use runledger::{Event, Run, Timestamp};

/// What the open-run pane shows.
#[derive(Debug)]
pub(crate) enum Detail<'a> {
    /// The run, its first children and its newest events.
    Found {
        /// The run.
        run: &'a Run,
        /// Its first direct children, oldest first.
        children: &'a [Run],
        /// Whether it has more direct children than these.
        more_children: bool,
        /// Its newest events, oldest first.
        events: &'a [Event],
        /// Whether older events exist than these.
        earlier: bool,
    },
    /// Why no run is shown (not found, a malformed id).
    Refused(&'a str),
}

/// The pane; `close` is the link that shuts it, `csrf` the token its
/// forms carry.
pub(crate) fn detail(view: &Detail<'_>, close: &str, csrf: &str, now: &Timestamp) -> Markup {
    match view {
        Detail::Refused(message) => html! {
            section #run-detail .detail aria-label="Run" {
                p.error role="alert" { (message) }
                a.close href=(close) { "Close" }
            }
        },
        Detail::Found {
            run,
            children,
            more_children,
            events,
            earlier,
        } => html! {
            section #run-detail .detail aria-label="Run"
                data-run-id=(run.id)
                data-last-seq=(events.last().map_or(0, |event| event.seq))
                data-state=(run.state)
            {
                div.detail-head {
                    h2 { "Run " code #detail-id { (run.id) } }
                    a.close href=(close) { "Close" }
                }
                (live_part(run, children, *more_children, csrf, now))
                (event_list(run, events, *earlier))
            }
        },
    }
}

/// Everything above the events: what the script swaps when the run
/// changes (it fetches `/dashboard/run?run=` and takes this part).
pub(crate) fn live_part(
    run: &Run,
    children: &[Run],
    more_children: bool,
    csrf: &str,
    now: &Timestamp,
) -> Markup {
    html! {
        div #detail-live data-version=(run.version) {
            dl.fields #detail-fields {
                dt { "Kind" } dd { (run.kind) }
                dt { "State" } dd { span class={ "state state-" (run.state) } #detail-state { (run.state) } }
                dt { "Parent" } dd {
                    @match &run.parent_id {
                        Some(parent) => a.run-link href={ "/?run=" (super::links::percent_encode(parent.as_str())) } { (parent) },
                        None => (text::NONE),
                    }
                }
                dt { "Key" } dd { (run.key.as_ref().map_or(text::NONE.to_owned(), ToString::to_string)) }
                dt { "Group" } dd #detail-group {
                    @match (&run.concurrency_key, run.concurrency_limit) {
                        (Some(key), limit) => {
                            a.group-link href=(group_href(key.as_str())) { (key) }
                            @if let Some(limit) = limit { " (limit " (limit) ")" }
                        },
                        _ => (text::NONE),
                    }
                }
                dt { "Lease" } dd {
                    (text::lease(run.lease.as_ref()))
                    @if let Some(lease) = &run.lease { ", expires " (time_cell(&lease.expires_at, now)) }
                }
                dt { "Duration" } dd #detail-duration data-running-since=[running_since(run)] {
                    (text::run_duration(run, now).unwrap_or_else(|| text::NONE.to_owned()))
                }
                dt { "Version" } dd { (run.version) }
                dt { "Last seq" } dd { (run.last_seq) }
                dt { "Created" } dd { (time_cell(&run.created_at, now)) }
                dt { "Updated" } dd { (time_cell(&run.updated_at, now)) }
                dt { "Started" } dd { @match run.started_at { Some(at) => (time_cell(&at, now)), None => (text::NONE) } }
                dt { "Finished" } dd { @match run.finished_at { Some(at) => (time_cell(&at, now)), None => (text::NONE) } }
                dt { "Error" } dd #detail-error { (run.error.as_deref().unwrap_or(text::NONE)) }
            }
            @if !run.state.is_terminal() {
                (cancel_form(run, csrf))
            }
            section #detail-children aria-label="Children" {
                h3 { "Children " span #children-counts { (text::children(&run.children)) } }
                @if !children.is_empty() {
                    (children_list(run.id.as_str(), children, more_children))
                }
            }
            h3 { "Attributes" }
            pre.json #detail-attributes { (text::json_pretty(&run.attributes)) }
            h3 { "Result" }
            pre.json #detail-result {
                (run.result.as_ref().map_or(text::NONE.to_owned(), text::json_pretty))
            }
        }
    }
}

/// When a running run started (the script keeps its duration counting).
fn running_since(run: &Run) -> Option<String> {
    (run.state == runledger::RunState::Running)
        .then_some(run.started_at)
        .flatten()
        .map(|at| at.to_string())
}

/// Cancel, optionally with every unfinished descendant. A plain form
/// (works without script) that carries the session's CSRF token.
fn cancel_form(run: &Run, csrf: &str) -> Markup {
    html! {
        form #cancel-form .cancel method="post" action="/dashboard/cancel" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="run" value=(run.id);
            label { "Reason " input type="text" name="reason" maxlength="1000" placeholder="optional"; }
            @if run.children.total > 0 {
                label { input type="checkbox" name="cascade" value="true"; " also cancel every unfinished descendant" }
            }
            button type="submit" .danger { "Cancel run" }
        }
    }
}

fn event_list(run: &Run, events: &[Event], earlier: bool) -> Markup {
    html! {
        h3 { "Events" }
        @if earlier {
            p #events-earlier {
                "Only the newest " (events.len()) " events are shown; the earlier ones are in "
                a href={ "/v1/runs/" (run.id) "/events" } { "the API" } "."
            }
        }
        table #events {
            thead { tr { th { "Seq" } th { "Position" } th { "Type" } th { "At" } th { "Data" } } }
            tbody #events-body {
                @for event in events {
                    tr data-seq=(event.seq) {
                        td { (event.seq) }
                        td { (event.position) }
                        td.event-type { (event.event_type) }
                        td { time datetime=(event.at) title=(event.at) { (text::short_time(&event.at)) } }
                        td { pre.event-data { (text::json_short(&event.data)) } }
                    }
                }
            }
        }
    }
}
