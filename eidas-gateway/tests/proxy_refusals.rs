//! What the proxy service refuses: requests it cannot verify get an error page (never an answer
//! to an unverified address), verified requests that break a rule get a signed failure Response,
//! and a login belongs to the browser that started it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod proxy_support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use eid_core::AuditOutcome;
use eid_saml::eidas::{EidasLoa, ReadResponse, RequestedAttribute, SpType, TopStatus};
use eid_web::testing::{self as web, Client, Reply};
use proxy_support::*;

/// An error page: no form to any connector, no login cookie.
fn assert_refused_page(reply: &Reply, browser: &Client, status: u16) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(!reply.body.contains("SAMLResponse"), "{}", reply.body);
    assert!(reply.location.is_none());
    assert!(!browser.has_cookie("eidas_proxy_login"));
}

#[tokio::test]
async fn a_request_from_an_unknown_connector_gets_a_page_and_is_audited() {
    let env = Env::new().await;
    let mut stranger = request(&env.xa, EidasLoa::Low);
    stranger.issuer = format!("{}/zz/metadata", env.base);
    let mut browser = Client::new();
    let reply = post_request(&env, &mut browser, &signed(&stranger, env.xa.party), "r").await;
    assert_refused_page(&reply, &browser, 403);
    let audited = env.audited("eidas_proxy.request").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].outcome, AuditOutcome::Failure);
    assert_eq!(audited[0].details["reason"], "unknown_connector");
    assert!(env.op.authorize_requests.lock().unwrap().is_empty());
    assert!(
        reply.body.contains("Tjenesten kendes ikke"),
        "{}",
        reply.body
    );
    let mut english = Client::new();
    english
        .headers
        .push(("accept-language", "en-GB, da;q=0.5".into()));
    let reply = post_request(&env, &mut english, &signed(&stranger, env.xa.party), "r").await;
    assert!(reply.body.contains("Unknown service"), "{}", reply.body);
    assert!(reply.body.contains("lang=\"en\""));
}

#[tokio::test]
async fn an_unsigned_request_gets_a_page() {
    let env = Env::new().await;
    let r = request(&env.xa, EidasLoa::Low);
    let xml = r
        .to_signed_xml(
            &env.xa.party.key,
            eid_saml::dsig::SignatureAlg::RsaPssSha256,
            &env.xa.party.cert,
        )
        .unwrap();
    let unsigned = STANDARD.encode(strip_signature(&xml));
    let mut browser = Client::new();
    let reply = post_request(&env, &mut browser, &unsigned, "r").await;
    assert_refused_page(&reply, &browser, 400);
    assert_eq!(env.audited("eidas_proxy.request").await.len(), 1);
}

