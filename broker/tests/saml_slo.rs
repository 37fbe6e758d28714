//! SAML single logout end to end through the router: SP-initiated logout by Redirect, POST and
//! SOAP ends the session and reaches the session's other relying parties (SAML services without
//! a SOAP endpoint through the browser, one after the other, then the upstream's logout); the
//! LogoutResponse is signed always (also for an unknown session); every request that cannot be
//! verified or fails a check is refused and audited, and never ends a session; a service's
//! LogoutResponse counts only when signed by it, to a request we sent, once, addressed to us;
//! OIDC logout reaches SAML services.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use axum::body::Body;
use eid_core::{AuditEvent, AuditOutcome, Loa};
use eid_saml::messages::StatusCode;
use harness::saml::{self, Request, broker_certificate, read, session_index};
use harness::slo::{
    self, Logout, LogoutReply, SLO_POST, SLO_REDIRECT, SLO_SOAP, SLO_SOAP_BROKER, SentLogout,
    read_logout, read_logout_request, register_services, service,
};
use harness::{
    BrokerClient, BrokerReply, Client, Harness, ISSUER, RP_A, UPSTREAM_AUTHORIZE, UPSTREAM_LOGOUT,
    backchannel_uri, post_logout_uri,
};

/// A logged-in browser at the SAML service: the NameID's UUID and the SessionIndex it received.
async fn saml_session(h: &Harness, client: &mut Client, subject: &str) -> (String, String) {
    let cert = broker_certificate(h).await;
    h.upstream.answer(h.person(subject, Loa::Substantial));
    let to_upstream = h.get(client, &Request::new(h).redirect()).await;
    assert!(to_upstream.goes_to(UPSTREAM_AUTHORIZE), "{to_upstream:?}");
    let back = h.callback(client, &to_upstream).await;
    let answered = read(&back, &cert);
    let index = session_index(answered.assertion.as_deref().unwrap());
    (answered.name_id(), index)
}

/// Whether a new AuthnRequest from `client` needs a login (the session is gone).
async fn needs_login(h: &Harness, client: &mut Client) -> bool {
    h.get(client, &Request::new(h).redirect())
        .await
        .goes_to(UPSTREAM_AUTHORIZE)
}

async fn soap(h: &Harness, envelope: String) -> harness::Reply {
    soap_to(h, "/saml/slo/soap", envelope).await
}

async fn soap_to(h: &Harness, path: &str, envelope: String) -> harness::Reply {
    let request = axum::http::Request::post(path)
        .header("content-type", "text/xml; charset=utf-8")
        .body(Body::from(envelope))
        .unwrap();
    h.send(&mut Client::new(), request).await
}

#[tokio::test]
async fn a_redirect_logout_ends_the_session_and_reaches_the_other_relying_parties() {
    let h = Harness::new().await;
    slo::register_with_slo(&h, &["redirect", "post"]);
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let anna = h.person("anna", Loa::Substantial);
    h.login_as(&mut client, RP_A, &anna).await;
    let back = h.get(&mut client, &Request::new(&h).redirect()).await;
    let answered = read(&back, &cert);
    let index = session_index(answered.assertion.as_deref().unwrap());
    let logout = Logout::new(&h, &answered.name_id(), &index);
    let reply = h.get(&mut client, &logout.redirect()).await;
    let answer = read_logout(&reply, &cert);
    assert_eq!(answer.destination, SLO_REDIRECT);
    assert!(answer.is(StatusCode::Success), "{}", answer.xml);
    assert_eq!(
        answer.response.in_response_to.as_deref(),
        Some(logout.id.as_str())
    );
    assert_eq!(answer.relay_state.as_deref(), Some("slo-relay"));
    assert!(!client.has_session(), "the cookie is removed");
    // The OIDC relying party heard of it by back-channel; the asking service did not.
    let delivered = h.notifier.delivered();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].0, backchannel_uri(RP_A));
    assert!(h.notifier.soap().is_empty());
    let audited = h.audited("saml.logout").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].person, Some(anna.audit_id));
    assert!(needs_login(&h, &mut client).await, "the session has ended");
}

