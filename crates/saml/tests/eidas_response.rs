//! The connector refuses every Response that breaks a rule of the profile, with the error of
//! that rule (so removing the rule fails its test).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod eidas_support;

use eid_saml::dsig::{DsigError, SignatureAlg};
use eid_saml::eidas::{EidasError, EidasLoa, ReadResponse, ResponseOutcome, Status, TopStatus};
use eid_saml::enc::EncryptOptions;
use eidas_support::*;

const ALG: SignatureAlg = SignatureAlg::RsaPssSha256;

fn setup() -> (Signer, eid_saml::eidas::PeerMetadata) {
    let p = proxy_signer(ALG);
    let proxy = peer(&proxy_metadata_out(&p), &p);
    (p, proxy)
}

fn sign(out: &eid_saml::eidas::ResponseOut, p: &Signer) -> String {
    signed_response(out, p, false, EncryptOptions::default())
}

fn refused_by_rule(xml: &str, proxy: &eid_saml::eidas::PeerMetadata, rule: &str) {
    match read_response(xml, proxy) {
        Err(e) => assert!(is_rule(&e, rule), "expected {rule:?}, got {e:?}"),
        Ok(_) => panic!("accepted; expected {rule:?}"),
    }
}

#[test]
fn the_untouched_response_and_a_resigned_copy_are_accepted() {
    // The mutations below re-sign; this shows re-signing alone changes nothing.
    let (p, proxy) = setup();
    let xml = sign(&success(), &p);
    assert!(read_response(&xml, &proxy).is_ok());
    assert!(read_response(&resign(&xml, &p, |x| x), &proxy).is_ok());
    assert!(read_response(&rewrite_assertion(&xml, &p, |x| x), &proxy).is_ok());
}

#[test]
fn a_response_signed_by_a_key_not_in_the_metadata_is_refused() {
    let (_, proxy) = setup();
    for alg in [SignatureAlg::RsaPssSha256, SignatureAlg::EcdsaSha256] {
        let xml = sign(&success(), &stranger(alg));
        assert!(matches!(
            read_response(&xml, &proxy),
            Err(EidasError::Signature(DsigError::Invalid))
        ));
    }
}

#[test]
fn an_unsigned_response_is_refused() {
    let (p, proxy) = setup();
    let xml = unsigned(&sign(&success(), &p));
    assert!(matches!(
        read_response(&xml, &proxy),
        Err(EidasError::Signature(DsigError::Unsigned))
    ));
}

#[test]
fn a_signature_algorithm_outside_the_policy_is_refused() {
    let p = proxy_signer(SignatureAlg::RsaSha256);
    let proxy = peer(&proxy_metadata_out(&p), &p);
    let xml = sign(&success(), &p);
    let expect = Expect {
        policy: eid_saml::dsig::AlgorithmPolicy {
            signature: vec![SignatureAlg::RsaPssSha256, SignatureAlg::EcdsaSha256],
            ..policy()
        },
        ..Expect::default()
    };
    assert!(matches!(
        read_response_with(&xml, &proxy, &expect),
        Err(EidasError::Signature(DsigError::AlgorithmNotAllowed(_)))
    ));
}

#[test]
fn a_plaintext_assertion_is_refused_instead_of_or_beside_the_encrypted_one() {
    let (p, proxy) = setup();
    let xml = sign(&success(), &p);
    let plain = decrypted(&xml);
    let plain = plain
        .strip_prefix("<?xml version=\"1.0\"?>")
        .unwrap_or(&plain);
    let instead = resign(&xml, &p, |x| replace(&x, &encrypted_part(&x), plain));
    refused_by_rule(&instead, &proxy, "a plaintext Assertion");
    let beside = resign(&xml, &p, |x| {
        let ea = encrypted_part(&x);
        replace(&x, &ea, &format!("{ea}{plain}"))
    });
    refused_by_rule(&beside, &proxy, "a plaintext Assertion");
}

#[test]
fn two_encrypted_assertions_or_none_are_refused() {
    let (p, proxy) = setup();
    let xml = sign(&success(), &p);
    let two = resign(&xml, &p, |x| {
        let ea = encrypted_part(&x);
        replace(&x, &ea, &format!("{ea}{ea}"))
    });
    refused_by_rule(&two, &proxy, "not exactly one EncryptedAssertion");
    let hidden = resign(&xml, &p, |x| {
        let ea = encrypted_part(&x);
        replace(
            &x,
            "</saml2p:Status>",
            &format!("<saml2p:StatusDetail>{ea}</saml2p:StatusDetail></saml2p:Status>"),
        )
    });
    refused_by_rule(&hidden, &proxy, "not exactly one EncryptedAssertion");
    let none = resign(&xml, &p, |x| replace(&x, &encrypted_part(&x), ""));
    refused_by_rule(&none, &proxy, "not exactly one EncryptedAssertion");
}

