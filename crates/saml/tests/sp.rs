//! The service-provider side: a strict SP's reading of the IdP's Response (each rule refuses what
//! breaks it), the requests and metadata it writes, the IdP metadata it reads, and single logout.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod dsig_support;

use dsig_support::{cert, other_key, pem, pinned, rsa_key};
use eid_core::Loa;
use eid_keys::{Alg, SigningKey};
use eid_saml::dsig::{self, DsigError, PinnedKeys, SignatureAlg};
use eid_saml::enc::{self, DecryptionKey, EncryptOptions, RecipientKey};
use eid_saml::messages::{
    Assertion, AssertionAttribute, AuthnRequest, EncryptedAssertion, LogoutRequestOut,
    LogoutResponse, LogoutResponseOut, NameId, Response, StatusCode,
};
use eid_saml::metadata::{IdpMetadata, SpMetadata};
use eid_saml::sp::{
    AuthnRequestOut, Expectations, IdpDescriptor, SpError, SpKeys, SpMetadataOut,
    check_logout_response, read_response, soap,
};
use proptest::prelude::*;
use std::sync::Arc;
use time::{Duration, OffsetDateTime, macros::datetime};

const IDP: &str = "https://broker.example.dk/saml/metadata";
const SP: &str = "https://sp.example.dk/saml/metadata";
const ACS: &str = "https://sp.example.dk/saml/acs";
const REQUEST: &str = "_request1";
const PERSON: &str = "0f8e3c8e-3c7c-4c55-9a4b-1f0c3e2d1a00";
const NOW: OffsetDateTime = datetime!(2026-11-30 10:00:00 UTC);
const SKEW: Duration = Duration::minutes(5);

fn sp_decryption() -> DecryptionKey {
    DecryptionKey::from_pem(&pem("rsa-enc.pem")).unwrap()
}

fn sp_recipient() -> RecipientKey {
    let key = SigningKey::from_pem(&pem("rsa-enc.pem"), Alg::RS256).unwrap();
    RecipientKey::from_certificate(&cert(&key)).unwrap()
}

fn idp_key() -> std::sync::Arc<SigningKey> {
    rsa_key(Alg::RS256)
}

/// The assertion the IdP issues for our request, now.
fn assertion() -> Assertion {
    Assertion {
        id: "_assertion1".into(),
        issue_instant: NOW,
        issuer: IDP.into(),
        subject: uuid::Uuid::parse_str(PERSON).unwrap(),
        sp_name_qualifier: None,
        recipient: ACS.into(),
        in_response_to: REQUEST.into(),
        confirmation_not_on_or_after: NOW + Duration::minutes(5),
        not_before: NOW,
        not_on_or_after: NOW + Duration::minutes(5),
        audience: SP.into(),
        authn_instant: NOW - Duration::minutes(1),
        session_index: "session-index-1".into(),
        loa: Loa::Substantial,
        attributes: vec![AssertionAttribute {
            name: "https://data.gov.dk/model/core/eid/fullName".into(),
            values: vec!["Anna Hansen".into()],
        }],
    }
}

fn envelope() -> Response {
    Response {
        id: "_response1".into(),
        in_response_to: REQUEST.into(),
        issue_instant: NOW,
        destination: ACS.into(),
        issuer: IDP.into(),
    }
}

/// The assertion XML signed by `key`, then encrypted for the SP.
fn encrypted(assertion_xml: &str, key: &Arc<SigningKey>) -> String {
    let signed = dsig::sign_enveloped(
        assertion_xml,
        "_assertion1",
        key,
        SignatureAlg::RsaSha256,
        &cert(key),
    )
    .unwrap();
    enc::encrypt_element(&signed, &sp_recipient(), EncryptOptions::default()).unwrap()
}