#[tokio::test]
async fn a_posted_logout_is_answered_by_post_with_an_enveloped_signature() {
    let h = Harness::new().await;
    slo::register_with_slo(&h, &["post"]);
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let (name_id, index) = saml_session(&h, &mut client, "anna").await;
    let logout = Logout::new(&h, &name_id, &index);
    let reply = h
        .post(
            &mut client,
            "/saml/slo",
            &[("SAMLRequest", &logout.posted()), ("RelayState", "r")],
        )
        .await;
    let answer = read_logout(&reply, &cert);
    assert_eq!(answer.destination, SLO_POST);
    assert!(answer.is(StatusCode::Success), "{}", answer.xml);
    assert_eq!(answer.relay_state.as_deref(), Some("r"));
    assert!(needs_login(&h, &mut client).await);
}

#[tokio::test]
async fn a_soap_logout_ends_the_session_with_a_signed_soap_answer() {
    let h = Harness::new().await;
    slo::register_with_slo(&h, &["redirect", "soap"]);
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let (name_id, index) = saml_session(&h, &mut client, "anna").await;
    let mut logout = Logout::new(&h, &name_id, &index);
    logout.destination = Some(SLO_SOAP_BROKER.into());
    let reply = soap(&h, logout.soap_signed(&saml::sp_key())).await;
    let answer = read_logout(&reply, &cert);
    assert!(answer.is(StatusCode::Success), "{}", answer.xml);
    assert_eq!(
        answer.response.in_response_to.as_deref(),
        Some(logout.id.as_str())
    );
    assert!(needs_login(&h, &mut client).await);
}

#[tokio::test]
async fn soap_to_the_slo_url_named_in_our_metadata_works_too() {
    let h = Harness::new().await;
    slo::register_with_slo(&h, &["soap"]);
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let (name_id, index) = saml_session(&h, &mut client, "anna").await;
    // Addressed to the SOAP URL but sent to the other one: refused.
    let mut misaddressed = Logout::new(&h, &name_id, &index);
    misaddressed.destination = Some(SLO_SOAP_BROKER.into());
    let reply = soap_to(&h, "/saml/slo", misaddressed.soap_signed(&saml::sp_key())).await;
    assert!(read_logout(&reply, &cert).is(StatusCode::Requester));
    assert!(!needs_login(&h, &mut client).await);
    let logout = Logout::new(&h, &name_id, &index);
    let reply = soap_to(&h, "/saml/slo", logout.soap_signed(&saml::sp_key())).await;
    let answer = read_logout(&reply, &cert);
    assert!(answer.is(StatusCode::Success), "{}", answer.xml);
    assert!(needs_login(&h, &mut client).await);
}

#[tokio::test]
async fn an_unknown_or_expired_session_gets_a_signed_success() {
    let h = Harness::new().await;
    slo::register_with_slo(&h, &["redirect"]);
    let cert = broker_certificate(&h).await;
    let logout = Logout::new(&h, &uuid::Uuid::new_v4().to_string(), "no-such-index");
    let reply = h.get(&mut Client::new(), &logout.redirect()).await;
    let answer = read_logout(&reply, &cert);
    assert!(answer.is(StatusCode::Success), "{}", answer.xml);
    assert_eq!(h.audited("saml.logout").await.len(), 1);
}

#[tokio::test]
async fn another_persons_name_id_never_ends_the_session() {
    let h = Harness::new().await;
    slo::register_with_slo(&h, &["redirect"]);
    let cert = broker_certificate(&h).await;
    let mut anna = Client::new();
    let (_, anna_index) = saml_session(&h, &mut anna, "anna").await;
    let mut bob = Client::new();
    let (bob_name_id, _) = saml_session(&h, &mut bob, "bob").await;
    let logout = Logout::new(&h, &bob_name_id, &anna_index);
    let reply = h.get(&mut bob, &logout.redirect()).await;
    let answer = read_logout(&reply, &cert);
    assert!(!answer.is(StatusCode::Success), "{}", answer.xml);
    assert!(!needs_login(&h, &mut anna).await, "anna is still logged in");
    assert_eq!(h.audited("saml.rejected").await.len(), 1);
}

