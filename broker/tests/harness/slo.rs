//! Single logout for the broker's component tests: the test services' SLO endpoints, their
//! LogoutRequests (Redirect, POST, SOAP) and LogoutResponses, and the reading of the broker's
//! LogoutRequests and LogoutResponses (their signatures verified with the broker's key only).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_core::Clock as _;
use eid_keys::{Alg, SigningKey};
use eid_saml::binding::{MessageKind, RelayState, SigAlg, redirect_url, signed_redirect_url};
use eid_saml::dsig::{self, AlgorithmPolicy, Expected, PinnedKeys, SignatureAlg};
use eid_saml::xml::{Document, QName};
use std::sync::Arc;
use time::OffsetDateTime;

use super::saml::{ACS, Request, SP, SP_SECTOR, sp_key, sp_metadata};
use super::{Harness, ISSUER, Reply};

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
    super::saml::register_metadata(harness, &sp_metadata_with_slo(bindings));
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

/// The test service number `n`: `1` is [`SP`]; any other is `https://sp{n}.example.dk/saml`,
/// with the same keys, its own ACS, SLO endpoints and sector.
#[derive(Debug, Clone)]
pub struct Service {
    pub entity_id: String,
    pub acs: String,
    pub slo_redirect: String,
    pub slo_post: String,
    pub slo_soap: String,
}

/// The test service number `n` (see [`Service`]).
pub fn service(n: usize) -> Service {
    let swap = |s: &str| match n {
        1 => s.to_owned(),
        _ => s.replace(
            "https://sp.example.dk",
            &format!("https://sp{n}.example.dk"),
        ),
    };
    Service {
        entity_id: swap(SP),
        acs: swap(ACS),
        slo_redirect: swap(SLO_REDIRECT),
        slo_post: swap(SLO_POST),
        slo_soap: swap(SLO_SOAP),
    }
}

/// Registers the test services `(n, SLO bindings)` (see [`sp_metadata_with_slo`]) in place of
/// any registered before.
pub fn register_services(harness: &Harness, services: &[(usize, &[&str])]) {
    let release = ["cpr".to_owned(), "name".to_owned()];
    let registered = services
        .iter()
        .map(|(n, bindings)| {
            let metadata = match n {
                1 => sp_metadata_with_slo(bindings),
                _ => sp_metadata_with_slo(bindings).replace(
                    "https://sp.example.dk",
                    &format!("https://sp{n}.example.dk"),
                ),
            };
            let sector = format!("{SP_SECTOR}-{n}");
            eid_broker::registry::prepare_saml(
                &eid_broker::registry::SamlSpConfig {
                    metadata: &metadata,
                    name: "SAML service",
                    sector: &sector,
                    release: &release,
                    aes_cbc: false,
                    representation: false,
                    requires_cpr: false,
                    service_areas: &[],
                },
                OffsetDateTime::now_utc(),
            )
            .unwrap()
        })
        .collect();
    harness.broker.registry.set_saml(registered);
}

impl Request {
    /// A request of the test service number `n`, issued now.
    pub fn of(harness: &Harness, n: usize) -> Request {
        let service = service(n);
        Request {
            issuer: service.entity_id,
            acs: Some(service.acs),
            ..Request::new(harness)
        }
    }
}

/// A LogoutRequest the broker sent through the browser, its signature verified with the broker's
/// certificate only.
#[derive(Debug)]
pub struct SentLogout {
    /// Where the browser carries it.
    pub destination: String,
    /// `redirect` or `post`.
    pub binding: &'static str,
    /// The request.
    pub request: eid_saml::messages::LogoutRequest,
}

