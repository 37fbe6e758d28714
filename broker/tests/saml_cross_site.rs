//! The SAML HTTP-POST binding from a service on another site. A browser keeps our `SameSite=Lax`
//! cookies back on that cross-site POST (here: a client without cookies), so the broker posts
//! the request back to itself once through its own page, unread; the request is verified, audited
//! and its ID used once only when it is processed. A posted logout without our cookies touches no
//! cookie of the browser's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use axum::body::Body;
use axum::http::header;
use eid_broker::http::{BROWSER_COOKIE, SESSION_COOKIE};
use eid_core::Loa;
use eid_saml::binding::MAX_POSTED_REQUEST_BASE64;
use eid_saml::messages::StatusCode;
use harness::saml::{self, Request, SSO, broker_certificate, read};
use harness::slo::{self, Logout, read_logout};
use harness::{BrokerClient, BrokerReply, Client, Harness, RP_A, Reply, UPSTREAM_AUTHORIZE};
use tower::ServiceExt;

/// The fields of our re-post page, checked to post them to our SSO service marked as a re-post.
fn repost_fields(reply: &Reply) -> Vec<(String, String)> {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply.body.contains(&format!(
            "<form id=\"saml-post\" method=\"post\" action=\"{SSO}\">"
        )),
        "not our re-post page: {reply:?}"
    );
    assert!(
        reply
            .body
            .contains("<script src=\"/static/saml-post.js\"></script>")
    );
    assert!(reply.body.contains("<noscript>"));
    assert!(!reply.body.contains("SAMLResponse"));
    let mut fields = vec![("SAMLRequest".to_owned(), reply.input("SAMLRequest"))];
    if reply.body.contains("name=\"RelayState\"") {
        fields.push(("RelayState".to_owned(), reply.input("RelayState")));
    }
    assert_eq!(reply.input("reposted"), "1");
    fields.push(("reposted".to_owned(), "1".to_owned()));
    fields
}

async fn post_fields(
    h: &Harness,
    client: &mut Client,
    path: &str,
    fields: &[(String, String)],
) -> Reply {
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    h.post(client, path, &form).await
}

/// A signed POST-binding request of the test service, as its form fields.
fn signed(h: &Harness) -> (Request, Vec<(String, String)>) {
    let request = Request::new(h);
    let field = request.posted_signed(&saml::sp_key());
    let fields = vec![
        ("SAMLRequest".to_owned(), field),
        ("RelayState".to_owned(), "cross-1".to_owned()),
    ];
    (request, fields)
}

/// The request was refused with an error page, audited with `reason`.
async fn assert_refused(h: &Harness, reply: &Reply, reason: &str) {
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(!reply.body.contains("SAMLResponse"), "{reply:?}");
    assert!(!reply.body.contains("name=\"reposted\""), "{reply:?}");
    let rejected = h.audited("saml.rejected").await;
    assert!(
        rejected
            .iter()
            .any(|e| e.details.to_string().contains(reason)),
        "no saml.rejected with {reason:?}: {rejected:?}"
    );
}

#[tokio::test]
async fn a_posted_request_without_our_cookies_is_posted_back_once_unread() {
    let h = Harness::new().await;
    let (_, fields) = signed(&h);
    let mut cookieless = Client::new();
    let reply = post_fields(&h, &mut cookieless, "/saml/sso", &fields).await;
    let reposted = repost_fields(&reply);
    assert_eq!(reposted[..2], fields[..], "the same fields, unchanged");
    // Unread: no cookie set (the browser's own are kept back, not replaced), no login begun,
    // nothing audited.
    assert!(cookieless.cookies.is_empty(), "{:?}", cookieless.cookies);
    assert!(h.upstream.requests().is_empty());
    assert!(h.audited("saml.rejected").await.is_empty());
    // In English too.
    let mut english = Client::new();
    english.headers.push(("accept-language", "en".to_owned()));
    let reply = post_fields(&h, &mut english, "/saml/sso", &fields).await;
    assert!(reply.body.contains("Your login continues"), "{reply:?}");
}

