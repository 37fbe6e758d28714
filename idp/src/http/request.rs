//! What handlers read from a request: cookies, the client address, the language, form parameters.

use axum::http::{HeaderMap, header};
use axum_extra::extract::cookie::CookieJar;
use eid_oidc::RawParams;
use eid_oidc::random::token256;
use eid_web::Lang;

use crate::flow::IdpError;

/// Binds login transactions to one browser.
pub const BROWSER_COOKIE: &str = "idp_browser";
/// The authenticator's own login session.
pub const SESSION_COOKIE: &str = "idp_session";
/// A paired app device.
pub const DEVICE_COOKIE: &str = "idp_device";

pub use eid_web::browser::{client_ip, cookie, cookie_value, csrf_for, removal};

/// The browser cookie, created when absent.
pub fn browser_cookie(jar: CookieJar, secure: bool) -> (CookieJar, String) {
    eid_web::browser::browser_cookie(jar, BROWSER_COOKIE, secure, token256)
}

/// Checks a form's CSRF token against the secret cookie it is tied to.
pub fn check_csrf(form: &RawParams, secret_cookie: Option<&str>) -> Result<(), IdpError> {
    if eid_web::browser::csrf_matches(form.get("csrf"), secret_cookie) {
        Ok(())
    } else {
        Err(IdpError::Csrf)
    }
}

/// The language from `Accept-Language`.
pub fn accept_language(headers: &HeaderMap) -> Lang {
    Lang::negotiate(
        None,
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Parses a form body.
pub fn form(body: &[u8]) -> Result<RawParams, IdpError> {
    let text =
        std::str::from_utf8(body).map_err(|_| IdpError::BadRequest("form is not UTF-8".into()))?;
    RawParams::parse(text).map_err(|e| IdpError::BadRequest(e.description))
}
