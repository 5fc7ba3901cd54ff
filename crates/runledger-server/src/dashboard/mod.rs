//! The web dashboard (SPEC §4 `GET /`): server-rendered HTML (maud) of a
//! tenant's runs, counts by state, filters, paging and one run's events,
//! plus a small script (`static/app.js`) that keeps it live from the
//! tenant's event stream. Sign-in sets the `runledger_token` cookie the API
//! reads (HttpOnly, SameSite=Strict); with no token in the ledger the
//! dashboard opens on the `default` tenant, like the API.
//!
//! Start at [`routes`].

mod assets;
mod counts;
mod index;
mod respond;
mod routes;
mod session;
mod sign_in;
mod view;

pub(crate) use routes::routes;
