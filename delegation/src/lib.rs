//! The power-of-attorney and business-rights registry (borgerfuldmagt, erhvervsfuldmagt).
//!
//! [`registry`] holds the rules (grant with a sign step, request, accept, decline, revoke, expiry,
//! organisations' rights and powers) over the durable store; [`lookup`] answers the broker's
//! `MandateLookup`. The listener still serves only a landing page and the operations endpoints;
//! the portal and the REST API are built on [`registry::Registry`].

pub mod demo;
pub mod lookup;
pub mod registry;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use eid_web::Platform;

/// The component's router: a landing page plus health, readiness and metrics.
pub fn router(platform: &Platform) -> Router {
    platform.finish(Router::new().route("/", get(landing)))
}

async fn landing() -> Html<&'static str> {
    Html(include_str!("landing.html"))
}
