//! Page templates (askama, checked at compile time).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use eid_core::Lang;

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

/// One principal on the "Who are you acting for?" page.
pub struct RepresentationOption {
    /// The form value of the choice.
    pub value: String,
    /// The principal's name (an organisation's with its CVR number).
    pub label: String,
    /// What the mandate is, allows, and until when.
    pub help: String,
}

#[derive(Template)]
#[template(path = "representation.html")]
pub struct RepresentationPage<'a> {
    pub t: &'static Texts,
    pub tx: &'a str,
    pub csrf: &'a str,
    pub service: &'a str,
    /// "Myself", with the person's name when it is known.
    pub myself: String,
    pub options: Vec<RepresentationOption>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub t: &'static Texts,
    pub title: &'a str,
    pub body: &'a str,
    pub next: &'a str,
    /// For an error: a reference and the local time, for the person to give support.
    pub reference: Option<(String, String)>,
}

/// A message page.
pub fn message(
    status: StatusCode,
    t: &'static Texts,
    title: &str,
    body: &str,
    next: &str,
) -> Response {
    let reference = (status.is_client_error() || status.is_server_error()).then(|| {
        let reference = error_reference();
        tracing::info!(%reference, status = status.as_u16(), title, "error page shown");
        let lang = Lang::from_tag(t.lang).unwrap_or_default();
        let at = eid_web::display::local_time(time::OffsetDateTime::now_utc(), lang);
        (reference, at)
    });
    render(
        status,
        &MessagePage {
            t,
            title,
            body,
            next,
            reference,
        },
    )
}

/// A short reference of one error page, logged with it so that support can find what happened
/// (eight characters a person can read out: no 0/O, 1/I/L).
fn error_reference() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let bytes = eid_oidc::random::token(8);
    bytes
        .bytes()
        .take(8)
        .map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
        .collect()
}

#[derive(Template)]
#[template(path = "explained_refusal.html")]
struct ExplainedRefusalPage<'a> {
    t: &'static Texts,
    service: &'a str,
    method: &'a str,
    action: &'a str,
    fields: &'a [(String, String)],
}

/// The page that explains a refusal (a service that needs a CPR number the person does not
/// have), whose button sends the refusal on to the service (never cached).
pub fn explained_refusal(page: &crate::login::ExplainedRefusal) -> Response {
    let (method, action, fields) = page.form();
    let html = ExplainedRefusalPage {
        t: crate::texts::texts(page.lang),
        service: &page.service,
        method,
        action: &action,
        fields: &fields,
    };
    (
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        render(StatusCode::FORBIDDEN, &html),
    )
        .into_response()
}
