//! A SAML service provider for the broker's component tests, built from `eid_saml`: its metadata,
//! signed AuthnRequests (Redirect and POST bindings), and the reading of the broker's Response
//! (decrypted with its key, the assertion verified with the key from the broker's metadata).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_core::Clock as _;
use eid_keys::{Alg, SigningKey};
use eid_saml::binding::{MessageKind, RelayState, SigAlg, redirect_url, signed_redirect_url};
use eid_saml::dsig::{self, AlgorithmPolicy, Expected, PinnedKeys, SignatureAlg};
use eid_saml::enc::{DecryptPolicy, DecryptionKey, decrypt};
use eid_saml::xml::{Document, QName};
use std::sync::Arc;
use time::OffsetDateTime;

use super::{Client, Harness, ISSUER, Reply};

/// The test service's entity ID.
pub const SP: &str = "https://sp.example.dk/saml";
/// Its registered ACS.
pub const ACS: &str = "https://sp.example.dk/saml/acs";
/// Its sector.
pub const SP_SECTOR: &str = "sector-saml-sp";
/// The broker's SSO URL.
pub const SSO: &str = "http://localhost:8080/saml/sso";
/// The NSIS class reference of High.
pub const HIGH: &str = "https://data.gov.dk/concept/core/nsis/loa/High";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../crates/saml/tests/fixtures/dsig/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The broker's SAML signing key (RSA-3072) in these tests.
pub fn broker_key() -> SigningKey {
    SigningKey::from_pem(&fixture("rsa-3072.pem"), Alg::RS256).unwrap()
}

/// The service's request signing key.
pub fn sp_key() -> Arc<SigningKey> {
    Arc::new(SigningKey::from_pem(&fixture("rsa-other.pem"), Alg::RS256).unwrap())
}

/// A key the service never registered.
pub fn wrong_key() -> Arc<SigningKey> {
    Arc::new(broker_key())
}

fn encryption_key() -> SigningKey {
    SigningKey::from_pem(&fixture("rsa-enc.pem"), Alg::RS256).unwrap()
}

fn cert_b64(key: &SigningKey) -> String {
    STANDARD.encode(dsig::certificate_for(key, "test sp").unwrap())
}

/// The service's metadata.
pub fn sp_metadata() -> String {
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{SP}"><md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{sign}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{enc}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{ACS}" index="0" isDefault="true"/></md:SPSSODescriptor></md:EntityDescriptor>"#,
        sign = cert_b64(&sp_key()),
        enc = cert_b64(&encryption_key()),
    )
}

/// Registers the service at the broker (CPR and names released).
pub fn register(harness: &Harness) {
    register_metadata(harness, &sp_metadata());
}

