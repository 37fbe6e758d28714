//! SAML single logout end to end through the router: SP-initiated logout by Redirect, POST and
//! SOAP ends the session and reaches the session's other relying parties; the LogoutResponse is
//! signed always (also for an unknown session); every request that cannot be verified or fails a
//! check is refused and audited, and never ends a session; OIDC logout reaches SAML services.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use axum::body::Body;
use eid_core::Loa;
use eid_saml::messages::StatusCode;
use harness::saml::{
    self, Logout, Request, SLO_POST, SLO_REDIRECT, SLO_SOAP, SLO_SOAP_BROKER, broker_certificate,
    read, read_logout, session_index,
};
use harness::{
    BrokerClient, BrokerReply, Client, Harness, RP_A, UPSTREAM_AUTHORIZE, backchannel_uri,
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
    saml::register_with_slo(&h, &["redirect", "post"]);
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
    saml::register_with_slo(&h, &["post"]);
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
    saml::register_with_slo(&h, &["redirect", "soap"]);
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
    saml::register_with_slo(&h, &["soap"]);
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
    saml::register_with_slo(&h, &["redirect"]);
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
    saml::register_with_slo(&h, &["redirect"]);
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
    saml::register_with_slo(&h, &["redirect"]);
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
    saml::register_with_slo(&h, &["redirect"]);
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
    saml::register_with_slo(&h, &["redirect", "soap"]);
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
    let request = saml::soap_body(&soap[0].1);
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
    saml::register_with_slo(&h, &["redirect"]);
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
    saml::register_with_slo(&h, &["redirect", "soap"]);
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
