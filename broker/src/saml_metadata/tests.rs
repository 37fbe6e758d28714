//! The rules of metadata sources and fetched documents, each with the case it refuses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use eid_keys::{Alg, SigningKey};
use eid_saml::dsig::SignatureAlg;
use proptest::prelude::*;
use std::sync::Arc;
use time::macros::datetime;

const ENTITY: &str = "https://sp.example.dk/saml";
const NOW: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

fn key(name: &str) -> Arc<SigningKey> {
    let path = format!(
        "{}/../crates/saml/tests/fixtures/dsig/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    Arc::new(SigningKey::from_pem(&std::fs::read(path).unwrap(), Alg::RS256).unwrap())
}

fn cert(key: &SigningKey) -> Vec<u8> {
    dsig::certificate_for(key, "metadata signer").unwrap()
}

fn pem(der: &[u8]) -> String {
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        STANDARD.encode(der)
    )
}

/// Service provider metadata with an `ID`, valid until `valid_until` if given.
fn metadata(entity_id: &str, valid_until: Option<&str>) -> String {
    let sp_cert = STANDARD.encode(cert(&key("rsa-other.pem")));
    let enc_cert = STANDARD.encode(cert(&key("rsa-enc.pem")));
    let valid = valid_until
        .map(|v| format!(" validUntil=\"{v}\""))
        .unwrap_or_default();
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_md1" entityID="{entity_id}"{valid}><md:SPSSODescriptor AuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{sp_cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{enc_cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.dk/saml/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#
    )
}

fn signed(xml: &str, key: &Arc<SigningKey>) -> String {
    dsig::sign_enveloped(xml, "_md1", key, SignatureAlg::RsaSha256, &cert(key)).unwrap()
}

fn anchored(anchor: &SigningKey) -> MetadataSource {
    MetadataSource::new(
        "https://sp.example.dk/metadata",
        Some(&pem(&cert(anchor))),
        None,
    )
    .unwrap()
}

fn unanchored() -> MetadataSource {
    MetadataSource::new("https://sp.example.dk/metadata", None, None).unwrap()
}

const FUTURE: Option<&str> = Some("2027-01-01T00:00:00Z");

#[test]
fn metadata_urls_are_https_or_loopback_http_without_credentials() {
    assert!(check_url("https://sp.example.dk/metadata").is_ok());
    assert!(check_url("http://127.0.0.1:8090/md").is_ok());
    assert!(check_url("http://localhost/md").is_ok());
    assert!(check_url("http://[::1]:80/md").is_ok());
    assert_eq!(
        check_url("http://sp.example.dk/md"),
        Err(SourceError::NotHttps)
    );
    assert_eq!(
        check_url("http://localhost.evil.example/md"),
        Err(SourceError::NotHttps)
    );
    assert_eq!(
        check_url("ftp://sp.example.dk/md"),
        Err(SourceError::NotHttps)
    );
    assert_eq!(check_url("file:///etc/passwd"), Err(SourceError::NotHttps));
    assert_eq!(
        check_url("https://user:pw@sp.example.dk/md"),
        Err(SourceError::Credentials)
    );
    assert_eq!(check_url("not a url"), Err(SourceError::BadUrl));
    let long = format!("https://sp.example.dk/{}", "a".repeat(MAX_URL_LEN));
    assert_eq!(check_url(&long), Err(SourceError::BadUrl));
}

#[test]
fn an_anchor_is_one_or_more_pem_certificates_with_usable_keys() {
    let one = pem(&cert(&key("rsa-3072.pem")));
    assert!(Anchor::from_pem(&one).is_ok());
    let two = format!("{one}{}", pem(&cert(&key("rsa-other.pem"))));
    assert_eq!(certificates_from_pem(&two).unwrap().len(), 2);
    assert!(Anchor::from_pem(&two).is_ok());
    for bad in [
        "",
        "no certificate here",
        "-----BEGIN CERTIFICATE-----\nMIIB",
        "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
    ] {
        assert!(
            matches!(Anchor::from_pem(bad), Err(SourceError::Anchor(_))),
            "{bad:?}"
        );
    }
    let huge = format!("{one}{}", " ".repeat(MAX_ANCHOR_PEM_BYTES));
    assert!(matches!(
        Anchor::from_pem(&huge),
        Err(SourceError::Anchor(_))
    ));
}

#[test]
fn refresh_intervals_are_bounded_and_failures_retry_sooner() {
    let url = "https://sp.example.dk/md";
    assert!(MetadataSource::new(url, None, Some(59)).is_err());
    assert!(MetadataSource::new(url, None, Some(60)).is_ok());
    assert!(MetadataSource::new(url, None, Some(MAX_REFRESH.as_secs() + 1)).is_err());
    let source = MetadataSource::new(url, None, None).unwrap();
    assert_eq!(source.interval, DEFAULT_REFRESH);
    assert!(source.is_due(None, false, NOW));
    let minutes = |m: i64| NOW - time::Duration::minutes(m);
    assert!(!source.is_due(Some(minutes(59)), false, NOW));
    assert!(source.is_due(Some(minutes(60)), false, NOW));
    assert!(!source.is_due(Some(minutes(4)), true, NOW));
    assert!(source.is_due(Some(minutes(5)), true, NOW));
}

#[test]
fn metadata_signed_by_the_anchor_is_kept_as_verified() {
    let signer = key("rsa-3072.pem");
    let xml = signed(&metadata(ENTITY, FUTURE), &signer);
    let kept = check_fetched(&xml, &anchored(&signer), ENTITY, NOW).unwrap();
    assert!(kept.contains("SignatureValue"), "{kept}");
    assert_eq!(SpMetadata::parse(&kept).unwrap().entity_id, ENTITY);
}