/// Sends `path` and expects an error page, an audited rejection, and the session alive.
async fn refused_on_a_page(h: &Harness, client: &mut Client, path: &str) {
    let before = h.audited("saml.rejected").await.len();
    let reply = h.get(client, path).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(!reply.body.contains("SAMLResponse"));
    assert!(reply.location.is_none());
    assert_eq!(h.audited("saml.rejected").await.len(), before + 1);
    assert!(!needs_login(h, client).await, "the session is alive");
}

#[tokio::test]
async fn unverifiable_requests_are_refused_on_an_error_page() {
    let h = Harness::new().await;
    slo::register_with_slo(&h, &["redirect"]);
    let mut client = Client::new();
    let (name_id, index) = saml_session(&h, &mut client, "anna").await;
    let logout = Logout::new(&h, &name_id, &index);
    refused_on_a_page(&h, &mut client, &logout.redirect_unsigned()).await;
    refused_on_a_page(
        &h,
        &mut client,
        &Logout::new(&h, &name_id, &index).redirect_signed(&saml::wrong_key()),
    )
    .await;
    let mut unknown = Logout::new(&h, &name_id, &index);
    unknown.issuer = "https://unknown.example.dk/saml".into();
    refused_on_a_page(&h, &mut client, &unknown.redirect()).await;
    // An unsigned POST and a SOAP request signed by another key.
    let before = h.audited("saml.rejected").await.len();
    let unsigned = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        Logout::new(&h, &name_id, &index).xml(),
    );
    let reply = h
        .post(&mut client, "/saml/slo", &[("SAMLRequest", &unsigned)])
        .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    let mut by_soap = Logout::new(&h, &name_id, &index);
    by_soap.destination = Some(SLO_SOAP_BROKER.into());
    let reply = soap(&h, by_soap.soap_signed(&saml::wrong_key())).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.body.contains("Fault"));
    assert_eq!(h.audited("saml.rejected").await.len(), before + 2);
    assert!(!needs_login(&h, &mut client).await);
}

/// Sends `logout` and expects a signed Requester answer at the registered endpoint, an audited
/// rejection, and the session alive.
async fn refused_with_requester(h: &Harness, client: &mut Client, logout: &Logout) {
    let cert = broker_certificate(h).await;
    let before = h.audited("saml.rejected").await.len();
    let reply = h.get(client, &logout.redirect()).await;
    let answer = read_logout(&reply, &cert);
    assert_eq!(answer.destination, SLO_REDIRECT);
    assert!(answer.is(StatusCode::Requester), "{}", answer.xml);
    assert_eq!(h.audited("saml.rejected").await.len(), before + 1);
    assert!(!needs_login(h, client).await, "the session is alive");
}

#[tokio::test]
async fn stale_misaddressed_and_replayed_requests_are_refused() {
    let h = Harness::new().await;
    slo::register_with_slo(&h, &["redirect"]);
    let mut client = Client::new();
    let (name_id, index) = saml_session(&h, &mut client, "anna").await;
    let mut stale = Logout::new(&h, &name_id, &index);
    stale.issue_instant -= time::Duration::minutes(10);
    refused_with_requester(&h, &mut client, &stale).await;
    let mut future = Logout::new(&h, &name_id, &index);
    future.issue_instant += time::Duration::minutes(10);
    refused_with_requester(&h, &mut client, &future).await;
    let mut elsewhere = Logout::new(&h, &name_id, &index);
    elsewhere.destination = Some("https://other.example.dk/saml/slo".into());
    refused_with_requester(&h, &mut client, &elsewhere).await;
    let mut no_index = Logout::new(&h, &name_id, &index);
    no_index.session_index = None;
    refused_with_requester(&h, &mut client, &no_index).await;
    // A request for an unknown session, then the same request again.
    let once = Logout::new(&h, &name_id, "unknown-index");
    let cert = broker_certificate(&h).await;
    let first = read_logout(&h.get(&mut client, &once.redirect()).await, &cert);
    assert!(first.is(StatusCode::Success));
    refused_with_requester(&h, &mut client, &once).await;
}

