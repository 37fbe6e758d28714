//! The signed SAML messages kept as evidence (NemLog-in's logging rule): a login keeps the
//! AuthnRequest as received and the signed assertion as sent, single logout keeps its requests
//! and responses both ways, a refused request keeps nothing, and no Response goes out before its
//! assertion is kept. Operators read them from `GET /admin/protocol-messages`, and what they read
//! verifies with the signer's published key: ours from `/saml/metadata` (also by `xmlsec1`), the
//! service's from its metadata.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use async_trait::async_trait;
use axum::body::Body;
use eid_core::protocol_message::{Binding, Direction, MessageKind};
use eid_core::{AuditEvent, AuditLog, Clock as _, Loa, ProtocolMessage, StoreError};
use eid_saml::binding::{MessageKind as Parameter, decode_redirect};
use eid_saml::dsig::{self, AlgorithmPolicy, Expected, PinnedKeys};
use eid_saml::messages::StatusCode;
use eid_saml::xml::QName;
use eid_store::SqlDurable;
use harness::saml::{self, Request, SP, broker_certificate, read, session_index};
use harness::slo::{self, Logout, SLO_SOAP_BROKER, read_logout};
use harness::{ADMIN_TOKEN, BrokerReply, Client, Harness, RP_A, UPSTREAM_AUTHORIZE};
use std::sync::Arc;
use time::OffsetDateTime;

