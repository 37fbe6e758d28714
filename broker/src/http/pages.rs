//! Page templates (askama, checked at compile time).

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use crate::texts::Texts;

pub use eid_web::pages::render;

/// One identity provider on the chooser.
pub struct UpstreamChoice {
    pub name: String,
    pub label: &'static str,
    pub help: &'static str,
}

#[derive(Template)]
#[template(path = "chooser.html")]
pub struct ChooserPage<'a> {
    pub t: &'static Texts,
    pub tx: &'a str,
    pub csrf: &'a str,
    pub service: &'a str,
    pub step_up: bool,
    pub level: Option<&'static str>,
    pub upstreams: Vec<UpstreamChoice>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub t: &'static Texts,
    pub title: &'a str,
    pub body: &'a str,
    pub next: &'a str,
}

/// A message page.
pub fn message(
    status: StatusCode,
    t: &'static Texts,
    title: &str,
    body: &str,
    next: &str,
) -> Response {
    render(
        status,
        &MessagePage {
            t,
            title,
            body,
            next,
        },
    )
}