#[tokio::test]
async fn oidc_logout_reaches_a_saml_service_by_soap() {
    let h = Harness::new().await;
    slo::register_with_slo(&h, &["redirect", "soap"]);
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let anna = h.person("anna", Loa::Substantial);
    let code = h.login_as(&mut client, RP_A, &anna).await;
    let (id_token, _) = h.id_token(RP_A, &code).await;
    let back = h.get(&mut client, &Request::new(&h).redirect()).await;
    let answered = read(&back, &cert);
    let index = session_index(answered.assertion.as_deref().unwrap());
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", &id_token)
        .finish();
    let out = h.get(&mut client, &format!("/logout?{query}")).await;
    assert!(!client.has_session(), "{out:?}");
    let soap = h.notifier.soap();
    assert_eq!(soap.len(), 1);
    assert_eq!(soap[0].0, SLO_SOAP);
    // The LogoutRequest is signed by the broker and names the person and the session.
    let request = slo::soap_body(&soap[0].1);
    let keys = eid_saml::dsig::PinnedKeys::from_certificates([cert.as_slice()]).unwrap();
    let verified = eid_saml::dsig::verify(
        &request,
        eid_saml::dsig::Expected::Root(eid_saml::xml::QName::LOGOUT_REQUEST),
        &keys,
        &eid_saml::dsig::AlgorithmPolicy::default(),
    )
    .expect("signed by the broker");
    let parsed = eid_saml::messages::LogoutRequest::parse(&verified.element().to_xml()).unwrap();
    assert_eq!(parsed.session_indexes, vec![index]);
    assert!(parsed.name_id.value.ends_with(&answered.name_id()));
    assert_eq!(parsed.destination.as_deref(), Some(SLO_SOAP));
    let delivered = h.audited("logout.backchannel").await;
    assert!(
        delivered
            .iter()
            .any(|e| e.client.as_deref() == Some(saml::SP)
                && e.outcome == eid_core::AuditOutcome::Success),
        "{delivered:?}"
    );
}

#[tokio::test]
async fn a_relying_party_not_reached_makes_a_partial_logout() {
    let h = Harness::new().await;
    slo::register_with_slo(&h, &["redirect"]);
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let anna = h.person("anna", Loa::Substantial);
    h.login_as(&mut client, RP_A, &anna).await;
    // rp-b registered no back-channel URI: it cannot be told.
    h.authorize(&mut client, harness::RP_B, &[])
        .await
        .code_for(harness::RP_B);
    let back = h.get(&mut client, &Request::new(&h).redirect()).await;
    let answered = read(&back, &cert);
    let index = session_index(answered.assertion.as_deref().unwrap());
    let logout = Logout::new(&h, &answered.name_id(), &index);
    let answer = read_logout(&h.get(&mut client, &logout.redirect()).await, &cert);
    assert!(answer.is(StatusCode::PartialLogout), "{}", answer.xml);
    assert!(needs_login(&h, &mut client).await, "the session has ended");
}

#[tokio::test]
async fn an_unsigned_soap_answer_does_not_count_as_reached() {
    let h = Harness::new().await;
    slo::register_with_slo(&h, &["redirect", "soap"]);
    h.notifier
        .soap_unsigned
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let anna = h.person("anna", Loa::Substantial);
    let code = h.login_as(&mut client, RP_A, &anna).await;
    let (id_token, _) = h.id_token(RP_A, &code).await;
    read(
        &h.get(&mut client, &Request::new(&h).redirect()).await,
        &cert,
    );
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", &id_token)
        .finish();
    h.get(&mut client, &format!("/logout?{query}")).await;
    assert_eq!(h.notifier.soap().len(), 1);
    let delivered = h.audited("logout.backchannel").await;
    let to_sp: Vec<_> = delivered
        .iter()
        .filter(|e| e.client.as_deref() == Some(saml::SP))
        .collect();
    assert_eq!(to_sp.len(), 1);
    assert_eq!(to_sp[0].outcome, eid_core::AuditOutcome::Failure);
}

