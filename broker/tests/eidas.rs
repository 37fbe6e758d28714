//! Foreign (eIDAS) identities in the broker: the `eu_eid` upstream's claim mapping, pairwise ids
//! keyed on the PersonIdentifier, release of eIDAS claims and attributes only where allowed, never
//! a CPR number, the refusal of services that need one (OIDC and SAML), no representation choice,
//! and the `country` hint forwarded to eIDAS upstreams only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use eid_broker::core::pairwise::PairwiseKey;
use eid_core::{Clock, EidasIdentity, Loa, PersonIdentifier};
use eid_oidc::rp::UpstreamIdentity;
use harness::saml::{self, ACS, Request, SP_SECTOR, broker_certificate, read};
use harness::{
    BrokerReply, Client, EU_UPSTREAM, EU_UPSTREAM_AUTHORIZE, Harness, PAIRWISE, RP_A, RP_C, Reply,
    UPSTREAM, redirect_uri, sector,
};

/// A relying party allowed names, birth date and the eIDAS claims.
const RP_EU: &str = "rp-eu";
/// A relying party that needs a CPR number.
const RP_CPR: &str = "rp-cpr";

async fn register(h: &Harness, rp: &str, allowed: &[&str], requires_cpr: bool) {
    let doc = serde_json::json!({
        "client_id": rp, "client_name": format!("Service {rp}"),
        "client_secret": harness::secret(rp), "token_endpoint_auth_method": "client_secret_post",
        "sector": sector(rp), "redirect_uris": [redirect_uri(rp)],
        "grant_types": ["authorization_code"], "allowed_claims": allowed,
        "requires_cpr": requires_cpr,
    });
    let registration = eid_broker::http::registration_from_json(doc, None).unwrap();
    eid_core::RelyingPartyRepository::upsert_relying_party(h.durable.as_ref(), &registration)
        .await
        .unwrap();
    h.broker.refresh_registry().await.unwrap();
}

async fn harness() -> Harness {
    let h = Harness::two_upstreams().await;
    register(&h, RP_EU, &["name", "birthdate", "eidas"], false).await;
    register(&h, RP_CPR, &["cpr", "name"], true).await;
    h
}

/// What the connector vouches for about the foreign person `id`, verified.
fn foreign(h: &Harness, id: &str) -> UpstreamIdentity {
    UpstreamIdentity {
        upstream: EU_UPSTREAM.into(),
        subject: id.into(),
        loa: Loa::Substantial,
        amr: vec!["eidas".into()],
        auth_time: h.clock.now().unix_timestamp(),
        cpr: None,
        eidas: Some(EidasIdentity {
            person_identifier: PersonIdentifier::parse(id).unwrap(),
            country: id[..2].into(),
            given_name_native: Some("Μαρία".into()),
            family_name_native: None,
            legal_person: None,
        }),
        given_name: Some("Maria".into()),
        family_name: Some("Papadopoulou".into()),
        birthdate: Some("1985-04-12".into()),
        id_token: String::new(),
        sid: None,
    }
}

/// A person of the national upstream with `subject`.
fn national(h: &Harness, subject: &str) -> UpstreamIdentity {
    UpstreamIdentity {
        upstream: UPSTREAM.into(),
        subject: subject.into(),
        amr: vec!["pwd".into()],
        eidas: None,
        cpr: Some("0101701234".into()),
        given_name: Some("Anna".into()),
        ..foreign(h, "XA/DK/unused")
    }
}

fn pairwise(rp: &str, upstream: &str, subject: &str) -> String {
    PairwiseKey::new(&PAIRWISE)
        .unwrap()
        .subject(&sector(rp), &format!("{upstream}:{subject}"))
}

/// A login from `rp` through the eIDAS upstream with `extra` parameters: the broker's answer.
async fn eu_login(h: &Harness, client: &mut Client, rp: &str, extra: &[(&str, &str)]) -> Reply {
    let chooser = h.authorize(client, rp, extra).await;
    assert!(chooser.is_chooser(), "{chooser:?}");
    let to = h.choose_upstream(client, &chooser, EU_UPSTREAM).await;
    assert!(to.goes_to(EU_UPSTREAM_AUTHORIZE), "{to:?}");
    let state = to.param("state").unwrap();
    h.callback_of(client, EU_UPSTREAM, &state).await
}