/// `GET /admin/protocol-messages?{query}` with `token`: the reply.
async fn admin_get(h: &Harness, query: &str, token: Option<&str>) -> harness::Reply {
    let mut request = axum::http::Request::get(format!("/admin/protocol-messages?{query}"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    h.send(&mut Client::new(), request.body(Body::empty()).unwrap())
        .await
}

/// The messages kept for the test service, as an operator reads them (no flush of the audit
/// writer: what a Response's sending waited for must be there already).
async fn kept(h: &Harness) -> Vec<ProtocolMessage> {
    let peer: String = url::form_urlencoded::byte_serialize(SP.as_bytes()).collect();
    let reply = admin_get(h, &format!("peer={peer}&limit=1000"), Some(ADMIN_TOKEN)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    serde_json::from_value(body["messages"].clone()).unwrap()
}

/// Everything kept, after the writer has committed what it holds.
async fn kept_flushed(h: &Harness) -> Vec<ProtocolMessage> {
    h.broker.audit.flush().await;
    kept(h).await
}

fn the_service_certificate() -> Vec<u8> {
    dsig::certificate_for(&saml::sp_key(), "test sp").unwrap()
}

/// Verifies an enveloped signature of `xml` (root `root`) with `cert` only.
fn verifies(xml: &str, root: QName, cert: &[u8]) -> bool {
    let keys = PinnedKeys::from_certificates([cert]).unwrap();
    dsig::verify(
        xml,
        Expected::Root(root),
        &keys,
        &AlgorithmPolicy::default(),
    )
    .is_ok()
}

/// Verifies a kept Redirect-binding query with `cert` only: the XML it carries.
fn redirect_verifies(query: &str, kind: Parameter, cert: &[u8]) -> Option<String> {
    let message = decode_redirect(query, kind).ok()?;
    message
        .verify_with_certificates(&[cert.to_vec()])
        .ok()
        .map(str::to_owned)
}

fn only(kept: &[ProtocolMessage], direction: Direction, kind: MessageKind) -> &ProtocolMessage {
    let found: Vec<_> = kept
        .iter()
        .filter(|m| m.direction == direction && m.kind == kind)
        .collect();
    assert_eq!(found.len(), 1, "{direction:?} {kind:?} in {kept:#?}");
    found[0]
}

/// `xmlsec1` verifies `assertion` with `cert` pinned (and refuses it tampered); `None` when it
/// is not installed (skipped).
fn xmlsec1_verifies(assertion: &str, cert: &[u8]) -> Option<bool> {
    use base64::Engine as _;
    use std::process::Command;
    let installed = Command::new("xmlsec1")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        eid_store::testing::skip("xmlsec1 is not installed (apt-get install xmlsec1)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(cert);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    );
    let cert_path = dir.path().join("cert.pem");
    let xml_path = dir.path().join("assertion.xml");
    std::fs::write(&cert_path, pem).unwrap();
    std::fs::write(&xml_path, assertion).unwrap();
    let out = Command::new("xmlsec1")
        .args([
            "--verify",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--pubkey-cert-pem",
            cert_path.to_str().unwrap(),
            "--enabled-key-data",
            "key-name",
            xml_path.to_str().unwrap(),
        ])
        .output()
        .expect("runs xmlsec1");
    Some(out.status.success())
}

#[tokio::test]
async fn a_login_keeps_the_request_as_received_and_the_assertion_as_signed() {
    let h = Harness::new().await;
    let cert = broker_certificate(&h).await;
    h.upstream.answer(h.person("anna", Loa::Substantial));
    let mut client = Client::new();
    let request = Request::new(&h);
    let path = request.redirect();
    let to_upstream = h.get(&mut client, &path).await;
    assert!(to_upstream.goes_to(UPSTREAM_AUTHORIZE), "{to_upstream:?}");
    let back = h.callback(&mut client, &to_upstream).await;
    let answered = read(&back, &cert);
    assert!(answered.has_status("Success"));

    // Read at once: the Response was sent only after both were committed.
    let kept = kept(&h).await;
    assert_eq!(kept.len(), 2, "{kept:#?}");
    let received = only(&kept, Direction::Received, MessageKind::AuthnRequest);
    assert_eq!(received.binding, Binding::Redirect);
    assert_eq!(received.peer, SP);
    assert_eq!(received.message_id, request.id);
    assert_eq!(received.session, None);
    // Exactly the query as it travelled, and it verifies with the service's key, later.
    let (_, query) = path.split_once('?').unwrap();
    assert_eq!(received.content, query);
    let xml = redirect_verifies(
        &received.content,
        Parameter::Request,
        &the_service_certificate(),
    )
    .expect("the kept request verifies with the service's metadata key");
    assert!(xml.contains(&request.id));

    let sent = only(&kept, Direction::Sent, MessageKind::Assertion);
    assert_eq!(sent.binding, Binding::Post);
    assert!(sent.sent_encrypted);
    assert_eq!(sent.in_response_to.as_deref(), Some(request.id.as_str()));
    let assertion = answered.assertion.as_deref().unwrap();
    assert!(assertion.contains(&format!("ID=\"{}\"", sent.message_id)));
    assert!(sent.content.contains(&session_index(assertion)));
    assert!(!sent.content.contains("EncryptedData"), "kept as signed");
    // The point of keeping it: it verifies with the key our metadata publishes.
    assert!(verifies(&sent.content, QName::ASSERTION, &cert));
    let tampered = sent.content.replace("Substantial", "High");
    assert!(!verifies(&tampered, QName::ASSERTION, &cert));
    if let Some(ok) = xmlsec1_verifies(&sent.content, &cert) {
        assert!(
            ok,
            "xmlsec1 verifies the kept assertion with our published key"
        );
        assert_eq!(xmlsec1_verifies(&tampered, &cert), Some(false));
    }
    // Each names the audit event it was committed with.
    let issued = h.audited("saml.response_issued").await;
    assert_eq!(sent.audit_event, Some(issued[0].id));
    let accepted = h.audited("saml.authn_request").await;
    assert_eq!(received.audit_event, Some(accepted[0].id));
    assert_eq!(accepted[0].client.as_deref(), Some(SP));
    // The session reference is neither the session id nor the SessionIndex.
    let session = sent.session.as_deref().unwrap();
    assert!(!assertion.contains(session));
    // The operator's read is on record.
    assert_eq!(h.audited("admin.protocol_messages_read").await.len(), 1);
}

#[tokio::test]
async fn single_sign_on_from_a_session_keeps_both_messages_too() {
    let h = Harness::new().await;
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    h.login_as(&mut client, RP_A, &h.person("anna", Loa::Substantial))
        .await;
    let request = Request::new(&h);
    let answered = read(&h.get(&mut client, &request.redirect()).await, &cert);
    assert!(answered.has_status("Success"));
    let kept = kept(&h).await;
    assert_eq!(kept.len(), 2, "{kept:#?}");
    only(&kept, Direction::Received, MessageKind::AuthnRequest);
    let sent = only(&kept, Direction::Sent, MessageKind::Assertion);
    assert!(verifies(&sent.content, QName::ASSERTION, &cert));
}

#[tokio::test]
async fn a_posted_request_is_kept_as_the_signed_xml_it_was() {
    use base64::Engine as _;
    let h = Harness::new().await;
    h.upstream.answer(h.person("anna", Loa::Substantial));
    let mut client = Client::new();
    let field = Request::new(&h).posted_signed(&saml::sp_key());
    let to_upstream = h
        .post(
            &mut client,
            "/saml/sso",
            // As our own re-post page sends it (a cross-site post without cookies is bounced).
            &[
                ("SAMLRequest", &field),
                ("RelayState", "r2"),
                ("reposted", "1"),
            ],
        )
        .await;
    assert!(to_upstream.goes_to(UPSTREAM_AUTHORIZE), "{to_upstream:?}");
    let kept = kept_flushed(&h).await;
    let received = only(&kept, Direction::Received, MessageKind::AuthnRequest);
    assert_eq!(received.binding, Binding::Post);
    let posted = base64::engine::general_purpose::STANDARD
        .decode(&field)
        .unwrap();
    assert_eq!(received.content.as_bytes(), posted.as_slice());
    assert!(verifies(
        &received.content,
        QName::AUTHN_REQUEST,
        &the_service_certificate()
    ));
}

#[tokio::test]
async fn a_refused_request_keeps_nothing() {
    let h = Harness::new().await;
    let mut client = Client::new();
    // Unsigned, signed by another key, stale, for another ACS: refused on a page.
    let unsigned = Request::new(&h).redirect_unsigned();
    let wrong_key =
        Request::new(&h).redirect_signed(&saml::wrong_key(), eid_saml::binding::SigAlg::RsaSha256);
    let mut stale = Request::new(&h);
    stale.issue_instant -= time::Duration::hours(1);
    let mut elsewhere = Request::new(&h);
    elsewhere.acs = Some("https://attacker.example/acs".into());
    for path in [unsigned, wrong_key, stale.redirect(), elsewhere.redirect()] {
        let reply = h.get(&mut client, &path).await;
        assert!(!saml::is_post(&reply), "{reply:?}");
        assert!(!reply.goes_to(UPSTREAM_AUTHORIZE), "{reply:?}");
    }
    // An unsupported NameID format: answered with a status, still refused.
    let mut transient = Request::new(&h);
    transient.name_id_format = Some("urn:oasis:names:tc:SAML:2.0:nameid-format:transient");
    assert!(saml::is_post(
        &h.get(&mut client, &transient.redirect()).await
    ));
    assert_eq!(h.audited("saml.rejected").await.len(), 5);
    assert!(kept_flushed(&h).await.is_empty());

    // A replay: the first is kept, the second is not.
    let once = Request::new(&h).redirect();
    assert!(h.get(&mut client, &once).await.goes_to(UPSTREAM_AUTHORIZE));
    let replayed = h.get(&mut client, &once).await;
    assert!(!replayed.goes_to(UPSTREAM_AUTHORIZE), "{replayed:?}");
    let kept = kept_flushed(&h).await;
    assert_eq!(kept.len(), 1, "{kept:#?}");
    assert!(h.audited("saml.rejected").await.len() == 6);
}

#[tokio::test]
async fn single_logout_keeps_the_requests_and_responses_both_ways() {
    let h = Harness::new().await;
    slo::register_with_slo(&h, &["redirect", "post", "soap"]);
    let cert = broker_certificate(&h).await;
    let sp_cert = the_service_certificate();

    // Redirect: the request as received, our response as sent, each verifying with its key.
    let mut client = Client::new();
    h.login_as(&mut client, RP_A, &h.person("anna", Loa::Substantial))
        .await;
    let answered = read(
        &h.get(&mut client, &Request::new(&h).redirect()).await,
        &cert,
    );
    let index = session_index(answered.assertion.as_deref().unwrap());
    let logout = Logout::new(&h, &answered.name_id(), &index);
    let path = logout.redirect();
    let reply = h.get(&mut client, &path).await;
    assert!(read_logout(&reply, &cert).is(StatusCode::Success));
    let kept = kept_flushed(&h).await;
    let request = only(&kept, Direction::Received, MessageKind::LogoutRequest);
    assert_eq!(request.binding, Binding::Redirect);
    assert_eq!(request.message_id, logout.id);
    assert_eq!(request.content, path.split_once('?').unwrap().1);
    assert!(redirect_verifies(&request.content, Parameter::Request, &sp_cert).is_some());
    let response = only(&kept, Direction::Sent, MessageKind::LogoutResponse);
    assert_eq!(response.binding, Binding::Redirect);
    assert_eq!(response.in_response_to.as_deref(), Some(logout.id.as_str()));
    let location = reply.location.clone().unwrap();
    assert!(location.ends_with(&response.content), "kept as sent");
    let xml = redirect_verifies(&response.content, Parameter::Response, &cert)
        .expect("our kept LogoutResponse verifies with our published key");
    assert!(xml.contains(&response.message_id));

    // POST and SOAP from the service: enveloped signatures, kept as XML.
    for soap in [false, true] {
        let mut client = Client::new();
        h.login_as(&mut client, RP_A, &h.person("karen", Loa::Substantial))
            .await;
        let answered = read(
            &h.get(&mut client, &Request::new(&h).redirect()).await,
            &cert,
        );
        let index = session_index(answered.assertion.as_deref().unwrap());
        let mut logout = Logout::new(&h, &answered.name_id(), &index);
        let reply = if soap {
            logout.destination = Some(SLO_SOAP_BROKER.into());
            let request = axum::http::Request::post("/saml/slo/soap")
                .header("content-type", "text/xml; charset=utf-8")
                .body(Body::from(logout.soap_signed(&saml::sp_key())))
                .unwrap();
            h.send(&mut Client::new(), request).await
        } else {
            h.post(
                &mut client,
                "/saml/slo",
                &[("SAMLRequest", &logout.posted())],
            )
            .await
        };
        assert!(read_logout(&reply, &cert).is(StatusCode::Success));
        let kept = kept_flushed(&h).await;
        let binding = if soap { Binding::Soap } else { Binding::Post };
        let request = kept
            .iter()
            .find(|m| m.message_id == logout.id)
            .expect("the LogoutRequest is kept");
        assert_eq!(request.binding, binding);
        assert!(verifies(&request.content, QName::LOGOUT_REQUEST, &sp_cert));
        let response = kept
            .iter()
            .find(|m| m.in_response_to.as_deref() == Some(logout.id.as_str()))
            .expect("the LogoutResponse is kept");
        assert_eq!(response.binding, binding);
        assert!(verifies(&response.content, QName::LOGOUT_RESPONSE, &cert));
    }
}

#[tokio::test]
async fn a_back_channel_logout_keeps_our_request_and_the_services_answer() {
    let h = Harness::new().await;
    slo::register_with_slo(&h, &["redirect", "soap"]);
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let code = h
        .login_as(&mut client, RP_A, &h.person("anna", Loa::Substantial))
        .await;
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
    let kept = kept_flushed(&h).await;
    let assertion = only(&kept, Direction::Sent, MessageKind::Assertion);
    let sent = only(&kept, Direction::Sent, MessageKind::LogoutRequest);
    assert_eq!(sent.binding, Binding::Soap);
    assert_eq!(
        sent.session, assertion.session,
        "one session, one reference"
    );
    assert!(verifies(&sent.content, QName::LOGOUT_REQUEST, &cert));
    let answer = only(&kept, Direction::Received, MessageKind::LogoutResponse);
    assert_eq!(
        answer.in_response_to.as_deref(),
        Some(sent.message_id.as_str())
    );
    assert!(verifies(
        &answer.content,
        QName::LOGOUT_RESPONSE,
        &the_service_certificate()
    ));
    assert!(
        answer
            .content
            .contains(&format!("ID=\"{}\"", answer.message_id))
    );
}

#[tokio::test]
async fn an_unsigned_back_channel_answer_is_not_kept() {
    let h = Harness::new().await;
    slo::register_with_slo(&h, &["redirect", "soap"]);
    h.notifier
        .soap_unsigned
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let code = h
        .login_as(&mut client, RP_A, &h.person("anna", Loa::Substantial))
        .await;
    let (id_token, _) = h.id_token(RP_A, &code).await;
    read(
        &h.get(&mut client, &Request::new(&h).redirect()).await,
        &cert,
    );
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", &id_token)
        .finish();
    h.get(&mut client, &format!("/logout?{query}")).await;
    let kept = kept_flushed(&h).await;
    only(&kept, Direction::Sent, MessageKind::LogoutRequest);
    assert!(
        !kept.iter().any(|m| m.kind == MessageKind::LogoutResponse),
        "{kept:#?}"
    );
}

/// An audit log that refuses any batch keeping an assertion.
struct RefusingAssertions(Arc<SqlDurable>);

#[async_trait]
impl AuditLog for RefusingAssertions {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.0.append(events).await
    }
    async fn append_with_messages(
        &self,
        events: &[AuditEvent],
        messages: &[ProtocolMessage],
    ) -> Result<(), StoreError> {
        if messages.iter().any(|m| m.kind == MessageKind::Assertion) {
            return Err(StoreError::Unavailable("refused for the test".into()));
        }
        self.0.append_with_messages(events, messages).await
    }
    async fn for_person(
        &self,
        person: uuid::Uuid,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.0.for_person(person, limit).await
    }
    async fn by_kind_since(
        &self,
        kind: &str,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.0.by_kind_since(kind, since, limit).await
    }
}

#[tokio::test]
async fn no_response_goes_out_unless_its_assertion_is_kept() {
    let h = Harness::with_audit_log(|durable| Arc::new(RefusingAssertions(durable))).await;
    h.upstream.answer(h.person("anna", Loa::Substantial));
    let mut client = Client::new();
    let to_upstream = h.get(&mut client, &Request::new(&h).redirect()).await;
    assert!(to_upstream.goes_to(UPSTREAM_AUTHORIZE), "{to_upstream:?}");
    let back = h.callback(&mut client, &to_upstream).await;
    // The service hears that the login could not be answered; no assertion leaves.
    let answered = read(&back, &broker_certificate(&h).await);
    assert!(answered.has_status("Responder"), "{}", answered.response);
    assert!(answered.assertion.is_none());
    assert!(h.audited("saml.response_issued").await.is_empty());
    let kept = kept_flushed(&h).await;
    assert!(kept.iter().all(|m| m.kind != MessageKind::Assertion));
}

#[tokio::test]
async fn the_admin_api_needs_the_token_and_bounds_its_query() {
    let h = Harness::new().await;
    assert_eq!(admin_get(&h, "", None).await.status, 401);
    assert_eq!(
        admin_get(&h, "", Some("wrong-token-0123456789"))
            .await
            .status,
        401
    );
    for bad in [
        "limit=0",
        "limit=1001",
        "since=yesterday",
        "peer=",
        "cpr=0101010101",
        "peer=a&peer=b",
    ] {
        let reply = admin_get(&h, bad, Some(ADMIN_TOKEN)).await;
        assert_eq!(reply.status, 400, "{bad}: {reply:?}");
        assert!(reply.body.contains("\"error\""), "{reply:?}");
    }
    // A login's messages: found by peer and time, not for another peer or a later time.
    h.upstream.answer(h.person("anna", Loa::Substantial));
    let mut client = Client::new();
    let to_upstream = h.get(&mut client, &Request::new(&h).redirect()).await;
    h.callback(&mut client, &to_upstream).await;
    assert_eq!(kept(&h).await.len(), 2);
    let read_json = |reply: harness::Reply| {
        assert_eq!(reply.status, 200, "{reply:?}");
        let v: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        v["messages"].as_array().unwrap().len()
    };
    let later = (h.clock.now() + time::Duration::seconds(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let later: String = url::form_urlencoded::byte_serialize(later.as_bytes()).collect();
    assert_eq!(
        read_json(admin_get(&h, &format!("since={later}"), Some(ADMIN_TOKEN)).await),
        0
    );
    assert_eq!(
        read_json(admin_get(&h, "peer=https%3A%2F%2Fother.example", Some(ADMIN_TOKEN)).await),
        0
    );
    assert_eq!(
        read_json(admin_get(&h, "limit=1", Some(ADMIN_TOKEN)).await),
        1
    );
    assert_eq!(read_json(admin_get(&h, "", Some(ADMIN_TOKEN)).await), 2);
}