/// Single sign-on at test service `n` in `client`'s session: the NameID's UUID and the
/// SessionIndex it received.
async fn sso_at(h: &Harness, client: &mut Client, n: usize) -> (String, String) {
    let cert = broker_certificate(h).await;
    let answered = read(&h.get(client, &Request::of(h, n).redirect()).await, &cert);
    assert_eq!(answered.action, service(n).acs);
    let index = session_index(answered.assertion.as_deref().unwrap());
    (answered.name_id(), index)
}

/// Anna's session at services 1 and 2 (2 without SOAP), then service 1's logout by Redirect:
/// its request and the LogoutRequest the broker sends service 2 through the browser.
async fn logout_reaching_service_2(
    h: &Harness,
    client: &mut Client,
    subject: &str,
) -> (Logout, SentLogout) {
    let cert = broker_certificate(h).await;
    let (name_id, index) = saml_session(h, client, subject).await;
    sso_at(h, client, 2).await;
    let logout = Logout::new(h, &name_id, &index);
    let sent = read_logout_request(&h.get(client, &logout.redirect()).await, &cert);
    (logout, sent)
}

#[tokio::test]
async fn a_service_without_soap_hears_of_the_logout_through_the_browser_before_the_answer() {
    let h = Harness::new().await;
    register_services(&h, &[(1, &["redirect"]), (2, &["redirect"])]);
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let (name_id, index) = saml_session(&h, &mut client, "anna").await;
    let (name_id_2, index_2) = sso_at(&h, &mut client, 2).await;
    assert_ne!(name_id, name_id_2, "each service has its own NameID");
    let logout = Logout::new(&h, &name_id, &index);
    let reply = h.get(&mut client, &logout.redirect()).await;
    assert!(!client.has_session(), "the session ended at once");
    // Service 2 first: a LogoutRequest signed by the broker, naming what that service received.
    let sent = read_logout_request(&reply, &cert);
    assert_eq!(sent.binding, "redirect");
    assert_eq!(sent.destination, service(2).slo_redirect);
    assert_eq!(
        sent.request.destination.as_deref(),
        Some(service(2).slo_redirect.as_str())
    );
    assert_eq!(sent.request.issuer, format!("{ISSUER}/saml/metadata"));
    assert!(sent.request.name_id.value.ends_with(&name_id_2));
    assert_eq!(sent.request.session_indexes, vec![index_2]);
    assert!(sent.request.not_on_or_after.is_some());
    // Its signed answer lets the chain go on to the asking service's LogoutResponse.
    let reply = LogoutReply::to(&h, 2, &sent);
    let answer = read_logout(&h.get(&mut client, &reply.redirect()).await, &cert);
    assert_eq!(answer.destination, SLO_REDIRECT);
    assert!(answer.is(StatusCode::Success), "{}", answer.xml);
    assert_eq!(
        answer.response.in_response_to.as_deref(),
        Some(logout.id.as_str())
    );
    assert_eq!(answer.relay_state.as_deref(), Some("slo-relay"));
    let told = h.audited("logout.frontchannel").await;
    assert_eq!(told.len(), 1);
    assert_eq!(
        told[0].client.as_deref(),
        Some(service(2).entity_id.as_str())
    );
    assert_eq!(told[0].outcome, AuditOutcome::Success);
    assert!(h.notifier.soap().is_empty());
    assert!(needs_login(&h, &mut client).await);
}

