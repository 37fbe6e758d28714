//! Signing and verification round trips, and the rules of `dsig::verify` one by one.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod dsig_support;

use dsig_support::*;
use eid_saml::dsig::{self, DsigError, Expected, SignatureAlg};
use eid_saml::xml::{Document, QName};

#[test]
fn each_algorithm_signs_and_verifies_and_the_signature_follows_the_issuer() {
    for alg in SignatureAlg::ALL {
        let (signed, key) = signed_assertion(alg);
        let verified = dsig::verify(
            &signed,
            Expected::Only(QName::ASSERTION),
            &pinned(&key),
            &policy(),
        )
        .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(verified.signature_alg(), alg);
        assert_eq!(verified.id(), "_a1");
        let el = verified.element();
        let names: Vec<_> = el.children().map(|c| c.local_name()).collect();
        assert_eq!(
            names.get(..2),
            Some(&["Issuer", "Signature"][..]),
            "{alg:?}"
        );
        let name_id = el
            .child(QName::new(eid_saml::xml::ns::SAML, "Subject"))
            .unwrap()
            .unwrap()
            .child(QName::new(eid_saml::xml::ns::SAML, "NameID"))
            .unwrap()
            .unwrap();
        assert_eq!(name_id.text().unwrap(), NAME_ID);
        assert!(signed.contains("<ds:X509Certificate>"));
    }
}

/// Exclusive C14N alone leaves out the `xs` binding that `xsi:type="xs:string"` uses; the
/// signature names it in the transform's PrefixList, so rebinding `xs` breaks the signature.
#[test]
fn the_xs_binding_of_attribute_value_types_is_signed() {
    let (signed, key) = signed_assertion(SignatureAlg::RsaSha256);
    let rebound = signed.replacen(
        "xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"",
        "xmlns:xs=\"urn:example:not-xml-schema\"",
        1,
    );
    assert_ne!(rebound, signed);
    let refused = dsig::verify(
        &rebound,
        Expected::Only(QName::ASSERTION),
        &pinned(&key),
        &policy(),
    );
    assert!(refused.is_err(), "a rebound xs prefix still verified");
    assert!(signed.contains("PrefixList=\"xs\""), "{signed}");
}

#[test]
fn a_signed_assertion_inside_a_response_verifies_as_the_only_assertion() {
    let (signed, key) = signed_assertion(SignatureAlg::RsaSha256);
    let doc = response(strip_decl(&signed));
    let v = dsig::verify(
        &doc,
        Expected::Only(QName::ASSERTION),
        &pinned(&key),
        &policy(),
    )
    .expect("verifies");
    assert!(v.element().is(QName::ASSERTION));
}

#[test]
fn a_signed_authn_request_verifies_as_root() {
    let key = key(SignatureAlg::RsaSha256);
    let xml = authn_request("_req1", "https://sp.example.dk/acs");
    let signed = dsig::sign_enveloped(&xml, "_req1", &key, SignatureAlg::RsaSha256, &cert(&key))
        .expect("signs");
    let v = dsig::verify(
        &signed,
        Expected::Root(QName::AUTHN_REQUEST),
        &pinned(&key),
        &policy(),
    )
    .expect("verifies");
    assert_eq!(
        v.element().attr("AssertionConsumerServiceURL"),
        Some("https://sp.example.dk/acs")
    );
    // Expected as something else: refused.
    assert!(matches!(
        dsig::verify(
            &signed,
            Expected::Root(QName::LOGOUT_REQUEST),
            &pinned(&key),
            &policy()
        ),
        Err(DsigError::UnexpectedElement(_))
    ));
}

#[test]
fn any_of_several_pinned_keys_verifies_and_reports_which() {
    let (signed, key) = signed_assertion(SignatureAlg::RsaSha256);
    let other = other_key();
    let certs = [cert(&other), cert(&key)];
    let pinned = dsig::PinnedKeys::from_certificates(certs.iter().map(Vec::as_slice)).unwrap();
    let v = dsig::verify(
        &signed,
        Expected::Only(QName::ASSERTION),
        &pinned,
        &policy(),
    )
    .unwrap();
    assert_eq!(v.key_index(), 1);
}

#[test]
fn the_policy_refuses_algorithms_it_does_not_list() {
    let (signed, key) = signed_assertion(SignatureAlg::EcdsaSha256);
    let mut only_rsa = policy();
    only_rsa.signature = vec![SignatureAlg::RsaSha256];
    assert!(matches!(
        dsig::verify(
            &signed,
            Expected::Only(QName::ASSERTION),
            &pinned(&key),
            &only_rsa
        ),
        Err(DsigError::AlgorithmNotAllowed(_))
    ));
    let mut only_512 = policy();
    only_512.digest = vec![dsig::DigestAlg::Sha512];
    assert!(matches!(
        dsig::verify(
            &signed,
            Expected::Only(QName::ASSERTION),
            &pinned(&key),
            &only_512
        ),
        Err(DsigError::AlgorithmNotAllowed(_))
    ));
}

#[test]
fn a_key_cannot_sign_with_the_other_kind() {
    let ec = key(SignatureAlg::EcdsaSha256);
    assert!(matches!(
        dsig::sign_enveloped(
            &assertion("_a1"),
            "_a1",
            &ec,
            SignatureAlg::RsaSha256,
            &cert(&ec)
        ),
        Err(DsigError::KeyMismatch(_))
    ));
}

#[test]
fn the_certificate_carries_the_key_and_parses() {
    for alg in SignatureAlg::ALL {
        let key = key(alg);
        let der = cert(&key);
        // bergshamra parses it and finds a key (used by PinnedKeys); the xmlsec1 test checks it with
        // an independent parser.
        assert!(dsig::PinnedKeys::from_certificates([der.as_slice()]).is_ok());
        assert!(dsig::certificate_for(&key, "").is_err());
        assert!(dsig::certificate_for(&key, "a\nb").is_err());
    }
}

#[test]
fn the_parsed_document_is_what_verify_reads() {
    let (signed, _) = signed_assertion(SignatureAlg::RsaSha256);
    assert!(Document::parse(&signed).is_ok());
}
