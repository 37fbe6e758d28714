//! The proxy service refuses every AuthnRequest that breaks a rule of the profile (PROTOCOLS.md
//! §4.1), with the error of that rule.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod eidas_support;

use eid_saml::dsig::{DsigError, SignatureAlg};
use eid_saml::eidas::{
    self, Comparison, EidasError, PeerMetadata, RequestedAttribute, SpType, SubStatus,
};
use eidas_support::*;

const ALG: SignatureAlg = SignatureAlg::RsaPssSha256;

/// A connector without SPType in its metadata, and its signed request with SPType `public`.
fn setup() -> (Signer, PeerMetadata, String) {
    let c = connector_signer(ALG);
    let connector = peer(&connector_metadata_out(&c, None), &c);
    let xml = request_out(Some(SpType::Public))
        .to_signed_xml(&c.key, c.alg, &c.cert)
        .unwrap();
    (c, connector, xml)
}

fn refused_by_rule(xml: &str, connector: &PeerMetadata, rule: &str) -> EidasError {
    match read_request(xml, connector) {
        Err(e) => {
            assert!(is_rule(&e, rule), "expected {rule:?}, got {e:?}");
            e
        }
        Ok(_) => panic!("accepted; expected {rule:?}"),
    }
}

#[test]
fn the_untouched_request_and_a_resigned_copy_are_accepted() {
    let (c, connector, xml) = setup();
    assert!(read_request(&xml, &connector).is_ok());
    assert!(read_request(&resign(&xml, &c, |x| x), &connector).is_ok());
}

#[test]
fn sp_type_in_both_the_request_and_the_metadata_or_in_neither_is_refused() {
    let c = connector_signer(ALG);
    let with = peer(&connector_metadata_out(&c, Some(SpType::Private)), &c);
    let without = peer(&connector_metadata_out(&c, None), &c);
    let both = request_out(Some(SpType::Public))
        .to_signed_xml(&c.key, c.alg, &c.cert)
        .unwrap();
    refused_by_rule(
        &both,
        &with,
        "SPType is in both the request and the metadata",
    );
    let neither = request_out(None)
        .to_signed_xml(&c.key, c.alg, &c.cert)
        .unwrap();
    refused_by_rule(
        &neither,
        &without,
        "SPType is in neither the request nor the metadata",
    );
    let bad = resign(&both, &c, |x| replace(&x, ">public<", ">semi-public<"));
    refused_by_rule(
        &bad,
        &without,
        "SPType is not public or private, or occurs twice",
    );
}

#[test]
fn force_authn_must_be_true_and_is_passive_not_true() {
    let (c, connector, xml) = setup();
    let no_force = resign(&xml, &c, |x| {
        replace(&x, "ForceAuthn=\"true\"", "ForceAuthn=\"false\"")
    });
    refused_by_rule(&no_force, &connector, "ForceAuthn is not true");
    let absent = resign(&xml, &c, |x| replace(&x, " ForceAuthn=\"true\"", ""));
    refused_by_rule(&absent, &connector, "ForceAuthn is not true");
    let passive = resign(&xml, &c, |x| {
        replace(&x, "IsPassive=\"false\"", "IsPassive=\"true\"")
    });
    refused_by_rule(&passive, &connector, "IsPassive is true");
}

#[test]
fn exactly_one_notified_level_with_minimum_or_exact() {
    let (c, connector, xml) = setup();
    let substantial = "<saml2:AuthnContextClassRef>http://eidas.europa.eu/LoA/substantial</saml2:AuthnContextClassRef>";
    let two = resign(&xml, &c, |x| {
        replace(
            &x,
            substantial,
            &format!(
                "{substantial}<saml2:AuthnContextClassRef>http://eidas.europa.eu/LoA/high</saml2:AuthnContextClassRef>"
            ),
        )
    });
    let e = refused_by_rule(&two, &connector, "not exactly one level of assurance");
    assert_eq!(e.status().sub, Some(SubStatus::NoAuthnContext));
    let none = resign(&xml, &c, |x| replace(&x, substantial, ""));
    refused_by_rule(&none, &connector, "not exactly one level of assurance");
    let not_notified = resign(&xml, &c, |x| {
        replace(
            &x,
            "http://eidas.europa.eu/LoA/substantial",
            "http://eidas.europa.eu/NotNotified/LoA/substantial",
        )
    });
    refused_by_rule(
        &not_notified,
        &connector,
        "a non-notified level of assurance",
    );
    let better = resign(&xml, &c, |x| {
        replace(&x, "Comparison=\"minimum\"", "Comparison=\"better\"")
    });
    refused_by_rule(
        &better,
        &connector,
        "Comparison is neither minimum nor exact",
    );
    let absent = resign(&xml, &c, |x| replace(&x, " Comparison=\"minimum\"", ""));
    assert_eq!(
        read_request(&absent, &connector).unwrap().comparison,
        Comparison::Exact
    );
}

