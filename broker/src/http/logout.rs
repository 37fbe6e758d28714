//! The browser's steps through a logout chain ([`crate::logout`]), whichever endpoint reached
//! them: `/logout`, `/saml/slo`, `/logout/done`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use eid_web::Lang;
use eid_web::browser::{cookie, removal};

use super::LOGOUT_COOKIE;
use super::pages::message;
use super::saml::post_page;
use crate::logout::{CHAIN_TTL, LogoutStep};
use crate::state::Broker;
use crate::texts::texts;

/// The response of a step; the logout cookie names the chain while the browser is at the
/// upstream's logout, and is removed otherwise.
pub(super) fn step_response(
    broker: &Broker,
    jar: CookieJar,
    step: LogoutStep,
    lang: Lang,
) -> Response {
    let secure = broker.config.secure_cookies;
    match step {
        LogoutStep::Upstream { url, continuation } => {
            let max_age = time::Duration::seconds(CHAIN_TTL.as_secs() as i64);
            let jar = jar.add(cookie(LOGOUT_COOKIE, continuation, secure, Some(max_age)));
            (jar, Redirect::to(&url)).into_response()
        }
        other => {
            let jar = match jar.get(LOGOUT_COOKIE) {
                Some(_) => jar.add(removal(LOGOUT_COOKIE, secure)),
                None => jar,
            };
            let response = match other {
                LogoutStep::Redirect(url) => Redirect::to(&url).into_response(),
                LogoutStep::Post(page) => post_page(&page),
                LogoutStep::LoggedOut | LogoutStep::Upstream { .. } => logged_out(lang),
            };
            (jar, response).into_response()
        }
    }
}

/// Our logged-out page.
pub(super) fn logged_out(lang: Lang) -> Response {
    let t = texts(lang);
    let page = message(StatusCode::OK, t, t.logged_out_title, t.logged_out_body, "");
    ([(header::CACHE_CONTROL, "no-store")], page).into_response()
}