#[test]
fn metadata_signed_by_another_key_is_refused() {
    let xml = signed(&metadata(ENTITY, FUTURE), &key("rsa-other.pem"));
    let e = check_fetched(&xml, &anchored(&key("rsa-3072.pem")), ENTITY, NOW).unwrap_err();
    assert!(
        matches!(e, MetadataProblem::Signature(DsigError::Invalid)),
        "{e}"
    );
}

#[test]
fn unsigned_metadata_is_refused_when_an_anchor_is_set_and_taken_without() {
    let xml = metadata(ENTITY, FUTURE);
    let e = check_fetched(&xml, &anchored(&key("rsa-3072.pem")), ENTITY, NOW).unwrap_err();
    assert!(
        matches!(e, MetadataProblem::Signature(DsigError::Unsigned)),
        "{e}"
    );
    assert_eq!(
        check_fetched(&xml, &unanchored(), ENTITY, NOW).unwrap(),
        xml
    );
}

#[test]
fn tampered_signed_metadata_is_refused() {
    let signer = key("rsa-3072.pem");
    let xml = signed(&metadata(ENTITY, FUTURE), &signer)
        .replace("https://sp.example.dk/saml/acs", "https://evil.example/acs");
    let e = check_fetched(&xml, &anchored(&signer), ENTITY, NOW).unwrap_err();
    assert!(matches!(e, MetadataProblem::Signature(_)), "{e}");
}

#[test]
fn a_signed_entity_inside_an_unsigned_wrapper_is_refused() {
    let signer = key("rsa-3072.pem");
    let inner = signed(&metadata(ENTITY, FUTURE), &signer);
    let wrapped = format!(
        r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">{inner}</md:EntitiesDescriptor>"#
    );
    let e = check_fetched(&wrapped, &anchored(&signer), ENTITY, NOW).unwrap_err();
    assert!(matches!(e, MetadataProblem::Signature(_)), "{e}");
}

#[test]
fn signed_metadata_needs_a_future_valid_until() {
    let signer = key("rsa-3072.pem");
    let forever = signed(&metadata(ENTITY, None), &signer);
    let e = check_fetched(&forever, &anchored(&signer), ENTITY, NOW).unwrap_err();
    assert!(matches!(e, MetadataProblem::NoValidUntil), "{e}");
    let past = signed(&metadata(ENTITY, Some("2026-11-30T00:00:00Z")), &signer);
    let e = check_fetched(&past, &anchored(&signer), ENTITY, NOW).unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
    // Unsigned metadata may go without validUntil, but not past it.
    assert!(check_fetched(&metadata(ENTITY, None), &unanchored(), ENTITY, NOW).is_ok());
    let e = check_fetched(
        &metadata(ENTITY, Some("2026-11-30T00:00:00Z")),
        &unanchored(),
        ENTITY,
        NOW,
    )
    .unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
}

#[test]
fn metadata_naming_another_entity_is_refused() {
    let signer = key("rsa-3072.pem");
    let other = signed(&metadata("https://other.example.dk/saml", FUTURE), &signer);
    let e = check_fetched(&other, &anchored(&signer), ENTITY, NOW).unwrap_err();
    assert!(matches!(e, MetadataProblem::OtherEntity { .. }), "{e}");
    let e = check_fetched(
        &metadata("https://other.example.dk/saml", FUTURE),
        &unanchored(),
        ENTITY,
        NOW,
    )
    .unwrap_err();
    assert!(matches!(e, MetadataProblem::OtherEntity { .. }), "{e}");
}

#[test]
fn oversized_or_broken_documents_are_refused() {
    let huge = format!(
        "{}<!--{}-->",
        metadata(ENTITY, FUTURE),
        "x".repeat(MAX_SAML_METADATA_BYTES)
    );
    let e = check_fetched(&huge, &unanchored(), ENTITY, NOW).unwrap_err();
    assert!(
        matches!(e, MetadataProblem::Fetch(FetchError::TooLarge)),
        "{e}"
    );
    let doctype = format!(
        "<!DOCTYPE x [<!ENTITY e \"boom\">]>{}",
        metadata(ENTITY, FUTURE)
    );
    assert!(check_fetched(&doctype, &unanchored(), ENTITY, NOW).is_err());
    assert!(check_fetched(&doctype, &anchored(&key("rsa-3072.pem")), ENTITY, NOW).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any text as a URL, an anchor or a fetched document is taken or refused without a panic.
    #[test]
    fn any_input_is_checked_without_panic(text in ".{0,300}", cut in 0usize..4000) {
        let _ = check_url(&text);
        let _ = certificates_from_pem(&text);
        let _ = Anchor::from_pem(&format!("-----BEGIN CERTIFICATE-----{text}-----END CERTIFICATE-----"));
        let _ = check_fetched(&text, &unanchored(), ENTITY, NOW);
        let doc = metadata(ENTITY, FUTURE);
        let cut = cut.min(doc.len());
        if doc.is_char_boundary(cut) {
            let mangled = format!("{}{text}{}", &doc[..cut], &doc[cut..]);
            if let Ok(kept) = check_fetched(&mangled, &unanchored(), ENTITY, NOW) {
                prop_assert_eq!(SpMetadata::parse(&kept).unwrap().entity_id, ENTITY);
            }
        }
    }
}