#[tokio::test]
async fn oidc_logout_reaches_a_saml_service_through_the_browser_before_the_return_address() {
    let h = Harness::new().await;
    slo::register_with_slo(&h, &["post"]);
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let anna = h.person("anna", Loa::Substantial);
    let code = h.login_as(&mut client, RP_A, &anna).await;
    let (id_token, _) = h.id_token(RP_A, &code).await;
    let (name_id, index) = sso_at(&h, &mut client, 1).await;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", &post_logout_uri(RP_A))
        .append_pair("state", "bye")
        .finish();
    let reply = h.get(&mut client, &format!("/logout?{query}")).await;
    assert!(!client.has_session());
    // The service has only a POST endpoint: an auto-posting page with an enveloped signature.
    let sent = read_logout_request(&reply, &cert);
    assert_eq!(sent.binding, "post");
    assert_eq!(sent.destination, SLO_POST);
    assert!(sent.request.name_id.value.ends_with(&name_id));
    assert_eq!(sent.request.session_indexes, vec![index]);
    let answer = LogoutReply::to(&h, 1, &sent).posted_signed(&saml::sp_key());
    let done = h
        .post(&mut client, "/saml/slo", &[("SAMLResponse", &answer)])
        .await;
    assert!(
        done.location
            .as_deref()
            .is_some_and(|l| l == format!("{}?state=bye", post_logout_uri(RP_A))),
        "{done:?}"
    );
    assert_eq!(h.notifier.delivered().len(), 1, "RP A by back channel");
    let told = h.audited("logout.frontchannel").await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].outcome, AuditOutcome::Success);
    assert_eq!(told[0].person, Some(anna.audit_id));
}

#[tokio::test]
async fn a_saml_logout_ends_the_upstream_session_after_the_services_and_before_the_answer() {
    let h = Harness::new().await;
    h.upstream.offer_logout();
    register_services(&h, &[(1, &["redirect"]), (2, &["post"])]);
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let mut anna = h.person("anna", Loa::Substantial);
    anna.upstream_sid = Some("upstream-sid-of-anna".into());
    h.upstream.answer(anna);
    let to_upstream = h.get(&mut client, &Request::new(&h).redirect()).await;
    let answered = read(&h.callback(&mut client, &to_upstream).await, &cert);
    let index = session_index(answered.assertion.as_deref().unwrap());
    sso_at(&h, &mut client, 2).await;
    let logout = Logout::new(&h, &answered.name_id(), &index);
    let sent = read_logout_request(&h.get(&mut client, &logout.redirect()).await, &cert);
    assert_eq!(sent.destination, service(2).slo_post);
    let answer = LogoutReply::to(&h, 2, &sent).posted_signed(&saml::sp_key());
    // Then the upstream's logout, naming its session by its opaque sid, returning to us.
    let upstream = h
        .post(&mut client, "/saml/slo", &[("SAMLResponse", &answer)])
        .await;
    assert!(upstream.goes_to(UPSTREAM_LOGOUT), "{upstream:?}");
    let param = |name| upstream.location_param(ISSUER, name);
    assert_eq!(
        param("logout_hint").as_deref(),
        Some("upstream-sid-of-anna")
    );
    assert_eq!(
        param("post_logout_redirect_uri"),
        Some(format!("{ISSUER}/logout/done"))
    );
    // Back from there: the asking service's answer.
    let answer = read_logout(&h.get(&mut client, "/logout/done").await, &cert);
    assert_eq!(answer.destination, SLO_REDIRECT);
    assert!(answer.is(StatusCode::Success), "{}", answer.xml);
    assert_eq!(
        answer.response.in_response_to.as_deref(),
        Some(logout.id.as_str())
    );
    // The return is single use.
    let again = h.get(&mut client, "/logout/done").await;
    assert!(!again.body.contains("SAMLResponse"), "{again:?}");
}

