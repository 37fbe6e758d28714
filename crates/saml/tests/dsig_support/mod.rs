//! Shared by the XML security tests: test keys, their certificates and sample SAML messages.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use eid_keys::{Alg, SigningKey};
use eid_saml::dsig::{self, AlgorithmPolicy, PinnedKeys, SignatureAlg};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dsig")
        .join(name)
}

pub fn pem(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture")
}

/// A test key for `alg` (RSA-3072 for the RSA algorithms, P-256 for ECDSA).
pub fn key(alg: SignatureAlg) -> Arc<SigningKey> {
    match alg {
        SignatureAlg::RsaSha256 => rsa_key(Alg::RS256),
        SignatureAlg::RsaPssSha256 => rsa_key(Alg::PS256),
        SignatureAlg::EcdsaSha256 => {
            Arc::new(SigningKey::from_pem(&pem("ec-p256.pem"), Alg::ES256).expect("ec key"))
        }
    }
}

pub fn rsa_key(alg: Alg) -> Arc<SigningKey> {
    Arc::new(SigningKey::from_pem(&pem("rsa-3072.pem"), alg).expect("rsa key"))
}

pub fn other_key() -> Arc<SigningKey> {
    Arc::new(SigningKey::from_pem(&pem("rsa-other.pem"), Alg::RS256).expect("other key"))
}

pub fn cert(key: &SigningKey) -> Vec<u8> {
    dsig::certificate_for(key, "eid-saml test").expect("certificate")
}

pub fn pinned(key: &SigningKey) -> PinnedKeys {
    let c = cert(key);
    PinnedKeys::from_certificates([c.as_slice()]).expect("pinned")
}

pub fn policy() -> AlgorithmPolicy {
    AlgorithmPolicy::default()
}

pub const NAME_ID: &str =
    "https://data.gov.dk/model/core/eid/person/uuid/0f8e3c8e-3c7c-4c55-9a4b-1f0c3e2d1a00";

/// An OIOSAML-shaped assertion with `ID` = `id` and the given NameID.
pub fn assertion_with(id: &str, name_id: &str) -> String {
    format!(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{id}" IssueInstant="2026-11-30T10:00:00Z" Version="2.0"><saml:Issuer>https://broker.example.dk</saml:Issuer><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{name_id}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="2026-11-30T10:05:00Z" Recipient="https://sp.example.dk/acs"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="2026-11-30T10:00:00Z" NotOnOrAfter="2026-11-30T11:00:00Z"><saml:AudienceRestriction><saml:Audience>https://sp.example.dk</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AttributeStatement><saml:Attribute Name="https://data.gov.dk/concept/core/nsis/loa" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml:AttributeValue xsi:type="xs:string">Substantial</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion>"#
    )
}

pub fn assertion(id: &str) -> String {
    assertion_with(id, NAME_ID)
}

/// A signed assertion (its own document).
pub fn signed_assertion(alg: SignatureAlg) -> (String, Arc<SigningKey>) {
    let key = key(alg);
    let signed =
        dsig::sign_enveloped(&assertion("_a1"), "_a1", &key, alg, &cert(&key)).expect("signs");
    (signed, key)
}

/// A Response around `inner` (assertions or other content).
pub fn response(inner: &str) -> String {
    format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" InResponseTo="_req1" IssueInstant="2026-11-30T10:00:00Z" Version="2.0" Destination="https://sp.example.dk/acs"><saml:Issuer>https://broker.example.dk</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>{inner}</samlp:Response>"#
    )
}

/// The assertion part of a signed assertion document (drops an XML declaration if any).
pub fn strip_decl(xml: &str) -> &str {
    match xml.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(xml, |(_, r)| r.trim_start()),
        None => xml,
    }
}

/// A signed AuthnRequest (root) with the given key.
pub fn authn_request(id: &str, acs: &str) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="2026-11-30T10:00:00Z" Destination="https://broker.example.dk/saml/sso" AssertionConsumerServiceURL="{acs}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>https://sp.example.dk</saml:Issuer></samlp:AuthnRequest>"#
    )
}