/// The ID token claims of an eIDAS login of `login` at `rp`.
async fn eu_claims(h: &Harness, rp: &str, login: UpstreamIdentity) -> serde_json::Value {
    h.eu_upstream.answer_login(login);
    let back = eu_login(h, &mut Client::new(), rp, &[]).await;
    let code = back.code_for(rp);
    h.id_token(rp, &code).await.1
}

#[tokio::test]
async fn an_eidas_login_gives_a_pairwise_sub_keyed_on_the_person_identifier() {
    let h = harness().await;
    let first = eu_claims(&h, RP_A, foreign(&h, "XA/DK/anna-1")).await;
    assert_eq!(first["sub"], pairwise(RP_A, EU_UPSTREAM, "XA/DK/anna-1"));
    let again = eu_claims(&h, RP_A, foreign(&h, "XA/DK/anna-1")).await;
    assert_eq!(again["sub"], first["sub"], "same person, same sub");
    let other = eu_claims(&h, RP_A, foreign(&h, "XA/DK/bent-2")).await;
    assert_ne!(other["sub"], first["sub"]);
    let elsewhere = eu_claims(&h, RP_EU, foreign(&h, "XA/DK/anna-1")).await;
    assert_ne!(elsewhere["sub"], first["sub"], "pairwise per sector");
    // Nothing but the subject and the level for a service allowed nothing.
    for claim in [
        "eidas_person_identifier",
        "eidas_country",
        "given_name",
        "cpr",
    ] {
        assert!(first.get(claim).is_none(), "{claim}: {first}");
    }
    assert_eq!(first["acr"], Loa::Substantial.as_uri());
}

#[tokio::test]
async fn eidas_claims_go_only_to_services_allowed_them_and_never_a_cpr_number() {
    let h = harness().await;
    let mut login = foreign(&h, "XA/DK/anna-1");
    // A stray CPR number from the eIDAS upstream is never believed.
    login.cpr = Some("0101701234".into());
    let eu = eu_claims(&h, RP_EU, login.clone()).await;
    assert_eq!(eu["eidas_person_identifier"], "XA/DK/anna-1");
    assert_eq!(eu["eidas_country"], "XA");
    assert_eq!(eu["eidas_given_name_native"], "Μαρία");
    assert_eq!(eu["given_name"], "Maria");
    assert_eq!(eu["birthdate"], "1985-04-12");
    assert!(eu.get("cpr").is_none());
    let c = eu_claims(&h, RP_C, login).await;
    assert_eq!(c["given_name"], "Maria", "names as allowed");
    assert!(
        c.get("cpr").is_none(),
        "allowed a CPR number, but there is none"
    );
    assert!(c.get("eidas_person_identifier").is_none(), "{c}");
    assert!(c.get("eidas_country").is_none());
    // Her own log: keyed as the eIDAS connector keys it, each release naming what went where.
    let maria = eid_core::eidas::audit_id(&PersonIdentifier::parse("XA/DK/anna-1").unwrap());
    let logins = h.audited("login.success").await;
    assert_eq!(logins.len(), 2);
    assert!(logins.iter().all(|e| e.person == Some(maria)), "{logins:?}");
    let issued = h.audited("token.issued").await;
    assert!(issued.iter().all(|e| e.person == Some(maria)), "{issued:?}");
    let to = |rp: &str| {
        issued
            .iter()
            .find(|e| e.client.as_deref() == Some(rp))
            .map(|e| e.details["attributes"].clone())
    };
    assert_eq!(
        to(RP_EU),
        Some(serde_json::json!([
            "name",
            "birthdate",
            "eidas_person_identifier",
            "native_name"
        ]))
    );
    assert_eq!(to(RP_C), Some(serde_json::json!(["name", "birthdate"])));
}

