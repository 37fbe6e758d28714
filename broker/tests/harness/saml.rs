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
    let metadata = sp_metadata();
    let release = ["cpr".to_owned(), "name".to_owned()];
    let sp = eid_broker::registry::prepare_saml(
        &eid_broker::registry::SamlSpConfig {
            metadata: &metadata,
            name: "SAML service",
            sector: SP_SECTOR,
            release: &release,
            aes_cbc: false,
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

/// The service's SLO endpoints (Redirect, POST, SOAP) in [`sp_metadata_with_slo`].
pub const SLO_REDIRECT: &str = "https://sp.example.dk/saml/slo";
/// Its POST SLO endpoint.
pub const SLO_POST: &str = "https://sp.example.dk/saml/slo/post";
/// Its SOAP SLO endpoint.
pub const SLO_SOAP: &str = "https://sp.example.dk/saml/slo/soap";
/// The broker's SLO URL.
pub const SLO: &str = "http://localhost:8080/saml/slo";
/// The broker's SOAP SLO URL.
pub const SLO_SOAP_BROKER: &str = "http://localhost:8080/saml/slo/soap";

/// The service's metadata with single logout endpoints of the given bindings (`redirect`,
/// `post`, `soap`).
pub fn sp_metadata_with_slo(bindings: &[&str]) -> String {
    let mut slo = String::new();
    for b in bindings {
        let (uri, location) = match *b {
            "redirect" => (eid_saml::messages::BINDING_REDIRECT, SLO_REDIRECT),
            "post" => (eid_saml::messages::BINDING_POST, SLO_POST),
            _ => (eid_saml::messages::BINDING_SOAP, SLO_SOAP),
        };
        slo.push_str(&format!(
            r#"<md:SingleLogoutService Binding="{uri}" Location="{location}"/>"#
        ));
    }
    sp_metadata().replace("<md:NameIDFormat>", &format!("{slo}<md:NameIDFormat>"))
}

/// Registers the service with single logout endpoints of `bindings`.
pub fn register_with_slo(harness: &Harness, bindings: &[&str]) {
    let metadata = sp_metadata_with_slo(bindings);
    let release = ["cpr".to_owned(), "name".to_owned()];
    let sp = eid_broker::registry::prepare_saml(
        &eid_broker::registry::SamlSpConfig {
            metadata: &metadata,
            name: "SAML service",
            sector: SP_SECTOR,
            release: &release,
            aes_cbc: false,
        },
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    harness.broker.registry.set_saml(vec![sp]);
}

/// A LogoutRequest, as the test service writes it.
#[derive(Debug, Clone)]
pub struct Logout {
    pub id: String,
    pub issuer: String,
    pub destination: Option<String>,
    pub issue_instant: OffsetDateTime,
    /// The persistent NameID's UUID.
    pub name_id: String,
    pub session_index: Option<String>,
}

impl Logout {
    /// A LogoutRequest of the test service for `name_id` and `session_index`, issued now.
    pub fn new(harness: &Harness, name_id: &str, session_index: &str) -> Logout {
        Logout {
            id: format!("_{}", uuid::Uuid::new_v4().simple()),
            issuer: SP.into(),
            destination: Some(SLO.into()),
            issue_instant: harness.clock.now(),
            name_id: name_id.into(),
            session_index: Some(session_index.into()),
        }
    }

    /// The XML.
    pub fn xml(&self) -> String {
        let instant = self
            .issue_instant
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let destination = self
            .destination
            .as_ref()
            .map(|d| format!(r#" Destination="{d}""#))
            .unwrap_or_default();
        let index = self
            .session_index
            .as_ref()
            .map(|i| format!("<samlp:SessionIndex>{i}</samlp:SessionIndex>"))
            .unwrap_or_default();
        format!(
            r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{}" Version="2.0" IssueInstant="{instant}"{destination}><saml:Issuer>{}</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">https://data.gov.dk/model/core/eid/person/uuid/{}</saml:NameID>{index}</samlp:LogoutRequest>"#,
            self.id, self.issuer, self.name_id
        )
    }

    /// The Redirect-binding path, signed with `key`.
    pub fn redirect_signed(&self, key: &SigningKey) -> String {
        let relay = RelayState::new("slo-relay").unwrap();
        let url = signed_redirect_url(
            SLO,
            MessageKind::Request,
            &self.xml(),
            Some(&relay),
            SigAlg::RsaSha256,
            |bytes| key.sign_as(Alg::RS256, bytes),
        )
        .unwrap();
        url.strip_prefix(ISSUER).unwrap().to_owned()
    }

    /// The Redirect-binding path signed by the test service.
    pub fn redirect(&self) -> String {
        self.redirect_signed(&sp_key())
    }

    /// The Redirect-binding path without a signature.
    pub fn redirect_unsigned(&self) -> String {
        let url = redirect_url(SLO, MessageKind::Request, &self.xml(), None).unwrap();
        url.strip_prefix(ISSUER).unwrap().to_owned()
    }

    /// The XML with an enveloped signature by `key`.
    pub fn signed_xml(&self, key: &Arc<SigningKey>) -> String {
        let cert = dsig::certificate_for(key, "test sp").unwrap();
        dsig::sign_enveloped(&self.xml(), &self.id, key, SignatureAlg::RsaSha256, &cert).unwrap()
    }

    /// The POST-binding `SAMLRequest` field, signed by the test service.
    pub fn posted(&self) -> String {
        STANDARD.encode(self.signed_xml(&sp_key()))
    }

    /// The SOAP envelope, signed with `key`.
    pub fn soap_signed(&self, key: &Arc<SigningKey>) -> String {
        soap_envelope(&self.signed_xml(key))
    }
}

/// Wraps a message in a SOAP 1.1 envelope.
pub fn soap_envelope(message: &str) -> String {
    let message = match message.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").unwrap().1,
        None => message,
    };
    format!(
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>{message}</s:Body></s:Envelope>"#
    )
}

/// The single element in a SOAP envelope's Body.
pub fn soap_body(envelope: &str) -> String {
    let doc = Document::parse(envelope).unwrap();
    let body = doc.root().children().next().expect("a Body");
    body.children().next().expect("a message").to_xml()
}

/// A LogoutResponse the broker sent, its signature verified with `broker_cert` only.
#[derive(Debug)]
pub struct LogoutAnswer {
    /// Where it went (empty for SOAP).
    pub destination: String,
    /// The XML.
    pub xml: String,
    /// The parsed response.
    pub response: eid_saml::messages::LogoutResponse,
    /// The RelayState echoed.
    pub relay_state: Option<String>,
}

impl LogoutAnswer {
    /// Whether the status is `code`.
    pub fn is(&self, code: eid_saml::messages::StatusCode) -> bool {
        self.response.status == Some(code)
    }
}

fn verify_logout_response(xml: &str, broker_cert: &[u8]) -> eid_saml::messages::LogoutResponse {
    let keys = PinnedKeys::from_certificates([broker_cert]).unwrap();
    let verified = dsig::verify(
        xml,
        Expected::Root(QName::LOGOUT_RESPONSE),
        &keys,
        &AlgorithmPolicy::default(),
    )
    .expect("the LogoutResponse is signed by the broker");
    eid_saml::messages::LogoutResponse::parse(&verified.element().to_xml()).unwrap()
}

/// Reads the broker's LogoutResponse from `reply`: a Redirect (signature over the query), a POST
/// page (enveloped signature) or a SOAP envelope.
pub fn read_logout(reply: &Reply, broker_cert: &[u8]) -> LogoutAnswer {
    if matches!(reply.status, 302 | 303 | 307) {
        let location = reply.location.clone().expect("a Location");
        let (destination, query) = location.split_once('?').unwrap();
        let message = eid_saml::binding::decode_redirect(query, MessageKind::Response).unwrap();
        let xml = message
            .verify_with_certificates(&[broker_cert.to_vec()])
            .expect("the Redirect LogoutResponse is signed by the broker")
            .to_owned();
        return LogoutAnswer {
            destination: destination.to_owned(),
            response: eid_saml::messages::LogoutResponse::parse(&xml).unwrap(),
            relay_state: message.relay_state().map(|r| r.as_str().to_owned()),
            xml,
        };
    }
    assert_eq!(reply.status, 200, "{reply:?}");
    if reply.body.starts_with("<soap11:Envelope") {
        let xml = soap_body(&reply.body);
        return LogoutAnswer {
            destination: String::new(),
            response: verify_logout_response(&xml, broker_cert),
            relay_state: None,
            xml,
        };
    }
    assert!(reply.body.contains("name=\"SAMLResponse\""), "{reply:?}");
    let start = reply.body.find("action=\"").unwrap() + "action=\"".len();
    let end = start + reply.body[start..].find('"').unwrap();
    let xml = String::from_utf8(STANDARD.decode(reply.input("SAMLResponse")).unwrap()).unwrap();
    LogoutAnswer {
        destination: reply.body[start..end].to_owned(),
        response: verify_logout_response(&xml, broker_cert),
        relay_state: reply
            .body
            .contains("name=\"RelayState\"")
            .then(|| reply.input("RelayState")),
        xml,
    }
}

/// The test service's answer to the broker's SOAP LogoutRequest: a Success LogoutResponse,
/// signed when `signed` (its request's signature is not checked here; the tests do).
pub fn soap_reply(envelope: &str, signed: bool) -> Option<String> {
    let request = soap_body(envelope);
    let doc = Document::parse(&request).ok()?;
    let id = doc.root().attr("ID")?.to_owned();
    let response_id = format!("_{}", uuid::Uuid::new_v4().simple());
    let xml = eid_saml::messages::LogoutResponseOut {
        id: response_id.clone(),
        in_response_to: id,
        issue_instant: OffsetDateTime::now_utc(),
        destination: None,
        issuer: SP.into(),
        status: eid_saml::messages::StatusCode::Success,
    }
    .to_xml();
    if !signed {
        return Some(soap_envelope(&xml));
    }
    let key = sp_key();
    let cert = dsig::certificate_for(&key, "test sp").unwrap();
    let signed =
        dsig::sign_enveloped(&xml, &response_id, &key, SignatureAlg::RsaSha256, &cert).unwrap();
    Some(soap_envelope(&signed))
}

/// The `SessionIndex` of an assertion.
pub fn session_index(assertion: &str) -> String {
    let start = assertion.find("SessionIndex=\"").unwrap() + "SessionIndex=\"".len();
    let end = start + assertion[start..].find('"').unwrap();
    assertion[start..end].to_owned()
}
