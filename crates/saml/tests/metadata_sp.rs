//! SP metadata in (pysaml2's and an OIOSAML-shaped document), our IdP metadata out; every
//! bound and rule has its refusal.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_saml::messages::{BINDING_POST, BINDING_REDIRECT, BINDING_SOAP, MessageError};
use eid_saml::metadata::{IdpMetadata, MetadataError, NS_METADATA, SpMetadata};
use proptest::prelude::*;
use roxmltree::Document;
use time::macros::datetime;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn cert(name: &str) -> Vec<u8> {
    pem::parse(fixture(name)).unwrap().contents().to_vec()
}

fn b64(name: &str) -> String {
    STANDARD.encode(cert(name))
}

/// An OIOSAML-shaped SP: `sp` holds the SPSSODescriptor's children after the keys.
fn oiosaml(sp_attrs: &str, keys: &str, sp: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://sp.example.dk/saml" validUntil="2027-01-01T00:00:00Z">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol urn:oasis:names:tc:SAML:2.0:protocol" {sp_attrs}>
    {keys}
    {sp}
  </md:SPSSODescriptor>
  <md:Organization><md:OrganizationName xml:lang="da">Eksempel</md:OrganizationName></md:Organization>
</md:EntityDescriptor>"#
    )
}

fn key(usage: Option<&str>, cert_b64: &str) -> String {
    let usage = usage.map(|u| format!(r#" use="{u}""#)).unwrap_or_default();
    format!(
        "<md:KeyDescriptor{usage}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>\n{cert_b64}\n</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
    )
}

const ENDPOINTS: &str = r#"
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://sp.example.dk/saml/slo/soap"/>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.example.dk/saml/slo" ResponseLocation="https://sp.example.dk/saml/slo/response"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.example.dk/saml/acs-redirect" index="0"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.dk/saml/acs" index="1" isDefault="true"/>"#;

fn good() -> String {
    let keys = format!(
        "{}{}",
        key(None, &b64("binding-sp-rsa.crt")),
        key(Some("signing"), &b64("binding-sp-ec.crt"))
    );
    oiosaml(
        r#"AuthnRequestsSigned="true" WantAssertionsSigned="1""#,
        &keys,
        ENDPOINTS,
    )
}

#[test]
fn pysaml2_sp_metadata_is_read_into_the_registration() {
    let md = SpMetadata::parse(&fixture("metadata-sp-pysaml2.xml")).unwrap();
    assert_eq!(md.entity_id, "https://sp.example.dk/saml");
    assert!(md.authn_requests_signed && md.want_assertions_signed);
    assert_eq!(md.acs.len(), 1);
    assert_eq!(md.acs[0].index, 1);
    assert_eq!(md.acs[0].binding, BINDING_POST);
    assert_eq!(md.acs[0].location, "https://sp.example.dk/saml/acs");
    let bindings: Vec<_> = md.slo.iter().map(|s| s.binding.as_str()).collect();
    assert_eq!(bindings, [BINDING_REDIRECT, BINDING_POST, BINDING_SOAP]);
    assert_eq!(md.signing_certificates, vec![cert("binding-sp-rsa.crt")]);
    assert_eq!(md.encryption_certificates, vec![cert("binding-sp-rsa.crt")]);
    let sp = md.to_saml_sp().unwrap();
    assert_eq!(sp.entity_id, md.entity_id);
    assert!(sp.acs[0].is_default);
    assert_eq!(sp.slo.len(), 3);
    assert_eq!(sp.encryption_certificate, Some(cert("binding-sp-rsa.crt")));
}

#[test]
fn an_oiosaml_sp_with_rollover_keys_and_several_endpoints_is_read() {
    let md = SpMetadata::parse(&good()).unwrap();
    // A key without `use` is for both; the second signing key is the rollover key.
    assert_eq!(
        md.signing_certificates,
        vec![cert("binding-sp-rsa.crt"), cert("binding-sp-ec.crt")]
    );
    assert_eq!(md.encryption_certificates, vec![cert("binding-sp-rsa.crt")]);
    assert_eq!(md.default_acs().unwrap().index, 1);
    assert_eq!(md.valid_until, Some(datetime!(2027-01-01 00:00:00 UTC)));
    assert_eq!(
        md.slo[1].response_location.as_deref(),
        Some("https://sp.example.dk/saml/slo/response")
    );
    let sp = md.to_saml_sp().unwrap();
    let defaults: Vec<_> = sp.acs.iter().map(|a| (a.index, a.is_default)).collect();
    assert_eq!(defaults, [(0, false), (1, true)]);
    md.check_valid(datetime!(2026-12-31 23:59:59 UTC)).unwrap();
    assert_eq!(
        md.check_valid(datetime!(2027-01-01 00:00:00 UTC)),
        Err(MetadataError::Expired)
    );
}

#[test]
fn the_default_acs_follows_saml_metadata_2_2_3() {
    let no_flags = oiosaml(
        "",
        &key(None, &b64("binding-sp-rsa.crt")),
        &ENDPOINTS.replace(r#" isDefault="true""#, ""),
    );
    assert_eq!(
        SpMetadata::parse(&no_flags)
            .unwrap()
            .default_acs()
            .unwrap()
            .index,
        0
    );
    let first_false = oiosaml(
        "",
        &key(None, &b64("binding-sp-rsa.crt")),
        &ENDPOINTS
            .replace(r#" isDefault="true""#, "")
            .replace(r#"index="0""#, r#"index="0" isDefault="false""#),
    );
    assert_eq!(
        SpMetadata::parse(&first_false)
            .unwrap()
            .default_acs()
            .unwrap()
            .index,
        1
    );
}

#[test]
fn metadata_without_a_usable_sp_descriptor_is_refused() {
    let idp = good().replace("SPSSODescriptor", "IDPSSODescriptor");
    assert_eq!(SpMetadata::parse(&idp), Err(MetadataError::NoSpDescriptor));
    let saml1 = good().replace(" urn:oasis:names:tc:SAML:2.0:protocol", "");
    assert_eq!(
        SpMetadata::parse(&saml1),
        Err(MetadataError::NoSpDescriptor)
    );
    let xml = good();
    let start = xml.find("<md:SPSSODescriptor").unwrap();
    let end = xml.find("</md:SPSSODescriptor>").unwrap() + "</md:SPSSODescriptor>".len();
    let twice = format!("{}{}{}", &xml[..end], &xml[start..end], &xml[end..]);
    assert_eq!(
        SpMetadata::parse(&twice),
        Err(MetadataError::NoSpDescriptor)
    );
    let entities = format!(
        r#"<md:EntitiesDescriptor xmlns:md="{NS_METADATA}">{}</md:EntitiesDescriptor>"#,
        good().replace(r#"<?xml version="1.0" encoding="UTF-8"?>"#, "")
    );
    assert_eq!(
        SpMetadata::parse(&entities),
        Err(MetadataError::Xml(MessageError::UnexpectedRoot(
            "EntityDescriptor"
        )))
    );
    let no_entity_id = good().replace(r#"entityID="https://sp.example.dk/saml""#, "");
    assert_eq!(
        SpMetadata::parse(&no_entity_id),
        Err(MetadataError::Xml(MessageError::MissingAttribute(
            "entityID"
        )))
    );
}

#[test]
fn endpoints_are_checked_and_bounded() {
    let keys = key(None, &b64("binding-sp-rsa.crt"));
    let no_acs = oiosaml("", &keys, "");
    assert_eq!(SpMetadata::parse(&no_acs), Err(MetadataError::NoAcs));
    let dup = oiosaml(
        "",
        &keys,
        &ENDPOINTS.replace(r#"index="1""#, r#"index="0""#),
    );
    assert_eq!(
        SpMetadata::parse(&dup),
        Err(MetadataError::DuplicateAcsIndex(0))
    );
    for bad in [
        "javascript:alert(1)",
        "/relative/acs",
        "https://sp.example.dk/acs#frag",
        "https://sp.example.dk/a cs",
        // Plain HTTP only to a loopback host: an assertion never crosses a network in clear.
        "http://sp.example.dk/saml/acs",
        "http://localhost.evil.example/acs",
        "http://localhost@evil.example/acs",
        "http://127.0.0.1.evil.example/acs",
        "http://localhost:99999999/acs",
    ] {
        let doc = oiosaml(
            "",
            &keys,
            &ENDPOINTS.replace("https://sp.example.dk/saml/acs\"", &format!("{bad}\"")),
        );
        assert_eq!(
            SpMetadata::parse(&doc),
            Err(MetadataError::BadLocation("AssertionConsumerService")),
            "{bad}"
        );
    }
    for loopback in [
        "http://localhost/acs",
        "http://localhost:8090/saml/acs",
        "http://127.0.0.1:1/acs",
        "http://[::1]:8080/acs",
    ] {
        let doc = oiosaml(
            "",
            &keys,
            &ENDPOINTS.replace("https://sp.example.dk/saml/acs\"", &format!("{loopback}\"")),
        );
        assert!(SpMetadata::parse(&doc).is_ok(), "{loopback}");
    }
    let bad_slo = oiosaml(
        "",
        &keys,
        &ENDPOINTS.replace("https://sp.example.dk/saml/slo/response", "ftp://x"),
    );
    assert_eq!(
        SpMetadata::parse(&bad_slo),
        Err(MetadataError::BadLocation("SingleLogoutService"))
    );
    let many: String = (0..17)
        .map(|i| format!(r#"<md:AssertionConsumerService Binding="{BINDING_POST}" Location="https://sp.example.dk/acs" index="{i}"/>"#))
        .collect();
    assert_eq!(
        SpMetadata::parse(&oiosaml("", &keys, &many)),
        Err(MetadataError::TooMany("AssertionConsumerService"))
    );
    let no_index = oiosaml("", &keys, &ENDPOINTS.replace(r#" index="0""#, ""));
    assert_eq!(
        SpMetadata::parse(&no_index),
        Err(MetadataError::Xml(MessageError::MissingAttribute("index")))
    );
    let bad_flag = oiosaml(r#"AuthnRequestsSigned="yes""#, &keys, ENDPOINTS);
    assert_eq!(
        SpMetadata::parse(&bad_flag),
        Err(MetadataError::Xml(MessageError::BadAttribute(
            "AuthnRequestsSigned"
        )))
    );
}

#[test]
fn keys_are_checked_and_bounded() {
    let rsa = b64("binding-sp-rsa.crt");
    let bad_use = oiosaml("", &key(Some("both"), &rsa), ENDPOINTS);
    assert_eq!(SpMetadata::parse(&bad_use), Err(MetadataError::BadKeyUse));
    let garbage = oiosaml("", &key(Some("signing"), "bm90IGEgY2VydA=="), ENDPOINTS);
    assert!(matches!(
        SpMetadata::parse(&garbage),
        Err(MetadataError::BadCertificate(_))
    ));
    // Encryption certificates are X.509 too.
    let keys = format!(
        "{}{}",
        key(Some("signing"), &rsa),
        key(Some("encryption"), "bm90IGEgY2VydA==")
    );
    let garbage = oiosaml("", &keys, ENDPOINTS);
    assert!(matches!(
        SpMetadata::parse(&garbage),
        Err(MetadataError::BadCertificate(_))
    ));
    let not_b64 = oiosaml("", &key(Some("signing"), "!!!"), ENDPOINTS);
    assert!(matches!(
        SpMetadata::parse(&not_b64),
        Err(MetadataError::BadCertificate(_))
    ));
    let nine: String = (0..9).map(|_| key(Some("signing"), &rsa)).collect();
    assert_eq!(
        SpMetadata::parse(&oiosaml("", &nine, ENDPOINTS)),
        Err(MetadataError::TooMany("KeyDescriptor"))
    );
    // Encryption only: readable, but no registration (requests must be signed).
    let enc_only =
        SpMetadata::parse(&oiosaml("", &key(Some("encryption"), &rsa), ENDPOINTS)).unwrap();
    assert!(enc_only.signing_certificates.is_empty());
    assert_eq!(
        enc_only.to_saml_sp(),
        Err(MetadataError::NoSigningCertificate)
    );
}

#[test]
fn dtds_and_oversized_metadata_are_refused() {
    let dtd = good().replace(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        r#"<!DOCTYPE md:EntityDescriptor [<!ENTITY x SYSTEM "file:///etc/passwd">]>"#,
    );
    assert_eq!(
        SpMetadata::parse(&dtd),
        Err(MetadataError::Xml(MessageError::Malformed))
    );
    let large = good().replace("Eksempel", &"x".repeat(256 * 1024));
    assert_eq!(
        SpMetadata::parse(&large),
        Err(MetadataError::Xml(MessageError::TooLarge))
    );
}

#[test]
fn our_idp_metadata_has_the_oiosaml_shape() {
    let md = IdpMetadata {
        id: "_md1".into(),
        entity_id: "https://broker.example.dk/saml".into(),
        valid_until: datetime!(2026-12-07 10:00:00 UTC),
        sso_url: "https://broker.example.dk/saml/sso".into(),
        slo_url: "https://broker.example.dk/saml/slo".into(),
        signing_certificates: vec![cert("binding-sp-rsa.crt"), cert("binding-other-rsa.crt")],
        encryption_certificate: cert("binding-sp-rsa.crt"),
    };
    let xml = md.to_xml();
    let doc = Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().namespace(), Some(NS_METADATA));
    assert_eq!(
        root.attribute("entityID"),
        Some("https://broker.example.dk/saml")
    );
    assert_eq!(root.attribute("validUntil"), Some("2026-12-07T10:00:00Z"));
    assert_eq!(root.attribute("ID"), Some("_md1"));
    let idp = root
        .children()
        .find(|n| n.tag_name().name() == "IDPSSODescriptor")
        .unwrap();
    assert_eq!(idp.attribute("WantAuthnRequestsSigned"), Some("true"));
    let endpoints = |name: &str| -> Vec<(String, String)> {
        idp.children()
            .filter(|n| n.tag_name().name() == name)
            .map(|n| {
                (
                    n.attribute("Binding").unwrap().into(),
                    n.attribute("Location").unwrap().into(),
                )
            })
            .collect()
    };
    let sso = endpoints("SingleSignOnService");
    assert_eq!(
        sso.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        [BINDING_REDIRECT, BINDING_POST]
    );
    let slo = endpoints("SingleLogoutService");
    assert_eq!(
        slo.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        [BINDING_REDIRECT, BINDING_POST, BINDING_SOAP]
    );
    let keys: Vec<_> = idp
        .children()
        .filter(|n| n.tag_name().name() == "KeyDescriptor")
        .map(|k| {
            let text = k
                .descendants()
                .find(|n| n.tag_name().name() == "X509Certificate")
                .unwrap()
                .text()
                .unwrap();
            (k.attribute("use").unwrap(), STANDARD.decode(text).unwrap())
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("signing", cert("binding-sp-rsa.crt")),
            ("signing", cert("binding-other-rsa.crt")),
            ("encryption", cert("binding-sp-rsa.crt")),
        ]
    );
    // Schema order of IDPSSODescriptor: KeyDescriptor, SingleLogoutService, NameIDFormat, SingleSignOnService.
    let order: Vec<_> = idp
        .children()
        .filter(|n| n.is_element())
        .map(|n| n.tag_name().name())
        .collect();
    let mut sorted = order.clone();
    let rank = |n: &str| {
        [
            "KeyDescriptor",
            "SingleLogoutService",
            "NameIDFormat",
            "SingleSignOnService",
        ]
        .iter()
        .position(|x| *x == n)
    };
    sorted.sort_by_key(|n| rank(n));
    assert_eq!(order, sorted);
}

proptest! {
    #[test]
    fn parsing_arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let _ = SpMetadata::parse(&text);
    }

    #[test]
    fn parsing_mutated_metadata_never_panics(cut in 0usize..4000, insert in "[<>&\"'=/a-z!\\- ]{0,12}") {
        let xml = good();
        let cut = cut.min(xml.len());
        if xml.is_char_boundary(cut)
            && let Ok(md) = SpMetadata::parse(&format!("{}{insert}{}", &xml[..cut], &xml[cut..]))
        {
            let _ = md.to_saml_sp();
        }
    }
}
