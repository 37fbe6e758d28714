//! What every component's pages share about the browser: cookies as we set them, the cookie that
//! binds a login to one browser, CSRF tokens tied to a secret cookie, and the client's address.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use std::net::SocketAddr;
use subtle::ConstantTimeEq;

/// A cookie as components set them: `HttpOnly`, `SameSite=Lax` (a relying party's redirect to us is a
/// top-level navigation), `Secure` outside loopback, host-only, path `/`.
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

/// The value of the browser-binding cookie `name`, created (256 random bits) when absent.
pub fn browser_cookie(
    jar: CookieJar,
    name: &'static str,
    secure: bool,
    fresh: impl FnOnce() -> String,
) -> (CookieJar, String) {
    match jar.get(name).map(|c| c.value().to_owned()) {
        Some(v) if !v.is_empty() && v.len() <= 64 => (jar, v),
        _ => {
            let v = fresh();
            (jar.add(cookie(name, v.clone(), secure, None)), v)
        }
    }
}

/// The value of a cookie, if present and not empty.
pub fn cookie_value<'a>(jar: &'a CookieJar, name: &str) -> Option<&'a str> {
    jar.get(name).map(|c| c.value()).filter(|v| !v.is_empty())
}

/// The CSRF token of pages tied to a secret cookie: a SHA-256 of it (base64url), so it cannot be
/// computed without the cookie.
pub fn csrf_for(secret_cookie: &str) -> String {
    use base64::Engine;
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("csrf:{secret_cookie}").as_bytes(),
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// Whether a presented CSRF token belongs to the secret cookie (constant time).
pub fn csrf_matches(presented: Option<&str>, secret_cookie: Option<&str>) -> bool {
    match (presented, secret_cookie) {
        (Some(p), Some(c)) => bool::from(p.as_bytes().ct_eq(csrf_for(c).as_bytes())),
        _ => false,
    }
}

/// The client's address, as logged and rate-limited.
pub fn client_ip(addr: &SocketAddr) -> String {
    addr.ip().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_token_is_tied_to_its_cookie() {
        let token = csrf_for("cookie-a");
        assert!(csrf_matches(Some(&token), Some("cookie-a")));
        assert!(!csrf_matches(Some(&token), Some("cookie-b")));
        assert!(!csrf_matches(None, Some("cookie-a")));
        assert!(!csrf_matches(Some(&token), None));
    }

    mod properties {
        use super::*;
        use axum::http::{HeaderMap, HeaderValue, header};
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// A CSRF token matches exactly the token made from its own cookie, whatever a client
            /// presents.
            #[test]
            fn csrf_matches_only_its_own_cookie(presented in "\\PC{0,60}", cookie in "\\PC{0,60}") {
                prop_assert!(csrf_matches(Some(&csrf_for(&cookie)), Some(&cookie)));
                prop_assert_eq!(
                    csrf_matches(Some(&presented), Some(&cookie)),
                    presented == csrf_for(&cookie)
                );
            }

            /// Whatever Cookie header a browser sends, the binding cookie read from it is present,
            /// bounded and not empty: an odd or over-long one is replaced by a fresh one.
            #[test]
            fn any_cookie_header_gives_a_bounded_binding_cookie(header_value in "[ -~]{0,300}") {
                let mut headers = HeaderMap::new();
                if let Ok(v) = HeaderValue::from_str(&header_value) {
                    headers.insert(header::COOKIE, v);
                }
                let jar = CookieJar::from_headers(&headers);
                let (_, value) = browser_cookie(jar, "b", false, || "fresh".to_owned());
                prop_assert!(!value.is_empty() && value.len() <= 64);
                let jar = CookieJar::from_headers(&headers);
                if let Some(v) = cookie_value(&jar, "b") {
                    prop_assert!(!v.is_empty());
                }
            }
        }
    }

    #[test]
    fn cookies_are_http_only_and_lax() {
        let c = cookie("n", "v".into(), true, None);
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.same_site(), Some(SameSite::Lax));
        assert_eq!(c.secure(), Some(true));
    }
}
