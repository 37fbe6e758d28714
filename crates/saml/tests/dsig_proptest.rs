//! Property tests: the parser and the verifier never panic on arbitrary input, and no mutation of
//! the signed content of an assertion verifies.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod dsig_support;

use dsig_support::*;
use eid_saml::dsig::{self, Expected, SignatureAlg};
use eid_saml::enc::{self, DecryptPolicy, DecryptionKey};
use eid_saml::xml::{Document, Limits, QName, text_of};
use proptest::prelude::*;

/// An assertion whose every namespace declaration is visibly used, so exclusive C14N covers all
/// of its bytes (an unused declaration, or a prefix used only inside `xsi:type`, is not signed).
fn plain_assertion() -> String {
    r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1" IssueInstant="2026-11-30T10:00:00Z" Version="2.0"><saml:Issuer>https://broker.example.dk</saml:Issuer><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">https://data.gov.dk/model/core/eid/person/uuid/0f8e3c8e</saml:NameID></saml:Subject><saml:AttributeStatement><saml:Attribute Name="https://data.gov.dk/concept/core/nsis/loa"><saml:AttributeValue>Substantial</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion>"#.to_owned()
}

fn signed_plain() -> (String, std::sync::Arc<eid_keys::SigningKey>) {
    let key = key(SignatureAlg::RsaSha256);
    let s = dsig::sign_enveloped(
        &plain_assertion(),
        "_a1",
        &key,
        SignatureAlg::RsaSha256,
        &cert(&key),
    )
    .unwrap();
    (strip_decl(&s).to_owned(), key)
}

/// Byte positions of the signed content: everything of the assertion outside `ds:Signature`.
fn signed_positions(s: &str) -> Vec<usize> {
    let sig_start = s.find("<ds:Signature").unwrap();
    let sig_end = s.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    (0..s.len())
        .filter(|i| *i < sig_start || *i >= sig_end)
        .filter(|i| s.as_bytes()[*i].is_ascii_alphanumeric())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn the_parser_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(text) = text_of(&bytes, Limits::MESSAGE) {
            let _ = Document::parse(text);
        }
    }

    #[test]
    fn the_parser_never_panics_on_xmlish_text(s in "(<[a-z:]{1,4}( [a-z:]{1,3}=\"[^\"<]{0,5}\")?>|</[a-z:]{1,4}>|<!--|-->|<!DOCTYPE|&[a-z#0-9]{1,4};|<!\\[CDATA\\[|\\]\\]>|[a-z ]{0,6}){0,40}") {
        if let Ok(doc) = Document::parse(&s) {
            for e in doc.elements_named(QName::ASSERTION) {
                let _ = e.text();
            }
        }
    }

    #[test]
    fn the_verifier_never_panics_on_arbitrary_text(s in ".{0,512}") {
        let (_, key) = signed_plain();
        prop_assert!(dsig::verify(&s, Expected::Only(QName::ASSERTION), &pinned(&key), &policy()).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    #[test]
    fn no_mutation_of_the_signed_content_verifies(pick in any::<prop::sample::Index>(), replacement in "[A-Za-z0-9]") {
        let (s, key) = signed_plain();
        let positions = signed_positions(&s);
        let at = positions[pick.index(positions.len())];
        let mut bytes = s.clone().into_bytes();
        let new = replacement.as_bytes()[0];
        prop_assume!(bytes[at] != new);
        bytes[at] = new;
        let mutated = String::from_utf8(bytes).unwrap();
        // The wrapper declares no `saml` prefix: one declared there would make a mutated
        // declaration on the assertion unused, which exclusive C14N rightly ignores.
        let wrapped = format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1" Version="2.0">{mutated}</samlp:Response>"#
        );
        for doc in [mutated.clone(), wrapped] {
            let r = dsig::verify(&doc, Expected::Only(QName::ASSERTION), &pinned(&key), &policy());
            prop_assert!(r.is_err(), "byte {} ({}) -> {} verified", at, s.as_bytes()[at] as char, new as char);
        }
    }

    #[test]
    fn decryption_never_panics_on_mutated_ciphertext(pick in any::<prop::sample::Index>(), replacement in "[A-Za-z0-9+/=<>]") {
        let pem = pem("rsa-enc.pem");
        let sp = eid_keys::SigningKey::from_pem(&pem, eid_keys::Alg::RS256).unwrap();
        let recipient = enc::RecipientKey::from_certificate(&dsig::certificate_for(&sp, "sp").unwrap()).unwrap();
        let (s, _) = signed_plain();
        let encrypted = response(&enc::encrypt_element(&s, &recipient, enc::EncryptOptions::default()).unwrap());
        let at = pick.index(encrypted.len());
        let mut bytes = encrypted.into_bytes();
        bytes[at] = replacement.as_bytes()[0];
        if let Ok(text) = String::from_utf8(bytes)
            && let Ok(doc) = Document::parse(&text)
            && let Ok(Some(ea)) = doc.root().child(QName::ENCRYPTED_ASSERTION)
        {
            let key = DecryptionKey::from_pem(&pem).unwrap();
            let _ = enc::decrypt(ea, &key, &DecryptPolicy::default());
        }
    }
}

#[test]
fn the_unmutated_plain_assertion_verifies() {
    let (s, key) = signed_plain();
    assert!(
        dsig::verify(
            &s,
            Expected::Only(QName::ASSERTION),
            &pinned(&key),
            &policy()
        )
        .is_ok()
    );
}
