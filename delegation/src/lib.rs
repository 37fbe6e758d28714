//! The power-of-attorney and business-rights registry (borgerfuldmagt, erhvervsfuldmagt).
//!
//! [`registry`] holds the rules (grant with a sign step, request, accept, decline, revoke, expiry,
//! organisations' rights and powers) over the durable store; [`lookup`] answers the broker's
//! `MandateLookup` in process, [`internal`] over HTTP for split deployments (with
//! [`lookup_http::HttpMandateLookup`] as the broker's client); [`api`] is the REST API;
//! [`portal`] is the citizen's self-service portal, an OIDC relying party of the broker.

pub mod api;
pub mod demo;
pub mod internal;
pub mod lookup;
pub mod lookup_http;
pub mod portal;
pub mod registry;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use eid_web::Platform;

/// The component's router: a landing page plus health, readiness and metrics.
pub fn router(platform: &Platform) -> Router {
    router_with(platform, Router::new())
}

/// The component's router with more routes: the REST API ([`api::router`]) and the mandate
/// back-channel ([`internal::router`]).
pub fn router_with(platform: &Platform, routes: Router) -> Router {
    platform.finish(Router::new().route("/", get(landing)).merge(routes))
}

/// The component's router with the self-service portal at `/` and more `routes` (the REST API,
/// the back-channel), plus health, readiness and metrics.
pub fn router_with_portal(platform: &Platform, portal: portal::Portal, routes: Router) -> Router {
    platform.finish(portal::router(portal).merge(routes))
}

async fn landing() -> Html<&'static str> {
    Html(include_str!("landing.html"))
}