#[tokio::test]
async fn a_national_upstreams_stray_eidas_claims_are_ignored() {
    let h = harness().await;
    let mut login = national(&h, "6f1c2a3e-1111-4222-8333-444455556666");
    login.eidas = foreign(&h, "XA/DK/anna-1").eidas;
    h.upstream.answer_login(login);
    let back = h.login(&mut Client::new(), RP_EU, &[]).await;
    let (_, claims) = h.id_token(RP_EU, &back.code_for(RP_EU)).await;
    assert!(claims.get("eidas_person_identifier").is_none(), "{claims}");
    assert!(claims.get("eidas_country").is_none());
    assert_eq!(
        claims["sub"],
        pairwise(RP_EU, UPSTREAM, "6f1c2a3e-1111-4222-8333-444455556666")
    );
}

#[tokio::test]
async fn an_eidas_login_without_a_valid_identifier_fails() {
    let h = harness().await;
    let mut missing = foreign(&h, "XA/DK/anna-1");
    missing.eidas = None;
    let mut another_sub = foreign(&h, "XA/DK/anna-1");
    another_sub.subject = "XA/DK/bent-2".into();
    for login in [missing, another_sub] {
        h.eu_upstream.answer_login(login);
        let back = eu_login(&h, &mut Client::new(), RP_EU, &[]).await;
        assert_eq!(back.status, 400, "{back:?}");
        assert!(back.location.is_none(), "nothing goes to the service");
    }
    assert_eq!(h.audited("upstream.login_failed").await.len(), 2);
    assert!(h.audited("login.success").await.is_empty());
}

#[tokio::test]
async fn a_service_that_needs_a_cpr_number_refuses_an_eidas_person_with_a_page() {
    let h = harness().await;
    // A fresh login there is offered MitID only: the chooser is skipped for the national upstream.
    let fresh = h.authorize(&mut Client::new(), RP_CPR, &[]).await;
    assert!(!fresh.is_chooser(), "{fresh:?}");
    assert!(!fresh.goes_to(EU_UPSTREAM_AUTHORIZE), "{fresh:?}");
    // A session that holds a foreign identity (logged in at another service) meets the page.
    h.eu_upstream.answer_login(foreign(&h, "XA/DK/anna-1"));
    let mut client = Client::new();
    eu_login(&h, &mut client, RP_EU, &[]).await.code_for(RP_EU);
    let page = h.authorize(&mut client, RP_CPR, &[]).await;
    assert_eq!(page.status, 403, "{page:?}");
    assert!(page.location.is_none(), "the page, not a redirect");
    assert!(page.body.contains("Service rp-cpr"), "{}", page.body);
    assert!(page.body.contains("CPR"));
    assert!(page.body.contains("MitID"));
    // Its button sends access_denied to the service.
    assert!(page.body.contains("method=\"get\""));
    assert!(
        page.body
            .contains(&format!("action=\"{}\"", redirect_uri(RP_CPR)))
    );
    assert_eq!(page.input("error"), "access_denied");
    assert_eq!(page.input("state"), format!("state-{RP_CPR}"));
    assert_eq!(page.input("iss"), harness::ISSUER);
    assert!(!page.body.contains("name=\"code\""));
    let refused = h.audited("login.refused").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].client.as_deref(), Some(RP_CPR));
    // Single sign-on from the same session is refused the same way.
    let again = h.authorize(&mut client, RP_CPR, &[]).await;
    assert_eq!(again.status, 403, "{again:?}");
    assert_eq!(again.input("error"), "access_denied");
    // A service that does not need one is still served from that session.
    let served = h.authorize(&mut client, RP_EU, &[]).await;
    served.code_for(RP_EU);
    // A Danish person with a CPR number gets in.
    h.upstream
        .answer_login(national(&h, "6f1c2a3e-1111-4222-8333-444455556666"));
    let back = h.login(&mut Client::new(), RP_CPR, &[]).await;
    let (_, claims) = h.id_token(RP_CPR, &back.code_for(RP_CPR)).await;
    assert_eq!(claims["cpr"], "0101701234");
}

