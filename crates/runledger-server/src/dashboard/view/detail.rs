//! The open run: its fields, attributes, result and event log.
//! `<section id="run-detail">` carries the run id and the last seq shown;
//! the script appends later events to `#events-body`.

use super::text;
use maud::{Markup, html};
use runledger::{Event, Run};

/// What the open-run pane shows.
#[derive(Debug)]
pub(crate) enum Detail<'a> {
    /// The run and its newest events.
    Found {
        /// The run.
        run: &'a Run,
        /// Its newest events, oldest first.
        events: &'a [Event],
        /// Whether older events exist than these.
        earlier: bool,
    },
    /// Why no run is shown (not found, a malformed id).
    Refused(&'a str),
}

/// The pane; `close` is the link that shuts it.
pub(crate) fn detail(view: &Detail<'_>, close: &str) -> Markup {
    match view {
        Detail::Refused(message) => html! {
            section #run-detail .detail aria-label="Run" {
                p.error role="alert" { (message) }
                a.close href=(close) { "Close" }
            }
        },
        Detail::Found {
            run,
            events,
            earlier,
        } => found(run, events, *earlier, close),
    }
}

fn found(run: &Run, events: &[Event], earlier: bool, close: &str) -> Markup {
    let last_seq = events.last().map_or(0, |event| event.seq);
    html! {
        section #run-detail .detail aria-label="Run"
            data-run-id=(run.id) data-last-seq=(last_seq) data-state=(run.state)
        {
            div.detail-head {
                h2 { "Run " code #detail-id { (run.id) } }
                a.close href=(close) { "Close" }
            }
            dl.fields #detail-fields {
                dt { "Kind" } dd { (run.kind) }
                dt { "State" } dd { span class={ "state state-" (run.state) } #detail-state { (run.state) } }
                dt { "Parent" } dd { (run.parent_id.as_ref().map_or(text::NONE.to_owned(), ToString::to_string)) }
                dt { "Key" } dd { (run.key.as_ref().map_or(text::NONE.to_owned(), ToString::to_string)) }
                dt { "Concurrency" } dd {
                    @match (&run.concurrency_key, run.concurrency_limit) {
                        (Some(key), Some(limit)) => { (key) " (limit " (limit) ")" },
                        (Some(key), None) => (key),
                        _ => (text::NONE),
                    }
                }
                dt { "Lease" } dd {
                    (text::lease(run.lease.as_ref()))
                    @if let Some(lease) = &run.lease { ", expires " (lease.expires_at) }
                }
                dt { "Children" } dd { (text::children(&run.children)) }
                dt { "Version" } dd { (run.version) }
                dt { "Last seq" } dd { (run.last_seq) }
                dt { "Created" } dd { (run.created_at) }
                dt { "Updated" } dd { (run.updated_at) }
                dt { "Started" } dd { (run.started_at.map_or(text::NONE.to_owned(), |at| at.to_string())) }
                dt { "Finished" } dd { (run.finished_at.map_or(text::NONE.to_owned(), |at| at.to_string())) }
                dt { "Error" } dd { (run.error.as_deref().unwrap_or(text::NONE)) }
            }
            h3 { "Attributes" }
            pre.json #detail-attributes { (text::json_pretty(&run.attributes)) }
            h3 { "Result" }
            pre.json #detail-result {
                (run.result.as_ref().map_or(text::NONE.to_owned(), text::json_pretty))
            }
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
                            td { code { (text::json_short(&event.data)) } }
                        }
                    }
                }
            }
        }
    }
}
