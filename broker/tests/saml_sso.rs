//! The SAML IdP frontend end to end through the router: login through SAML, single sign-on from an
//! OIDC login, ForceAuthn, IsPassive, step-up, and every refusal of a request that cannot be
//! verified (an error page, audited, never a Response).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use eid_core::Loa;
use eid_saml::binding::SigAlg;
use harness::saml::{self, ACS, HIGH, Request, SP, SP_SECTOR, broker_certificate, is_post, read};
use harness::{BrokerClient, BrokerReply, Client, Harness, RP_A, UPSTREAM, UPSTREAM_AUTHORIZE};

fn expected_name_id(subject: &str) -> String {
    eid_broker::core::pairwise::PairwiseKey::new(&harness::PAIRWISE)
        .unwrap()
        .subject(SP_SECTOR, &format!("{UPSTREAM}:{subject}"))
}

/// A SAML login through the fake upstream: the POST page back to the service.
async fn saml_login(h: &Harness, client: &mut Client, path: &str) -> harness::Reply {
    let to_upstream = h.get(client, path).await;
    assert!(
        to_upstream.goes_to(UPSTREAM_AUTHORIZE),
        "expected the upstream: {to_upstream:?}"
    );
    h.callback(client, &to_upstream).await
}

#[tokio::test]
async fn a_saml_login_answers_with_a_signed_and_encrypted_assertion() {
    let h = Harness::new().await;
    let cert = broker_certificate(&h).await;
    let mut person = h.person("anna", Loa::Substantial);
    person.given_name = Some("Anna".into());
    person.family_name = Some("Jensen".into());
    h.upstream.answer(person.clone());
    let mut client = Client::new();
    let request = Request::new(&h);
    let back = saml_login(&h, &mut client, &request.redirect()).await;
    // An auto-submitting form: the script is a file (no inline script), a button without it.
    assert!(
        back.body
            .contains("<script src=\"/static/saml-post.js\"></script>")
    );
    assert!(back.body.contains("<noscript>"));
    assert!(back.body.contains("Fortsæt til tjenesten"));
    let script = h.get(&mut Client::new(), "/static/saml-post.js").await;
    assert!(
        script
            .body
            .contains("getElementById(\"saml-post\").submit()")
    );
    let answered = read(&back, &cert);
    assert_eq!(answered.action, ACS);
    assert_eq!(answered.relay_state.as_deref(), Some("relay-1"));
    assert!(answered.has_status("Success"), "{}", answered.response);
    assert!(
        answered
            .response
            .contains(&format!("InResponseTo=\"{}\"", request.id))
    );
    let assertion = answered.assertion.as_deref().unwrap();
    assert_eq!(answered.name_id(), expected_name_id("anna"));
    assert!(assertion.contains(&format!("Recipient=\"{ACS}\"")));
    assert!(assertion.contains(&format!("<saml:Audience>{SP}</saml:Audience>")));
    assert!(assertion.contains("urn:oasis:names:tc:SAML:2.0:cm:bearer"));
    assert!(assertion.contains("SessionIndex=\""));
    assert!(assertion.contains(">OIO-SAML-3.0<"));
    assert!(assertion.contains(">Substantial<"));
    assert!(assertion.contains(">Anna<"));
    assert!(client.has_session());
    let issued = h.audited("saml.response_issued").await;
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].person, Some(person.audit_id));
    assert_eq!(issued[0].details["loa"], "Substantial");
    assert_eq!(issued[0].details["attributes"], serde_json::json!(["name"]));
}

#[tokio::test]
async fn a_posted_request_is_answered_too() {
    let h = Harness::new().await;
    let cert = broker_certificate(&h).await;
    h.upstream.answer(h.person("anna", Loa::Substantial));
    let mut client = Client::new();
    let field = Request::new(&h).posted_signed(&saml::sp_key());
    // Without our cookies it is first posted back through our own page (saml_cross_site.rs).
    let repost = h
        .post(
            &mut client,
            "/saml/sso",
            &[("SAMLRequest", &field), ("RelayState", "r2")],
        )
        .await;
    assert_eq!(repost.input("reposted"), "1", "{repost:?}");
    let to_upstream = h
        .post(
            &mut client,
            "/saml/sso",
            &[
                ("SAMLRequest", &repost.input("SAMLRequest")),
                ("RelayState", &repost.input("RelayState")),
                ("reposted", "1"),
            ],
        )
        .await;
    assert!(to_upstream.goes_to(UPSTREAM_AUTHORIZE), "{to_upstream:?}");
    let back = h.callback(&mut client, &to_upstream).await;
    let answered = read(&back, &cert);
    assert!(answered.has_status("Success"));
    assert_eq!(answered.relay_state.as_deref(), Some("r2"));
}