#[tokio::test]
async fn the_country_goes_to_eidas_upstreams_only() {
    let h = harness().await;
    h.eu_upstream.answer_login(foreign(&h, "XA/DK/anna-1"));
    eu_login(&h, &mut Client::new(), RP_A, &[("country", "XA")]).await;
    assert_eq!(
        h.eu_upstream.requests().last().unwrap().country.as_deref(),
        Some("XA")
    );
    for bad in ["xa", "XAA", "X", ""] {
        eu_login(&h, &mut Client::new(), RP_A, &[("country", bad)]).await;
        assert_eq!(
            h.eu_upstream.requests().last().unwrap().country,
            None,
            "{bad:?}"
        );
    }
    h.upstream
        .answer_login(national(&h, "6f1c2a3e-1111-4222-8333-444455556666"));
    h.to_upstream(&mut Client::new(), RP_A, &[("country", "XA")])
        .await;
    assert_eq!(h.upstream.requests().last().unwrap().country, None);
}

#[tokio::test]
async fn the_legal_person_is_asked_of_eidas_upstreams_for_services_registered_for_eidas_claims() {
    let h = harness().await;
    h.eu_upstream.answer_login(foreign(&h, "XA/DK/anna-1"));
    let legal = [("scope", "openid eidas_legal_person")];
    eu_login(&h, &mut Client::new(), RP_EU, &legal).await;
    assert!(h.eu_upstream.requests().last().unwrap().legal_person);
    // Not without the scope, and not for a service that may not receive the eIDAS claims.
    eu_login(&h, &mut Client::new(), RP_EU, &[]).await;
    assert!(!h.eu_upstream.requests().last().unwrap().legal_person);
    eu_login(&h, &mut Client::new(), RP_A, &legal).await;
    assert!(!h.eu_upstream.requests().last().unwrap().legal_person);
    // Never to the national upstream.
    h.upstream
        .answer_login(national(&h, "6f1c2a3e-1111-4222-8333-444455556666"));
    h.to_upstream(&mut Client::new(), RP_EU, &legal).await;
    assert!(!h.upstream.requests().last().unwrap().legal_person);
}

#[tokio::test]
async fn the_legal_person_goes_only_to_the_service_that_asked_for_it() {
    let h = harness().await;
    register(&h, "rp-eu-2", &["name", "eidas"], false).await;
    let mut login = foreign(&h, "XA/DK/anna-1");
    if let Some(eidas) = login.eidas.as_mut() {
        eidas.legal_person = Some(eid_core::LegalPerson {
            identifier: PersonIdentifier::parse("XA/DK/ACME-1").unwrap(),
            name: "Acme".into(),
        });
    }
    h.eu_upstream.answer_login(login);
    let mut client = Client::new();
    let back = eu_login(
        &h,
        &mut client,
        RP_EU,
        &[("scope", "openid eidas_legal_person")],
    )
    .await;
    let (_, asked) = h.id_token(RP_EU, &back.code_for(RP_EU)).await;
    assert_eq!(asked["eidas_legal_person_identifier"], "XA/DK/ACME-1");
    assert_eq!(asked["eidas_legal_name"], "Acme");
    // Another service of the same session, without the scope: the natural person alone.
    let other = h.authorize(&mut client, "rp-eu-2", &[]).await;
    let (_, claims) = h.id_token("rp-eu-2", &other.code_for("rp-eu-2")).await;
    assert_eq!(claims["eidas_person_identifier"], "XA/DK/anna-1");
    assert!(
        claims.get("eidas_legal_person_identifier").is_none(),
        "{claims}"
    );
    assert!(claims.get("eidas_legal_name").is_none(), "{claims}");
}

#[tokio::test]
async fn an_eidas_person_is_never_offered_representation() {
    let h = harness().await;
    h.mandates
        .held
        .lock()
        .unwrap()
        .push(harness::power_of_attorney(
            "m1",
            "7b6f0c4e-0000-4000-8000-000000000002",
            "Karen Hansen",
            "0202801234",
            RP_C,
        ));
    // A Danish person is offered the mandate anyone holds here …
    h.upstream
        .answer_login(national(&h, "6f1c2a3e-1111-4222-8333-444455556666"));
    let choice = h.login(&mut Client::new(), RP_C, &[]).await;
    assert!(choice.is_representation_choice(), "{choice:?}");
    // … a foreign person never.
    h.eu_upstream.answer_login(foreign(&h, "XA/DK/anna-1"));
    let back = eu_login(&h, &mut Client::new(), RP_C, &[]).await;
    assert!(!back.is_representation_choice());
    back.code_for(RP_C);
}

