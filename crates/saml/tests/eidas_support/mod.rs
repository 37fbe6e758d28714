//! Shared by the eIDAS tests: a connector ("DK") and a proxy service ("XA") with their keys,
//! metadata, a request, a response, and readers with the expectations filled in.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::{Arc, OnceLock};

use eid_keys::{Alg, SigningKey};
use eid_saml::dsig::{self, AlgorithmPolicy, PinnedKeys, SignatureAlg};
use eid_saml::eidas::{
    self, AssertionOut, Attribute, AttributeValue, AuthnRequest, AuthnRequestOut, EidasError,
    EidasLoa, MetadataOut, NodeRole, PeerMetadata, ReadResponse, RequestExpectations,
    RequestedAttribute, ResponseExpectations, ResponseKeys, ResponseOut, ResponseOutcome, SpType,
};
use eid_saml::enc::{DecryptPolicy, DecryptionKey, EncryptOptions, RecipientKey};
use time::OffsetDateTime;
use time::macros::datetime;

pub const NOW: OffsetDateTime = datetime!(2026-11-30 10:00:00 UTC);

pub const CONNECTOR_ID: &str = "https://connector.example.dk/eidas/connector/metadata";
pub const ACS: &str = "https://connector.example.dk/eidas/connector/acs";
pub const PROXY_ID: &str = "https://proxy.example.xa/eidas/proxy/metadata";
pub const SSO: &str = "https://proxy.example.xa/eidas/proxy/sso";
pub const REQUEST_ID: &str = "_req0123456789abcdef";
pub const ASSERTION_ID: &str = "_as0123456789abcdef";
pub const RESPONSE_ID: &str = "_rs0123456789abcdef";
pub const PERSON: &str = "XA/DK/c2e5a6b8d9f0";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/dsig")
            .join(name),
    )
    .expect("fixture")
}

/// A node's signing key, its algorithm and its certificate.
#[derive(Clone)]
pub struct Signer {
    pub key: Arc<SigningKey>,
    pub alg: SignatureAlg,
    pub cert: Vec<u8>,
}

impl Signer {
    fn new(key: SigningKey, alg: SignatureAlg) -> Signer {
        let key = Arc::new(key);
        let cert = dsig::certificate_for(&key, "eidas test").expect("certificate");
        Signer { key, alg, cert }
    }

    pub fn pinned(&self) -> PinnedKeys {
        PinnedKeys::from_certificates([self.cert.as_slice()]).expect("pinned")
    }
}

fn generated_ec() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| eid_keys::generate_pem(Alg::ES256, 0).expect("ec key"))
}

/// The proxy service's signing key for `alg`.
pub fn proxy_signer(alg: SignatureAlg) -> Signer {
    let key = match alg {
        SignatureAlg::EcdsaSha256 => SigningKey::from_pem(&fixture("ec-p256.pem"), Alg::ES256),
        _ => SigningKey::from_pem(&fixture("rsa-3072.pem"), alg.key_alg()),
    };
    Signer::new(key.expect("key"), alg)
}

/// The connector's signing key for `alg` (another key than the proxy service's).
pub fn connector_signer(alg: SignatureAlg) -> Signer {
    let key = match alg {
        SignatureAlg::EcdsaSha256 => SigningKey::from_pem(generated_ec().as_bytes(), Alg::ES256),
        _ => SigningKey::from_pem(&fixture("rsa-other.pem"), alg.key_alg()),
    };
    Signer::new(key.expect("key"), alg)
}

/// A key no metadata names.
pub fn stranger(alg: SignatureAlg) -> Signer {
    let key = match alg {
        SignatureAlg::EcdsaSha256 => SigningKey::from_pem(
            eid_keys::generate_pem(Alg::ES256, 0).unwrap().as_bytes(),
            Alg::ES256,
        ),
        _ => SigningKey::from_pem(&fixture("rsa-enc.pem"), alg.key_alg()),
    };
    Signer::new(key.expect("key"), alg)
}

/// The connector's encryption key pair (RSA-2048).
pub fn decryption_key() -> DecryptionKey {
    DecryptionKey::from_pem(&fixture("rsa-enc.pem")).expect("decryption key")
}

pub fn encryption_cert() -> Vec<u8> {
    let key = SigningKey::from_pem(&fixture("rsa-enc.pem"), Alg::RS256).expect("key");
    dsig::certificate_for(&key, "eidas encryption").expect("certificate")
}

pub fn policy() -> AlgorithmPolicy {
    AlgorithmPolicy::default()
}