/// A Response holding the assertion XML as edited by `edit` before signing.
fn response_with(edit: impl Fn(String) -> String) -> String {
    let xml = edit(assertion().to_xml());
    let ea = EncryptedAssertion::from_encrypted_xml(encrypted(&xml, &idp_key())).unwrap();
    envelope().success_xml(&ea)
}

fn genuine() -> String {
    response_with(|x| x)
}

fn expect() -> Expectations<'static> {
    Expectations {
        idp_entity_id: IDP,
        sp_entity_id: SP,
        acs_url: ACS,
        request_id: REQUEST,
        min_loa: Some(Loa::Substantial),
        now: NOW,
        skew: SKEW,
    }
}

fn read_with(
    xml: &str,
    expect: &Expectations<'_>,
) -> Result<eid_saml::sp::ReceivedAssertion, SpError> {
    let idp = pinned(&idp_key());
    let decryption = sp_decryption();
    read_response(
        xml,
        expect,
        &SpKeys {
            idp: &idp,
            decryption: &decryption,
        },
    )
}

fn read(xml: &str) -> Result<eid_saml::sp::ReceivedAssertion, SpError> {
    read_with(xml, &expect())
}

#[test]
fn a_genuine_response_gives_the_person_level_session_and_attributes() {
    let got = read(&genuine()).unwrap();
    assert_eq!(got.person.to_string(), PERSON);
    assert_eq!(
        got.name_id,
        format!("https://data.gov.dk/model/core/eid/person/uuid/{PERSON}")
    );
    assert_eq!(got.loa, Loa::Substantial);
    assert_eq!(got.session_index, "session-index-1");
    assert_eq!(got.id, "_assertion1");
    assert_eq!(got.valid_until, NOW + Duration::minutes(5));
    assert_eq!(
        got.attribute("https://data.gov.dk/model/core/eid/fullName"),
        Some("Anna Hansen")
    );
    assert_eq!(
        got.authn_context.as_deref(),
        Some("https://data.gov.dk/concept/core/nsis/loa/Substantial")
    );
    assert!(!format!("{got:?}").contains("Anna"), "no values in Debug");
}

