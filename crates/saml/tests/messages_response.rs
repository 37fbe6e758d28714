//! The Response and Assertion we write: OIOSAML's shape (one assertion, persistent NameID,
//! bearer confirmation, audience, one AuthnStatement, one AttributeStatement of xs:strings),
//! with every value escaped.
#![allow(clippy::unwrap_used)]

use eid_core::Loa;
use eid_saml::messages::{
    Assertion, AssertionAttribute, EncryptedAssertion, NS_ASSERTION, NS_PROTOCOL, Response,
    StatusCode, new_message_id,
};
use proptest::prelude::*;
use roxmltree::{Document, Node};
use time::Duration;
use time::macros::datetime;

fn assertion(name: &str) -> Assertion {
    let now = datetime!(2026-11-30 10:00:00.5 UTC);
    Assertion {
        id: new_message_id(),
        issue_instant: now,
        issuer: "https://broker.example.dk/saml".into(),
        subject: uuid::Uuid::parse_str("0f8e3c8e-3c7c-4c55-9a4b-1f0c3e2d1a00").unwrap(),
        sp_name_qualifier: Some("https://sp.example.dk/saml".into()),
        recipient: "https://sp.example.dk/saml/acs?a=1&b=2".into(),
        in_response_to: "_req1".into(),
        confirmation_not_on_or_after: now + Duration::minutes(5),
        not_before: now - Duration::seconds(30),
        not_on_or_after: now + Duration::hours(1),
        audience: "https://sp.example.dk/saml".into(),
        authn_instant: now - Duration::minutes(2),
        session_index: "_sess1".into(),
        loa: Loa::Substantial,
        attributes: vec![
            AssertionAttribute {
                name: eid_saml::attributes::FULL_NAME.into(),
                values: vec![name.into()],
            },
            AssertionAttribute {
                name: eid_saml::attributes::NSIS_IAL.into(),
                values: vec!["Substantial".into()],
            },
        ],
    }
}

fn elems<'a, 'i>(doc: &'a Document<'i>, local: &str) -> Vec<Node<'a, 'i>> {
    doc.descendants()
        .filter(|n| n.tag_name().namespace() == Some(NS_ASSERTION) && n.tag_name().name() == local)
        .collect()
}

#[test]
fn the_assertion_has_the_oiosaml_shape() {
    let a = assertion("Anna Ærø <&> \"x\"");
    let xml = a.to_xml();
    let doc = Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Assertion");
    assert_eq!(root.attribute("ID"), Some(a.id.as_str()));
    assert_eq!(root.attribute("Version"), Some("2.0"));
    assert_eq!(root.attribute("IssueInstant"), Some("2026-11-30T10:00:00Z"));
    // The Issuer comes first (the signature goes right after it).
    let first = root.children().find(|n| n.is_element()).unwrap();
    assert_eq!(first.tag_name().name(), "Issuer");
    let name_id = elems(&doc, "NameID");
    assert_eq!(name_id.len(), 1);
    assert_eq!(
        name_id[0].text(),
        Some("https://data.gov.dk/model/core/eid/person/uuid/0f8e3c8e-3c7c-4c55-9a4b-1f0c3e2d1a00")
    );
    assert_eq!(
        name_id[0].attribute("Format"),
        Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")
    );
    let conf = elems(&doc, "SubjectConfirmation");
    assert_eq!(
        conf[0].attribute("Method"),
        Some("urn:oasis:names:tc:SAML:2.0:cm:bearer")
    );
    let data = elems(&doc, "SubjectConfirmationData")[0];
    assert_eq!(
        data.attribute("Recipient"),
        Some("https://sp.example.dk/saml/acs?a=1&b=2")
    );
    assert_eq!(data.attribute("InResponseTo"), Some("_req1"));
    assert_eq!(data.attribute("NotOnOrAfter"), Some("2026-11-30T10:05:00Z"));
    assert!(data.attribute("NotBefore").is_none());
    assert_eq!(
        elems(&doc, "Audience")[0].text(),
        Some("https://sp.example.dk/saml")
    );
    assert_eq!(elems(&doc, "AuthnStatement").len(), 1);
    assert_eq!(
        elems(&doc, "AuthnStatement")[0].attribute("SessionIndex"),
        Some("_sess1")
    );
    assert_eq!(
        elems(&doc, "AuthnContextClassRef")[0].text(),
        Some("https://data.gov.dk/concept/core/nsis/loa/Substantial")
    );
    assert_eq!(elems(&doc, "AttributeStatement").len(), 1);
    let attrs = elems(&doc, "Attribute");
    let names: Vec<_> = attrs.iter().map(|a| a.attribute("Name").unwrap()).collect();
    assert_eq!(
        names,
        [
            eid_saml::attributes::SPEC_VERSION,
            eid_saml::attributes::NSIS_LOA,
            eid_saml::attributes::FULL_NAME,
            eid_saml::attributes::NSIS_IAL
        ]
    );
    for attr in &attrs {
        assert_eq!(
            attr.attribute("NameFormat"),
            Some("urn:oasis:names:tc:SAML:2.0:attrname-format:uri")
        );
    }
    let values = elems(&doc, "AttributeValue");
    assert_eq!(values[0].text(), Some("OIO-SAML-3.0"));
    assert_eq!(values[1].text(), Some("Substantial"));
    assert_eq!(values[2].text(), Some("Anna Ærø <&> \"x\""));
    for v in &values {
        assert_eq!(
            v.attribute(("http://www.w3.org/2001/XMLSchema-instance", "type")),
            Some("xs:string")
        );
    }
}

