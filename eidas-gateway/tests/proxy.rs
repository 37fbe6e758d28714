//! The proxy service end to end, in-process: a foreign connector's signed AuthnRequest → login at
//! the (stand-in) broker → consent → the signed Response with its encrypted assertion, read as the
//! connector reads it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod proxy_support;

use eid_core::{AuditOutcome, Loa};
use eid_saml::eidas::{
    DATE_OF_BIRTH, EidasAssertion, EidasLoa, FAMILY_NAME, GIVEN_NAME, NodeRole, ReadResponse,
    SubStatus, TopStatus,
};
use eid_web::testing::Client;
use proxy_support::*;

/// Logs Karen in through `c` and sends her details; the assertion as the connector reads it.
async fn login_via(env: &Env, c: &Connector, loa: EidasLoa) -> EidasAssertion {
    let mut browser = Client::new();
    let request = request(c, loa);
    let sso = post_request(env, &mut browser, &signed(&request, c.party), "relay-1").await;
    let back = through_broker(env, &mut browser, &sso).await;
    assert_eq!(back.location.as_deref(), Some("/eidas/proxy/consent"));
    let sent = consent(env, &mut browser, "send").await;
    match read_as(env, c, &sent, &request.id, loa) {
        ReadResponse::Success(a) => a,
        other => panic!("expected a success, got {other:?}"),
    }
}

#[tokio::test]
async fn a_danish_citizen_logs_in_to_a_foreign_service() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let request = request(&env.xa, EidasLoa::Substantial);
    let sso = post_request(
        &env,
        &mut browser,
        &signed(&request, env.xa.party),
        "relay-1",
    )
    .await;

    // The broker is asked for the level, with a fresh login, in the citizen's language.
    let back = through_broker(&env, &mut browser, &sso).await;
    let asked = env.op.authorize_requests.lock().unwrap()[0].clone();
    assert_eq!(asked["acr_values"], Loa::Substantial.as_uri());
    assert_eq!(asked["prompt"], "login");

    // The consent page names country, service, each value and the level.
    assert_eq!(back.location.as_deref(), Some("/eidas/proxy/consent"));
    let page = eid_web::testing::get(&env.router, &mut browser, "/eidas/proxy/consent").await;
    for expected in [
        "Xanadu (demo)",
        "Xanadu Tax Office",
        "Karen",
        "Jensen",
        "1970-01-01",
        "DK/XA/",
    ] {
        assert!(page.body.contains(expected), "{expected} in {}", page.body);
    }
    assert!(!page.body.contains("0101701234"));
    assert!(!page.body.contains("pairwise-karen"));

    let sent = consent(&env, &mut browser, "send").await;
    let (_, fields) = posted_form(&sent);
    assert_eq!(fields["RelayState"], "relay-1");
    assert!(!response_xml(&sent).contains("0101701234"));
    let ReadResponse::Success(a) =
        read_as(&env, &env.xa, &sent, &request.id, EidasLoa::Substantial)
    else {
        panic!("no success");
    };
    let id = a.person_identifier().unwrap();
    assert_eq!(id.issuing_country(), "DK");
    assert_eq!(id.destination_country(), "XA");
    let pseudonym = &id.as_str()[6..];
    assert_eq!(pseudonym.len(), 64);
    assert!(pseudonym.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(a.name_id, id.as_str());
    assert_eq!(a.attribute(GIVEN_NAME.name).unwrap().latin(), Some("Karen"));
    assert_eq!(
        a.attribute(FAMILY_NAME.name).unwrap().latin(),
        Some("Jensen")
    );
    assert_eq!(
        a.attribute(DATE_OF_BIRTH.name).unwrap().latin(),
        Some("1970-01-01")
    );
    assert_eq!(a.loa, EidasLoa::Substantial);

    let given = env.audited("eidas_proxy.consent.given").await;
    assert_eq!(given.len(), 1);
    assert_eq!(given[0].client.as_deref(), Some(env.xa.entity_id.as_str()));
    let detail = given[0].details.to_string();
    assert!(!detail.contains("Karen") && !detail.contains("DK/XA/"));
    // The login is over: its consent cannot be sent twice.
    let again = consent_post_only(&env, &mut browser).await;
    assert!(matches!(again, 400 | 403), "{again}");
}

