//! A run's children as a tree: one level per list, each child with its
//! state and its own children's counts; a child that has children is a
//! `<details>` the script fills from `/dashboard/children?run=` when it is
//! first opened, so a deep tree costs nothing until someone looks.

use super::links::{percent_encode, run_href};
use super::text;
use maud::{Markup, html};
use runledger::Run;

/// The direct children shown (`more`: the parent had more than these).
pub(crate) fn children_list(parent: &str, children: &[Run], more: bool) -> Markup {
    html! {
        ul.tree data-parent-id=(parent) {
            @for child in children {
                li data-run-id=(child.id) {
                    @if child.children.total > 0 {
                        details.subtree data-run-id=(child.id) {
                            summary { (node(child)) }
                            p.tree-loading {
                                a href=(run_href(child.id.as_str())) { "open this run to see its children" }
                            }
                        }
                    } @else {
                        div.leaf { (node(child)) }
                    }
                }
            }
            @if more {
                li.more {
                    "Only the first " (children.len()) " children are shown; the rest are in "
                    a href={ "/v1/runs?parent_id=" (percent_encode(parent)) } { "the API" } "."
                }
            }
        }
    }
}

fn node(run: &Run) -> Markup {
    html! {
        a.run-link href=(run_href(run.id.as_str())) { (run.id) }
        " "
        span class={ "state state-" (run.state) } { (run.state) }
        " "
        span.kind { (run.kind) }
        @if run.children.total > 0 {
            " "
            span.child-counts { (text::children(&run.children)) }
        }
    }
}
