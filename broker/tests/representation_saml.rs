//! Acting on behalf of someone at a SAML service: the agent's own NameID and attributes with an
//! OIO-BPP privilege list scoped to the principal (by CPR number only where the service may have
//! it), professional attributes for an organisation, the choice asked again in single sign-on,
//! the re-check when the assertion is issued, and services that never get a representation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use eid_core::Loa;
use eid_saml::xml::{Document, QName};
use harness::saml::{self, Request, SP, SP_SECTOR, broker_certificate, read};
use harness::*;

const KAREN: &str = "6f0c4d2e-8b1a-4c3e-9f5d-2a7b8c9d0e1f";
const KAREN_CPR: &str = "0202505678";
const ANNA_CPR: &str = "0101701234";
const MANDATE: &str = "poa-karen-anna";
const PRIVILEGES: &str = "https://data.gov.dk/model/core/eid/privilegesIntermediate";

fn pairwise(subject: &str) -> String {
    eid_broker::core::pairwise::PairwiseKey::new(&PAIRWISE)
        .unwrap()
        .subject(SP_SECTOR, &format!("{UPSTREAM}:{subject}"))
}

/// The broker with the SAML service accepting representation (releasing `release`) and Anna
/// holding a power of attorney from Karen for it.
async fn setup(release: &[&str]) -> (Harness, eid_core::Identity) {
    let h = Harness::new().await;
    saml::register_representing(&h, release);
    h.mandates.grant(
        "anna",
        power_of_attorney(MANDATE, KAREN, "Karen Hansen", KAREN_CPR, SP),
    );
    let mut anna = h.person("anna", Loa::Substantial);
    anna.cpr = Some(eid_core::Cpr::parse(ANNA_CPR).unwrap());
    anna.given_name = Some("Anna".into());
    anna.family_name = Some("Jensen".into());
    h.upstream.answer(anna.clone());
    (h, anna)
}

/// A SAML login through the fake upstream: the broker's page after the callback.
async fn saml_login(h: &Harness, client: &mut Client) -> Reply {
    let to_upstream = h.get(client, &Request::new(h).redirect()).await;
    assert!(to_upstream.goes_to(UPSTREAM_AUTHORIZE), "{to_upstream:?}");
    h.callback(client, &to_upstream).await
}

