//! The power-of-attorney and business-rights registry (borgerfuldmagt, erhvervsfuldmagt).
//!
//! [`registry`] holds the rules (grant with a sign step, request, accept, decline, revoke, expiry,
//! organisations' rights and powers) over the durable store; [`lookup`] answers the broker's
//! `MandateLookup`; [`portal`] is the citizen's self-service portal, an OIDC relying party of
//! the broker built on [`registry::Registry`].

pub mod demo;
pub mod lookup;
pub mod portal;
pub mod registry;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use eid_web::Platform;

/// The component's router: a landing page plus health, readiness and metrics.
pub fn router(platform: &Platform) -> Router {
    platform.finish(Router::new().route("/", get(landing)))
}

/// The component's router with the self-service portal at `/`, plus health, readiness and
/// metrics.
pub fn router_with_portal(platform: &Platform, portal: portal::Portal) -> Router {
    platform.finish(portal::router(portal))
}

async fn landing() -> Html<&'static str> {
    Html(include_str!("landing.html"))
}