pub fn connector_metadata_out(signer: &Signer, sp_type: Option<SpType>) -> MetadataOut {
    MetadataOut {
        entity_id: CONNECTOR_ID.into(),
        node_country: "DK".into(),
        role: NodeRole::Connector {
            acs_url: ACS.into(),
            sp_type,
        },
        signing_certificate: signer.cert.clone(),
        encryption_certificate: encryption_cert(),
        valid_until: NOW + time::Duration::days(1),
        signing_methods: vec![signer.alg],
    }
}

pub fn proxy_metadata_out(signer: &Signer) -> MetadataOut {
    MetadataOut {
        entity_id: PROXY_ID.into(),
        node_country: "XA".into(),
        role: NodeRole::ProxyService {
            sso_url: SSO.into(),
            loas: EidasLoa::ALL.to_vec(),
            wants_requester_id: true,
        },
        signing_certificate: signer.cert.clone(),
        encryption_certificate: encryption_cert(),
        valid_until: NOW + time::Duration::days(1),
        signing_methods: vec![signer.alg],
    }
}

/// Signs `out` with `signer` and reads it back with `signer` as the anchor.
pub fn peer(out: &MetadataOut, signer: &Signer) -> PeerMetadata {
    let xml = out
        .to_signed_xml(&signer.key, signer.alg, &signer.cert)
        .expect("metadata");
    eidas::read_metadata(&xml, &signer.pinned(), &policy(), NOW).expect("reads metadata")
}

pub fn natural_minimum() -> Vec<RequestedAttribute> {
    eidas::NATURAL_MINIMUM
        .iter()
        .map(|d| RequestedAttribute {
            name: d.name.into(),
            required: true,
        })
        .collect()
}

pub fn request_out(sp_type: Option<SpType>) -> AuthnRequestOut {
    let mut requested = natural_minimum();
    requested.push(RequestedAttribute {
        name: "http://eidas.europa.eu/attributes/naturalperson/BirthName".into(),
        required: false,
    });
    AuthnRequestOut {
        id: REQUEST_ID.into(),
        issue_instant: NOW,
        issuer: CONNECTOR_ID.into(),
        destination: SSO.into(),
        provider_name: Some("Demo service".into()),
        sp_type,
        requester_id: Some("https://service.example.dk".into()),
        requested,
        loa: EidasLoa::Substantial,
        name_id_format: Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into()),
    }
}

/// Reads a request at the proxy service, the connector's metadata as given.
pub fn read_request(xml: &str, connector: &PeerMetadata) -> Result<AuthnRequest, EidasError> {
    eidas::read_authn_request(
        xml,
        &RequestExpectations {
            destination: SSO,
            peer: connector,
            policy: &policy(),
            now: NOW,
        },
    )
}

pub fn latin(v: &str) -> AttributeValue {
    AttributeValue {
        value: v.into(),
        latin_script: true,
    }
}

pub fn attribute(name: &str, values: Vec<AttributeValue>) -> Attribute {
    Attribute {
        name: name.into(),
        values,
    }
}

/// The natural-person minimum data set, with a Greek family name and its transliteration.
pub fn attributes() -> Vec<Attribute> {
    vec![
        attribute(eidas::PERSON_IDENTIFIER.name, vec![latin(PERSON)]),
        attribute(
            eidas::FAMILY_NAME.name,
            vec![
                AttributeValue {
                    value: "Παπαδόπουλος".into(),
                    latin_script: false,
                },
                latin("Papadopoulos"),
            ],
        ),
        attribute(eidas::GIVEN_NAME.name, vec![latin("Eleni")]),
        attribute(eidas::DATE_OF_BIRTH.name, vec![latin("1980-05-17")]),
    ]
}

pub fn assertion_out(attributes: Vec<Attribute>) -> AssertionOut {
    AssertionOut {
        id: ASSERTION_ID.into(),
        name_id: PERSON.into(),
        name_id_format: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into(),
        audience: CONNECTOR_ID.into(),
        recipient: ACS.into(),
        not_on_or_after: NOW + time::Duration::minutes(5),
        authn_instant: NOW - time::Duration::seconds(30),
        loa: EidasLoa::High,
        attributes,
    }
}

pub fn response_out(outcome: ResponseOutcome) -> ResponseOut {
    ResponseOut {
        id: RESPONSE_ID.into(),
        in_response_to: REQUEST_ID.into(),
        issue_instant: NOW,
        destination: ACS.into(),
        issuer: PROXY_ID.into(),
        outcome,
    }
}

pub fn success() -> ResponseOut {
    response_out(ResponseOutcome::Success(assertion_out(attributes())))
}

