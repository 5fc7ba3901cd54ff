//! The dashboard's HTML, rendered on the server with maud (which escapes
//! every interpolated value), so the page is complete and readable without
//! JavaScript; `static/app.js` only makes it live. The ids and `data-`
//! attributes set here are what the script looks for.

mod detail;
mod group;
mod layout;
mod links;
mod runs;
mod text;
mod tree;

pub(crate) use detail::{Detail, detail, live_part};
pub(crate) use group::{GroupPage, group_page};
pub(crate) use layout::{message_page, sign_in_page};
pub(crate) use links::{Filter, run_href};
pub(crate) use runs::{RunsPage, runs_page};
pub(crate) use text::now;
pub(crate) use tree::children_list;