/// The values of attribute `name` in an assertion.
fn attribute(assertion: &str, name: &str) -> Vec<String> {
    let doc = Document::parse(assertion).unwrap();
    let ns = "urn:oasis:names:tc:SAML:2.0:assertion";
    doc.elements_named(QName::new(ns, "Attribute"))
        .filter(|a| a.attr("Name") == Some(name))
        .flat_map(|a| {
            a.children_named(QName::new(ns, "AttributeValue"))
                .map(|v| v.text().unwrap().into_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The privilege groups of a base64 BPP list: (scope, privileges).
fn groups(encoded: &str) -> Vec<(String, Vec<String>)> {
    let xml = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
    let doc = Document::parse(&xml).unwrap();
    let root = doc.root();
    assert!(root.is(QName::new(
        "http://digst.dk/oiosaml/basic_privilege_profile",
        "PrivilegeList"
    )));
    root.children()
        .map(|g| {
            (
                g.attr("Scope").unwrap().to_owned(),
                g.children()
                    .map(|p| p.text().unwrap().into_owned())
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn acting_for_karen_at_a_saml_service_keeps_annas_nameid_with_a_group_scoped_to_karen() {
    let (h, anna) = setup(&["cpr", "name"]).await;
    let cert = broker_certificate(&h).await;
    let mut browser = Client::new();
    let page = saml_login(&h, &mut browser).await;
    assert!(page.is_representation_choice(), "{page:?}");
    assert!(page.body.contains("SAML service"));
    let back = h
        .choose_representation(&mut browser, &page, &format!("mandate:{MANDATE}"))
        .await;
    let answered = read(&back, &cert);
    assert!(answered.has_status("Success"), "{}", answered.response);
    let assertion = answered.assertion.as_deref().unwrap();
    assert_eq!(
        answered.name_id(),
        pairwise("anna"),
        "the agent's own NameID"
    );
    assert_eq!(
        attribute(assertion, "https://data.gov.dk/model/core/eid/cprNumber"),
        vec![ANNA_CPR.to_owned()],
        "the agent's own attributes"
    );
    let privileges = attribute(assertion, PRIVILEGES);
    assert_eq!(privileges.len(), 1);
    assert_eq!(
        groups(&privileges[0]),
        vec![(
            format!("urn:dk:gov:saml:cprNumberIdentifier:{KAREN_CPR}"),
            vec![
                "urn:eidbroker:privilege:act".to_owned(),
                "urn:dk:example:housing:apply".to_owned()
            ]
        )]
    );
    // Audited on both logs, the assertion's event naming the mandate and Karen's audit key.
    let issued = h.audited("saml.response_issued").await;
    assert_eq!(issued[0].person, Some(anna.audit_id));
    assert_eq!(issued[0].details["mandate"], MANDATE);
    assert_eq!(issued[0].details["principal"], KAREN);
    let hers = h.audited_for(uuid::Uuid::parse_str(KAREN).unwrap()).await;
    assert_eq!(hers.len(), 1);
    assert_eq!(hers[0].kind, "representation.acted_for");
    assert_eq!(hers[0].client.as_deref(), Some(SP));
    // Each log names what of its person was released: Anna's own CPR number and name in the
    // assertion; Karen's CPR number as the scope of the privileges.
    assert_eq!(
        issued[0].details["attributes"],
        serde_json::json!(["cpr", "name"])
    );
    assert_eq!(hers[0].details["attributes"], serde_json::json!(["cpr"]));
    let acted_as = h.audited("representation.acted_as").await;
    assert_eq!(acted_as.len(), 1, "{acted_as:?}");
    assert_eq!(acted_as[0].person, Some(anna.audit_id));
    assert_eq!(acted_as[0].details["principal"], KAREN);
    assert_eq!(acted_as[0].details["mandate"], MANDATE);
    assert_eq!(h.mandates.rechecked().len(), 1, "re-checked at issuance");
}

#[tokio::test]
async fn a_service_not_allowed_cpr_numbers_gets_a_pairwise_scope_and_no_cpr_number_at_all() {
    let (h, _) = setup(&["name"]).await;
    let cert = broker_certificate(&h).await;
    let mut browser = Client::new();
    let page = saml_login(&h, &mut browser).await;
    let back = h
        .choose_representation(&mut browser, &page, &format!("mandate:{MANDATE}"))
        .await;
    let answered = read(&back, &cert);
    let assertion = answered.assertion.as_deref().unwrap();
    let privileges = attribute(assertion, PRIVILEGES);
    let xml = String::from_utf8(STANDARD.decode(&privileges[0]).unwrap()).unwrap();
    assert!(
        !xml.contains(KAREN_CPR) && !assertion.contains(KAREN_CPR),
        "{xml}"
    );
    assert!(!assertion.contains(ANNA_CPR));
    assert_eq!(
        groups(&privileges[0])[0].0,
        format!("urn:eidbroker:saml:pairwiseIdentifier:{}", pairwise(KAREN))
    );
    // Nothing of Karen's was released, and her log says so; Anna's name went out.
    let hers = h.audited("representation.acted_for").await;
    assert_eq!(hers[0].details["attributes"], serde_json::json!([]));
    let issued = h.audited("saml.response_issued").await;
    assert_eq!(issued[0].details["attributes"], serde_json::json!(["name"]));
}

#[tokio::test]
async fn an_employee_acting_for_their_organisation_gets_the_professional_attributes() {
    let (h, _) = setup(&["cpr", "name"]).await;
    h.mandates.grant(
        "anna",
        business_right("right-demo", "12345678", "Demo ApS", SP),
    );
    let cert = broker_certificate(&h).await;
    let mut browser = Client::new();
    let page = saml_login(&h, &mut browser).await;
    let back = h
        .choose_representation(&mut browser, &page, "mandate:right-demo")
        .await;
    let answered = read(&back, &cert);
    let assertion = answered.assertion.as_deref().unwrap();
    assert_eq!(answered.name_id(), pairwise("anna"));
    assert_eq!(
        attribute(
            assertion,
            "https://data.gov.dk/model/core/eid/professional/cvr"
        ),
        vec!["12345678".to_owned()]
    );
    assert_eq!(
        attribute(
            assertion,
            "https://data.gov.dk/model/core/eid/professional/orgName"
        ),
        vec!["Demo ApS".to_owned()]
    );
    assert_eq!(
        groups(&attribute(assertion, PRIVILEGES)[0]),
        vec![(
            "urn:dk:gov:saml:cvrNumberIdentifier:12345678".to_owned(),
            vec![
                "urn:eidbroker:privilege:read".to_owned(),
                "urn:dk:example:accounts:read".to_owned()
            ]
        )]
    );
}

#[tokio::test]
async fn choosing_myself_gives_no_privileges_and_sso_from_oidc_asks_again() {
    let (h, _) = setup(&["cpr", "name"]).await;
    // Anna also holds a mandate for the OIDC service; she logs in there as Karen first.
    h.mandates.grant(
        "anna",
        power_of_attorney("poa-oidc", KAREN, "Karen Hansen", KAREN_CPR, RP_C),
    );
    let cert = broker_certificate(&h).await;
    let mut browser = Client::new();
    let page = h.login(&mut browser, RP_C, &[]).await;
    h.choose_representation(&mut browser, &page, "mandate:poa-oidc")
        .await
        .code_for(RP_C);
    // Single sign-on at the SAML service: asked again, never answered as Karen silently.
    let page = h.get(&mut browser, &Request::new(&h).redirect()).await;
    assert!(page.is_representation_choice(), "{page:?}");
    assert!(
        !page.body.contains("poa-oidc"),
        "only this service's mandates"
    );
    let back = h.choose_representation(&mut browser, &page, "self").await;
    let answered = read(&back, &cert);
    let assertion = answered.assertion.as_deref().unwrap();
    assert!(attribute(assertion, PRIVILEGES).is_empty());
    assert_eq!(answered.name_id(), pairwise("anna"));
}

#[tokio::test]
async fn a_mandate_revoked_before_the_assertion_is_issued_is_refused_with_a_status() {
    let (h, anna) = setup(&["cpr", "name"]).await;
    let cert = broker_certificate(&h).await;
    let mut browser = Client::new();
    let page = saml_login(&h, &mut browser).await;
    h.mandates.revoke(MANDATE);
    let back = h
        .choose_representation(&mut browser, &page, &format!("mandate:{MANDATE}"))
        .await;
    let answered = read(&back, &cert);
    assert!(
        answered.has_status("RequestDenied"),
        "{}",
        answered.response
    );
    assert!(answered.assertion.is_none());
    assert!(h.audited("saml.response_issued").await.is_empty());
    let withdrawn = h.audited("representation.mandate_withdrawn").await;
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(withdrawn[0].person, Some(anna.audit_id));
    assert_eq!(withdrawn[0].client.as_deref(), Some(SP));
}

#[tokio::test]
async fn a_service_that_did_not_register_representation_never_gets_a_choice_or_privileges() {
    let (h, _) = setup(&["cpr", "name"]).await;
    saml::register(&h); // the same service, now without representation
    let cert = broker_certificate(&h).await;
    let mut browser = Client::new();
    let back = saml_login(&h, &mut browser).await;
    assert!(!back.is_representation_choice());
    let answered = read(&back, &cert);
    let assertion = answered.assertion.as_deref().unwrap();
    assert!(attribute(assertion, PRIVILEGES).is_empty());
    assert!(
        h.mandates.asked.lock().unwrap().is_empty(),
        "not even looked up"
    );
}
