//! The dashboard's routes, outside `/v1` (so not in the OpenAPI document
//! and not behind the API's token check: each handler settles the session
//! from the cookie itself).

use super::{assets, cancel, counts, fragments, group, index, sign_in};
use crate::state::ServerState;
use axum::Router;
use axum::routing::{get, post};

/// `GET /`, sign-in and sign-out, the group page, the fragments the script
/// swaps in, the cancel form, the counts and the assets.
pub(crate) fn routes() -> Router<ServerState> {
    Router::new()
        .route("/", get(index::index))
        .route(
            "/dashboard/sign-in",
            post(sign_in::sign_in).get(sign_in::to_dashboard),
        )
        .route("/dashboard/sign-out", post(sign_in::sign_out))
        .route("/dashboard/group", get(group::group))
        .route("/dashboard/run", get(fragments::run_pane))
        .route("/dashboard/children", get(fragments::children))
        .route("/dashboard/cancel", post(cancel::cancel))
        .route("/dashboard/counts", get(counts::counts))
        .route("/dashboard/app.js", get(assets::script))
        .route("/dashboard/app.css", get(assets::stylesheet))
        .route("/dashboard/icon.svg", get(assets::icon))
}