/// Reads the broker's LogoutRequest that `reply` sends through the browser (a Redirect with a
/// detached signature, or a POST page with an enveloped one).
pub fn read_logout_request(reply: &Reply, broker_cert: &[u8]) -> SentLogout {
    if matches!(reply.status, 302 | 303 | 307) {
        let location = reply.location.clone().expect("a Location");
        let (destination, query) = location.split_once('?').unwrap();
        let message = eid_saml::binding::decode_redirect(query, MessageKind::Request)
            .expect("a Redirect-binding LogoutRequest");
        let xml = message
            .verify_with_certificates(&[broker_cert.to_vec()])
            .expect("the Redirect LogoutRequest is signed by the broker");
        return SentLogout {
            destination: destination.to_owned(),
            binding: "redirect",
            request: eid_saml::messages::LogoutRequest::parse(xml).unwrap(),
        };
    }
    assert!(
        reply.status == 200 && reply.body.contains("name=\"SAMLRequest\""),
        "expected a LogoutRequest: {reply:?}"
    );
    let start = reply.body.find("action=\"").unwrap() + "action=\"".len();
    let end = start + reply.body[start..].find('"').unwrap();
    let xml = String::from_utf8(STANDARD.decode(reply.input("SAMLRequest")).unwrap()).unwrap();
    let keys = PinnedKeys::from_certificates([broker_cert]).unwrap();
    let verified = dsig::verify(
        &xml,
        Expected::Root(QName::LOGOUT_REQUEST),
        &keys,
        &AlgorithmPolicy::default(),
    )
    .expect("the posted LogoutRequest is signed by the broker");
    SentLogout {
        destination: reply.body[start..end].to_owned(),
        binding: "post",
        request: eid_saml::messages::LogoutRequest::parse(&verified.element().to_xml()).unwrap(),
    }
}

/// A service's LogoutResponse to the broker's LogoutRequest, as the test writes it.
#[derive(Debug, Clone)]
pub struct LogoutReply {
    pub id: String,
    pub in_response_to: String,
    pub issuer: String,
    pub destination: Option<String>,
    pub issue_instant: OffsetDateTime,
    pub status: eid_saml::messages::StatusCode,
}

impl LogoutReply {
    /// The `Success` answer of service `n` to `sent`, issued now, to the broker's SLO URL.
    pub fn to(harness: &Harness, n: usize, sent: &SentLogout) -> LogoutReply {
        LogoutReply {
            id: format!("_{}", uuid::Uuid::new_v4().simple()),
            in_response_to: sent.request.id.clone(),
            issuer: service(n).entity_id,
            destination: Some(SLO.into()),
            issue_instant: harness.clock.now(),
            status: eid_saml::messages::StatusCode::Success,
        }
    }

    /// The XML.
    pub fn xml(&self) -> String {
        eid_saml::messages::LogoutResponseOut {
            id: self.id.clone(),
            in_response_to: self.in_response_to.clone(),
            issue_instant: self.issue_instant,
            destination: self.destination.clone(),
            issuer: self.issuer.clone(),
            status: self.status,
        }
        .to_xml()
    }

    /// The Redirect-binding path to the broker, signed with `key`.
    pub fn redirect_signed(&self, key: &SigningKey) -> String {
        let url = signed_redirect_url(
            SLO,
            MessageKind::Response,
            &self.xml(),
            None,
            SigAlg::RsaSha256,
            |bytes| key.sign_as(Alg::RS256, bytes),
        )
        .unwrap();
        url.strip_prefix(ISSUER).unwrap().to_owned()
    }

    /// The Redirect-binding path, signed by the test services' key.
    pub fn redirect(&self) -> String {
        self.redirect_signed(&sp_key())
    }

    /// The Redirect-binding path without a signature.
    pub fn redirect_unsigned(&self) -> String {
        let url = redirect_url(SLO, MessageKind::Response, &self.xml(), None).unwrap();
        url.strip_prefix(ISSUER).unwrap().to_owned()
    }

    /// The POST-binding `SAMLResponse` field, signed (enveloped) with `key`.
    pub fn posted_signed(&self, key: &Arc<SigningKey>) -> String {
        let cert = dsig::certificate_for(key, "test sp").unwrap();
        let signed =
            dsig::sign_enveloped(&self.xml(), &self.id, key, SignatureAlg::RsaSha256, &cert)
                .unwrap();
        STANDARD.encode(signed)
    }
}