#[test]
fn requested_attributes_must_be_known_unique_and_hold_a_required_minimum_data_set() {
    let (c, connector, xml) = setup();
    let birth = "http://eidas.europa.eu/attributes/naturalperson/BirthName";
    let unknown = resign(&xml, &c, |x| {
        replace(
            &x,
            birth,
            "http://eidas.europa.eu/attributes/naturalperson/Shoesize",
        )
    });
    let e = refused_by_rule(
        &unknown,
        &connector,
        "a requested attribute is not an eIDAS attribute",
    );
    assert_eq!(e.status().sub, Some(SubStatus::InvalidAttrNameOrValue));
    let twice = resign(&xml, &c, |x| replace(&x, birth, eidas::GIVEN_NAME.name));
    refused_by_rule(&twice, &connector, "an attribute occurs twice");

    let mut optional = request_out(Some(SpType::Public));
    optional.requested[3].required = false;
    let xml = optional.to_signed_xml(&c.key, c.alg, &c.cert).unwrap();
    refused_by_rule(
        &xml,
        &connector,
        "neither the natural- nor the legal-person minimum data set is requested as required",
    );

    let mut legal = request_out(Some(SpType::Public));
    legal.requested = eidas::LEGAL_MINIMUM
        .iter()
        .map(|d| RequestedAttribute {
            name: d.name.into(),
            required: true,
        })
        .collect();
    let xml = legal.to_signed_xml(&c.key, c.alg, &c.cert).unwrap();
    let r = read_request(&xml, &connector).unwrap();
    assert!(r.asks_legal_person() && !r.asks_natural_person());
}

#[test]
fn at_most_one_requester_id_of_at_most_1024_characters() {
    let (c, connector, xml) = setup();
    let scoping = "<saml2p:Scoping><saml2p:RequesterID>https://service.example.dk</saml2p:RequesterID></saml2p:Scoping>";
    let long = resign(&xml, &c, |x| {
        replace(&x, "https://service.example.dk", &"x".repeat(1025))
    });
    refused_by_rule(
        &long,
        &connector,
        "RequesterID is empty, longer than 1024 characters or has control characters",
    );
    let just = resign(&xml, &c, |x| {
        replace(&x, "https://service.example.dk", &"x".repeat(1024))
    });
    assert!(read_request(&just, &connector).is_ok());
    let extension = "<eidas:RequesterID>https://other.example.dk</eidas:RequesterID>";
    let twice = resign(&xml, &c, |x| {
        replace(
            &x,
            "</saml2p:Extensions>",
            &format!("{extension}</saml2p:Extensions>"),
        )
    });
    refused_by_rule(&twice, &connector, "more than one RequesterID");
    let in_scoping_twice = resign(&xml, &c, |x| {
        replace(
            &x,
            "</saml2p:Scoping>",
            "<saml2p:RequesterID>https://other.example.dk</saml2p:RequesterID></saml2p:Scoping>",
        )
    });
    refused_by_rule(&in_scoping_twice, &connector, "more than one RequesterID");
    // The Estonian form alone is read.
    let estonian = resign(&xml, &c, |x| {
        replace(
            &replace(&x, scoping, ""),
            "</saml2p:Extensions>",
            &format!("{extension}</saml2p:Extensions>"),
        )
    });
    assert_eq!(
        read_request(&estonian, &connector)
            .unwrap()
            .requester_id
            .as_deref(),
        Some("https://other.example.dk")
    );
    // Our writer refuses to send one too long.
    let mut out = request_out(None);
    out.requester_id = Some("x".repeat(1025));
    assert!(matches!(
        out.to_signed_xml(&c.key, c.alg, &c.cert),
        Err(EidasError::Write(_))
    ));
}

