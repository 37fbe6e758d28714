//! AuthnRequest parsing and its checks: each OIOSAML rule refuses what breaks it.
#![allow(clippy::unwrap_used)]

use eid_core::Loa;
use eid_core::relying_party::{AssertionConsumer, SamlSp};
use eid_saml::messages::{
    AcsRef, AuthnClassRef, AuthnRequest, BINDING_POST, BINDING_REDIRECT, Comparison, MessageError,
    StatusCode,
};
use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2026-11-30 10:00:00 UTC);
const SSO: &str = "https://broker.example.dk/saml/sso";
const SKEW: Duration = Duration::minutes(5);

/// An OIOSAML-style request; `attrs` replaces the default attributes after the namespaces,
/// `body` goes after the Issuer.
fn request(attrs: &str, body: &str) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" {attrs}><saml:Issuer>https://sp.example.dk/saml</saml:Issuer>{body}</samlp:AuthnRequest>"#
    )
}

const ATTRS: &str = r#"ID="_abc123" Version="2.0" IssueInstant="2026-11-30T10:00:00Z" Destination="https://broker.example.dk/saml/sso" AssertionConsumerServiceURL="https://sp.example.dk/saml/acs" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST""#;
const LOA: &str = r#"<samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>https://data.gov.dk/concept/core/nsis/loa/Substantial</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"#;

fn parse(attrs: &str, body: &str) -> Result<AuthnRequest, MessageError> {
    AuthnRequest::parse(&request(attrs, body))
}