/// Registers the SAML test service releasing `release`, needing a CPR number if `requires_cpr`.
fn register_saml(h: &Harness, release: &[&str], requires_cpr: bool) {
    let release: Vec<String> = release.iter().map(|r| (*r).to_owned()).collect();
    let sp = eid_broker::registry::prepare_saml(
        &eid_broker::registry::SamlSpConfig {
            metadata: &saml::sp_metadata(),
            name: "SAML service",
            sector: SP_SECTOR,
            release: &release,
            aes_cbc: false,
            representation: false,
            requires_cpr,
            service_areas: &[],
        },
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    h.broker.registry.set_saml(vec![sp]);
}

/// A SAML login through the only (eIDAS) upstream: the broker's answer.
async fn saml_eu_login(h: &Harness) -> Reply {
    let mut client = Client::new();
    let to = h.get(&mut client, &Request::new(h).redirect()).await;
    assert!(to.goes_to(EU_UPSTREAM_AUTHORIZE), "{to:?}");
    let state = to.param("state").unwrap();
    h.callback_of(&mut client, EU_UPSTREAM, &state).await
}

#[tokio::test]
async fn a_saml_service_gets_eidas_attributes_under_their_names_and_no_cpr() {
    let h = Harness::eu_only().await;
    register_saml(&h, &["cpr", "name", "birthdate", "eidas"], false);
    let mut login = foreign(&h, "XA/DK/anna-1");
    login.cpr = Some("0101701234".into());
    h.eu_upstream.answer_login(login);
    let cert = broker_certificate(&h).await;
    let answered = read(&saml_eu_login(&h).await, &cert);
    assert!(answered.has_status("Success"), "{}", answered.response);
    let a = answered.assertion.clone().unwrap();
    let attribute = |name: &str, value: &str| {
        a.contains(&format!("Name=\"{name}\"")) && a.contains(&format!(">{value}<"))
    };
    assert!(attribute(
        "http://eidas.europa.eu/attributes/naturalperson/PersonIdentifier",
        "XA/DK/anna-1"
    ));
    assert!(attribute(
        "https://data.gov.dk/model/core/eid/firstName",
        "Maria"
    ));
    assert!(attribute(
        "https://data.gov.dk/model/core/eid/lastName",
        "Papadopoulou"
    ));
    assert!(attribute(
        "https://data.gov.dk/model/core/eid/dateOfBirth",
        "1985-04-12"
    ));
    assert!(!a.contains("cprNumber"), "never a CPR attribute");
    assert!(a.contains(">Substantial<"));
    let name_id = PairwiseKey::new(&PAIRWISE)
        .unwrap()
        .subject(SP_SECTOR, &format!("{EU_UPSTREAM}:XA/DK/anna-1"));
    assert_eq!(answered.name_id(), name_id);

    // Without the eidas release, no identifier.
    register_saml(&h, &["name"], false);
    let answered = read(&saml_eu_login(&h).await, &cert);
    let a = answered.assertion.unwrap();
    assert!(!a.contains("PersonIdentifier") && !a.contains("XA/DK/anna-1"));
}

#[tokio::test]
async fn a_saml_service_that_needs_a_cpr_number_gets_request_denied_after_the_page() {
    let h = Harness::eu_only().await;
    register_saml(&h, &["cpr", "name"], true);
    h.eu_upstream.answer_login(foreign(&h, "XA/DK/anna-1"));
    let page = saml_eu_login(&h).await;
    assert_eq!(page.status, 403, "{page:?}");
    assert!(page.body.contains("SAML service") && page.body.contains("CPR"));
    assert!(page.body.contains("method=\"post\""));
    assert!(page.body.contains(&format!("action=\"{ACS}\"")));
    assert!(
        !page.body.contains("saml-post.js"),
        "the person sends it, not a script"
    );
    let response = String::from_utf8(STANDARD.decode(page.input("SAMLResponse")).unwrap()).unwrap();
    assert!(response.contains("urn:oasis:names:tc:SAML:2.0:status:Responder"));
    assert!(response.contains("urn:oasis:names:tc:SAML:2.0:status:RequestDenied"));
    assert!(!response.contains("Assertion"), "{response}");
    assert_eq!(h.audited("login.refused").await.len(), 1);
}