/// Signs a Response (the assertion too when `sign_assertion`) and encrypts it to the connector.
pub fn signed_response(
    out: &ResponseOut,
    signer: &Signer,
    sign_assertion: bool,
    encryption: EncryptOptions,
) -> String {
    let recipient = RecipientKey::from_certificate(&encryption_cert()).expect("recipient");
    out.to_signed_xml(&ResponseKeys {
        signing: &signer.key,
        alg: signer.alg,
        certificate_der: &signer.cert,
        sign_assertion,
        recipient: &recipient,
        encryption,
    })
    .expect("response")
}

/// What the connector expects of the answer to [`request_out`].
pub struct Expect {
    pub request_id: String,
    pub acs: String,
    pub audience: String,
    pub loa: EidasLoa,
    pub required: Vec<String>,
    pub now: OffsetDateTime,
    pub policy: AlgorithmPolicy,
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            request_id: REQUEST_ID.into(),
            acs: ACS.into(),
            audience: CONNECTOR_ID.into(),
            loa: EidasLoa::Substantial,
            required: eidas::NATURAL_MINIMUM
                .iter()
                .map(|d| d.name.to_owned())
                .collect(),
            now: NOW,
            policy: policy(),
        }
    }
}

/// Reads a Response at the connector.
pub fn read_response_with(
    xml: &str,
    proxy: &PeerMetadata,
    expect: &Expect,
) -> Result<ReadResponse, EidasError> {
    eidas::read_response(
        xml,
        &ResponseExpectations {
            request_id: &expect.request_id,
            acs_url: &expect.acs,
            audience: &expect.audience,
            requested_loa: expect.loa,
            required: &expect.required,
            peer: proxy,
            signature_policy: &expect.policy,
            decryption: &decryption_key(),
            decrypt_policy: &DecryptPolicy::default(),
            now: expect.now,
        },
    )
}

pub fn read_response(xml: &str, proxy: &PeerMetadata) -> Result<ReadResponse, EidasError> {
    read_response_with(xml, proxy, &Expect::default())
}

/// Whether `e` is the rule error whose text is `rule`.
pub fn is_rule(e: &EidasError, rule: &str) -> bool {
    matches!(e, EidasError::Rule(r) if *r == rule)
}

/// `xml` without its XML declaration and its first `ds:Signature` (the root's).
pub fn unsigned(xml: &str) -> String {
    let xml = match xml.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(xml, |(_, r)| r.trim_start()),
        None => xml,
    };
    let start = xml.find("<ds:Signature").expect("signed");
    let end = xml.find("</ds:Signature>").expect("signed") + "</ds:Signature>".len();
    format!("{}{}", &xml[..start], &xml[end..])
}

/// The `ID` of the document element.
pub fn root_id(xml: &str) -> String {
    let start = xml.find(" ID=\"").expect("ID") + 5;
    let len = xml[start..].find('"').expect("ID end");
    xml[start..start + len].to_owned()
}

/// `xml` with its root signature removed, `change` applied, and signed again by `signer`.
pub fn resign(xml: &str, signer: &Signer, change: impl FnOnce(String) -> String) -> String {
    let changed = change(unsigned(xml));
    let id = root_id(&changed);
    dsig::sign_enveloped(&changed, &id, &signer.key, signer.alg, &signer.cert).expect("re-signs")
}

/// `text` with `from` replaced by `to`, which must occur.
pub fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not found");
    text.replace(from, to)
}

/// The `saml:EncryptedAssertion` element of a Response, as text.
pub fn encrypted_part(xml: &str) -> String {
    let start = xml
        .find("<saml:EncryptedAssertion")
        .expect("encrypted assertion");
    let end =
        xml.find("</saml:EncryptedAssertion>").expect("end") + "</saml:EncryptedAssertion>".len();
    xml[start..end].to_owned()
}

/// The decrypted assertion of a Response.
pub fn decrypted(xml: &str) -> String {
    let doc = eid_saml::xml::Document::parse(xml).expect("parses");
    let ea = doc
        .root()
        .child(eid_saml::xml::QName::ENCRYPTED_ASSERTION)
        .expect("one")
        .expect("present");
    eid_saml::enc::decrypt(ea, &decryption_key(), &DecryptPolicy::default()).expect("decrypts")
}

/// A Response whose assertion was decrypted, changed by `change`, encrypted again, and the
/// Response signed again by `signer`.
pub fn rewrite_assertion(
    xml: &str,
    signer: &Signer,
    change: impl FnOnce(String) -> String,
) -> String {
    let plain = change(decrypted(xml));
    let recipient = RecipientKey::from_certificate(&encryption_cert()).expect("recipient");
    let encrypted = eid_saml::enc::encrypt_element(&plain, &recipient, EncryptOptions::default())
        .expect("encrypts");
    let old = encrypted_part(xml);
    resign(xml, signer, |x| replace(&x, &old, &encrypted))
}
