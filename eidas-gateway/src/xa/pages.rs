//! XA's pages: askama templates over [`super::texts`], rendered never cached.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use eid_core::Lang;
use eid_saml::binding::PostForm;
use eid_web::pages::render;

use super::texts::{Texts, texts};

/// `GET /xa/static/post.js`: submits the auto-posting form (the CSP allows no inline script).
pub const POST_SCRIPT_PATH: &str = "/xa/static/post.js";

/// The script at [`POST_SCRIPT_PATH`].
pub fn post_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        "document.getElementById(\"saml-post\").submit();\n",
    )
        .into_response()
}

fn no_store(status: StatusCode, page: &impl askama::Template) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], render(status, page)).into_response()
}

#[derive(askama::Template)]
#[template(path = "xa/message.html")]
struct MessageTemplate<'a> {
    t: &'static Texts,
    title: &'a str,
    body: &'a str,
    next: &'a str,
}

/// A message page (errors).
pub fn message_page(
    status: StatusCode,
    lang: Lang,
    title: &str,
    body: &str,
    next: &str,
) -> Response {
    no_store(
        status,
        &MessageTemplate {
            t: texts(lang),
            title,
            body,
            next,
        },
    )
}

#[derive(askama::Template)]
#[template(path = "xa/post.html")]
struct PostTemplate<'a> {
    t: &'static Texts,
    action: &'a str,
    fields: &'a [(&'static str, String)],
}

/// The page that posts a SAML message (or re-posts one) by HTTP-POST.
pub fn post_page(lang: Lang, form: &PostForm) -> Response {
    no_store(
        StatusCode::OK,
        &PostTemplate {
            t: texts(lang),
            action: &form.action,
            fields: &form.fields,
        },
    )
}

#[derive(askama::Template)]
#[template(path = "xa/login.html")]
struct LoginTemplate<'a> {
    t: &'static Texts,
    handle: &'a str,
    csrf: &'a str,
    service: Option<&'a str>,
    error: Option<String>,
}

/// XA's login page; `attempts_left` after a wrong password.
pub fn login_page(
    lang: Lang,
    handle: &str,
    csrf: &str,
    service: Option<&str>,
    attempts_left: Option<u32>,
) -> Response {
    let t = texts(lang);
    let error = attempts_left.map(|n| {
        format!(
            "{} {}",
            t.wrong_credentials,
            t.attempts_left.replace("{n}", &n.to_string())
        )
    });
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    no_store(
        status,
        &LoginTemplate {
            t,
            handle,
            csrf,
            service,
            error,
        },
    )
}

#[derive(askama::Template)]
#[template(path = "xa/consent.html")]
struct ConsentTemplate<'a> {
    t: &'static Texts,
    handle: &'a str,
    csrf: &'a str,
    service: Option<&'a str>,
    facts: &'a [(&'static str, String)],
}

/// The page that lists what goes to Denmark, with "Send" and "Do not send".
pub fn consent_page(
    lang: Lang,
    handle: &str,
    csrf: &str,
    service: Option<&str>,
    facts: &[(&'static str, String)],
) -> Response {
    no_store(
        StatusCode::OK,
        &ConsentTemplate {
            t: texts(lang),
            handle,
            csrf,
            service,
            facts,
        },
    )
}

#[derive(askama::Template)]
#[template(path = "xa/service.html")]
struct ServiceTemplate<'a> {
    t: &'static Texts,
    csrf: &'a str,
}

/// XA's demo service: a level choice and "Log in with your Danish eID".
pub fn service_page(lang: Lang, csrf: &str) -> Response {
    no_store(
        StatusCode::OK,
        &ServiceTemplate {
            t: texts(lang),
            csrf,
        },
    )
}

#[derive(askama::Template)]
#[template(path = "xa/received.html")]
struct ReceivedTemplate<'a> {
    t: &'static Texts,
    title: &'a str,
    nothing: &'a str,
    facts: &'a [(&'static str, String)],
    link_text: &'a str,
}

/// What XA's service received: the facts, or (when `facts` is empty) why nothing came.
pub fn received_page(lang: Lang, facts: &[(&'static str, String)], nothing: &str) -> Response {
    let t = texts(lang);
    let (title, link_text) = if facts.is_empty() {
        (t.nothing_title, t.try_again)
    } else {
        (t.received_title, t.back_to_service)
    };
    no_store(
        StatusCode::OK,
        &ReceivedTemplate {
            t,
            title,
            nothing,
            facts,
            link_text,
        },
    )
}
