//! Round trips of the eIDAS profile: metadata, AuthnRequest and Response written by one node and
//! read by the other, for RSA-PSS, ECDSA and RSA-SHA256 keys.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod eidas_support;

use eid_saml::dsig::SignatureAlg;
use eid_saml::eidas::{
    self, Comparison, EidasLoa, NodeRole, ReadResponse, ResponseOutcome, SpType, Status, SubStatus,
    TopStatus,
};
use eid_saml::enc::EncryptOptions;
use eidas_support::*;

const ALGS: [SignatureAlg; 3] = [
    SignatureAlg::RsaPssSha256,
    SignatureAlg::EcdsaSha256,
    SignatureAlg::RsaSha256,
];

#[test]
fn metadata_of_both_roles_reads_back() {
    for alg in ALGS {
        let c = connector_signer(alg);
        let connector = peer(&connector_metadata_out(&c, Some(SpType::Public)), &c);
        assert_eq!(connector.entity_id, CONNECTOR_ID);
        assert_eq!(connector.node_country, "DK");
        assert_eq!(
            connector.role,
            NodeRole::Connector {
                acs_url: ACS.into(),
                sp_type: Some(SpType::Public)
            }
        );
        assert_eq!(connector.protocol_versions, ["1.4", "1.3", "1.2"]);
        assert!(connector.encryption_certificate.is_some());
        assert_eq!(connector.signing_keys.len(), 1);

        let p = proxy_signer(alg);
        let proxy = peer(&proxy_metadata_out(&p), &p);
        assert_eq!(proxy.entity_id, PROXY_ID);
        assert_eq!(proxy.node_country, "XA");
        assert_eq!(
            proxy.role,
            NodeRole::ProxyService {
                sso_url: SSO.into(),
                loas: EidasLoa::ALL.to_vec(),
                wants_requester_id: true,
            }
        );
        assert_eq!(proxy.valid_until, NOW + time::Duration::days(1));
    }
}

#[test]
fn a_connector_without_sp_type_in_metadata_reads_as_none_and_its_xml_says_so() {
    let c = connector_signer(SignatureAlg::RsaPssSha256);
    let out = connector_metadata_out(&c, None);
    let xml = out.to_signed_xml(&c.key, c.alg, &c.cert).unwrap();
    assert!(!xml.contains("SPType"));
    assert!(xml.contains("eidas:NodeCountry"));
    assert!(xml.contains("AuthnRequestsSigned=\"true\""));
    assert!(xml.contains("WantAssertionsSigned=\"false\""));
    let connector = eidas::read_metadata(&xml, &c.pinned(), &policy(), NOW).unwrap();
    assert!(matches!(
        connector.role,
        NodeRole::Connector { sp_type: None, .. }
    ));
}

#[test]
fn a_request_reads_back_at_the_proxy_service() {
    for alg in ALGS {
        let c = connector_signer(alg);
        let connector = peer(&connector_metadata_out(&c, None), &c);
        let xml = request_out(Some(SpType::Private))
            .to_signed_xml(&c.key, c.alg, &c.cert)
            .unwrap();
        assert!(xml.contains("ForceAuthn=\"true\""));
        assert!(xml.contains("IsPassive=\"false\""));
        assert!(xml.contains("Comparison=\"minimum\""));
        assert!(!xml.contains("Consent"));
        assert_eq!(eidas::request_issuer(&xml).unwrap(), CONNECTOR_ID);
        let r = read_request(&xml, &connector).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(r.id, REQUEST_ID);
        assert_eq!(r.issuer, CONNECTOR_ID);
        assert_eq!(r.sp_type, SpType::Private);
        assert_eq!(r.provider_name.as_deref(), Some("Demo service"));
        assert_eq!(
            r.requester_id.as_deref(),
            Some("https://service.example.dk")
        );
        assert_eq!(r.loa, EidasLoa::Substantial);
        assert_eq!(r.comparison, Comparison::Minimum);
        assert_eq!(r.requested, request_out(None).requested);
        assert!(r.asks_natural_person());
        assert!(!r.asks_legal_person());
        assert_eq!(
            r.name_id_format.as_deref(),
            Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")
        );
        assert_eq!(r.acs_url, None);
    }
}

#[test]
fn the_sp_type_may_come_from_the_metadata_instead() {
    let c = connector_signer(SignatureAlg::RsaPssSha256);
    let connector = peer(&connector_metadata_out(&c, Some(SpType::Public)), &c);
    let xml = request_out(None)
        .to_signed_xml(&c.key, c.alg, &c.cert)
        .unwrap();
    assert!(!xml.contains("SPType"));
    assert_eq!(
        read_request(&xml, &connector).unwrap().sp_type,
        SpType::Public
    );
}

#[test]
fn a_success_response_reads_back_with_latin_and_non_latin_names() {
    for alg in ALGS {
        for sign_assertion in [false, true] {
            let p = proxy_signer(alg);
            let proxy = peer(&proxy_metadata_out(&p), &p);
            let xml = signed_response(&success(), &p, sign_assertion, EncryptOptions::default());
            assert!(!xml.contains("Papadopoulos"), "the assertion is encrypted");
            assert_eq!(eidas::response_issuer(&xml).unwrap(), PROXY_ID);
            let read = read_response(&xml, &proxy)
                .unwrap_or_else(|e| panic!("{alg:?} {sign_assertion}: {e}"));
            let ReadResponse::Success(a) = read else {
                panic!("not a success");
            };
            assert_eq!(a.id, ASSERTION_ID);
            assert_eq!(a.name_id, PERSON);
            assert_eq!(a.loa, EidasLoa::High);
            assert_eq!(a.not_on_or_after, NOW + time::Duration::minutes(5));
            assert_eq!(a.authn_instant, NOW - time::Duration::seconds(30));
            assert_eq!(a.attributes, attributes());
            assert_eq!(a.person_identifier().unwrap().as_str(), PERSON);
            let family = a.attribute(eidas::FAMILY_NAME.name).unwrap();
            assert_eq!(family.latin(), Some("Papadopoulos"));
            assert_eq!(family.original(), Some("Παπαδόπουλος"));
        }
    }
}

