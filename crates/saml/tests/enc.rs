//! XML encryption of a signed assertion and decryption, with the algorithm policy.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod dsig_support;

use dsig_support::*;
use eid_keys::{Alg, SigningKey};
use eid_saml::dsig::{self, Expected, SignatureAlg};
use eid_saml::enc::{
    self, DataAlg, DecryptPolicy, DecryptionKey, EncError, EncryptOptions, KeyTransport,
    RecipientKey,
};
use eid_saml::xml::{Document, QName};

/// The SP's encryption key pair: its certificate (recipient) and its private key (decryption).
fn sp_keys() -> (RecipientKey, DecryptionKey) {
    let pem = pem("rsa-enc.pem");
    let signing = SigningKey::from_pem(&pem, Alg::RS256).unwrap();
    let der = dsig::certificate_for(&signing, "sp encryption").unwrap();
    (
        RecipientKey::from_certificate(&der).unwrap(),
        DecryptionKey::from_pem(&pem).unwrap(),
    )
}

fn encrypted_response(options: EncryptOptions) -> (String, std::sync::Arc<SigningKey>) {
    let (signed, key) = signed_assertion(SignatureAlg::RsaSha256);
    let (recipient, _) = sp_keys();
    let encrypted = enc::encrypt_element(&signed, &recipient, options).expect("encrypts");
    (response(&encrypted), key)
}

#[test]
fn every_algorithm_pair_round_trips_and_the_signature_survives() {
    let (_, decryption) = sp_keys();
    for data in DataAlg::ALL {
        for key_transport in KeyTransport::ALL {
            let options = EncryptOptions {
                data,
                key_transport,
            };
            let (response, key) = encrypted_response(options);
            assert!(response.contains(data.uri()) && response.contains(key_transport.uri()));
            let doc = Document::parse(&response).expect("parses");
            let ea = doc
                .root()
                .child(QName::ENCRYPTED_ASSERTION)
                .unwrap()
                .unwrap();
            let only_this = DecryptPolicy {
                data: vec![data],
                ..DecryptPolicy::default()
            };
            let plain = enc::decrypt(ea, &decryption, &only_this)
                .unwrap_or_else(|e| panic!("{options:?}: {e}"));
            let v = dsig::verify(
                &plain,
                Expected::Root(QName::ASSERTION),
                &pinned(&key),
                &policy(),
            )
            .unwrap_or_else(|e| panic!("{options:?}: {e}"));
            assert_eq!(v.id(), "_a1");
        }
    }
}

#[test]
fn the_default_policy_refuses_cbc_so_gcm_cannot_be_downgraded_to_it() {
    let (_, decryption) = sp_keys();
    let (response, _) = encrypted_response(EncryptOptions {
        data: DataAlg::Aes256Cbc,
        key_transport: KeyTransport::RsaOaepMgf1p,
    });
    let doc = Document::parse(&response).unwrap();
    let ea = doc
        .root()
        .child(QName::ENCRYPTED_ASSERTION)
        .unwrap()
        .unwrap();
    assert!(matches!(
        enc::decrypt(ea, &decryption, &DecryptPolicy::default()),
        Err(EncError::AlgorithmNotAllowed(_))
    ));
}

#[test]
fn the_policy_refuses_a_data_cipher_or_key_transport_it_does_not_list() {
    let (_, decryption) = sp_keys();
    let (response, _) = encrypted_response(EncryptOptions {
        data: DataAlg::Aes256Cbc,
        key_transport: KeyTransport::RsaOaepMgf1p,
    });
    let doc = Document::parse(&response).unwrap();
    let ea = doc
        .root()
        .child(QName::ENCRYPTED_ASSERTION)
        .unwrap()
        .unwrap();
    let gcm_only = DecryptPolicy {
        data: vec![DataAlg::Aes256Gcm],
        ..DecryptPolicy::default()
    };
    assert!(matches!(
        enc::decrypt(ea, &decryption, &gcm_only),
        Err(EncError::AlgorithmNotAllowed(_))
    ));
    let oaep11_only = DecryptPolicy {
        key_transport: vec![KeyTransport::RsaOaep],
        ..DecryptPolicy::default()
    };
    assert!(matches!(
        enc::decrypt(ea, &decryption, &oaep11_only),
        Err(EncError::AlgorithmNotAllowed(_))
    ));
}

