//! Interop with an implementation no one here wrote, the `xmlsec1` command line (Debian 1.2.37,
//! which knows neither RSA-PSS nor xmlenc11 rsa-oaep): (a) an eIDAS Response built from a text
//! template, its assertion encrypted and the Response signed by `xmlsec1`, is accepted by
//! `read_response`; (b) our Response is verified and its assertion decrypted by `xmlsec1`.
//!
//! Skips (prints `SKIP`) when `xmlsec1` is not installed, unless `REQUIRE_SERVICES` is set.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod xmlsec1_support;

mod eidas_support;

use std::path::Path;

use eid_saml::dsig::SignatureAlg;
use eid_saml::eidas::{self, EidasError, ReadResponse};
use eid_saml::enc::{DataAlg, EncryptOptions, KeyTransport};
use eidas_support::*;
use xmlsec1_support::*;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dsig")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

const RESPONSE_ID_ATTR: [&str; 2] = [
    "--id-attr:ID",
    "urn:oasis:names:tc:SAML:2.0:protocol:Response",
];

/// An eIDAS Response as another node would write it, the assertion still in clear text inside
/// `saml2:EncryptedAssertion` (for `xmlsec1 --encrypt --node-name`).
fn template(person: &str) -> String {
    format!(
        r#"<saml2p:Response xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" Consent="urn:oasis:names:tc:SAML:2.0:consent:obtained" Destination="{ACS}" ID="_xr1" InResponseTo="{REQUEST_ID}" IssueInstant="2026-11-30T10:00:00Z" Version="2.0"><saml2:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{PROXY_ID}</saml2:Issuer><saml2p:Status><saml2p:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/><saml2p:StatusMessage>urn:oasis:names:tc:SAML:2.0:status:Success</saml2p:StatusMessage></saml2p:Status><saml2:EncryptedAssertion><saml2:Assertion xmlns:eidas-natural="http://eidas.europa.eu/attributes/naturalperson" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="_xa1" IssueInstant="2026-11-30T10:00:00Z" Version="2.0"><saml2:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{PROXY_ID}</saml2:Issuer><saml2:Subject><saml2:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" NameQualifier="http://C-PEPS.gov.xx">{person}</saml2:NameID><saml2:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml2:SubjectConfirmationData Address="192.0.2.1" InResponseTo="{REQUEST_ID}" NotOnOrAfter="2026-11-30T10:05:00Z" Recipient="{ACS}"/></saml2:SubjectConfirmation></saml2:Subject><saml2:Conditions NotBefore="2026-11-30T10:00:00Z" NotOnOrAfter="2026-11-30T10:05:00Z"><saml2:AudienceRestriction><saml2:Audience>{CONNECTOR_ID}</saml2:Audience></saml2:AudienceRestriction><saml2:OneTimeUse/></saml2:Conditions><saml2:AuthnStatement AuthnInstant="2026-11-30T09:59:30Z"><saml2:SubjectLocality Address="192.0.2.1"/><saml2:AuthnContext><saml2:AuthnContextClassRef>http://eidas.europa.eu/LoA/substantial</saml2:AuthnContextClassRef><saml2:AuthnContextDecl/></saml2:AuthnContext></saml2:AuthnStatement><saml2:AttributeStatement><saml2:Attribute FriendlyName="FamilyName" Name="http://eidas.europa.eu/attributes/naturalperson/CurrentFamilyName" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml2:AttributeValue xsi:type="eidas-natural:CurrentFamilyNameType">Ivanova</saml2:AttributeValue><saml2:AttributeValue xsi:type="eidas-natural:CurrentFamilyNameType" eidas-natural:LatinScript="false">Иванова</saml2:AttributeValue></saml2:Attribute><saml2:Attribute FriendlyName="FirstName" Name="http://eidas.europa.eu/attributes/naturalperson/CurrentGivenName" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml2:AttributeValue xsi:type="eidas-natural:CurrentGivenNameType">Maria</saml2:AttributeValue></saml2:Attribute><saml2:Attribute FriendlyName="DateOfBirth" Name="http://eidas.europa.eu/attributes/naturalperson/DateOfBirth" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml2:AttributeValue xsi:type="eidas-natural:DateOfBirthType">1975-01-31</saml2:AttributeValue></saml2:Attribute><saml2:Attribute FriendlyName="PersonIdentifier" Name="http://eidas.europa.eu/attributes/naturalperson/PersonIdentifier" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml2:AttributeValue xsi:type="eidas-natural:PersonIdentifierType">{person}</saml2:AttributeValue></saml2:Attribute></saml2:AttributeStatement></saml2:Assertion></saml2:EncryptedAssertion></saml2p:Response>"#
    )
}

const ENC_TEMPLATE: &str = r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/><ds:KeyInfo><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"#;

const SIG_TEMPLATE: &str = r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_xr1"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"##;