#[tokio::test]
async fn a_request_signed_by_another_key_gets_a_page() {
    let env = Env::new().await;
    let r = request(&env.xa, EidasLoa::Low);
    let mut browser = Client::new();
    let reply = post_request(&env, &mut browser, &signed(&r, &keys().rogue), "r").await;
    assert_refused_page(&reply, &browser, 400);
    // Signed by XB's key (a configured peer, but not the issuer).
    let reply = post_request(&env, &mut browser, &signed(&r, env.xb.party), "r").await;
    assert_refused_page(&reply, &browser, 400);
    assert!(env.op.authorize_requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_new_signing_key_is_fetched_once_the_old_metadata_is_old_enough() {
    let env = Env::new().await;
    let first = post_request(
        &env,
        &mut Client::new(),
        &signed(&request(&env.xa, EidasLoa::Low), env.xa.party),
        "r",
    )
    .await;
    assert_eq!(first.status, 303);
    env.xa_rolls_over_to(&keys().rogue);
    // Just fetched: no new fetch yet, the new key is unknown.
    let mut browser = Client::new();
    let early = post_request(
        &env,
        &mut browser,
        &signed(&request(&env.xa, EidasLoa::Low), &keys().rogue),
        "r",
    )
    .await;
    assert_refused_page(&early, &browser, 400);
    env.clock.advance(time::Duration::seconds(31));
    let later = post_request(
        &env,
        &mut browser,
        &signed(&request(&env.xa, EidasLoa::Low), &keys().rogue),
        "r",
    )
    .await;
    assert_eq!(later.status, 303, "{}", later.body);
}

#[tokio::test]
async fn a_request_id_is_used_once() {
    let env = Env::new().await;
    let r = request(&env.xa, EidasLoa::Low);
    let saml = signed(&r, env.xa.party);
    let first = post_request(&env, &mut Client::new(), &saml, "r").await;
    assert_eq!(first.status, 303);
    let mut replayer = Client::new();
    let second = post_request(&env, &mut replayer, &saml, "r").await;
    assert_refused_page(&second, &replayer, 400);
    let audited = env.audited("eidas_proxy.request").await;
    assert!(
        audited
            .iter()
            .any(|e| e.details["reason"] == "replayed_request_id")
    );
}

#[tokio::test]
async fn sp_type_in_both_request_and_metadata_gets_a_signed_failure() {
    let env = Env::new().await;
    let mut r = request(&env.xa, EidasLoa::Low);
    r.sp_type = Some(SpType::Public);
    let mut browser = Client::new();
    let reply = post_request(&env, &mut browser, &signed(&r, env.xa.party), "relay-x").await;
    let (_, fields) = posted_form(&reply);
    assert_eq!(fields["RelayState"], "relay-x");
    match read_as(&env, &env.xa, &reply, &r.id, EidasLoa::Low) {
        ReadResponse::Failure(s) => assert_eq!(s.top, TopStatus::Requester),
        other => panic!("{other:?}"),
    }
    assert!(env.op.authorize_requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_required_legal_person_attribute_gets_a_signed_failure_at_once() {
    let env = Env::new().await;
    let mut r = request(&env.xa, EidasLoa::Low);
    r.requested.push(RequestedAttribute {
        name: "http://eidas.europa.eu/attributes/legalperson/LegalName".into(),
        required: true,
    });
    r.requested.push(RequestedAttribute {
        name: "http://eidas.europa.eu/attributes/legalperson/LegalPersonIdentifier".into(),
        required: true,
    });
    let mut browser = Client::new();
    let reply = post_request(&env, &mut browser, &signed(&r, env.xa.party), "r").await;
    assert!(matches!(
        read_as(&env, &env.xa, &reply, &r.id, EidasLoa::Low),
        ReadResponse::Failure(_)
    ));
    assert!(env.op.authorize_requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_long_relay_state_or_broken_form_gets_a_page() {
    let env = Env::new().await;
    let r = request(&env.xa, EidasLoa::Low);
    let saml = signed(&r, env.xa.party);
    let mut browser = Client::new();
    let reply = post_request(&env, &mut browser, &saml, &"r".repeat(81)).await;
    assert_refused_page(&reply, &browser, 400);
    let twice = web::post(
        &env.router,
        &mut browser,
        "/eidas/proxy/sso",
        &[("SAMLRequest", &saml), ("SAMLRequest", &saml)],
    )
    .await;
    assert_refused_page(&twice, &browser, 400);
    let garbage = web::post(
        &env.router,
        &mut browser,
        "/eidas/proxy/sso",
        &[("SAMLRequest", "%%% not base64 %%%")],
    )
    .await;
    assert_refused_page(&garbage, &browser, 400);
}

#[tokio::test]
async fn the_consent_belongs_to_the_browser_that_started_the_login() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let r = request(&env.xa, EidasLoa::Low);
    let sso = post_request(&env, &mut browser, &signed(&r, env.xa.party), "r").await;
    through_broker(&env, &mut browser, &sso).await;
    let page = web::get(&env.router, &mut browser, "/eidas/proxy/consent").await;
    let csrf = page.input("csrf");

    // Another browser with the page's token, and the same browser with a token of another cookie.
    let mut other = Client::new();
    let stolen = web::post(
        &env.router,
        &mut other,
        "/eidas/proxy/consent",
        &[("csrf", &csrf), ("decision", "send")],
    )
    .await;
    assert_eq!(stolen.status, 403);
    assert!(!stolen.body.contains("SAMLResponse"));
    let view = web::get(&env.router, &mut other, "/eidas/proxy/consent").await;
    assert_eq!(view.status, 400);
    assert!(!view.body.contains("Karen"));
    let forged = web::post(
        &env.router,
        &mut browser,
        "/eidas/proxy/consent",
        &[
            ("csrf", &eid_web::browser::csrf_for("another-cookie")),
            ("decision", "send"),
        ],
    )
    .await;
    assert_eq!(forged.status, 403);
    assert!(
        env.audited("eidas_proxy.request")
            .await
            .iter()
            .any(|e| e.details["reason"] == "csrf")
    );

    // The citizen can still send.
    let sent = consent(&env, &mut browser, "send").await;
    assert!(matches!(
        read_as(&env, &env.xa, &sent, &r.id, EidasLoa::Low),
        ReadResponse::Success(_)
    ));
}

#[tokio::test]
async fn the_broker_callback_needs_the_browser_that_started_the_login() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let r = request(&env.xa, EidasLoa::Low);
    let sso = post_request(&env, &mut browser, &signed(&r, env.xa.party), "r").await;
    let mut other = Client::new();
    let reply = through_broker(&env, &mut other, &sso).await;
    assert_refused_page(&reply, &other, 400);
    // A forged state in the right browser: a signed AuthnFailed, not a login.
    let forged = web::get(
        &env.router,
        &mut browser,
        &format!(
            "/eidas/proxy/callback?code=x&state=forged&iss={}",
            url::form_urlencoded::byte_serialize(env.op.issuer.as_bytes()).collect::<String>()
        ),
    )
    .await;
    match read_as(&env, &env.xa, &forged, &r.id, EidasLoa::Low) {
        ReadResponse::Failure(s) => assert_eq!(s.top, TopStatus::Responder),
        other => panic!("{other:?}"),
    }
}
