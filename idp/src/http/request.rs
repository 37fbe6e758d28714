//! What handlers read from a request: cookies, the client address, the language, form parameters.

use axum::http::{HeaderMap, header};
use axum_extra::extract::cookie::CookieJar;
use eid_oidc::RawParams;
use eid_oidc::random::token256;
use eid_web::Lang;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::net::IpAddr;
use std::sync::Arc;

use crate::flow::IdpError;
use crate::state::Idp;

/// Binds login transactions to one browser.
pub const BROWSER_COOKIE: &str = "idp_browser";
/// The authenticator's own login session.
pub const SESSION_COOKIE: &str = "idp_session";
/// A paired app device.
pub const DEVICE_COOKIE: &str = "idp_device";

pub use eid_web::browser::{cookie, cookie_value, csrf_for, removal};

/// The client's address as lock-out and rate limits count it: the socket's peer, or behind a
/// configured reverse proxy the client it reports ([`eid_web::client_addr::client_address`]).
pub struct ClientIp(pub String);

impl FromRequestParts<Arc<Idp>> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        idp: &Arc<Idp>,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip_of(parts, &idp.config.trusted_proxies)))
    }
}

/// [`ClientIp`] of request parts (empty when the server gave no peer address).
pub fn client_ip_of(parts: &Parts, trusted: &[IpAddr]) -> String {
    eid_web::client_addr::of_request(&parts.extensions, &parts.headers, trusted)
        .map(|ip| ip.to_string())
        .unwrap_or_default()
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any body is answered (a form or a bad request), never a panic.
        #[test]
        fn any_body_is_parsed_or_refused(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = form(&body);
        }

        /// The fields of the idp's forms come back as they were encoded.
        #[test]
        fn encoded_fields_round_trip(
            fields in proptest::collection::btree_map(
                prop_oneof![
                    Just("tx"), Just("csrf"), Just("user_id"), Just("password"), Just("code"),
                    Just("label"), Just("id"), Just("cpr")
                ],
                "[^\\p{Cc}]{0,100}",
                0..8,
            ),
        ) {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields.iter())
                .finish();
            let parsed = form(body.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (name, value) in &fields {
                // An empty value counts as absent (OAuth's rule for every parameter).
                let expected = Some(value.as_str()).filter(|v| !v.is_empty());
                prop_assert_eq!(parsed.get(name), expected);
            }
        }
    }
}
