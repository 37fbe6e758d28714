//! A peer's metadata is read only when signed by the trust anchor, still valid, and complete.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod eidas_support;

use eid_saml::dsig::{DsigError, SignatureAlg};
use eid_saml::eidas::{self, EidasError, PeerMetadata};
use eidas_support::*;

const ALG: SignatureAlg = SignatureAlg::EcdsaSha256;

fn signed() -> (Signer, String) {
    let p = proxy_signer(ALG);
    let xml = proxy_metadata_out(&p)
        .to_signed_xml(&p.key, p.alg, &p.cert)
        .unwrap();
    (p, xml)
}

fn read(xml: &str, anchor: &Signer) -> Result<PeerMetadata, EidasError> {
    eidas::read_metadata(xml, &anchor.pinned(), &policy(), NOW)
}

fn refused_by_rule(xml: &str, anchor: &Signer, rule: &str) {
    match read(xml, anchor) {
        Err(e) => assert!(is_rule(&e, rule), "expected {rule:?}, got {e:?}"),
        Ok(_) => panic!("accepted; expected {rule:?}"),
    }
}

#[test]
fn the_metadata_and_a_resigned_copy_are_read() {
    let (p, xml) = signed();
    assert!(read(&xml, &p).is_ok());
    assert!(read(&resign(&xml, &p, |x| x), &p).is_ok());
    assert!(xml.contains("alg:SigningMethod"));
    assert!(xml.contains(eidas::ENTITY_CATEGORY_REQUESTER_ID));
    assert!(xml.contains("WantAuthnRequestsSigned=\"true\""));
}

#[test]
fn a_bad_signature_another_signer_or_none_is_refused() {
    let (p, xml) = signed();
    let tampered = replace(&xml, SSO, "https://evil.example/sso");
    assert!(matches!(
        read(&tampered, &p),
        Err(EidasError::Signature(DsigError::Invalid))
    ));
    assert!(matches!(
        read(&xml, &stranger(ALG)),
        Err(EidasError::Signature(DsigError::Invalid))
    ));
    assert!(matches!(
        read(&unsigned(&xml), &p),
        Err(EidasError::Signature(DsigError::Unsigned))
    ));
}

#[test]
fn metadata_past_or_without_valid_until_is_refused() {
    let (p, xml) = signed();
    assert!(matches!(
        eidas::read_metadata(&xml, &p.pinned(), &policy(), NOW + time::Duration::days(1)),
        Err(EidasError::Expired(_))
    ));
    let without = resign(&xml, &p, |x| {
        replace(&x, " validUntil=\"2026-12-01T10:00:00Z\"", "")
    });
    refused_by_rule(&without, &p, "validUntil is missing");
    let descriptor_earlier = resign(&xml, &p, |x| {
        replace(
            &x,
            "<md:IDPSSODescriptor ",
            "<md:IDPSSODescriptor validUntil=\"2026-11-30T09:00:00Z\" ",
        )
    });
    assert!(matches!(
        read(&descriptor_earlier, &p),
        Err(EidasError::Expired(_))
    ));
}

#[test]
fn node_country_descriptor_endpoint_and_signing_key_are_required() {
    let (p, xml) = signed();
    let no_country = resign(&xml, &p, |x| {
        replace(&x, "<eidas:NodeCountry>XA</eidas:NodeCountry>", "")
    });
    refused_by_rule(
        &no_country,
        &p,
        "NodeCountry is missing or not two upper-case letters",
    );
    let lower = resign(&xml, &p, |x| {
        replace(
            &x,
            "<eidas:NodeCountry>XA</eidas:NodeCountry>",
            "<eidas:NodeCountry>xa</eidas:NodeCountry>",
        )
    });
    refused_by_rule(
        &lower,
        &p,
        "NodeCountry is missing or not two upper-case letters",
    );
    let plain_http = resign(&xml, &p, |x| {
        replace(&x, SSO, "http://proxy.example.xa/sso")
    });
    refused_by_rule(
        &plain_http,
        &p,
        "no HTTP-POST endpoint at an https or loopback http URL",
    );
    let redirect = resign(&xml, &p, |x| {
        replace(
            &x,
            "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
            "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
        )
    });
    refused_by_rule(
        &redirect,
        &p,
        "no HTTP-POST endpoint at an https or loopback http URL",
    );
    let loopback = resign(&xml, &p, |x| {
        replace(&x, SSO, "http://localhost:8083/xa/sso")
    });
    assert!(read(&loopback, &p).is_ok());
    let no_signing = resign(&xml, &p, |x| {
        replace(&x, "use=\"signing\"", "use=\"encryption\"")
    });
    refused_by_rule(&no_signing, &p, "no signing certificate");
    let both = resign(&xml, &p, |x| {
        replace(
            &x,
            "</md:IDPSSODescriptor>",
            "</md:IDPSSODescriptor><md:SPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>",
        )
    });
    refused_by_rule(
        &both,
        &p,
        "not exactly one SP or IdP SSO descriptor for SAML 2.0",
    );
}

#[test]
fn the_signing_keys_read_are_the_ones_that_verify_the_peers_messages() {
    // Metadata signed by the anchor may name other keys for messages (key separation).
    let anchor = stranger(SignatureAlg::RsaPssSha256);
    let p = proxy_signer(ALG);
    let xml = proxy_metadata_out(&p)
        .to_signed_xml(&anchor.key, anchor.alg, &anchor.cert)
        .unwrap();
    let proxy = read(&xml, &anchor).unwrap();
    let response = signed_response(&success(), &p, false, Default::default());
    assert!(read_response(&response, &proxy).is_ok());
    let by_anchor = signed_response(&success(), &anchor, false, Default::default());
    assert!(matches!(
        read_response(&by_anchor, &proxy),
        Err(EidasError::Signature(DsigError::Invalid))
    ));
}
