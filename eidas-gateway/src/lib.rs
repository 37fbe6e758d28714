//! The eIDAS gateway: connector (foreign eIDs in) and proxy service (our citizens out).
//!
//! This first version runs the component's listener with its operations endpoints; the connector and
//! proxy service arrive with the eIDAS issue.

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