#[tokio::test]
async fn the_bounce_does_not_use_the_request_id() {
    let h = Harness::new().await;
    let cert = broker_certificate(&h).await;
    h.upstream.answer(h.person("anna", Loa::Substantial));
    let (request, fields) = signed(&h);
    // Bounced twice (say, two tabs), then processed: the ID is used once, by the processing.
    let mut browser = Client::new();
    post_fields(&h, &mut browser, "/saml/sso", &fields).await;
    let reposted = repost_fields(&post_fields(&h, &mut browser, "/saml/sso", &fields).await);
    let to_upstream = post_fields(&h, &mut browser, "/saml/sso", &reposted).await;
    assert!(to_upstream.goes_to(UPSTREAM_AUTHORIZE), "{to_upstream:?}");
    let back = h.callback(&mut browser, &to_upstream).await;
    let answered = read(&back, &cert);
    assert!(answered.has_status("Success"), "{}", answered.response);
    assert!(
        answered
            .response
            .contains(&format!("InResponseTo=\"{}\"", request.id))
    );
    assert_eq!(answered.relay_state.as_deref(), Some("cross-1"));
}

#[tokio::test]
async fn a_replayed_reposted_request_is_refused() {
    let h = Harness::new().await;
    let (_, fields) = signed(&h);
    let mut browser = Client::new();
    let reposted = repost_fields(&post_fields(&h, &mut browser, "/saml/sso", &fields).await);
    let first = post_fields(&h, &mut browser, "/saml/sso", &reposted).await;
    assert!(first.goes_to(UPSTREAM_AUTHORIZE), "{first:?}");
    // The same re-post again, from this browser or another one.
    let again = post_fields(&h, &mut browser, "/saml/sso", &reposted).await;
    assert_refused(&h, &again, "used before").await;
    let again = post_fields(&h, &mut Client::new(), "/saml/sso", &reposted).await;
    assert_refused(&h, &again, "used before").await;
}

#[tokio::test]
async fn a_reposted_request_without_cookies_is_processed_never_bounced_again() {
    let h = Harness::new().await;
    let (_, fields) = signed(&h);
    let reposted = repost_fields(&post_fields(&h, &mut Client::new(), "/saml/sso", &fields).await);
    // A browser that sends no cookies at all: a fresh login, not another bounce.
    let mut cookieless = Client::new();
    let reply = post_fields(&h, &mut cookieless, "/saml/sso", &reposted).await;
    assert!(reply.goes_to(UPSTREAM_AUTHORIZE), "{reply:?}");
    assert!(cookieless.has_cookie(BROWSER_COOKIE));
}

#[tokio::test]
async fn a_request_that_fails_its_checks_is_refused_on_processing_not_on_the_bounce() {
    let h = Harness::new().await;
    let unsigned = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        Request::new(&h).xml(),
    );
    let fields = vec![("SAMLRequest".to_owned(), unsigned)];
    let reposted = repost_fields(&post_fields(&h, &mut Client::new(), "/saml/sso", &fields).await);
    assert!(h.audited("saml.rejected").await.is_empty());
    let reply = post_fields(&h, &mut Client::new(), "/saml/sso", &reposted).await;
    assert_refused(&h, &reply, "signature").await;
    assert_eq!(h.audited("saml.rejected").await.len(), 1);
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn an_oversized_or_odd_request_is_refused_never_echoed() {
    let h = Harness::new().await;
    // Over the binding's bound (within the body limit): refused, not echoed.
    let big = "A".repeat(MAX_POSTED_REQUEST_BASE64 + 4);
    let reply = h
        .post(&mut Client::new(), "/saml/sso", &[("SAMLRequest", &big)])
        .await;
    assert_refused(&h, &reply, "too large").await;
    assert!(reply.body.len() < 16 * 1024, "{} bytes", reply.body.len());
    // Not base64: refused, not echoed into our page.
    let odd = "PHNh\"><img src=x>";
    let reply = h
        .post(&mut Client::new(), "/saml/sso", &[("SAMLRequest", odd)])
        .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(!reply.body.contains("<img src=x>"));
    // A RelayState over the binding's 80 bytes.
    let (_, fields) = signed(&h);
    let long_relay = "r".repeat(81);
    let reply = h
        .post(
            &mut Client::new(),
            "/saml/sso",
            &[("SAMLRequest", &fields[0].1), ("RelayState", &long_relay)],
        )
        .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(!reply.body.contains(&long_relay));
    // Over the body limit: 413 before any handler.
    let huge = "A".repeat(eid_web::layers::BODY_LIMIT + 1);
    let reply = h
        .post(&mut Client::new(), "/saml/sso", &[("SAMLRequest", &huge)])
        .await;
    assert_eq!(reply.status, 413, "{reply:?}");
}