/// The template encrypted and signed by xmlsec1 with the proxy service's RSA key.
fn xmlsec1_response(dir: &Path, person: &str) -> String {
    let p = proxy_signer(SignatureAlg::RsaSha256);
    let enc_cert = write(dir, "enc-cert.pem", &cert_pem(&encryption_cert()));
    let data = write(dir, "data.xml", &template(person));
    let enc_template = write(dir, "enc-template.xml", ENC_TEMPLATE);
    let (ok, encrypted, err) = xmlsec1(&[
        "--encrypt",
        "--pubkey-cert-pem",
        &enc_cert,
        "--session-key",
        "aes-256",
        "--xml-data",
        &data,
        "--node-name",
        "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        &enc_template,
    ]);
    assert!(ok, "xmlsec1 could not encrypt: {err}");
    assert!(!encrypted.contains("Ivanova"), "not encrypted");
    let unsigned = encrypted.replacen(
        "</saml2:Issuer>",
        &format!("</saml2:Issuer>{SIG_TEMPLATE}"),
        1,
    );
    let unsigned = write(dir, "unsigned.xml", &unsigned);
    let sign_cert = write(dir, "sign-cert.pem", &cert_pem(&p.cert));
    let key_and_cert = format!("{},{sign_cert}", fixture("rsa-3072.pem"));
    let mut args = vec!["--sign"];
    args.extend(RESPONSE_ID_ATTR);
    args.extend(["--privkey-pem", &key_and_cert, &unsigned]);
    let (ok, signed, err) = xmlsec1(&args);
    assert!(ok, "xmlsec1 could not sign: {err}");
    signed
}

#[test]
fn a_response_encrypted_and_signed_by_xmlsec1_is_accepted() {
    if !xmlsec1_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = proxy_signer(SignatureAlg::RsaSha256);
    let proxy = peer(&proxy_metadata_out(&p), &p);
    let signed = xmlsec1_response(dir.path(), "XA/DK/8f2b1c");
    let read = read_response(&signed, &proxy).unwrap_or_else(|e| panic!("refused: {e}"));
    let ReadResponse::Success(a) = read else {
        panic!("not a success");
    };
    assert_eq!(a.id, "_xa1");
    assert_eq!(a.name_id, "XA/DK/8f2b1c");
    assert_eq!(a.loa, eidas::EidasLoa::Substantial);
    let family = a.attribute(eidas::FAMILY_NAME.name).unwrap();
    assert_eq!(family.latin(), Some("Ivanova"));
    assert_eq!(family.original(), Some("Иванова"));
    assert_eq!(a.person_identifier().unwrap().as_str(), "XA/DK/8f2b1c");

    // Tampered after xmlsec1 signed it: refused.
    let tampered = signed.replacen(
        &format!("InResponseTo=\"{REQUEST_ID}\""),
        "InResponseTo=\"_x\"",
        1,
    );
    assert!(matches!(
        read_response(&tampered, &proxy),
        Err(EidasError::Signature(_))
    ));
    // A policy without RSA-SHA256 refuses it.
    let expect = Expect {
        policy: eid_saml::dsig::AlgorithmPolicy {
            signature: vec![SignatureAlg::RsaPssSha256],
            ..policy()
        },
        ..Expect::default()
    };
    assert!(matches!(
        read_response_with(&signed, &proxy, &expect),
        Err(EidasError::Signature(_))
    ));
}

#[test]
fn xmlsec1_verifies_our_response_and_decrypts_its_assertion() {
    if !xmlsec1_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = proxy_signer(SignatureAlg::RsaSha256);
    let options = EncryptOptions {
        data: DataAlg::Aes256Gcm,
        key_transport: KeyTransport::RsaOaepMgf1p,
    };
    for sign_assertion in [false, true] {
        let ours = signed_response(&success(), &p, sign_assertion, options);
        let file = write(dir.path(), "ours.xml", &ours);
        let cert = write(dir.path(), "cert.pem", &cert_pem(&p.cert));
        let mut args = vec!["--verify"];
        args.extend(RESPONSE_ID_ATTR);
        args.extend([
            "--pubkey-cert-pem",
            &cert,
            "--enabled-key-data",
            "key-name",
            &file,
        ]);
        let (ok, _, err) = xmlsec1(&args);
        assert!(ok, "xmlsec1 refused our Response signature: {err}");
        let tampered = write(
            dir.path(),
            "tampered.xml",
            &ours.replacen(
                &format!("Destination=\"{ACS}\""),
                "Destination=\"https://evil.example\"",
                1,
            ),
        );
        let mut args = vec!["--verify"];
        args.extend(RESPONSE_ID_ATTR);
        args.extend([
            "--pubkey-cert-pem",
            &cert,
            "--enabled-key-data",
            "key-name",
            &tampered,
        ]);
        assert!(!xmlsec1(&args).0, "xmlsec1 accepted a tampered Response");

        let enc_key = fixture("rsa-enc.pem");
        let (ok, out, err) = xmlsec1(&["--decrypt", "--privkey-pem", &enc_key, &file]);
        assert!(ok, "xmlsec1 could not decrypt our assertion: {err}");
        // xmlsec1 may write the Greek name as character references.
        assert!(
            out.contains("Papadopoulos") && out.contains("eidas-natural:LatinScript=\"false\"")
        );
        assert!(out.contains("<saml2:Assertion"));
        assert!(out.contains("eidas-natural:PersonIdentifierType"));
        if sign_assertion {
            // The decrypted assertion's own signature verifies with xmlsec1 too.
            let start = out.find("<saml2:Assertion").unwrap();
            let end = out.find("</saml2:Assertion>").unwrap() + "</saml2:Assertion>".len();
            let assertion = write(dir.path(), "assertion.xml", &out[start..end]);
            let (ok, _, err) = xmlsec1(&[
                "--verify",
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
                "--pubkey-cert-pem",
                &cert,
                "--enabled-key-data",
                "key-name",
                &assertion,
            ]);
            assert!(ok, "xmlsec1 refused our assertion signature: {err}");
        }
    }
}