#[test]
fn a_response_to_another_request_is_refused() {
    let other = Expectations {
        request_id: "_another",
        ..expect()
    };
    assert!(matches!(
        read_with(&genuine(), &other),
        Err(SpError::NotOurRequest)
    ));
    // The envelope says ours but the signed confirmation answers another request.
    let xml = response_with(|x| x.replace(r#"InResponseTo="_request1""#, r#"InResponseTo="_x""#));
    assert!(matches!(read(&xml), Err(SpError::Confirmation)));
}

#[test]
fn a_response_for_another_endpoint_is_refused() {
    let other = Expectations {
        acs_url: "https://sp.example.dk/other-acs",
        ..expect()
    };
    assert!(matches!(
        read_with(&genuine(), &other),
        Err(SpError::WrongDestination)
    ));
    let xml = response_with(|x| x.replace(ACS, "https://elsewhere.example/acs"));
    assert!(
        matches!(read(&xml), Err(SpError::Confirmation)),
        "Recipient"
    );
}

#[test]
fn an_assertion_signed_by_another_key_or_not_at_all_is_refused() {
    let xml = assertion().to_xml();
    let ea = EncryptedAssertion::from_encrypted_xml(encrypted(&xml, &other_key())).unwrap();
    assert!(matches!(
        read(&envelope().success_xml(&ea)),
        Err(SpError::Signature(DsigError::Invalid))
    ));
    let unsigned = enc::encrypt_element(&xml, &sp_recipient(), EncryptOptions::default()).unwrap();
    let ea = EncryptedAssertion::from_encrypted_xml(unsigned).unwrap();
    assert!(matches!(
        read(&envelope().success_xml(&ea)),
        Err(SpError::Signature(DsigError::Unsigned))
    ));
}

#[test]
fn an_assertion_changed_after_signing_is_refused() {
    let key = idp_key();
    let signed = dsig::sign_enveloped(
        &assertion().to_xml(),
        "_assertion1",
        &key,
        SignatureAlg::RsaSha256,
        &cert(&key),
    )
    .unwrap();
    let tampered = signed.replace("Anna Hansen", "Mallory");
    let encrypted =
        enc::encrypt_element(&tampered, &sp_recipient(), EncryptOptions::default()).unwrap();
    let ea = EncryptedAssertion::from_encrypted_xml(encrypted).unwrap();
    assert!(matches!(
        read(&envelope().success_xml(&ea)),
        Err(SpError::Signature(DsigError::Invalid))
    ));
}

#[test]
fn exactly_one_encrypted_assertion_and_no_plaintext_one() {
    let genuine = genuine();
    let start = genuine.find("<saml:EncryptedAssertion").unwrap();
    let end =
        genuine.find("</saml:EncryptedAssertion>").unwrap() + "</saml:EncryptedAssertion>".len();
    let ea = &genuine[start..end];
    let two = genuine.replace(ea, &format!("{ea}{ea}"));
    assert!(matches!(read(&two), Err(SpError::AssertionCount)));
    let none = genuine.replace(ea, "");
    assert!(matches!(read(&none), Err(SpError::AssertionCount)));
    let key = idp_key();
    let plain = dsig::sign_enveloped(
        &assertion().to_xml(),
        "_assertion1",
        &key,
        SignatureAlg::RsaSha256,
        &cert(&key),
    )
    .unwrap();
    let plain = dsig_support::strip_decl(&plain);
    let beside = genuine.replace(ea, &format!("{ea}{plain}"));
    assert!(matches!(read(&beside), Err(SpError::AssertionCount)));
}

#[test]
fn an_expired_or_not_yet_valid_assertion_is_refused() {
    let late = Expectations {
        now: NOW + Duration::minutes(11),
        ..expect()
    };
    assert!(read_with(&genuine(), &late).is_err());
    // The confirmation expires first, the conditions later.
    let xml = response_with(|x| x.replace("2026-11-30T10:05:00Z", "2026-11-30T09:50:00Z"));
    let err = read(&xml).unwrap_err();
    assert!(matches!(err, SpError::Confirmation), "{err}");
    let early = Expectations {
        now: NOW - Duration::minutes(10),
        ..expect()
    };
    assert!(read_with(&genuine(), &early).is_err());
    let xml = response_with(|x| {
        x.replace(
            r#"<saml:Conditions NotBefore="2026-11-30T10:00:00Z""#,
            r#"<saml:Conditions NotBefore="2026-11-30T10:30:00Z""#,
        )
    });
    assert!(matches!(
        read(&xml),
        Err(SpError::Conditions("not yet valid"))
    ));
}

#[test]
fn an_assertion_for_another_audience_is_refused() {
    let xml = response_with(|x| x.replace(&format!(">{SP}<"), ">https://other.example/sp<"));
    assert!(matches!(read(&xml), Err(SpError::Conditions(_))));
    let xml = response_with(|x| {
        x.replace("<saml:AudienceRestriction>", "<saml:AudienceRestriction><saml:Audience>https://other.example</saml:Audience></saml:AudienceRestriction><saml:AudienceRestriction>")
    });
    assert!(
        matches!(read(&xml), Err(SpError::Conditions(_))),
        "every restriction must name us"
    );
}

#[test]
fn a_level_below_the_requested_one_or_none_is_refused() {
    let high = Expectations {
        min_loa: Some(Loa::High),
        ..expect()
    };
    assert!(matches!(
        read_with(&genuine(), &high),
        Err(SpError::LevelTooLow {
            wanted: Some(Loa::High),
            got: Some(Loa::Substantial)
        })
    ));
    let any = Expectations {
        min_loa: None,
        ..expect()
    };
    let xml = response_with(|x| {
        x.replace(
            ">Substantial<",
            ">https://data.gov.dk/concept/core/nsis/loa/Substantial<",
        )
    });
    assert!(
        matches!(
            read_with(&xml, &any),
            Err(SpError::LevelTooLow { got: None, .. })
        ),
        "the attribute is the bare word"
    );
}

#[test]
fn a_failure_status_is_reported_after_the_envelope_checks() {
    let xml = envelope().failure_xml(StatusCode::NoAuthnContext);
    assert!(matches!(
        read(&xml),
        Err(SpError::Status(Some(StatusCode::NoAuthnContext)))
    ));
    let other = Expectations {
        request_id: "_another",
        ..expect()
    };
    assert!(matches!(
        read_with(&xml, &other),
        Err(SpError::NotOurRequest)
    ));
}

#[test]
fn another_issuer_is_refused() {
    let xml = response_with(|x| x.replace(&format!(">{IDP}<"), ">https://evil.example<"));
    assert!(matches!(read(&xml), Err(SpError::WrongIssuer)));
    let xml = genuine().replace(&format!(">{IDP}<"), ">https://evil.example<");
    assert!(
        matches!(read(&xml), Err(SpError::WrongIssuer)),
        "the Response's Issuer"
    );
}

#[test]
fn statements_and_subjects_of_another_shape_are_refused() {
    let authn = |x: String| {
        let start = x.find("<saml:AuthnStatement").unwrap();
        let end = x.find("</saml:AuthnStatement>").unwrap() + "</saml:AuthnStatement>".len();
        let statement = x[start..end].to_owned();
        x.replace(&statement, &format!("{statement}{statement}"))
    };
    assert!(matches!(
        read(&response_with(authn)),
        Err(SpError::Statements(_))
    ));
    let no_index = response_with(|x| x.replace(r#" SessionIndex="session-index-1""#, ""));
    assert!(matches!(read(&no_index), Err(SpError::Statements(_))));
    let transient =
        response_with(|x| x.replace("nameid-format:persistent", "nameid-format:transient"));
    assert!(matches!(read(&transient), Err(SpError::Subject(_))));
    let not_a_person = response_with(|x| x.replace("eid/person/uuid/", "eid/professional/uuid/"));
    assert!(matches!(read(&not_a_person), Err(SpError::Subject(_))));
    let twice = response_with(|x| {
        x.replace(
            "</saml:AttributeStatement>",
            r#"<saml:Attribute Name="https://data.gov.dk/model/core/eid/fullName"><saml:AttributeValue>Eve</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>"#,
        )
    });
    assert!(matches!(read(&twice), Err(SpError::Statements(_))));
    let unknown = response_with(|x| {
        x.replace(
            "</saml:Conditions>",
            r#"<saml:Condition xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="x:Y"/></saml:Conditions>"#,
        )
    });
    assert!(matches!(read(&unknown), Err(SpError::Conditions(_))));
}

#[test]
fn the_authn_request_is_what_the_idp_reads() {
    let out = AuthnRequestOut {
        id: "_req".into(),
        issue_instant: NOW,
        destination: "https://broker.example.dk/saml/sso".into(),
        issuer: SP.into(),
        acs_url: ACS.into(),
        force_authn: true,
        min_loa: Some(Loa::High),
    };
    let read = AuthnRequest::parse(&out.to_xml()).unwrap();
    assert_eq!(read.id, "_req");
    assert_eq!(read.issuer, SP);
    assert_eq!(read.minimum_loa().unwrap(), Some(Loa::High));
    assert!(read.force_authn);
    read.check(NOW, SKEW, "https://broker.example.dk/saml/sso")
        .unwrap();
    let plain = AuthnRequestOut {
        min_loa: None,
        force_authn: false,
        ..out
    };
    let read = AuthnRequest::parse(&plain.to_xml()).unwrap();
    assert_eq!(read.minimum_loa().unwrap(), None);
    assert!(!read.force_authn);
}

#[test]
fn the_sp_metadata_is_what_the_idp_registers() {
    let key = other_key();
    let enc_key = SigningKey::from_pem(&pem("rsa-enc.pem"), Alg::RS256).unwrap();
    let out = SpMetadataOut {
        entity_id: SP.into(),
        acs_url: ACS.into(),
        slo_redirect_url: Some("https://sp.example.dk/saml/slo".into()),
        slo_soap_url: Some("https://sp.example.dk/saml/slo/soap".into()),
        signing_certificate: cert(&key),
        encryption_certificate: cert(&enc_key),
    };
    let md = SpMetadata::parse(&out.to_xml()).unwrap();
    assert!(md.authn_requests_signed && md.want_assertions_signed);
    let sp = md.to_saml_sp().unwrap();
    assert_eq!(sp.entity_id, SP);
    assert_eq!(sp.acs.len(), 1);
    assert!(sp.acs[0].is_default && sp.acs[0].location == ACS);
    assert_eq!(sp.slo.len(), 2);
    assert_eq!(sp.signing_certificates, vec![cert(&key)]);
    assert_eq!(sp.encryption_certificate, Some(cert(&enc_key)));
}

fn idp_metadata(valid_until: OffsetDateTime, key: &Arc<SigningKey>) -> String {
    let unsigned = IdpMetadata {
        id: "_md".into(),
        entity_id: IDP.into(),
        valid_until,
        sso_url: "https://broker.example.dk/saml/sso".into(),
        slo_url: "https://broker.example.dk/saml/slo".into(),
        signing_certificates: vec![cert(key)],
        encryption_certificate: cert(key),
    }
    .to_xml();
    dsig::sign_enveloped(&unsigned, "_md", key, SignatureAlg::RsaSha256, &cert(key)).unwrap()
}

#[test]
fn the_idp_metadata_is_read_only_when_signed_and_valid() {
    let key = idp_key();
    let xml = idp_metadata(NOW + Duration::days(7), &key);
    let idp = IdpDescriptor::parse_signed(&xml, None, NOW).unwrap();
    assert_eq!(idp.entity_id, IDP);
    assert_eq!(idp.sso_redirect, "https://broker.example.dk/saml/sso");
    assert_eq!(
        idp.slo_redirect.as_deref(),
        Some("https://broker.example.dk/saml/slo")
    );
    assert_eq!(idp.signing_certificates, vec![cert(&key)]);
    let anchor = pinned(&key);
    assert!(IdpDescriptor::parse_signed(&xml, Some(&anchor), NOW).is_ok());
    let wrong = pinned(&other_key());
    assert!(
        IdpDescriptor::parse_signed(&xml, Some(&wrong), NOW).is_err(),
        "another anchor"
    );
    let tampered = xml.replace("/saml/sso", "/evil/sso");
    assert!(
        IdpDescriptor::parse_signed(&tampered, None, NOW).is_err(),
        "changed after signing"
    );
    let unsigned = xml.split("<ds:Signature").next().unwrap().to_owned()
        + &xml[xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len()..];
    assert!(
        IdpDescriptor::parse_signed(&unsigned, None, NOW).is_err(),
        "unsigned"
    );
    let expired = idp_metadata(NOW - Duration::days(1), &key);
    assert!(
        IdpDescriptor::parse_signed(&expired, None, NOW).is_err(),
        "expired"
    );
}

#[test]
fn a_logout_response_must_answer_our_request_successfully() {
    let response = |in_response_to: &str, status: StatusCode, issuer: &str| {
        LogoutResponse::parse(
            &LogoutResponseOut {
                id: "_lr".into(),
                in_response_to: in_response_to.into(),
                issue_instant: NOW,
                destination: Some("https://sp.example.dk/saml/slo".into()),
                issuer: issuer.into(),
                status,
            }
            .to_xml(),
        )
        .unwrap()
    };
    let check = |r: &LogoutResponse| {
        check_logout_response(
            r,
            IDP,
            "_logout1",
            "https://sp.example.dk/saml/slo",
            NOW,
            SKEW,
        )
    };
    assert!(check(&response("_logout1", StatusCode::Success, IDP)).is_ok());
    assert!(check(&response("_logout1", StatusCode::PartialLogout, IDP)).is_ok());
    assert!(matches!(
        check(&response("_other", StatusCode::Success, IDP)),
        Err(SpError::NotOurRequest)
    ));
    assert!(matches!(
        check(&response("_logout1", StatusCode::Requester, IDP)),
        Err(SpError::Status(_))
    ));
    assert!(matches!(
        check(&response("_logout1", StatusCode::Success, SP)),
        Err(SpError::WrongIssuer)
    ));
}

#[test]
fn a_soap_logout_request_must_be_signed_by_the_idp() {
    let out = LogoutRequestOut {
        id: "_idp-logout".into(),
        issue_instant: NOW,
        destination: "https://sp.example.dk/saml/slo/soap".into(),
        not_on_or_after: NOW + Duration::minutes(5),
        issuer: IDP.into(),
        name_id: NameId {
            value: format!("https://data.gov.dk/model/core/eid/person/uuid/{PERSON}"),
            format: Some(eid_saml::NAMEID_PERSISTENT.into()),
            name_qualifier: None,
            sp_name_qualifier: None,
        },
        session_index: "session-index-1".into(),
    };
    let sign = |key: &Arc<SigningKey>| {
        dsig::sign_enveloped(
            &out.to_xml(),
            &out.id,
            key,
            SignatureAlg::RsaSha256,
            &cert(key),
        )
        .unwrap()
    };
    let idp: PinnedKeys = pinned(&idp_key());
    let request = soap::logout_request(&soap::envelope(&sign(&idp_key())), &idp, IDP).unwrap();
    assert_eq!(request.session_indexes, vec!["session-index-1".to_owned()]);
    assert!(soap::logout_request(&soap::envelope(&sign(&other_key())), &idp, IDP).is_err());
    assert!(
        soap::logout_request(&soap::envelope(&out.to_xml()), &idp, IDP).is_err(),
        "unsigned"
    );
    assert!(
        soap::logout_request(&soap::envelope(&sign(&idp_key())), &idp, "https://other").is_err(),
        "another issuer"
    );
    let two = soap::envelope(&format!(
        "{0}{0}",
        dsig_support::strip_decl(&sign(&idp_key()))
    ));
    assert!(
        soap::logout_request(&two, &idp, IDP).is_err(),
        "two messages"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any byte of a genuine Response changed, or any prefix of it, is refused or read the same:
    /// never a panic, never another person or level.
    #[test]
    fn a_mutated_response_never_panics_nor_reads_differently(
        at in 0usize..8192,
        byte in any::<u8>(),
        cut in 0usize..8192,
    ) {
        let genuine = genuine();
        let mut bytes = genuine.clone().into_bytes();
        let at = at % bytes.len();
        bytes[at] = byte;
        for candidate in [
            String::from_utf8_lossy(&bytes).into_owned(),
            genuine[..genuine.floor_char_boundary(cut % genuine.len())].to_owned(),
        ] {
            if let Ok(got) = read(&candidate) {
                prop_assert_eq!(got.person.to_string(), PERSON);
                prop_assert_eq!(got.loa, Loa::Substantial);
            }
        }
    }

    /// Arbitrary text is refused without a panic.
    #[test]
    fn arbitrary_text_is_refused(text in ".{0,512}") {
        prop_assert!(read(&text).is_err());
        prop_assert!(IdpDescriptor::parse_signed(&text, None, NOW).is_err());
        prop_assert!(soap::logout_request(&text, &pinned(&idp_key()), IDP).is_err());
    }
}