#[test]
fn an_oiosaml_request_is_read_into_types() {
    let body = format!(
        r#"<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" AllowCreate="true"/>{LOA}"#
    );
    let req = parse(
        &format!(r#"{ATTRS} ForceAuthn="true" IsPassive="0""#),
        &body,
    )
    .unwrap();
    assert_eq!(req.id, "_abc123");
    assert_eq!(req.issue_instant, NOW);
    assert_eq!(req.destination.as_deref(), Some(SSO));
    assert_eq!(req.issuer, "https://sp.example.dk/saml");
    assert_eq!(
        req.acs,
        AcsRef::Url("https://sp.example.dk/saml/acs".into())
    );
    assert!(req.force_authn && !req.is_passive);
    let ctx = req.requested_authn_context.as_ref().unwrap();
    assert_eq!(ctx.comparison, Comparison::Minimum);
    assert_eq!(ctx.class_refs, vec![AuthnClassRef::Nsis(Loa::Substantial)]);
    assert_eq!(req.minimum_loa(), Ok(Some(Loa::Substantial)));
    let policy = req.name_id_policy.as_ref().unwrap();
    assert!(policy.allow_create);
    req.check(NOW, SKEW, SSO).unwrap();
}

#[test]
fn both_nsis_spellings_are_read_and_other_class_refs_kept() {
    let body = r#"<samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>https://data.gov.dk/concept/core/nsis/High</saml:AuthnContextClassRef><saml:AuthnContextClassRef>https://data.gov.dk/concept/core/nsis/loa/Low</saml:AuthnContextClassRef><saml:AuthnContextClassRef>https://data.gov.dk/eid/Person</saml:AuthnContextClassRef><saml:AuthnContextClassRef>https://data.gov.dk/concept/core/nsis/loa/Medium</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"#;
    let req = parse(ATTRS, body).unwrap();
    let refs = &req.requested_authn_context.as_ref().unwrap().class_refs;
    assert_eq!(refs[0], AuthnClassRef::Nsis(Loa::High));
    assert_eq!(refs[1], AuthnClassRef::Nsis(Loa::Low));
    assert_eq!(
        refs[2],
        AuthnClassRef::Other("https://data.gov.dk/eid/Person".into())
    );
    assert!(matches!(refs[3], AuthnClassRef::Other(_)));
    assert_eq!(req.minimum_loa(), Ok(Some(Loa::Low)));
}

#[test]
fn an_nsis_level_with_another_comparison_is_refused() {
    for comparison in ["", r#" Comparison="exact""#, r#" Comparison="better""#] {
        let body = LOA.replace(r#" Comparison="minimum""#, comparison);
        let req = parse(ATTRS, &body).unwrap();
        assert_eq!(req.minimum_loa(), Err(MessageError::ComparisonNotMinimum));
        assert_eq!(
            MessageError::ComparisonNotMinimum.status(),
            StatusCode::NoAuthnContext
        );
    }
    let body = LOA.replace("minimum", "most");
    assert_eq!(
        parse(ATTRS, &body),
        Err(MessageError::BadAttribute("Comparison"))
    );
    // No NSIS level, no level asked for.
    assert_eq!(parse(ATTRS, "").unwrap().minimum_loa(), Ok(None));
}

#[test]
fn version_other_than_2_0_is_refused() {
    for v in ["1.1", "2.1", "2"] {
        let attrs = ATTRS.replace(r#"Version="2.0""#, &format!(r#"Version="{v}""#));
        assert_eq!(parse(&attrs, ""), Err(MessageError::VersionMismatch), "{v}");
    }
    assert_eq!(
        MessageError::VersionMismatch.status(),
        StatusCode::VersionMismatch
    );
    let attrs = ATTRS.replace(r#"Version="2.0""#, "");
    assert_eq!(
        parse(&attrs, ""),
        Err(MessageError::MissingAttribute("Version"))
    );
}

#[test]
fn a_stale_or_future_issue_instant_is_refused() {
    let req = parse(ATTRS, "").unwrap();
    assert_eq!(
        req.check(NOW + Duration::minutes(6), SKEW, SSO),
        Err(MessageError::Stale)
    );
    assert_eq!(
        req.check(NOW - Duration::minutes(6), SKEW, SSO),
        Err(MessageError::FromTheFuture)
    );
    req.check(NOW + Duration::minutes(5), SKEW, SSO).unwrap();
    req.check(NOW - Duration::minutes(5), SKEW, SSO).unwrap();
    for bad in ["yesterday", "2026-11-30T10:00:00", "2026-13-30T10:00:00Z"] {
        let attrs = ATTRS.replace("2026-11-30T10:00:00Z", bad);
        assert_eq!(
            parse(&attrs, ""),
            Err(MessageError::BadAttribute("IssueInstant")),
            "{bad}"
        );
    }
    let attrs = ATTRS.replace(r#"IssueInstant="2026-11-30T10:00:00Z""#, "");
    assert_eq!(
        parse(&attrs, ""),
        Err(MessageError::MissingAttribute("IssueInstant"))
    );
    // Fractions and offsets are read.
    let attrs = ATTRS.replace("2026-11-30T10:00:00Z", "2026-11-30T11:00:00.123+01:00");
    assert!(parse(&attrs, "").unwrap().issue_instant - NOW < Duration::seconds(1));
}

#[test]
fn a_wrong_or_missing_destination_is_refused() {
    let req = parse(ATTRS, "").unwrap();
    assert_eq!(
        req.check(NOW, SKEW, "https://broker.example.dk/saml/sso/"),
        Err(MessageError::WrongDestination)
    );
    assert_eq!(
        req.check(NOW, SKEW, "https://evil.example/saml/sso"),
        Err(MessageError::WrongDestination)
    );
    let attrs = ATTRS.replace(r#"Destination="https://broker.example.dk/saml/sso""#, "");
    assert_eq!(
        parse(&attrs, "").unwrap().check(NOW, SKEW, SSO),
        Err(MessageError::MissingDestination)
    );
}

#[test]
fn acs_by_index_default_and_never_both() {
    let by_index = ATTRS.replace(
        r#"AssertionConsumerServiceURL="https://sp.example.dk/saml/acs""#,
        r#"AssertionConsumerServiceIndex="3""#,
    );
    assert_eq!(parse(&by_index, "").unwrap().acs, AcsRef::Index(3));
    let neither = ATTRS.replace(
        r#"AssertionConsumerServiceURL="https://sp.example.dk/saml/acs""#,
        "",
    );
    assert_eq!(parse(&neither, "").unwrap().acs, AcsRef::Default);
    let both = format!(r#"{ATTRS} AssertionConsumerServiceIndex="0""#);
    assert_eq!(
        parse(&both, ""),
        Err(MessageError::BadAttribute("AssertionConsumerServiceIndex"))
    );
    let bad = by_index.replace("\"3\"", "\"70000\"");
    assert_eq!(
        parse(&bad, ""),
        Err(MessageError::BadAttribute("AssertionConsumerServiceIndex"))
    );
}

fn sp() -> SamlSp {
    let acs = |index, binding: &str, location: &str, is_default| AssertionConsumer {
        location: location.into(),
        binding: binding.into(),
        index,
        is_default,
    };
    SamlSp {
        entity_id: "https://sp.example.dk/saml".into(),
        acs: vec![
            acs(
                0,
                BINDING_REDIRECT,
                "https://sp.example.dk/saml/acs-redirect",
                false,
            ),
            acs(1, BINDING_POST, "https://sp.example.dk/saml/acs", true),
            acs(2, BINDING_POST, "https://sp.example.dk/saml/acs2", false),
        ],
        slo: vec![],
        signing_certificates: vec![],
        encryption_certificate: None,
    }
}

#[test]
fn the_acs_is_only_ever_one_from_the_metadata_and_by_post() {
    let sp = sp();
    assert_eq!(parse(ATTRS, "").unwrap().acs_in(&sp).unwrap().index, 1);
    let by_index = ATTRS.replace(
        r#"AssertionConsumerServiceURL="https://sp.example.dk/saml/acs""#,
        r#"AssertionConsumerServiceIndex="2""#,
    );
    assert_eq!(parse(&by_index, "").unwrap().acs_in(&sp).unwrap().index, 2);
    let default = ATTRS.replace(
        r#"AssertionConsumerServiceURL="https://sp.example.dk/saml/acs""#,
        "",
    );
    assert_eq!(parse(&default, "").unwrap().acs_in(&sp).unwrap().index, 1);
    for unknown in [
        r#"AssertionConsumerServiceURL="https://evil.example/acs""#,
        r#"AssertionConsumerServiceURL="https://sp.example.dk/saml/acs/""#,
        r#"AssertionConsumerServiceIndex="9""#,
    ] {
        let attrs = ATTRS.replace(
            r#"AssertionConsumerServiceURL="https://sp.example.dk/saml/acs""#,
            unknown,
        );
        assert_eq!(
            parse(&attrs, "").unwrap().acs_in(&sp),
            Err(MessageError::UnknownAcs),
            "{unknown}"
        );
    }
    let mut no_default = sp.clone();
    no_default.acs[1].is_default = false;
    assert_eq!(
        parse(&default, "").unwrap().acs_in(&no_default),
        Err(MessageError::UnknownAcs)
    );
    let redirect_acs = ATTRS.replace(
        r#"AssertionConsumerServiceURL="https://sp.example.dk/saml/acs""#,
        r#"AssertionConsumerServiceIndex="0""#,
    );
    let redirect_acs = redirect_acs.replace(
        r#" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST""#,
        "",
    );
    assert_eq!(
        parse(&redirect_acs, "").unwrap().acs_in(&sp),
        Err(MessageError::Unsupported("ACS binding"))
    );
    let artifact = ATTRS.replace("bindings:HTTP-POST", "bindings:HTTP-Artifact");
    assert_eq!(
        parse(&artifact, "").unwrap().acs_in(&sp),
        Err(MessageError::Unsupported("ProtocolBinding"))
    );
}

#[test]
fn ids_issuers_and_structure_are_checked() {
    for id in ["", "1abc", "a b", "a<", &"a".repeat(300)] {
        let attrs = ATTRS.replace("_abc123", id);
        assert!(parse(&attrs, "").is_err(), "{id:?}");
    }
    // A comment inside the Issuer would let a truncated value through: refused.
    let xml = request(ATTRS, "").replace(
        "https://sp.example.dk/saml</saml:Issuer>",
        "https://sp.example.dk/saml<!-- -->.evil</saml:Issuer>",
    );
    assert_eq!(
        AuthnRequest::parse(&xml),
        Err(MessageError::BadElement("Issuer"))
    );
    let two = request(ATTRS, "<saml:Issuer>https://other</saml:Issuer>");
    assert_eq!(
        AuthnRequest::parse(&two),
        Err(MessageError::DuplicateElement("Issuer"))
    );
    let no_issuer =
        request(ATTRS, "").replace("<saml:Issuer>https://sp.example.dk/saml</saml:Issuer>", "");
    assert_eq!(
        AuthnRequest::parse(&no_issuer),
        Err(MessageError::MissingElement("Issuer"))
    );
    let person_format = request(ATTRS, "").replace(
        "<saml:Issuer>",
        r#"<saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">"#,
    );
    assert_eq!(
        AuthnRequest::parse(&person_format),
        Err(MessageError::BadAttribute("Issuer Format"))
    );
    let subject = request(
        ATTRS,
        "<saml:Subject><saml:NameID>x</saml:NameID></saml:Subject>",
    );
    assert_eq!(
        AuthnRequest::parse(&subject),
        Err(MessageError::Unsupported("Subject"))
    );
    let logout = request(ATTRS, "").replace("AuthnRequest", "LogoutRequest");
    assert_eq!(
        AuthnRequest::parse(&logout),
        Err(MessageError::UnexpectedRoot("AuthnRequest"))
    );
    // The right local name in the wrong namespace.
    let wrong_ns = request(ATTRS, "").replace(
        r#"xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol""#,
        r#"xmlns:samlp="urn:example""#,
    );
    assert_eq!(
        AuthnRequest::parse(&wrong_ns),
        Err(MessageError::UnexpectedRoot("AuthnRequest"))
    );
    let bad_bool = format!(r#"{ATTRS} ForceAuthn="yes""#);
    assert_eq!(
        parse(&bad_bool, ""),
        Err(MessageError::BadAttribute("ForceAuthn"))
    );
}

#[test]
fn dtds_entities_and_oversized_or_deep_documents_are_refused() {
    let dtd = format!(
        "<!DOCTYPE samlp:AuthnRequest [<!ENTITY x \"https://evil\">]>{}",
        request(ATTRS, "")
    );
    assert_eq!(AuthnRequest::parse(&dtd), Err(MessageError::Malformed));
    let external = format!(
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        request(ATTRS, "").replace("https://sp.example.dk/saml<", "&x;<")
    );
    assert_eq!(AuthnRequest::parse(&external), Err(MessageError::Malformed));
    let laughs = format!(
        "<!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>{}",
        request(ATTRS, "").replace("https://sp.example.dk/saml<", "&c;<")
    );
    assert_eq!(AuthnRequest::parse(&laughs), Err(MessageError::Malformed));
    let undeclared = request(ATTRS, "").replace("https://sp.example.dk/saml<", "&x;<");
    assert_eq!(
        AuthnRequest::parse(&undeclared),
        Err(MessageError::Malformed)
    );
    let large = request(ATTRS, &format!("<!--{}-->", "x".repeat(64 * 1024)));
    assert_eq!(AuthnRequest::parse(&large), Err(MessageError::TooLarge));
    let deep = request(
        ATTRS,
        &format!(
            "{}{}",
            "<samlp:Extensions>".repeat(40),
            "</samlp:Extensions>".repeat(40)
        ),
    );
    assert_eq!(AuthnRequest::parse(&deep), Err(MessageError::TooDeep));
    let shallow = request(
        ATTRS,
        &format!(
            "{}{}",
            "<samlp:Extensions>".repeat(20),
            "</samlp:Extensions>".repeat(20)
        ),
    );
    assert!(AuthnRequest::parse(&shallow).is_ok());
    // Within the size bound but over the node bound.
    let many = request(ATTRS, &"<a/>".repeat(5000));
    assert!(many.len() < 64 * 1024);
    assert_eq!(AuthnRequest::parse(&many), Err(MessageError::TooLarge));
    let refs = format!(
        r#"<samlp:RequestedAuthnContext Comparison="minimum">{}</samlp:RequestedAuthnContext>"#,
        "<saml:AuthnContextClassRef>https://x</saml:AuthnContextClassRef>".repeat(17)
    );
    assert_eq!(parse(ATTRS, &refs), Err(MessageError::TooLarge));
}

proptest! {
    #[test]
    fn parsing_arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = AuthnRequest::parse(&text);
    }

    #[test]
    fn parsing_mutated_requests_never_panics(cut in 0usize..600, insert in "[<>&\"'=/a-z!\\-\\[\\] ]{0,12}") {
        let xml = request(ATTRS, LOA);
        let cut = cut.min(xml.len());
        if xml.is_char_boundary(cut) {
            let mutated = format!("{}{insert}{}", &xml[..cut], &xml[cut..]);
            if let Ok(req) = AuthnRequest::parse(&mutated) {
                let _ = req.check(NOW, SKEW, SSO);
                let _ = req.minimum_loa();
            }
        }
    }
}