/// Expects the asking service's answer after service 2 was sent `path`: `PartialLogout` unless
/// `counts`, with service 2's front-channel logout audited accordingly.
async fn answered_after(h: &Harness, client: &mut Client, path: &str, counts: bool) {
    let cert = broker_certificate(h).await;
    let failures = |events: Vec<AuditEvent>| {
        events
            .iter()
            .filter(|e| e.outcome == AuditOutcome::Failure)
            .count()
    };
    let before = failures(h.audited("logout.frontchannel").await);
    let answer = read_logout(&h.get(client, path).await, &cert);
    assert_eq!(answer.destination, SLO_REDIRECT);
    let expected = if counts {
        StatusCode::Success
    } else {
        StatusCode::PartialLogout
    };
    assert!(answer.is(expected), "{}", answer.xml);
    let after = failures(h.audited("logout.frontchannel").await);
    assert_eq!(after, before + usize::from(!counts));
}

#[tokio::test]
async fn an_unsigned_or_forged_logout_response_does_not_count_as_reached() {
    let h = Harness::new().await;
    register_services(&h, &[(1, &["redirect"]), (2, &["redirect"])]);
    let cert = broker_certificate(&h).await;
    for (n, case) in [
        "unsigned",
        "another key",
        "posted unsigned",
        "posted by another key",
    ]
    .into_iter()
    .enumerate()
    {
        let mut client = Client::new();
        let (_, sent) = logout_reaching_service_2(&h, &mut client, &format!("person-{n}")).await;
        let reply = LogoutReply::to(&h, 2, &sent);
        let rejected = h.audited("saml.rejected").await.len();
        let answer = match n {
            0 => h.get(&mut client, &reply.redirect_unsigned()).await,
            1 => {
                h.get(&mut client, &reply.redirect_signed(&saml::wrong_key()))
                    .await
            }
            _ => {
                let form = if n == 2 {
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, reply.xml())
                } else {
                    reply.posted_signed(&saml::wrong_key())
                };
                h.post(&mut client, "/saml/slo", &[("SAMLResponse", &form)])
                    .await
            }
        };
        let answer = read_logout(&answer, &cert);
        assert!(
            answer.is(StatusCode::PartialLogout),
            "{case}: {}",
            answer.xml
        );
        assert_eq!(
            h.audited("saml.rejected").await.len(),
            rejected + 1,
            "{case} is audited"
        );
        let told = h.audited("logout.frontchannel").await;
        assert_eq!(told.last().map(|e| e.outcome), Some(AuditOutcome::Failure));
    }
}

#[tokio::test]
async fn a_logout_response_to_no_request_of_ours_is_refused_and_the_chain_waits() {
    let h = Harness::new().await;
    register_services(&h, &[(1, &["redirect"]), (2, &["redirect"])]);
    let mut client = Client::new();
    let (_, sent) = logout_reaching_service_2(&h, &mut client, "anna").await;
    let mut stray = LogoutReply::to(&h, 2, &sent);
    stray.in_response_to = "_never-sent-by-the-broker".into();
    let rejected = h.audited("saml.rejected").await.len();
    let reply = h.get(&mut client, &stray.redirect()).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.location.is_none() && !reply.body.contains("SAMLResponse"));
    assert_eq!(h.audited("saml.rejected").await.len(), rejected + 1);
    // The genuine answer still counts.
    let genuine = LogoutReply::to(&h, 2, &sent).redirect();
    answered_after(&h, &mut client, &genuine, true).await;
}

#[tokio::test]
async fn a_logout_response_counts_once() {
    let h = Harness::new().await;
    register_services(&h, &[(1, &["redirect"]), (2, &["redirect"])]);
    let mut client = Client::new();
    let (_, sent) = logout_reaching_service_2(&h, &mut client, "anna").await;
    let genuine = LogoutReply::to(&h, 2, &sent).redirect();
    answered_after(&h, &mut client, &genuine, true).await;
    let rejected = h.audited("saml.rejected").await.len();
    let replayed = h.get(&mut client, &genuine).await;
    assert_eq!(replayed.status, 400, "{replayed:?}");
    assert!(replayed.location.is_none() && !replayed.body.contains("SAMLResponse"));
    assert_eq!(h.audited("saml.rejected").await.len(), rejected + 1);
}