#[tokio::test]
async fn an_oidc_session_serves_a_saml_service_without_a_new_login() {
    let h = Harness::new().await;
    let cert = broker_certificate(&h).await;
    let person = h.person("anna", Loa::Substantial);
    let mut client = Client::new();
    h.login_as(&mut client, RP_A, &person).await;
    let before = h.upstream.requests().len();
    let back = h.get(&mut client, &Request::new(&h).redirect()).await;
    let answered = read(&back, &cert);
    assert!(answered.has_status("Success"));
    assert_eq!(answered.name_id(), expected_name_id("anna"));
    assert_eq!(h.upstream.requests().len(), before, "no new login");
    // The session records the service (for logout), and the SessionIndex is its sid there.
    let session = eid_broker::core::SsoSession::find(
        h.broker.ephemeral.as_ref(),
        client
            .cookies
            .get(eid_broker::http::SESSION_COOKIE)
            .map(String::as_str),
    )
    .await
    .unwrap()
    .expect("the session");
    assert_eq!(session.rps, vec![RP_A.to_owned(), SP.to_owned()]);
    let index = format!("SessionIndex=\"{}\"", session.sid_for(SP));
    assert!(answered.assertion.as_deref().unwrap().contains(&index));
    let again = h.get(&mut client, &Request::new(&h).redirect()).await;
    assert!(is_post(&again));
}

#[tokio::test]
async fn force_authn_makes_a_new_login() {
    let h = Harness::new().await;
    let person = h.person("anna", Loa::Substantial);
    let mut client = Client::new();
    h.login_as(&mut client, RP_A, &person).await;
    let mut request = Request::new(&h);
    request.force = true;
    let reply = h.get(&mut client, &request.redirect()).await;
    assert!(reply.goes_to(UPSTREAM_AUTHORIZE), "{reply:?}");
    assert!(h.upstream.requests().last().unwrap().force_login);
}

#[tokio::test]
async fn is_passive_without_a_session_is_answered_no_passive() {
    let h = Harness::new().await;
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let mut request = Request::new(&h);
    request.passive = true;
    let back = h.get(&mut client, &request.redirect()).await;
    let answered = read(&back, &cert);
    assert!(answered.has_status("NoPassive"), "{}", answered.response);
    assert!(answered.assertion.is_none());
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn a_higher_requested_level_steps_up() {
    let h = Harness::new().await;
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    h.login_as(&mut client, RP_A, &h.person("anna", Loa::Substantial))
        .await;
    let mut request = Request::new(&h);
    request.min_level = Some(HIGH);
    h.upstream.answer(h.person("anna", Loa::High));
    let back = saml_login(&h, &mut client, &request.redirect()).await;
    assert_eq!(
        h.upstream.requests().last().unwrap().acr_min,
        Some(Loa::High)
    );
    let answered = read(&back, &cert);
    assert!(answered.has_status("Success"));
    assert!(answered.assertion.unwrap().contains(">High<"));
}

#[tokio::test]
async fn a_level_not_reached_is_answered_no_authn_context() {
    let h = Harness::new().await;
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let mut request = Request::new(&h);
    request.min_level = Some(HIGH);
    h.upstream.fail(eid_oidc::rp::UpstreamError::AcrTooLow {
        requested: Loa::High,
        got: Some(Loa::Substantial),
    });
    let back = saml_login(&h, &mut client, &request.redirect()).await;
    let answered = read(&back, &cert);
    assert!(
        answered.has_status("NoAuthnContext"),
        "{}",
        answered.response
    );
}

/// The request is refused with an error page, audited with `reason`, and nothing is posted.
async fn assert_refused(h: &Harness, reply: &harness::Reply, reason: &str) {
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(!reply.body.contains("SAMLResponse"), "{reply:?}");
    assert!(!reply.body.contains(ACS));
    assert!(h.upstream.requests().is_empty());
    let rejected = h.audited("saml.rejected").await;
    assert!(
        rejected
            .iter()
            .any(|e| e.details.to_string().contains(reason)),
        "no saml.rejected with {reason:?}: {rejected:?}"
    );
}

#[tokio::test]
async fn an_unsigned_request_is_refused() {
    let h = Harness::new().await;
    let mut client = Client::new();
    let reply = h
        .get(&mut client, &Request::new(&h).redirect_unsigned())
        .await;
    assert_refused(&h, &reply, "not signed").await;
    // Posted without an XML signature.
    let unsigned = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        Request::new(&h).xml(),
    );
    let reply = h
        .post(&mut client, "/saml/sso", &[("SAMLRequest", &unsigned)])
        .await;
    assert_refused(&h, &reply, "signature").await;
}