#[test]
fn a_failure_with_an_assertion_is_refused() {
    let (p, proxy) = setup();
    let xml = sign(&success(), &p);
    let failing = resign(&xml, &p, |x| {
        replace(
            &x,
            "urn:oasis:names:tc:SAML:2.0:status:Success",
            "urn:oasis:names:tc:SAML:2.0:status:Responder",
        )
    });
    refused_by_rule(&failing, &proxy, "a failure status with an assertion");
}

#[test]
fn a_level_lower_than_requested_is_refused() {
    let (p, proxy) = setup();
    let mut a = assertion_out(attributes());
    a.loa = EidasLoa::Low;
    let xml = sign(&response_out(ResponseOutcome::Success(a)), &p);
    refused_by_rule(
        &xml,
        &proxy,
        "the level of assurance is lower than requested",
    );
    // Equal is enough.
    let mut a = assertion_out(attributes());
    a.loa = EidasLoa::Substantial;
    let xml = sign(&response_out(ResponseOutcome::Success(a)), &p);
    assert!(read_response(&xml, &proxy).is_ok());
}

#[test]
fn a_non_notified_or_unknown_level_is_refused() {
    let (p, proxy) = setup();
    let xml = sign(&success(), &p);
    for (uri, rule) in [
        (
            "http://eidas.europa.eu/NotNotified/LoA/high",
            "a non-notified level of assurance",
        ),
        (
            "http://eidas.europa.eu/LoA/NotNotified/high",
            "a non-notified level of assurance",
        ),
        (
            "http://eidas.europa.eu/LoA/extreme",
            "not an eIDAS level of assurance",
        ),
    ] {
        let changed = rewrite_assertion(&xml, &p, |a| {
            replace(&a, "http://eidas.europa.eu/LoA/high", uri)
        });
        refused_by_rule(&changed, &proxy, rule);
    }
}

#[test]
fn a_missing_required_attribute_is_refused_and_an_unknown_one_dropped() {
    let (p, proxy) = setup();
    let mut attrs = attributes();
    attrs.retain(|a| a.name != eid_saml::eidas::GIVEN_NAME.name);
    let xml = sign(
        &response_out(ResponseOutcome::Success(assertion_out(attrs))),
        &p,
    );
    refused_by_rule(&xml, &proxy, "a required attribute is missing");

    let xml = sign(&success(), &p);
    let extra = rewrite_assertion(&xml, &p, |a| {
        replace(
            &a,
            "</saml2:AttributeStatement>",
            "<saml2:Attribute Name=\"http://example.org/shoesize\"><saml2:AttributeValue>44</saml2:AttributeValue></saml2:Attribute></saml2:AttributeStatement>",
        )
    });
    let Ok(ReadResponse::Success(a)) = read_response(&extra, &proxy) else {
        panic!("refused an unknown attribute");
    };
    assert_eq!(a.attributes, attributes());
}

#[test]
fn a_repeated_attribute_or_a_foreign_person_identifier_is_refused() {
    let (p, proxy) = setup();
    let mut attrs = attributes();
    attrs.push(attrs[2].clone());
    let xml = sign(
        &response_out(ResponseOutcome::Success(assertion_out(attrs))),
        &p,
    );
    refused_by_rule(&xml, &proxy, "an attribute occurs twice");
    let mut attrs = attributes();
    attrs[0] = attribute(
        eid_saml::eidas::PERSON_IDENTIFIER.name,
        vec![latin("ES/DK/123")],
    );
    let xml = sign(
        &response_out(ResponseOutcome::Success(assertion_out(attrs))),
        &p,
    );
    refused_by_rule(
        &xml,
        &proxy,
        "the person identifier is malformed or not issued by the peer's country",
    );
    let mut attrs = attributes();
    attrs[3] = attribute(
        eid_saml::eidas::DATE_OF_BIRTH.name,
        vec![latin("1980-02-30")],
    );
    let xml = sign(
        &response_out(ResponseOutcome::Success(assertion_out(attrs))),
        &p,
    );
    refused_by_rule(&xml, &proxy, "an attribute value is malformed");
}

#[test]
fn an_answer_to_another_request_is_refused_in_the_response_and_the_confirmation() {
    let (p, proxy) = setup();
    let mut out = success();
    out.in_response_to = "_another".into();
    refused_by_rule(&sign(&out, &p), &proxy, "InResponseTo is not our request");
    let xml = sign(&success(), &p);
    let changed = rewrite_assertion(&xml, &p, |a| {
        replace(
            &a,
            &format!("InResponseTo=\"{REQUEST_ID}\""),
            "InResponseTo=\"_another\"",
        )
    });
    refused_by_rule(
        &changed,
        &proxy,
        "not one bearer SubjectConfirmation for our request at our ACS",
    );
}

