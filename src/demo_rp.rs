//! The demo relying party: a small service on its own origin that logs citizens in through the
//! broker. This first version serves its landing page and operations endpoints; the OIDC login
//! arrives with the broker issue.

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use eid_web::Platform;

/// The demo relying party's router.
pub fn router(platform: &Platform) -> Router {
    platform.finish(Router::new().route("/", get(landing)))
}

async fn landing() -> Html<&'static str> {
    Html(include_str!("demo_rp/landing.html"))
}