#[tokio::test]
async fn a_cross_site_post_is_answered_from_the_session_without_a_new_login() {
    let h = Harness::new().await;
    let cert = broker_certificate(&h).await;
    let anna = h.person("anna", Loa::Substantial);
    let mut browser = Client::new();
    h.login_as(&mut browser, RP_A, &anna).await;
    let cookies_before = browser.cookies.clone();
    let logins = h.upstream.requests().len();
    let (request, fields) = signed(&h);
    // The cross-site POST carries none of the browser's cookies; our page's re-post carries them.
    let bounce = post_fields(&h, &mut Client::new(), "/saml/sso", &fields).await;
    let back = post_fields(&h, &mut browser, "/saml/sso", &repost_fields(&bounce)).await;
    let answered = read(&back, &cert);
    assert!(answered.has_status("Success"), "{}", answered.response);
    assert!(
        answered
            .response
            .contains(&format!("InResponseTo=\"{}\"", request.id))
    );
    assert_eq!(h.upstream.requests().len(), logins, "no second login");
    assert_eq!(browser.cookies, cookies_before, "the cookies are unchanged");
    assert_eq!(
        h.audited("saml.response_issued").await[0].person,
        Some(anna.audit_id)
    );
}

#[tokio::test]
async fn a_posted_request_with_our_cookies_is_answered_at_once() {
    let h = Harness::new().await;
    let cert = broker_certificate(&h).await;
    let mut browser = Client::new();
    h.login_as(&mut browser, RP_A, &h.person("anna", Loa::Substantial))
        .await;
    let (_, fields) = signed(&h);
    let back = post_fields(&h, &mut browser, "/saml/sso", &fields).await;
    assert!(read(&back, &cert).has_status("Success"));
}

/// `POST /saml/slo` with a form and no cookies; the `Set-Cookie` headers of the answer.
async fn posted_logout_set_cookies(h: &Harness, form: &[(&str, &str)]) -> Vec<String> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut request = axum::http::Request::post("/saml/slo")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(Client::new().addr));
    let response = h.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// A SAML login of `browser` at the test service: its NameID and SessionIndex.
async fn saml_session(h: &Harness, browser: &mut Client, cert: &[u8]) -> (String, String) {
    let to_upstream = h.get(browser, &Request::new(h).redirect()).await;
    assert!(to_upstream.goes_to(UPSTREAM_AUTHORIZE), "{to_upstream:?}");
    let back = h.callback(browser, &to_upstream).await;
    let answered = read(&back, cert);
    let index = saml::session_index(answered.assertion.as_deref().unwrap());
    (answered.name_id(), index)
}

#[tokio::test]
async fn a_posted_logout_without_our_cookies_touches_no_cookie() {
    let h = Harness::new().await;
    slo::register_with_slo(&h, &["post"]);
    let cert = broker_certificate(&h).await;
    h.upstream.answer(h.person("anna", Loa::Substantial));
    let mut browser = Client::new();
    let (name_id, index) = saml_session(&h, &mut browser, &cert).await;
    // The session the service names ends; the browser, whose cookie was kept back (and may name
    // another, living session), is not told to drop any cookie.
    let logout = Logout::new(&h, &name_id, &index);
    let posted = logout.posted();
    let set = posted_logout_set_cookies(&h, &[("SAMLRequest", &posted)]).await;
    assert!(
        !set.iter().any(|c| c.starts_with(SESSION_COOKIE)),
        "{set:?}"
    );
    let again = h.get(&mut browser, &Request::new(&h).redirect()).await;
    assert!(again.goes_to(UPSTREAM_AUTHORIZE), "the session ended");
    // Sent with the cookie (a same-site service), the ended session's cookie goes.
    let mut browser = Client::new();
    let (name_id, index) = saml_session(&h, &mut browser, &cert).await;
    let logout = Logout::new(&h, &name_id, &index);
    let reply = h
        .post(
            &mut browser,
            "/saml/slo",
            &[("SAMLRequest", &logout.posted())],
        )
        .await;
    assert!(read_logout(&reply, &cert).is(StatusCode::Success));
    assert!(!browser.has_session());
}