#[test]
fn a_request_signed_by_another_key_or_unsigned_is_refused() {
    let (_, connector, _) = setup();
    for alg in [SignatureAlg::RsaPssSha256, SignatureAlg::EcdsaSha256] {
        let s = stranger(alg);
        let xml = request_out(Some(SpType::Public))
            .to_signed_xml(&s.key, s.alg, &s.cert)
            .unwrap();
        let e = read_request(&xml, &connector).unwrap_err();
        assert!(
            matches!(e, EidasError::Signature(DsigError::Invalid)),
            "{e:?}"
        );
        assert_eq!(e.status().sub, Some(SubStatus::RequestDenied));
    }
    let (_, connector, xml) = setup();
    assert!(matches!(
        read_request(&unsigned(&xml), &connector),
        Err(EidasError::Signature(DsigError::Unsigned))
    ));
}

#[test]
fn issuer_destination_time_and_acs_are_checked() {
    let (c, connector, xml) = setup();
    let issuer = resign(&xml, &c, |x| {
        replace(
            &x,
            &format!(">{CONNECTOR_ID}<"),
            ">https://evil.example/metadata<",
        )
    });
    refused_by_rule(&issuer, &connector, "the Issuer is not the expected peer");
    let destination = resign(&xml, &c, |x| {
        replace(
            &x,
            &format!("Destination=\"{SSO}\""),
            "Destination=\"https://evil.example/sso\"",
        )
    });
    refused_by_rule(
        &destination,
        &connector,
        "the Destination is not this endpoint",
    );
    // A signed request without a Destination could be replayed at any proxy service.
    let none = resign(&xml, &c, |x| {
        replace(&x, &format!(" Destination=\"{SSO}\""), "")
    });
    refused_by_rule(&none, &connector, "the Destination is not this endpoint");
    let old = resign(&xml, &c, |x| {
        replace(
            &x,
            "IssueInstant=\"2026-11-30T10:00:00Z\"",
            "IssueInstant=\"2026-11-30T09:50:00Z\"",
        )
    });
    assert!(matches!(
        read_request(&old, &connector),
        Err(EidasError::Expired(_))
    ));
    let acs = resign(&xml, &c, |x| {
        replace(
            &x,
            " ForceAuthn=",
            " AssertionConsumerServiceURL=\"https://evil.example/acs\" ForceAuthn=",
        )
    });
    refused_by_rule(
        &acs,
        &connector,
        "AssertionConsumerServiceURL is not the connector's",
    );
    let ours = resign(&xml, &c, |x| {
        replace(
            &x,
            " ForceAuthn=",
            &format!(" AssertionConsumerServiceURL=\"{ACS}\" ForceAuthn="),
        )
    });
    assert_eq!(
        read_request(&ours, &connector).unwrap().acs_url.as_deref(),
        Some(ACS)
    );
    let policy = resign(&xml, &c, |x| {
        replace(
            &x,
            "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        )
    });
    let e = refused_by_rule(
        &policy,
        &connector,
        "NameIDPolicy format is not persistent, transient or unspecified",
    );
    assert_eq!(e.status().sub, Some(SubStatus::InvalidNameIdPolicy));
    let subject = resign(&xml, &c, |x| {
        replace(
            &x,
            "<saml2p:NameIDPolicy",
            "<saml2:Subject><saml2:NameID>x</saml2:NameID></saml2:Subject><saml2p:NameIDPolicy",
        )
    });
    refused_by_rule(
        &subject,
        &connector,
        "an element the profile does not allow",
    );
}

#[test]
fn a_request_from_a_proxy_service_is_refused() {
    let c = connector_signer(ALG);
    let mut out = proxy_metadata_out(&c);
    out.entity_id = CONNECTOR_ID.into();
    let not_connector = peer(&out, &c);
    let xml = request_out(Some(SpType::Public))
        .to_signed_xml(&c.key, c.alg, &c.cert)
        .unwrap();
    refused_by_rule(
        &xml,
        &not_connector,
        "the peer's metadata is not a connector's",
    );
}
