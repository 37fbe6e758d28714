//! Cross-checks with an implementation no one here wrote: the `xmlsec1` command line (Debian
//! 1.2.37). It verifies our RSA-SHA256 and ECDSA-SHA256 signatures with the key pinned and the ID
//! attribute declared, decrypts our AES-256-GCM and AES-256-CBC + RSA-OAEP-MGF1P encryption, and
//! signs documents that our verifier then accepts (and refuses once tampered with).
//!
//! Skips (prints `SKIP`) when `xmlsec1` is not installed, unless `REQUIRE_SERVICES` is set.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod xmlsec1_support;

mod dsig_support;

use std::path::Path;

use dsig_support::*;
use eid_keys::{Alg, SigningKey};
use eid_saml::dsig::{self, DsigError, Expected, SignatureAlg};
use eid_saml::enc::{self, DataAlg, EncryptOptions, KeyTransport, RecipientKey};
use eid_saml::xml::QName;
use xmlsec1_support::*;

const ID_ATTR: [&str; 2] = [
    "--id-attr:ID",
    "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
];

fn xmlsec1_verifies(dir: &Path, xml: &str, cert_der: &[u8]) -> (bool, String) {
    let cert = write(dir, "cert.pem", &cert_pem(cert_der));
    let file = write(dir, "signed.xml", xml);
    let mut args = vec!["--verify"];
    args.extend(ID_ATTR);
    args.extend([
        "--pubkey-cert-pem",
        &cert,
        "--enabled-key-data",
        "key-name",
        &file,
    ]);
    let (ok, _, err) = xmlsec1(&args);
    (ok, err)
}

#[test]
fn xmlsec1_verifies_our_rsa_sha256_and_ecdsa_sha256_signatures_and_refuses_tampering() {
    if !xmlsec1_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for alg in [SignatureAlg::RsaSha256, SignatureAlg::EcdsaSha256] {
        let (signed, key) = signed_assertion(alg);
        let der = cert(&key);
        // Inside a Response too, where the assertion is not the root.
        for doc in [signed.clone(), response(strip_decl(&signed))] {
            let (ok, err) = xmlsec1_verifies(dir.path(), &doc, &der);
            assert!(ok, "{alg:?}: xmlsec1 refused our signature: {err}");
            let tampered = doc.replace("Substantial", "High");
            let (ok, _) = xmlsec1_verifies(dir.path(), &tampered, &der);
            assert!(!ok, "{alg:?}: xmlsec1 accepted a tampered assertion");
        }
        // Another key pinned: refused.
        let (ok, _) = xmlsec1_verifies(dir.path(), &signed, &cert(&other_key()));
        assert!(!ok, "{alg:?}: xmlsec1 accepted a signature by another key");
    }
}

#[test]
fn xmlsec1_decrypts_our_gcm_and_cbc_encryption_and_the_signature_still_verifies() {
    if !xmlsec1_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sp_pem = pem("rsa-enc.pem");
    let sp = SigningKey::from_pem(&sp_pem, Alg::RS256).unwrap();
    let recipient =
        RecipientKey::from_certificate(&dsig::certificate_for(&sp, "sp").unwrap()).unwrap();
    let (signed, key) = signed_assertion(SignatureAlg::RsaSha256);
    for data in DataAlg::ALL {
        let options = EncryptOptions {
            data,
            key_transport: KeyTransport::RsaOaepMgf1p,
        };
        let encrypted = enc::encrypt_element(&signed, &recipient, options).unwrap();
        let file = write(dir.path(), "encrypted.xml", &response(&encrypted));
        let privkey = fixture("rsa-enc.pem");
        let (ok, out, err) = xmlsec1(&[
            "--decrypt",
            "--privkey-pem",
            privkey.to_str().unwrap(),
            &file,
        ]);
        assert!(ok, "{data:?}: xmlsec1 could not decrypt: {err}");
        assert!(
            out.contains("Substantial") && out.contains("<saml:Assertion"),
            "{data:?}"
        );
        // xmlsec1's plaintext, still signed: both xmlsec1 and we verify it.
        let (ok, err) = xmlsec1_verifies(dir.path(), &out, &cert(&key));
        assert!(ok, "{data:?}: signature broken by encryption: {err}");
        // Ours, on the assertion xmlsec1 put back (it sits in the EncryptedAssertion, a place
        // `Expected::Only` refuses, so take it out as its own document).
        let start = out.find("<saml:Assertion").unwrap();
        let end = out.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
        dsig::verify(
            &out[start..end],
            Expected::Root(QName::ASSERTION),
            &pinned(&key),
            &policy(),
        )
        .unwrap_or_else(|e| panic!("{data:?}: {e}"));
    }
}

/// An assertion with an xmlsec1 signature template after the Issuer.
fn xmlsec1_template(sig_uri: &str) -> String {
    let template = format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{sig_uri}"/><ds:Reference URI="#_a1"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"##
    );
    assertion("_a1").replacen("</saml:Issuer>", &format!("</saml:Issuer>{template}"), 1)
}

