//! Single sign-on for services that post their AuthnRequest from another site.
//!
//! Our cookies are `SameSite=Lax`: a browser sends them on a cross-site top-level GET, but not on
//! the cross-site POST of a service's auto-submitted HTTP-POST binding form. Without them the
//! broker would see no session (a second login) and the login would replace the browser's cookies.
//! So a posted AuthnRequest that arrives with none of our cookies is sent back once, unread, in a
//! page of our own origin that posts the same fields to us again (same-site: the cookies go along).
//! The re-post carries [`REPOSTED_FIELD`], and a request that carries it is always processed, with
//! or without cookies: the bounce cannot loop. Nothing is stored and nothing is checked on the
//! bounce; the request is verified, and its ID used once, when it is processed.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use eid_saml::binding::{MAX_POSTED_REQUEST_BASE64, MAX_RELAY_STATE_BYTES};
use eid_web::Lang;
use eid_web::browser::cookie_value;

use super::pages::render;
use super::{BROWSER_COOKIE, SESSION_COOKIE};
use crate::saml::sso_url;
use crate::state::Broker;
use crate::texts::{Texts, texts};

/// The form field that marks a request re-posted by our own page.
pub const REPOSTED_FIELD: &str = "reposted";

/// The page that posts the fields to us again.
#[derive(askama::Template)]
#[template(path = "saml_repost.html")]
struct RepostTemplate<'a> {
    t: &'static Texts,
    action: &'a str,
    fields: &'a [(&'static str, &'a str)],
}

/// Whether the form carries the re-post marker.
fn reposted(body: &[u8]) -> bool {
    url::form_urlencoded::parse(body).any(|(name, _)| name == REPOSTED_FIELD)
}

/// Whether a `SAMLRequest` field may be echoed: within the binding's bound and base64 only (what
/// is not is refused by the usual processing, never echoed).
fn echoable_request(request: &str) -> bool {
    !request.is_empty()
        && request.len() <= MAX_POSTED_REQUEST_BASE64
        && request
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\r' | b'\n'))
}

/// Whether a posted AuthnRequest (its `SAMLRequest` and `RelayState` fields, from `body`) is to
/// be sent back through our own page: it came with none of our cookies, is not itself a re-post,
/// and its fields are fit to echo.
pub fn needs_repost(
    jar: &CookieJar,
    body: &[u8],
    request: &str,
    relay_state: Option<&str>,
) -> bool {
    cookie_value(jar, BROWSER_COOKIE).is_none()
        && cookie_value(jar, SESSION_COOKIE).is_none()
        && echoable_request(request)
        && relay_state.is_none_or(|r| r.len() <= MAX_RELAY_STATE_BYTES)
        && !reposted(body)
}

/// The page that posts `SAMLRequest` (and `RelayState`) to our SSO service again, marked as a
/// re-post; it sets no cookie and is never cached.
pub fn repost_page(
    broker: &Broker,
    lang: Lang,
    request: &str,
    relay_state: Option<&str>,
) -> Response {
    broker.metrics.inc(
        "broker_saml_reposts_total",
        "Posted AuthnRequests without our cookies, sent back through our own origin.",
        &[],
    );
    let mut fields = vec![("SAMLRequest", request)];
    if let Some(relay) = relay_state {
        fields.push(("RelayState", relay));
    }
    fields.push((REPOSTED_FIELD, "1"));
    let action = sso_url(broker);
    let page = RepostTemplate {
        t: texts(lang),
        action: &action,
        fields: &fields,
    };
    (
        [(header::CACHE_CONTROL, "no-store")],
        render(StatusCode::OK, &page),
    )
        .into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum_extra::extract::cookie::Cookie;

    const REQUEST: &str = "PHNhbWxwOkF1dGhuUmVxdWVzdC8+";

    #[test]
    fn a_request_without_our_cookies_is_reposted_once() {
        let jar = CookieJar::new();
        assert!(needs_repost(&jar, b"SAMLRequest=x", REQUEST, Some("r")));
        assert!(!needs_repost(
            &jar,
            b"SAMLRequest=x&reposted=1",
            REQUEST,
            Some("r")
        ));
    }

    #[test]
    fn either_of_our_cookies_means_the_browser_sent_them() {
        for name in [BROWSER_COOKIE, SESSION_COOKIE] {
            let jar = CookieJar::new().add(Cookie::new(name, "v"));
            assert!(!needs_repost(&jar, b"", REQUEST, None), "{name}");
        }
        let other = CookieJar::new().add(Cookie::new("idp_session", "v"));
        assert!(needs_repost(&other, b"", REQUEST, None));
    }

    #[test]
    fn nothing_unfit_to_echo_is_reposted() {
        let jar = CookieJar::new();
        for bad in [
            String::new(),
            "PHNh\"><script>".to_owned(),
            "A".repeat(MAX_POSTED_REQUEST_BASE64 + 1),
        ] {
            assert!(!needs_repost(&jar, b"", &bad, None));
        }
        let long_relay = "r".repeat(MAX_RELAY_STATE_BYTES + 1);
        assert!(!needs_repost(&jar, b"", "QUJD", Some(&long_relay)));
        let longest = "A".repeat(MAX_POSTED_REQUEST_BASE64);
        assert!(needs_repost(&jar, b"", &longest, None));
    }

    mod properties {
        use super::*;
        use askama::Template as _;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Whatever a service posts, only a bounded base64 request and a bounded RelayState
            /// are ever echoed, and never a body that carries the re-post marker.
            #[test]
            fn only_bounded_base64_is_echoed_and_a_repost_never_bounces(
                request in "\\PC{0,40}|[A-Za-z0-9+/=\r\n]{1,40}",
                relay in proptest::option::of("\\PC{0,100}"),
                body in proptest::collection::vec(any::<u8>(), 0..64),
            ) {
                let jar = CookieJar::new();
                if needs_repost(&jar, &body, &request, relay.as_deref()) {
                    prop_assert!(echoable_request(&request));
                    let relay_len = relay.as_ref().map_or(0, String::len);
                    prop_assert!(relay_len <= MAX_RELAY_STATE_BYTES);
                }
                let mut marked = body.clone();
                marked.extend_from_slice(b"&reposted=1");
                prop_assert!(!needs_repost(&jar, &marked, &request, relay.as_deref()));
            }

            /// An echoed RelayState adds no markup to the page: it stays inside its attribute.
            #[test]
            fn an_echoed_relay_state_adds_no_markup(relay in "\\PC{0,80}") {
                let html = |relay: &str| {
                    let fields =
                        [("SAMLRequest", REQUEST), ("RelayState", relay), (REPOSTED_FIELD, "1")];
                    let page = RepostTemplate {
                        t: texts(Lang::En),
                        action: "https://b.example/saml/sso",
                        fields: &fields,
                    };
                    page.render().unwrap()
                };
                let tags = |page: &str| page.matches('<').count() + page.matches('"').count();
                prop_assert_eq!(tags(&html(&relay)), tags(&html("")));
            }
        }
    }
}