#[test]
fn a_success_response_holds_exactly_the_one_encrypted_assertion_and_no_signature() {
    let enc = EncryptedAssertion::from_encrypted_xml(format!(
        r#"<saml:EncryptedAssertion xmlns:saml="{NS_ASSERTION}"><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></saml:EncryptedAssertion>"#
    ))
    .unwrap();
    let r = Response {
        id: new_message_id(),
        in_response_to: "_req1".into(),
        issue_instant: datetime!(2026-11-30 10:00:00 UTC),
        destination: "https://sp.example.dk/saml/acs".into(),
        issuer: "https://broker.example.dk/saml".into(),
    };
    let xml = r.success_xml(&enc);
    let doc = Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().namespace(), Some(NS_PROTOCOL));
    assert_eq!(root.attribute("InResponseTo"), Some("_req1"));
    assert_eq!(
        root.attribute("Destination"),
        Some("https://sp.example.dk/saml/acs")
    );
    assert_eq!(elems(&doc, "EncryptedAssertion").len(), 1);
    assert!(elems(&doc, "Assertion").is_empty());
    assert!(!xml.contains("Signature"));
    let code = doc
        .descendants()
        .find(|n| n.tag_name().name() == "StatusCode")
        .unwrap();
    assert_eq!(
        code.attribute("Value"),
        Some("urn:oasis:names:tc:SAML:2.0:status:Success")
    );

    let failed = r.failure_xml(StatusCode::NoPassive);
    let doc = Document::parse(&failed).unwrap();
    assert!(elems(&doc, "EncryptedAssertion").is_empty());
    let codes: Vec<_> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "StatusCode")
        .map(|n| n.attribute("Value").unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "urn:oasis:names:tc:SAML:2.0:status:Responder",
            "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
        ]
    );
    // No success without its assertion.
    assert!(
        !r.failure_xml(StatusCode::Success)
            .contains("status:Success")
    );
}

#[test]
fn the_level_attribute_is_only_the_one_from_the_login() {
    let mut a = assertion("Anna");
    a.attributes.push(AssertionAttribute {
        name: eid_saml::attributes::NSIS_LOA.into(),
        values: vec!["High".into()],
    });
    let xml = a.to_xml();
    let doc = Document::parse(&xml).unwrap();
    let loa: Vec<_> = elems(&doc, "Attribute")
        .into_iter()
        .filter(|n| n.attribute("Name") == Some(eid_saml::attributes::NSIS_LOA))
        .collect();
    assert_eq!(loa.len(), 1);
    assert_eq!(
        loa[0].children().find(|n| n.is_element()).unwrap().text(),
        Some("Substantial")
    );
}

#[test]
fn only_an_encrypted_assertion_is_inserted() {
    assert!(EncryptedAssertion::from_encrypted_xml("<saml:Assertion/>".into()).is_none());
    assert!(EncryptedAssertion::from_encrypted_xml("text".into()).is_none());
    assert!(EncryptedAssertion::from_encrypted_xml("<EncryptedAssertion/>".into()).is_some());
}

#[test]
fn message_ids_are_fresh_ncnames() {
    let a = new_message_id();
    assert_ne!(a, new_message_id());
    assert!(a.starts_with('_') && a.len() == 33);
}

#[test]
fn status_codes_round_trip() {
    for s in [
        StatusCode::Success,
        StatusCode::Requester,
        StatusCode::NoPassive,
        StatusCode::PartialLogout,
        StatusCode::RequestUnsupported,
    ] {
        let (top, second) = s.uris();
        assert_eq!(StatusCode::from_uris(&top, second.as_deref()), Some(s));
    }
}

proptest! {
    #[test]
    fn any_attribute_value_is_escaped_into_well_formed_xml(value in "\\PC{0,40}|[\\x00-\\x20<>&\"']{0,10}") {
        let a = assertion(&value);
        let xml = a.to_xml();
        let doc = Document::parse(&xml).unwrap();
        let values = elems(&doc, "AttributeValue");
        // Characters XML cannot hold are replaced; everything else comes back as written.
        let expected: String = value.chars().map(|c| if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') { '\u{FFFD}' } else { c }).collect();
        prop_assert_eq!(values[2].text().unwrap_or_default(), expected.as_str());
    }
}