#[test]
fn a_document_signed_by_xmlsec1_verifies_with_ours_and_a_tampered_one_does_not() {
    if !xmlsec1_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (alg, key_file) in [
        (SignatureAlg::RsaSha256, "rsa-3072.pem"),
        (SignatureAlg::EcdsaSha256, "ec-p256.pem"),
    ] {
        let key = key(alg);
        let der = cert(&key);
        let cert_file = write(dir.path(), "signer-cert.pem", &cert_pem(&der));
        let key_path = fixture(key_file);
        let tmpl = write(dir.path(), "template.xml", &xmlsec1_template(alg.uri()));
        let mut args = vec!["--sign"];
        args.extend(ID_ATTR);
        let key_and_cert = format!("{},{}", key_path.to_str().unwrap(), cert_file);
        args.extend(["--privkey-pem", &key_and_cert, &tmpl]);
        let (ok, out, err) = xmlsec1(&args);
        assert!(ok, "{alg:?}: xmlsec1 could not sign: {err}");
        let v = dsig::verify(
            &out,
            Expected::Only(QName::ASSERTION),
            &pinned(&key),
            &policy(),
        )
        .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(v.signature_alg(), alg);
        let tampered = out.replace("Substantial", "High");
        assert!(matches!(
            dsig::verify(
                &tampered,
                Expected::Only(QName::ASSERTION),
                &pinned(&key),
                &policy()
            ),
            Err(DsigError::Invalid)
        ));
        // Pinned to another key: refused, whatever certificate the KeyInfo carries.
        assert!(matches!(
            dsig::verify(
                &out,
                Expected::Only(QName::ASSERTION),
                &pinned(&other_key()),
                &policy()
            ),
            Err(DsigError::Invalid)
        ));
    }
}

#[test]
fn an_xmlsec1_rsa_sha1_signature_is_refused_by_the_policy() {
    if !xmlsec1_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = key(SignatureAlg::RsaSha256);
    let cert_file = write(dir.path(), "signer-cert.pem", &cert_pem(&cert(&key)));
    let template = xmlsec1_template("http://www.w3.org/2000/09/xmldsig#rsa-sha1").replace(
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2000/09/xmldsig#sha1",
    );
    let tmpl = write(dir.path(), "template.xml", &template);
    let key_and_cert = format!(
        "{},{}",
        fixture("rsa-3072.pem").to_str().unwrap(),
        cert_file
    );
    let mut args = vec!["--sign"];
    args.extend(ID_ATTR);
    args.extend(["--privkey-pem", &key_and_cert, &tmpl]);
    let (ok, out, err) = xmlsec1(&args);
    assert!(ok, "xmlsec1 could not sign with rsa-sha1: {err}");
    assert!(matches!(
        dsig::verify(
            &out,
            Expected::Only(QName::ASSERTION),
            &pinned(&key),
            &policy()
        ),
        Err(DsigError::AlgorithmNotAllowed(_))
    ));
}

#[test]
fn an_assertion_encrypted_by_xmlsec1_decrypts_with_ours_and_still_verifies() {
    if !xmlsec1_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sp_pem = pem("rsa-enc.pem");
    let sp = SigningKey::from_pem(&sp_pem, Alg::RS256).unwrap();
    let sp_cert = write(
        dir.path(),
        "sp-cert.pem",
        &cert_pem(&dsig::certificate_for(&sp, "sp").unwrap()),
    );
    let (signed, key) = signed_assertion(SignatureAlg::RsaSha256);
    let data = write(
        dir.path(),
        "data.xml",
        &response(&format!(
            "<saml:EncryptedAssertion>{}</saml:EncryptedAssertion>",
            strip_decl(&signed)
        )),
    );
    for (data_uri, session) in [
        ("http://www.w3.org/2009/xmlenc11#aes256-gcm", "aes-256"),
        ("http://www.w3.org/2001/04/xmlenc#aes256-cbc", "aes-256"),
    ] {
        let template = write(
            dir.path(),
            "enc-template.xml",
            &format!(
                r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{data_uri}"/><ds:KeyInfo><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"#
            ),
        );
        let (ok, out, err) = xmlsec1(&[
            "--encrypt",
            "--pubkey-cert-pem",
            &sp_cert,
            "--session-key",
            session,
            "--xml-data",
            &data,
            "--node-name",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            &template,
        ]);
        assert!(ok, "{data_uri}: xmlsec1 could not encrypt: {err}");
        assert!(!out.contains("Substantial"), "{data_uri}: not encrypted");
        let doc = eid_saml::xml::Document::parse(strip_decl(&out)).unwrap();
        let ea = doc
            .root()
            .child(QName::ENCRYPTED_ASSERTION)
            .unwrap()
            .unwrap();
        let decryption = enc::DecryptionKey::from_pem(&sp_pem).unwrap();
        // A peer is configured for exactly the cipher it uses (CBC never beside GCM).
        let only_this = enc::DecryptPolicy {
            data: vec![enc::DataAlg::from_uri(data_uri).unwrap()],
            ..enc::DecryptPolicy::default()
        };
        let plain =
            enc::decrypt(ea, &decryption, &only_this).unwrap_or_else(|e| panic!("{data_uri}: {e}"));
        dsig::verify(
            &plain,
            Expected::Root(QName::ASSERTION),
            &pinned(&key),
            &policy(),
        )
        .unwrap_or_else(|e| panic!("{data_uri}: {e}"));
    }
}