#[tokio::test]
async fn a_request_signed_with_another_key_is_refused() {
    let h = Harness::new().await;
    let mut client = Client::new();
    let path = Request::new(&h).redirect_signed(&saml::wrong_key(), SigAlg::RsaSha256);
    let reply = h.get(&mut client, &path).await;
    assert_refused(&h, &reply, "does not verify").await;
    let field = Request::new(&h).posted_signed(&saml::wrong_key());
    let reply = h
        .post(&mut client, "/saml/sso", &[("SAMLRequest", &field)])
        .await;
    assert_refused(&h, &reply, "signature:").await;
    // The issuer was only claimed: the refusals are not written as the service's events (anyone
    // could name it), but as budgeted noise with the claimed issuer as a detail.
    let rejected = h.audited("saml.rejected").await;
    assert_eq!(rejected.len(), 2);
    for event in rejected {
        assert_eq!(event.client, None, "{event:?}");
        assert_eq!(event.details["claimed_issuer"], saml::SP, "{event:?}");
    }
}

fn replace_param(path: &str, name: &str, value: Option<&str>) -> String {
    let (base, query) = path.split_once('?').unwrap();
    let parts: Vec<String> = query
        .split('&')
        .filter_map(|p| match p.split_once('=') {
            Some((n, _)) if n == name => value.map(|v| format!("{n}={v}")),
            _ => Some(p.to_owned()),
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

#[tokio::test]
async fn a_missing_unknown_or_mismatched_sig_alg_is_refused() {
    let h = Harness::new().await;
    let mut client = Client::new();
    let signed = Request::new(&h).redirect();
    let missing = replace_param(&signed, "SigAlg", None);
    let reply = h.get(&mut client, &missing).await;
    assert_refused(&h, &reply, "not signed").await;
    let sha1 = replace_param(
        &Request::new(&h).redirect(),
        "SigAlg",
        Some("http%3A%2F%2Fwww.w3.org%2F2000%2F09%2Fxmldsig%23rsa-sha1"),
    );
    let reply = h.get(&mut client, &sha1).await;
    assert_refused(&h, &reply, "SigAlg is not an accepted algorithm").await;
    let ecdsa = Request::new(&h).redirect_signed(&saml::sp_key(), SigAlg::EcdsaSha256);
    let reply = h.get(&mut client, &ecdsa).await;
    assert_refused(&h, &reply, "SigAlg does not match").await;
}

#[tokio::test]
async fn a_stale_or_future_request_is_refused() {
    let h = Harness::new().await;
    let mut client = Client::new();
    let mut stale = Request::new(&h);
    stale.issue_instant -= time::Duration::minutes(6);
    let reply = h.get(&mut client, &stale.redirect()).await;
    assert_refused(&h, &reply, "IssueInstant is too old").await;
    let mut future = Request::new(&h);
    future.issue_instant += time::Duration::minutes(6);
    let reply = h.get(&mut client, &future.redirect()).await;
    assert_refused(&h, &reply, "IssueInstant is in the future").await;
}

#[tokio::test]
async fn a_replayed_request_id_is_refused() {
    let h = Harness::new().await;
    let mut client = Client::new();
    let mut request = Request::new(&h);
    request.passive = true;
    let first = h.get(&mut client, &request.redirect()).await;
    assert!(is_post(&first));
    let reply = h.get(&mut client, &request.redirect()).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(!reply.body.contains("SAMLResponse"));
    let rejected = h.audited("saml.rejected").await;
    assert!(
        rejected
            .iter()
            .any(|e| e.details.to_string().contains("used before")),
        "{rejected:?}"
    );
}

#[tokio::test]
async fn an_acs_not_in_metadata_is_refused() {
    let h = Harness::new().await;
    let mut client = Client::new();
    let mut request = Request::new(&h);
    request.acs = Some("https://evil.example/acs".into());
    let reply = h.get(&mut client, &request.redirect()).await;
    assert_refused(&h, &reply, "not in the service's metadata").await;
    assert!(!reply.body.contains("evil.example"));
}

#[tokio::test]
async fn a_wrong_destination_is_refused() {
    let h = Harness::new().await;
    let mut client = Client::new();
    let mut request = Request::new(&h);
    request.destination = Some("https://other.example/saml/sso".into());
    let reply = h.get(&mut client, &request.redirect()).await;
    assert_refused(&h, &reply, "Destination is not this endpoint").await;
}

#[tokio::test]
async fn an_unknown_issuer_is_refused() {
    let h = Harness::new().await;
    let mut client = Client::new();
    let mut request = Request::new(&h);
    request.issuer = "https://unknown.example/sp".into();
    let reply = h.get(&mut client, &request.redirect()).await;
    assert_refused(&h, &reply, "unknown issuer").await;
    assert!(reply.body.contains("lang=\"da\""));
    // In the person's language.
    let mut english = Client::new();
    english.headers.push(("accept-language", "en".into()));
    request.id = format!("{}-2", request.id);
    let reply = h.get(&mut english, &request.redirect()).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("lang=\"en\""), "{reply:?}");
}

#[tokio::test]
async fn version_1_1_is_refused() {
    let h = Harness::new().await;
    let mut client = Client::new();
    let mut request = Request::new(&h);
    request.version = "1.1";
    let reply = h.get(&mut client, &request.redirect()).await;
    assert_refused(&h, &reply, "Version must be 2.0").await;
}

#[tokio::test]
async fn the_metadata_is_signed_and_names_the_sso_service() {
    let h = Harness::new().await;
    broker_certificate(&h).await;
    let mut client = Client::new();
    let reply = h.get(&mut client, "/saml/metadata").await;
    assert!(reply.body.contains("http://localhost:8080/saml/sso"));
    assert!(reply.body.contains("WantAuthnRequestsSigned=\"true\""));
    assert!(reply.body.contains("use=\"encryption\""));
    assert!(reply.body.contains("validUntil=\""));
    // Unauthenticated, so not an RSA signature per request: the same signed document is served
    // again, and signed anew (with a fresh validUntil) only after an hour.
    let again = h.get(&mut client, "/saml/metadata").await;
    assert_eq!(again.body, reply.body);
    h.clock.advance(time::Duration::minutes(61));
    let later = h.get(&mut client, "/saml/metadata").await;
    assert_ne!(later.body, reply.body);
}

#[tokio::test]
async fn cancelling_on_the_chooser_is_answered_authn_failed() {
    let h = Harness::two_upstreams().await;
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let chooser = h.get(&mut client, &Request::new(&h).redirect()).await;
    assert!(chooser.is_chooser(), "{chooser:?}");
    assert!(chooser.body.contains("SAML service"), "the service's name");
    let cancelled = h
        .post(
            &mut client,
            "/login/cancel",
            &[
                ("tx", &chooser.input("tx")),
                ("csrf", &chooser.input("csrf")),
            ],
        )
        .await;
    let answered = read(&cancelled, &cert);
    assert!(answered.has_status("AuthnFailed"), "{}", answered.response);
    assert!(answered.assertion.is_none());
}

#[tokio::test]
async fn a_verified_request_the_broker_cannot_serve_is_told_so_at_its_acs() {
    let h = Harness::new().await;
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    let mut exact = Request::new(&h);
    exact.min_level = Some(HIGH);
    exact.comparison = "exact";
    let answered = read(&h.get(&mut client, &exact.redirect()).await, &cert);
    assert_eq!(answered.action, ACS);
    assert!(
        answered.has_status("NoAuthnContext"),
        "{}",
        answered.response
    );
    let mut transient = Request::new(&h);
    transient.name_id_format = Some("urn:oasis:names:tc:SAML:2.0:nameid-format:transient");
    let answered = read(&h.get(&mut client, &transient.redirect()).await, &cert);
    assert!(
        answered.has_status("RequestUnsupported"),
        "{}",
        answered.response
    );
    let mut persistent = Request::new(&h);
    persistent.name_id_format = Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent");
    let reply = h.get(&mut client, &persistent.redirect()).await;
    assert!(reply.goes_to(UPSTREAM_AUTHORIZE), "{reply:?}");
    assert!(h.upstream.requests().len() == 1);
    assert_eq!(h.audited("saml.rejected").await.len(), 2);
}