/// Registers the test service as one that accepts representation, releasing `release`.
pub fn register_representing(harness: &Harness, release: &[&str]) {
    let release: Vec<String> = release.iter().map(|r| (*r).to_owned()).collect();
    let sp = eid_broker::registry::prepare_saml(
        &eid_broker::registry::SamlSpConfig {
            metadata: &sp_metadata(),
            name: "SAML service",
            sector: SP_SECTOR,
            release: &release,
            aes_cbc: false,
            representation: true,
            requires_cpr: false,
            service_areas: &[],
        },
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    harness.broker.registry.set_saml(vec![sp]);
}

/// Registers the test service from `metadata` (CPR and names released), replacing every SAML
/// service of the registry.
pub fn register_metadata(harness: &Harness, metadata: &str) {
    let release = ["cpr".to_owned(), "name".to_owned()];
    let sp = eid_broker::registry::prepare_saml(
        &eid_broker::registry::SamlSpConfig {
            metadata,
            name: "SAML service",
            sector: SP_SECTOR,
            release: &release,
            aes_cbc: false,
            representation: false,
            requires_cpr: false,
            service_areas: &[],
        },
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    harness.broker.registry.set_saml(vec![sp]);
}

/// An AuthnRequest, as the test writes it.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: String,
    pub issuer: String,
    pub version: &'static str,
    pub destination: Option<String>,
    pub issue_instant: OffsetDateTime,
    pub acs: Option<String>,
    pub force: bool,
    pub passive: bool,
    pub min_level: Option<&'static str>,
    /// `Comparison` of the RequestedAuthnContext.
    pub comparison: &'static str,
    /// `NameIDPolicy/@Format`, if any.
    pub name_id_format: Option<&'static str>,
}

impl Request {
    /// A request of the test service, issued now.
    pub fn new(harness: &Harness) -> Request {
        Request {
            id: format!("_{}", uuid::Uuid::new_v4().simple()),
            issuer: SP.into(),
            version: "2.0",
            destination: Some(SSO.into()),
            issue_instant: harness.clock.now(),
            acs: Some(ACS.into()),
            force: false,
            passive: false,
            min_level: None,
            comparison: "minimum",
            name_id_format: None,
        }
    }

    /// The XML.
    pub fn xml(&self) -> String {
        let instant = self
            .issue_instant
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let mut attrs = format!(
            r#"ID="{}" Version="{}" IssueInstant="{instant}""#,
            self.id, self.version
        );
        if let Some(d) = &self.destination {
            attrs.push_str(&format!(r#" Destination="{d}""#));
        }
        if let Some(a) = &self.acs {
            attrs.push_str(&format!(r#" AssertionConsumerServiceURL="{a}""#));
        }
        if self.force {
            attrs.push_str(r#" ForceAuthn="true""#);
        }
        if self.passive {
            attrs.push_str(r#" IsPassive="true""#);
        }
        let context = self
            .min_level
            .map(|l| {
                format!(
                    r#"<samlp:RequestedAuthnContext Comparison="{}"><saml:AuthnContextClassRef>{l}</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"#,
                    self.comparison
                )
            })
            .unwrap_or_default();
        let policy = self
            .name_id_format
            .map(|f| format!(r#"<samlp:NameIDPolicy Format="{f}" AllowCreate="true"/>"#))
            .unwrap_or_default();
        format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" {attrs}><saml:Issuer>{}</saml:Issuer>{policy}{context}</samlp:AuthnRequest>"#,
            self.issuer
        )
    }

    /// The Redirect-binding path, signed with `key` by `alg`.
    pub fn redirect_signed(&self, key: &SigningKey, alg: SigAlg) -> String {
        let relay = RelayState::new("relay-1").unwrap();
        let url = signed_redirect_url(
            SSO,
            MessageKind::Request,
            &self.xml(),
            Some(&relay),
            alg,
            |bytes| key.sign_as(Alg::RS256, bytes),
        )
        .unwrap();
        url.strip_prefix(ISSUER).unwrap().to_owned()
    }

    /// The Redirect-binding path signed by the test service.
    pub fn redirect(&self) -> String {
        self.redirect_signed(&sp_key(), SigAlg::RsaSha256)
    }

    /// The Redirect-binding path without a signature.
    pub fn redirect_unsigned(&self) -> String {
        let url = redirect_url(SSO, MessageKind::Request, &self.xml(), None).unwrap();
        url.strip_prefix(ISSUER).unwrap().to_owned()
    }

    /// The POST-binding `SAMLRequest` field, signed (enveloped) with `key`.
    pub fn posted_signed(&self, key: &Arc<SigningKey>) -> String {
        let cert = dsig::certificate_for(key, "test sp").unwrap();
        let signed =
            dsig::sign_enveloped(&self.xml(), &self.id, key, SignatureAlg::RsaSha256, &cert)
                .unwrap();
        STANDARD.encode(signed)
    }
}

/// What the broker's Response said.
#[derive(Debug)]
pub struct Answered {
    /// The form's action.
    pub action: String,
    /// The Response XML.
    pub response: String,
    /// The decrypted and verified assertion, if any.
    pub assertion: Option<String>,
    /// The RelayState echoed.
    pub relay_state: Option<String>,
}

impl Answered {
    /// Whether the top or second status is `code` (e.g. `Success`, `NoPassive`).
    pub fn has_status(&self, code: &str) -> bool {
        self.response.contains(&format!(
            "Value=\"urn:oasis:names:tc:SAML:2.0:status:{code}\""
        ))
    }

    /// The persistent NameID of the assertion.
    pub fn name_id(&self) -> String {
        let a = self.assertion.as_deref().expect("an assertion");
        let start = a.find("eid/person/uuid/").expect("a NameID") + "eid/person/uuid/".len();
        a[start..start + 36].to_owned()
    }
}

/// Whether `reply` is the page posting a Response.
pub fn is_post(reply: &Reply) -> bool {
    reply.status == 200 && reply.body.contains("name=\"SAMLResponse\"")
}

/// The signing certificate in the broker's metadata (its signature checked with it).
pub async fn broker_certificate(harness: &Harness) -> Vec<u8> {
    let mut client = Client::new();
    let reply = harness.get(&mut client, "/saml/metadata").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let start = reply.body.find("<ds:X509Certificate>").unwrap() + "<ds:X509Certificate>".len();
    let end = start + reply.body[start..].find('<').unwrap();
    let der = STANDARD.decode(&reply.body[start..end]).unwrap();
    let keys = PinnedKeys::from_certificates([der.as_slice()]).unwrap();
    dsig::verify(
        &reply.body,
        Expected::Root(QName::new(
            "urn:oasis:names:tc:SAML:2.0:metadata",
            "EntityDescriptor",
        )),
        &keys,
        &AlgorithmPolicy::default(),
    )
    .expect("signed metadata");
    der
}

/// Reads the Response the page `reply` posts; the assertion is decrypted and its signature
/// verified with `broker_cert` only.
pub fn read(reply: &Reply, broker_cert: &[u8]) -> Answered {
    assert!(is_post(reply), "expected a SAML POST page: {reply:?}");
    let action = {
        let start = reply.body.find("action=\"").unwrap() + "action=\"".len();
        let end = start + reply.body[start..].find('"').unwrap();
        reply.body[start..end].to_owned()
    };
    let response =
        String::from_utf8(STANDARD.decode(reply.input("SAMLResponse")).unwrap()).unwrap();
    let relay_state = reply
        .body
        .contains("name=\"RelayState\"")
        .then(|| reply.input("RelayState"));
    let doc = Document::parse(&response).unwrap();
    let encrypted = doc.root().children_named(QName::ENCRYPTED_ASSERTION).next();
    let assertion = encrypted.map(|e| {
        let key = DecryptionKey::from_pem(&fixture("rsa-enc.pem")).unwrap();
        let plain = decrypt(e, &key, &DecryptPolicy::default()).expect("decrypts");
        let keys = PinnedKeys::from_certificates([broker_cert]).unwrap();
        let verified = dsig::verify(
            &plain,
            Expected::Root(QName::ASSERTION),
            &keys,
            &AlgorithmPolicy::default(),
        )
        .expect("the assertion is signed by the broker");
        assert_eq!(verified.signature_alg(), SignatureAlg::RsaSha256);
        plain
    });
    Answered {
        action,
        response,
        assertion,
        relay_state,
    }
}

/// The `SessionIndex` of an assertion.
pub fn session_index(assertion: &str) -> String {
    let start = assertion.find("SessionIndex=\"").unwrap() + "SessionIndex=\"".len();
    let end = start + assertion[start..].find('"').unwrap();
    assertion[start..end].to_owned()
}
