//! What handlers read from a request: cookies, the client address, the language, form parameters.

use axum::http::{HeaderMap, header};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use eid_oidc::RawParams;
use eid_oidc::random::{digest_key, token256};
use eid_web::Lang;
use std::net::SocketAddr;

use crate::flow::IdpError;

/// Binds login transactions to one browser.
pub const BROWSER_COOKIE: &str = "idp_browser";
/// The authenticator's own login session.
pub const SESSION_COOKIE: &str = "idp_session";
/// A paired app device.
pub const DEVICE_COOKIE: &str = "idp_device";

/// A cookie as the authenticator sets them: `HttpOnly`, `SameSite=Lax` (the broker's redirect to
/// `/authorize` is a top-level navigation), `Secure` outside loopback, host-only, path `/`.
pub fn cookie(
    name: &'static str,
    value: String,
    secure: bool,
    max_age: Option<time::Duration>,
) -> Cookie<'static> {
    let mut c = Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/");
    if let Some(age) = max_age {
        c = c.max_age(age);
    }
    c.build()
}

/// A cookie that removes `name`.
pub fn removal(name: &'static str, secure: bool) -> Cookie<'static> {
    cookie(name, String::new(), secure, Some(time::Duration::ZERO))
}

/// The browser cookie, created when absent.
pub fn browser_cookie(jar: CookieJar, secure: bool) -> (CookieJar, String) {
    match jar.get(BROWSER_COOKIE).map(|c| c.value().to_owned()) {
        Some(v) if !v.is_empty() && v.len() <= 64 => (jar, v),
        _ => {
            let v = token256();
            (jar.add(cookie(BROWSER_COOKIE, v.clone(), secure, None)), v)
        }
    }
}

/// The value of a cookie, if present.
pub fn cookie_value<'a>(jar: &'a CookieJar, name: &str) -> Option<&'a str> {
    jar.get(name).map(|c| c.value()).filter(|v| !v.is_empty())
}

/// The CSRF token of pages tied to a secret cookie (session, device, browser): a digest of it, so it
/// cannot be computed without the cookie.
pub fn csrf_for(secret_cookie: &str) -> String {
    digest_key(&format!("csrf:{secret_cookie}"))
}

/// Checks a form's CSRF token against the secret cookie it is tied to.
pub fn check_csrf(form: &RawParams, secret_cookie: Option<&str>) -> Result<(), IdpError> {
    use subtle::ConstantTimeEq;
    match (form.get("csrf"), secret_cookie) {
        (Some(presented), Some(cookie))
            if bool::from(presented.as_bytes().ct_eq(csrf_for(cookie).as_bytes())) =>
        {
            Ok(())
        }
        _ => Err(IdpError::Csrf),
    }
}

/// The client's address, as logged and rate-limited.
pub fn client_ip(addr: &SocketAddr) -> String {
    addr.ip().to_string()
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
