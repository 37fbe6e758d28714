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
