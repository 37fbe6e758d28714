//! The power-of-attorney and business-rights registry (borgerfuldmagt, erhvervsfuldmagt).
//!
//! This first version runs the component's listener with its operations endpoints; the registry,
//! its portal and the `MandateLookup` back-channel arrive with the delegation issue.

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