#[test]
fn a_wrong_key_or_a_tampered_ciphertext_fails_without_detail() {
    let (response, _) = encrypted_response(EncryptOptions::default());
    let other = DecryptionKey::from_pem(&pem("rsa-other.pem")).unwrap();
    let doc = Document::parse(&response).unwrap();
    let ea = doc
        .root()
        .child(QName::ENCRYPTED_ASSERTION)
        .unwrap()
        .unwrap();
    assert!(matches!(
        enc::decrypt(ea, &other, &DecryptPolicy::default()),
        Err(EncError::Decrypt)
    ));
    // Flip one base64 character of the data CipherValue (the last one in the document).
    let at = response.rfind("</xenc:CipherValue>").unwrap() - 5;
    let mut bytes = response.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let doc = Document::parse(&tampered).unwrap();
    let ea = doc
        .root()
        .child(QName::ENCRYPTED_ASSERTION)
        .unwrap()
        .unwrap();
    let (_, decryption) = sp_keys();
    assert!(matches!(
        enc::decrypt(ea, &decryption, &DecryptPolicy::default()),
        Err(EncError::Decrypt)
    ));
}

#[test]
fn structure_rules_refuse_cipher_references_key_agreement_and_extra_data() {
    let (_, decryption) = sp_keys();
    let (response, _) = encrypted_response(EncryptOptions::default());
    let cases = [
        // A CipherReference instead of an inline value.
        response.replacen(
            "<xenc:CipherData><xenc:CipherValue>",
            "<xenc:CipherData><xenc:CipherReference URI=\"http://evil.example/\"/><xenc:CipherValue>",
            1,
        ),
        // Key agreement in KeyInfo.
        response.replacen(
            "<ds:KeyInfo>",
            "<ds:KeyInfo><xenc:AgreementMethod Algorithm=\"http://www.w3.org/2009/xmlenc11#ECDH-ES\"/>",
            1,
        ),
        // OAEP parameters we do not use.
        response.replacen(
            "<ds:DigestMethod",
            "<xenc:OAEPparams>AAAA</xenc:OAEPparams><ds:DigestMethod",
            1,
        ),
    ];
    for case in cases {
        let doc = Document::parse(&case).unwrap();
        let ea = doc
            .root()
            .child(QName::ENCRYPTED_ASSERTION)
            .unwrap()
            .unwrap();
        let r = enc::decrypt(ea, &decryption, &DecryptPolicy::default());
        assert!(
            matches!(
                r,
                Err(EncError::Malformed(_) | EncError::AlgorithmNotAllowed(_))
            ),
            "{r:?}"
        );
    }
    // Not an EncryptedAssertion at all.
    let doc = Document::parse(&response).unwrap();
    assert!(matches!(
        enc::decrypt(doc.root(), &decryption, &DecryptPolicy::default()),
        Err(EncError::Malformed(_))
    ));
}

#[test]
fn a_plaintext_that_is_not_one_assertion_fails_like_a_bad_ciphertext() {
    // No decryption oracle: after the cipher, every failure is the same detail-free error.
    let (recipient, decryption) = sp_keys();
    let not_an_assertion =
        r#"<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">x</saml:Issuer>"#;
    let encrypted =
        enc::encrypt_element(not_an_assertion, &recipient, EncryptOptions::default()).unwrap();
    let response = response(&encrypted);
    let doc = Document::parse(&response).unwrap();
    let ea = doc
        .root()
        .child(QName::ENCRYPTED_ASSERTION)
        .unwrap()
        .unwrap();
    assert!(matches!(
        enc::decrypt(ea, &decryption, &DecryptPolicy::default()),
        Err(EncError::Decrypt)
    ));
}

#[test]
fn recipient_and_decryption_keys_must_be_rsa() {
    let ec = key(SignatureAlg::EcdsaSha256);
    let der = dsig::certificate_for(&ec, "ec").unwrap();
    assert!(matches!(
        RecipientKey::from_certificate(&der),
        Err(EncError::Key(_))
    ));
    assert!(matches!(
        DecryptionKey::from_pem(&pem("ec-p256.pem")),
        Err(EncError::Key(_))
    ));
    assert!(matches!(
        DecryptionKey::from_pem(b"not a key"),
        Err(EncError::Key(_))
    ));
}