/// A change to a service's LogoutResponse.
type Spoil = fn(&mut LogoutReply);

#[tokio::test]
async fn a_misaddressed_stale_foreign_or_unconfirmed_logout_response_does_not_count() {
    let h = Harness::new().await;
    register_services(&h, &[(1, &["redirect"]), (2, &["redirect"])]);
    let cases: [(&str, Spoil); 5] = [
        ("elsewhere", |r| {
            r.destination = Some("https://other.example.dk/saml/slo".into())
        }),
        ("no destination", |r| r.destination = None),
        ("stale", |r| r.issue_instant -= time::Duration::minutes(10)),
        // Service 1 signs with the same key as service 2 in these tests: only the issuer differs.
        ("another service's", |r| r.issuer = service(1).entity_id),
        ("not confirmed", |r| r.status = StatusCode::Responder),
    ];
    for (n, (case, spoil)) in cases.into_iter().enumerate() {
        let mut client = Client::new();
        let (_, sent) = logout_reaching_service_2(&h, &mut client, &format!("person-{n}")).await;
        let mut reply = LogoutReply::to(&h, 2, &sent);
        spoil(&mut reply);
        let rejected = h.audited("saml.rejected").await.len();
        answered_after(&h, &mut client, &reply.redirect(), false).await;
        assert_eq!(
            h.audited("saml.rejected").await.len(),
            rejected + 1,
            "{case} is audited"
        );
    }
}

#[tokio::test]
async fn a_soap_logout_counts_a_service_only_the_browser_reaches_as_not_reached() {
    let h = Harness::new().await;
    register_services(&h, &[(1, &["redirect", "soap"]), (2, &["redirect"])]);
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let (name_id, index) = saml_session(&h, &mut client, "anna").await;
    sso_at(&h, &mut client, 2).await;
    let mut logout = Logout::new(&h, &name_id, &index);
    logout.destination = Some(SLO_SOAP_BROKER.into());
    let answer = read_logout(&soap(&h, logout.soap_signed(&saml::sp_key())).await, &cert);
    assert!(answer.is(StatusCode::PartialLogout), "{}", answer.xml);
    let delivered = h.audited("logout.backchannel").await;
    assert!(
        delivered.iter().any(
            |e| e.client.as_deref() == Some(service(2).entity_id.as_str())
                && e.outcome == AuditOutcome::Failure
        ),
        "{delivered:?}"
    );
    assert!(needs_login(&h, &mut client).await);
}

#[tokio::test]
async fn a_logout_chain_visits_a_bounded_number_of_services() {
    let h = Harness::new().await;
    let services: Vec<(usize, &[&str])> = (1..=18).map(|n| (n, &["redirect"][..])).collect();
    register_services(&h, &services);
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let (name_id, index) = saml_session(&h, &mut client, "anna").await;
    for n in 2..=18 {
        sso_at(&h, &mut client, n).await;
    }
    let logout = Logout::new(&h, &name_id, &index);
    let mut reply = h.get(&mut client, &logout.redirect()).await;
    let mut visited = Vec::new();
    while reply
        .location
        .as_deref()
        .is_some_and(|l| !l.starts_with(SLO_REDIRECT))
    {
        let sent = read_logout_request(&reply, &cert);
        let n = (2..=18)
            .find(|n| service(*n).slo_redirect == sent.destination)
            .unwrap();
        visited.push(n);
        reply = h
            .get(&mut client, &LogoutReply::to(&h, n, &sent).redirect())
            .await;
    }
    assert_eq!(
        visited,
        (2..=17).collect::<Vec<_>>(),
        "in order, at most 16"
    );
    let answer = read_logout(&reply, &cert);
    assert!(answer.is(StatusCode::PartialLogout), "{}", answer.xml);
    let told = h.audited("logout.frontchannel").await;
    let failed: Vec<_> = told
        .iter()
        .filter(|e| e.outcome == AuditOutcome::Failure)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].client.as_deref(),
        Some(service(18).entity_id.as_str())
    );
}
