//! The connector: foreign eIDs in (DESIGN.md flow 5). Towards the broker an OIDC provider (issuer
//! `<public_url>/eidas/connector`), towards the chosen country's proxy service an eIDAS SP
//! (metadata at `/eidas/connector/metadata`).

use std::sync::Arc;

use axum::Router;

/// The connector's state.
pub struct Connector {}

/// The connector's routes.
pub fn routes(connector: Arc<Connector>) -> Router {
    let _ = connector;
    Router::new()
}
