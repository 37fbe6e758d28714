//! The stylesheet, the favicon and the three small scripts, compiled into the binary.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Serves a static file by name.
pub async fn file(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "eid.css" => return eid_web::assets::stylesheet(),
        "favicon.svg" => return eid_web::assets::favicon(),
        "passkey.js" => (
            include_str!("../../static/passkey.js"),
            "text/javascript; charset=utf-8",
        ),
        "app-wait.js" => (
            include_str!("../../static/app-wait.js"),
            "text/javascript; charset=utf-8",
        ),
        "app.js" => (
            include_str!("../../static/app.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