#[test]
fn a_wrong_destination_recipient_or_audience_is_refused() {
    let (p, proxy) = setup();
    let mut out = success();
    out.destination = "https://evil.example/acs".into();
    refused_by_rule(
        &sign(&out, &p),
        &proxy,
        "the Destination is not this endpoint",
    );

    let mut a = assertion_out(attributes());
    a.recipient = "https://evil.example/acs".into();
    refused_by_rule(
        &sign(&response_out(ResponseOutcome::Success(a)), &p),
        &proxy,
        "not one bearer SubjectConfirmation for our request at our ACS",
    );

    let mut a = assertion_out(attributes());
    a.audience = "https://evil.example/metadata".into();
    refused_by_rule(
        &sign(&response_out(ResponseOutcome::Success(a)), &p),
        &proxy,
        "we are not the only audience",
    );
    let xml = sign(&success(), &p);
    let two = rewrite_assertion(&xml, &p, |a| {
        replace(
            &a,
            "</saml2:AudienceRestriction>",
            "<saml2:Audience>https://other.example</saml2:Audience></saml2:AudienceRestriction>",
        )
    });
    refused_by_rule(&two, &proxy, "we are not the only audience");
}

#[test]
fn expired_confirmation_conditions_or_issue_instant_are_refused() {
    let (p, proxy) = setup();
    let mut a = assertion_out(attributes());
    a.not_on_or_after = NOW - time::Duration::minutes(6);
    assert!(matches!(
        read_response(
            &sign(&response_out(ResponseOutcome::Success(a)), &p),
            &proxy
        ),
        Err(EidasError::Expired("the SubjectConfirmation has expired"))
    ));
    // A confirmation of years (up to the end of time) is refused, without overflowing.
    for far in [
        NOW + time::Duration::hours(2),
        time::macros::datetime!(9999-12-31 23:59:59 UTC),
    ] {
        let mut a = assertion_out(attributes());
        a.not_on_or_after = far;
        assert!(
            read_response(
                &sign(&response_out(ResponseOutcome::Success(a)), &p),
                &proxy
            )
            .is_err(),
            "{far}"
        );
    }
    // Within the skew: accepted.
    let mut a = assertion_out(attributes());
    a.not_on_or_after = NOW - time::Duration::minutes(4);
    assert!(
        read_response(
            &sign(&response_out(ResponseOutcome::Success(a)), &p),
            &proxy
        )
        .is_ok()
    );

    let xml = sign(&success(), &p);
    let changed = rewrite_assertion(&xml, &p, |a| {
        replace(
            &a,
            "NotBefore=\"2026-11-30T10:00:00Z\"",
            "NotBefore=\"2026-11-30T10:20:00Z\"",
        )
    });
    assert!(matches!(
        read_response(&changed, &proxy),
        Err(EidasError::Expired("the Conditions are not yet valid"))
    ));

    let mut out = success();
    out.issue_instant = NOW - time::Duration::minutes(10);
    assert!(matches!(
        read_response(&sign(&out, &p), &proxy),
        Err(EidasError::Expired(_))
    ));
}

#[test]
fn an_issuer_other_than_the_peer_is_refused_on_the_response_and_the_assertion() {
    let (p, proxy) = setup();
    let mut out = success();
    out.issuer = "https://evil.example/metadata".into();
    refused_by_rule(
        &sign(&out, &p),
        &proxy,
        "the Issuer is not the expected peer",
    );
    let xml = sign(&success(), &p);
    let changed = rewrite_assertion(&xml, &p, |a| {
        replace(
            &a,
            &format!(">{PROXY_ID}<"),
            ">https://evil.example/metadata<",
        )
    });
    refused_by_rule(&changed, &proxy, "the Issuer is not the expected peer");
}

#[test]
fn a_signed_assertion_must_verify_with_the_peers_keys() {
    let (p, proxy) = setup();
    let good = signed_response(&success(), &p, true, EncryptOptions::default());
    assert!(read_response(&good, &proxy).is_ok());
    // The assertion signed by a stranger, inside a Response signed by the peer.
    let forged = signed_response(&success(), &stranger(ALG), true, EncryptOptions::default());
    let xml = resign(&good, &p, |x| {
        replace(&x, &encrypted_part(&x), &encrypted_part(&forged))
    });
    assert!(matches!(
        read_response(&xml, &proxy),
        Err(EidasError::Signature(DsigError::Invalid))
    ));
}

#[test]
fn a_response_from_a_connector_is_refused() {
    // A connector's metadata (even with the right keys) does not make its signer a proxy service.
    let p = proxy_signer(ALG);
    let mut out = connector_metadata_out(&p, None);
    out.entity_id = PROXY_ID.into();
    let not_proxy = peer(&out, &p);
    refused_by_rule(
        &sign(&success(), &p),
        &not_proxy,
        "the peer's metadata is not a proxy service's",
    );
}

#[test]
fn failure_statuses_are_read_without_an_assertion() {
    let (p, proxy) = setup();
    let status = Status {
        top: TopStatus::Requester,
        sub: None,
        message: None,
    };
    let xml = sign(&response_out(ResponseOutcome::Failure(status.clone())), &p);
    assert_eq!(
        read_response(&xml, &proxy).unwrap(),
        ReadResponse::Failure(status)
    );
    let unknown = resign(&xml, &p, |x| {
        replace(
            &x,
            "urn:oasis:names:tc:SAML:2.0:status:Requester",
            "urn:example:status:Weird",
        )
    });
    refused_by_rule(&unknown, &proxy, "the Status is not a known top-level code");
}