async fn consent_post_only(env: &Env, browser: &mut Client) -> u16 {
    let csrf =
        eid_web::browser::csrf_for(browser.cookies.get("eidas_proxy_login").map_or("", |s| s));
    eid_web::testing::post(
        &env.router,
        browser,
        "/eidas/proxy/consent",
        &[("csrf", &csrf), ("decision", "send")],
    )
    .await
    .status
}

#[tokio::test]
async fn declining_sends_request_denied_and_no_assertion() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let request = request(&env.xa, EidasLoa::Substantial);
    let sso = post_request(&env, &mut browser, &signed(&request, env.xa.party), "r").await;
    through_broker(&env, &mut browser, &sso).await;
    let declined = consent(&env, &mut browser, "decline").await;
    let xml = response_xml(&declined);
    assert!(!xml.contains("EncryptedAssertion") && !xml.contains("Assertion "));
    match read_as(&env, &env.xa, &declined, &request.id, EidasLoa::Substantial) {
        ReadResponse::Failure(s) => assert_eq!(s.sub, Some(SubStatus::RequestDenied)),
        other => panic!("{other:?}"),
    }
    let audited = env.audited("eidas_proxy.consent.declined").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].outcome, AuditOutcome::Failure);
}

#[tokio::test]
async fn cancelling_at_the_broker_sends_request_denied() {
    let env = Env::new().await;
    env.broker_answers(BrokerLogin {
        error: Some("access_denied".into()),
        ..BrokerLogin::karen()
    });
    let mut browser = Client::new();
    let request = request(&env.xa, EidasLoa::Substantial);
    let sso = post_request(&env, &mut browser, &signed(&request, env.xa.party), "r").await;
    let back = through_broker(&env, &mut browser, &sso).await;
    match read_as(&env, &env.xa, &back, &request.id, EidasLoa::Substantial) {
        ReadResponse::Failure(s) => {
            assert_eq!(s.top, TopStatus::Requester);
            assert_eq!(s.sub, Some(SubStatus::RequestDenied));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_minimum_level_accepts_higher_and_refuses_lower() {
    let env = Env::new().await;
    env.broker_answers(BrokerLogin {
        loa: Loa::High,
        ..BrokerLogin::karen()
    });
    let a = login_via(&env, &env.xa, EidasLoa::Substantial).await;
    assert_eq!(a.loa, EidasLoa::High);

    env.broker_answers(BrokerLogin {
        loa: Loa::Substantial,
        ..BrokerLogin::karen()
    });
    let mut browser = Client::new();
    let request = request(&env.xa, EidasLoa::High);
    let sso = post_request(&env, &mut browser, &signed(&request, env.xa.party), "r").await;
    let back = through_broker(&env, &mut browser, &sso).await;
    match read_as(&env, &env.xa, &back, &request.id, EidasLoa::High) {
        ReadResponse::Failure(s) => assert_eq!(s.sub, Some(SubStatus::NoAuthnContext)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_person_who_logged_in_with_a_foreign_eid_is_not_identified_as_danish() {
    let env = Env::new().await;
    env.broker_answers(BrokerLogin {
        amr: vec!["eidas".into()],
        cpr: None,
        ..BrokerLogin::karen()
    });
    let mut browser = Client::new();
    let request = request(&env.xa, EidasLoa::Substantial);
    let sso = post_request(&env, &mut browser, &signed(&request, env.xa.party), "r").await;
    let back = through_broker(&env, &mut browser, &sso).await;
    match read_as(&env, &env.xa, &back, &request.id, EidasLoa::Substantial) {
        ReadResponse::Failure(s) => assert_eq!(s.sub, Some(SubStatus::RequestDenied)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_exact_level_refuses_a_higher_one() {
    let env = Env::new().await;
    env.broker_answers(BrokerLogin {
        loa: Loa::High,
        ..BrokerLogin::karen()
    });
    let mut browser = Client::new();
    let request = request(&env.xa, EidasLoa::Substantial);
    let saml = signed_edited(&request, env.xa.party, |xml| {
        assert!(xml.contains("Comparison=\"minimum\""));
        xml.replace("Comparison=\"minimum\"", "Comparison=\"exact\"")
    });
    let sso = post_request(&env, &mut browser, &saml, "r").await;
    let back = through_broker(&env, &mut browser, &sso).await;
    match read_as(&env, &env.xa, &back, &request.id, EidasLoa::Substantial) {
        ReadResponse::Failure(s) => assert_eq!(s.sub, Some(SubStatus::NoAuthnContext)),
        other => panic!("{other:?}"),
    }
    // The same level exactly is fine.
    env.broker_answers(BrokerLogin::karen());
    let mut browser = Client::new();
    let request = request_exact(&env);
    let sso = post_request(&env, &mut browser, &request.1, "r").await;
    through_broker(&env, &mut browser, &sso).await;
    let sent = consent(&env, &mut browser, "send").await;
    assert!(matches!(
        read_as(&env, &env.xa, &sent, &request.0, EidasLoa::Substantial),
        ReadResponse::Success(_)
    ));
}

fn request_exact(env: &Env) -> (String, String) {
    let request = request(&env.xa, EidasLoa::Substantial);
    let saml = signed_edited(&request, env.xa.party, |xml| {
        xml.replace("Comparison=\"minimum\"", "Comparison=\"exact\"")
    });
    (request.id, saml)
}

#[tokio::test]
async fn pseudonyms_are_stable_per_country_and_differ_between_countries() {
    let env = Env::new().await;
    let first = login_via(&env, &env.xa, EidasLoa::Low).await;
    let second = login_via(&env, &env.xa, EidasLoa::Low).await;
    let other_country = login_via(&env, &env.xb, EidasLoa::Low).await;
    let (a, b, c) = (
        first.person_identifier().unwrap(),
        second.person_identifier().unwrap(),
        other_country.person_identifier().unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(c.destination_country(), "XB");
    assert_ne!(&a.as_str()[6..], &c.as_str()[6..]);
    // Another person gets another pseudonym.
    env.broker_answers(BrokerLogin {
        sub: "pairwise-someone-else".into(),
        ..BrokerLogin::karen()
    });
    let someone = login_via(&env, &env.xa, EidasLoa::Low).await;
    assert_ne!(someone.person_identifier().unwrap(), a);
}

#[tokio::test]
async fn a_transient_name_id_is_not_the_person_identifier() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let mut request = request(&env.xa, EidasLoa::Low);
    request.name_id_format = Some("urn:oasis:names:tc:SAML:2.0:nameid-format:transient".into());
    let sso = post_request(&env, &mut browser, &signed(&request, env.xa.party), "r").await;
    through_broker(&env, &mut browser, &sso).await;
    let sent = consent(&env, &mut browser, "send").await;
    let ReadResponse::Success(a) = read_as(&env, &env.xa, &sent, &request.id, EidasLoa::Low) else {
        panic!("no success");
    };
    let id = a.person_identifier().unwrap();
    assert_ne!(a.name_id, id.as_str());
    assert!(!a.name_id.contains(&id.as_str()[6..]));
}

#[tokio::test]
async fn a_required_attribute_the_broker_did_not_release_fails_the_login() {
    let env = Env::new().await;
    env.broker_answers(BrokerLogin {
        birthdate: None,
        ..BrokerLogin::karen()
    });
    let mut browser = Client::new();
    let request = request(&env.xa, EidasLoa::Low);
    let sso = post_request(&env, &mut browser, &signed(&request, env.xa.party), "r").await;
    let back = through_broker(&env, &mut browser, &sso).await;
    match read_as(&env, &env.xa, &back, &request.id, EidasLoa::Low) {
        ReadResponse::Failure(s) => assert_eq!(s.sub, Some(SubStatus::InvalidAttrNameOrValue)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_metadata_is_signed_and_names_the_sso_endpoint_and_levels() {
    let env = Env::new().await;
    assert_eq!(env.gateway_metadata.node_country, "DK");
    assert_eq!(
        env.gateway_metadata.entity_id,
        "http://127.0.0.1:8083/eidas/proxy/metadata"
    );
    match &env.gateway_metadata.role {
        NodeRole::ProxyService { sso_url, loas, .. } => {
            assert_eq!(sso_url, SSO);
            assert_eq!(loas.len(), 3);
        }
        other => panic!("{other:?}"),
    }
    assert!(env.gateway_metadata.encryption_certificate.is_some());
}
