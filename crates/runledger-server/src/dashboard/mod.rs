//! The web dashboard (SPEC §4 `GET /`, §10): an operator console rendered
//! on the server (maud): a tenant's runs newest first with counts, filters
//! and paging both ways, one run's fields, children tree and events, a
//! concurrency group's slots and queue, and a cancel form; plus a small
//! script (`static/app.js`) that keeps it live from the tenant's event
//! stream. Sign-in exchanges an API token for a server-side session
//! (`crate::sessions`) whose id is the `runledger_token` cookie
//! (HttpOnly, SameSite=Strict); with no token in the ledger the dashboard
//! opens on the `default` tenant, like the API.
//!
//! Start at [`routes`].

mod assets;
mod cancel;
mod counts;
mod fragments;
mod group;
mod index;
mod listing;
mod reads;
mod respond;
mod routes;
mod session;
mod sign_in;
mod view;

pub(crate) use routes::routes;
