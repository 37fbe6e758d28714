//! The stylesheet every component's pages share.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The shared stylesheet (WCAG AA contrast, visible focus, no external fonts).
pub const STYLESHEET: &str = include_str!("../static/eid.css");

/// Serves the stylesheet.
pub fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// The shared favicon: a small SVG (a person on the blue of the header), served at
/// `/static/favicon.svg` and named by `<link rel="icon">` in every page's head.
pub const FAVICON: &str = include_str!("../static/favicon.svg");

/// Serves the favicon.
pub fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        FAVICON,
    )
        .into_response()
}
