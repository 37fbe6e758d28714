//! The proxy service: our citizens out (DESIGN.md flow 6). Towards foreign connectors an eIDAS IdP
//! (metadata at `/eidas/proxy/metadata`), towards the broker an OIDC relying party.

use std::sync::Arc;

use axum::Router;

/// The proxy service's state.
pub struct ProxyService {}

/// The proxy service's routes.
pub fn routes(proxy: Arc<ProxyService>) -> Router {
    let _ = proxy;
    Router::new()
}