#[test]
fn the_assertion_carries_typed_values_and_the_latin_script_flag() {
    // Decrypted by hand: the assertion stands alone with its namespaces.
    let p = proxy_signer(SignatureAlg::RsaPssSha256);
    let xml = signed_response(&success(), &p, false, EncryptOptions::default());
    let doc = eid_saml::xml::Document::parse(&xml).unwrap();
    let ea = doc
        .root()
        .child(eid_saml::xml::QName::ENCRYPTED_ASSERTION)
        .unwrap()
        .unwrap();
    let plain = eid_saml::enc::decrypt(ea, &decryption_key(), &Default::default()).unwrap();
    assert!(plain.contains("xsi:type=\"eidas-natural:PersonIdentifierType\""));
    assert!(plain.contains("xsi:type=\"eidas-natural:CurrentFamilyNameType\""));
    assert!(plain.contains("eidas-natural:LatinScript=\"false\""));
    assert!(
        plain.contains("xmlns:eidas-natural=\"http://eidas.europa.eu/attributes/naturalperson\"")
    );
    assert!(plain.contains("FriendlyName=\"FamilyName\""));
    assert!(plain.contains("http://eidas.europa.eu/LoA/high"));
    assert!(plain.contains("urn:oasis:names:tc:SAML:2.0:cm:bearer"));
}

#[test]
fn a_failure_response_reads_back_as_its_status() {
    for alg in ALGS {
        let p = proxy_signer(alg);
        let proxy = peer(&proxy_metadata_out(&p), &p);
        let status = Status {
            top: TopStatus::Responder,
            sub: Some(SubStatus::RequestDenied),
            message: Some("the citizen declined".into()),
        };
        let xml = signed_response(
            &response_out(ResponseOutcome::Failure(status.clone())),
            &p,
            false,
            EncryptOptions::default(),
        );
        assert!(!xml.contains("EncryptedAssertion"));
        assert_eq!(
            read_response(&xml, &proxy).unwrap(),
            ReadResponse::Failure(status)
        );
    }
}

#[test]
fn refused_requests_map_to_proxy_service_statuses() {
    let c = connector_signer(SignatureAlg::RsaPssSha256);
    let connector = peer(&connector_metadata_out(&c, Some(SpType::Public)), &c);
    let xml = request_out(Some(SpType::Public))
        .to_signed_xml(&c.key, c.alg, &c.cert)
        .unwrap();
    let e = read_request(&xml, &connector).unwrap_err();
    assert_eq!(e.status().top, TopStatus::Requester);
    assert_eq!(e.status().sub, Some(SubStatus::RequestDenied));
    let mut unknown = request_out(None);
    unknown.requested[0].required = false;
    let xml = unknown.to_signed_xml(&c.key, c.alg, &c.cert).unwrap();
    let e = read_request(&xml, &connector).unwrap_err();
    assert_eq!(e.status().sub, Some(SubStatus::InvalidAttrNameOrValue));
}

#[test]
fn person_identifiers_are_checked() {
    use eidas::PersonIdentifier as P;
    assert_eq!(P::parse("ES/AT/02635542Y").unwrap().issuing_country(), "ES");
    assert_eq!(
        P::parse("ES/AT/02635542Y").unwrap().destination_country(),
        "AT"
    );
    assert!(P::parse("EL/DK/a/b:c").is_some());
    assert!(P::new("DK", "XA", &"x".repeat(250)).is_some());
    for bad in [
        "",
        "ES/AT/",
        "es/AT/1",
        "ES/at/1",
        "ESP/AT/1",
        "ES/A/1",
        "ES-AT-1",
        "ES/AT/with space",
        "ES/AT/tab\t",
        "ES/AT/æøå",
        "ES/AT1",
    ] {
        assert!(P::parse(bad).is_none(), "{bad:?}");
    }
    assert!(P::new("DK", "XA", &"x".repeat(251)).is_none());
}

#[test]
fn every_attribute_has_a_definition_with_its_friendly_name_and_type() {
    assert_eq!(eidas::ATTRIBUTES.len(), 26);
    for d in eidas::ATTRIBUTES {
        assert_eq!(eidas::definition(d.name), Some(d));
        let (prefix, ns) = if d.legal {
            ("eidas-legal:", eidas::NS_LEGAL_PERSON)
        } else {
            ("eidas-natural:", eidas::NS_NATURAL_PERSON)
        };
        assert!(d.xsi_type.starts_with(prefix), "{}", d.name);
        assert!(d.name.starts_with(ns), "{}", d.name);
    }
    let phone = eidas::definition("http://eidas.europa.eu/attributes/naturalperson/PhoneNumber");
    assert!(phone.is_some());
    let vat =
        eidas::definition("http://eidas.europa.eu/attributes/legalperson/VATRegistrationNumber")
            .unwrap();
    assert_eq!(vat.friendly, "VATRegistration");
    assert!(
        eidas::definition("http://eidas.europa.eu/attributes/naturalperson/Shoesize").is_none()
    );
}
