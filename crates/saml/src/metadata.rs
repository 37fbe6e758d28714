//! SAML 2.0 metadata: reading a service provider's (into [`SamlSp`], the broker's typed
//! registration) and writing our IdP's. Signatures over metadata are the XML signature
//! module's work: a fetched metadata document is read here only after its signature was
//! checked against the configured anchor, and ours is signed after [`IdpMetadata::to_xml`].

use crate::NAMEID_PERSISTENT;
use crate::binding::SpVerificationKey;
use crate::messages::writer::{XmlWriter, instant};
use crate::messages::xml::{
    bool_attr, instant_attr, is, opt_attr, parse_document, req_attr, root, text_bounded,
};
use crate::messages::{BINDING_POST, BINDING_REDIRECT, BINDING_SOAP, MessageError, NS_PROTOCOL};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_core::relying_party::{AssertionConsumer, SamlSp, SingleLogoutService};
use roxmltree::Node;
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// The SAML 2.0 metadata namespace.
pub const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
/// The XML-DSig namespace (KeyInfo).
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The largest metadata document we read.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;
/// The most endpoints of one kind, and the most keys, we read.
const MAX_ENDPOINTS: usize = 16;
const MAX_KEYS: usize = 8;
/// The longest base64 certificate.
const MAX_CERT_BASE64: usize = 16 * 1024;

/// Why metadata was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// The document is not acceptable XML, or a value in it is not.
    #[error(transparent)]
    Xml(#[from] MessageError),
    /// No `SPSSODescriptor` for SAML 2.0, or more than one.
    #[error("expected exactly one SPSSODescriptor supporting SAML 2.0")]
    NoSpDescriptor,
    /// No assertion consumer service.
    #[error("no AssertionConsumerService")]
    NoAcs,
    /// Two assertion consumer services share an index.
    #[error("two AssertionConsumerServices share index {0}")]
    DuplicateAcsIndex(u16),
    /// An endpoint's location is not an http(s) URL.
    #[error("{0} Location is not an http(s) URL")]
    BadLocation(&'static str),
    /// More elements of a kind than we read.
    #[error("too many {0}")]
    TooMany(&'static str),
    /// A certificate is not base64 DER X.509, or its key is not usable.
    #[error("a {0} certificate is not usable")]
    BadCertificate(&'static str),
    /// `KeyDescriptor/@use` is neither `signing` nor `encryption`.
    #[error("KeyDescriptor use must be signing or encryption")]
    BadKeyUse,
    /// No signing certificate (a service's requests must be signed).
    #[error("no signing certificate")]
    NoSigningCertificate,
    /// `validUntil` has passed.
    #[error("the metadata has expired (validUntil)")]
    Expired,
}

/// An assertion consumer service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcsEndpoint {
    /// `index`.
    pub index: u16,
    /// `Binding`.
    pub binding: String,
    /// `Location`.
    pub location: String,
    /// `isDefault`, if given.
    pub is_default: Option<bool>,
}

/// A single logout endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SloEndpoint {
    /// `Binding`.
    pub binding: String,
    /// `Location`.
    pub location: String,
    /// `ResponseLocation`, if given.
    pub response_location: Option<String>,
}

/// A service provider's metadata, bounded and typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpMetadata {
    /// `entityID`.
    pub entity_id: String,
    /// `validUntil`, if given.
    pub valid_until: Option<OffsetDateTime>,
    /// `AuthnRequestsSigned` (false when absent).
    pub authn_requests_signed: bool,
    /// `WantAssertionsSigned` (false when absent).
    pub want_assertions_signed: bool,
    /// Assertion consumer services, in document order.
    pub acs: Vec<AcsEndpoint>,
    /// Single logout endpoints, in document order.
    pub slo: Vec<SloEndpoint>,
    /// Certificates (DER) for signing (`use="signing"` or no `use`).
    pub signing_certificates: Vec<Vec<u8>>,
    /// Certificates (DER) for encryption (`use="encryption"` or no `use`).
    pub encryption_certificates: Vec<Vec<u8>>,
    /// `NameIDFormat`s, in document order.
    pub name_id_formats: Vec<String>,
}

impl SpMetadata {
    /// Parses an `EntityDescriptor` with one SAML 2.0 `SPSSODescriptor`.
    pub fn parse(xml: &str) -> Result<SpMetadata, MetadataError> {
        let doc = parse_document(xml, MAX_METADATA_BYTES)?;
        let entity = root(&doc, NS_METADATA, "EntityDescriptor")?;
        let entity_id = req_attr(entity, "entityID")?;
        let mut sp_descriptors = entity.children().filter(|c| {
            is(*c, NS_METADATA, "SPSSODescriptor")
                && c.attribute("protocolSupportEnumeration")
                    .is_some_and(|p| p.split_ascii_whitespace().any(|t| t == NS_PROTOCOL))
        });
        let sp = sp_descriptors.next().ok_or(MetadataError::NoSpDescriptor)?;
        if sp_descriptors.next().is_some() {
            return Err(MetadataError::NoSpDescriptor);
        }
        let valid_until = match (
            instant_attr(entity, "validUntil")?,
            instant_attr(sp, "validUntil")?,
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut acs = Vec::new();
        let mut indexes = BTreeSet::new();
        for node in children(sp, "AssertionConsumerService", MAX_ENDPOINTS)? {
            let index = req_attr(node, "index")?
                .parse::<u16>()
                .map_err(|_| MessageError::BadAttribute("index"))?;
            if !indexes.insert(index) {
                return Err(MetadataError::DuplicateAcsIndex(index));
            }
            acs.push(AcsEndpoint {
                index,
                binding: req_attr(node, "Binding")?,
                location: location(node, "Location", "AssertionConsumerService")?
                    .ok_or(MessageError::MissingAttribute("Location"))?,
                is_default: node
                    .attribute("isDefault")
                    .map(|_| bool_attr(node, "isDefault", false))
                    .transpose()?,
            });
        }
        if acs.is_empty() {
            return Err(MetadataError::NoAcs);
        }
        let mut slo = Vec::new();
        for node in children(sp, "SingleLogoutService", MAX_ENDPOINTS)? {
            slo.push(SloEndpoint {
                binding: req_attr(node, "Binding")?,
                location: location(node, "Location", "SingleLogoutService")?
                    .ok_or(MessageError::MissingAttribute("Location"))?,
                response_location: location(node, "ResponseLocation", "SingleLogoutService")?,
            });
        }
        let mut signing_certificates = Vec::new();
        let mut encryption_certificates = Vec::new();
        for key in children(sp, "KeyDescriptor", MAX_KEYS)? {
            let (signing, encryption) = match key.attribute("use") {
                None => (true, true),
                Some("signing") => (true, false),
                Some("encryption") => (false, true),
                Some(_) => return Err(MetadataError::BadKeyUse),
            };
            for der in certificates(key)? {
                if signing {
                    SpVerificationKey::from_certificate_der(&der)
                        .map_err(|_| MetadataError::BadCertificate("signing"))?;
                    signing_certificates.push(der.clone());
                }
                if encryption {
                    encryption_certificates.push(der);
                }
            }
        }
        let mut name_id_formats = Vec::new();
        for node in children(sp, "NameIDFormat", MAX_ENDPOINTS)? {
            name_id_formats.push(crate::messages::xml::text_only(node, "NameIDFormat")?);
        }
        Ok(SpMetadata {
            entity_id,
            valid_until,
            authn_requests_signed: bool_attr(sp, "AuthnRequestsSigned", false)?,
            want_assertions_signed: bool_attr(sp, "WantAssertionsSigned", false)?,
            acs,
            slo,
            signing_certificates,
            encryption_certificates,
            name_id_formats,
        })
    }

    /// Checks that the metadata is still valid at `now` (its `validUntil`).
    pub fn check_valid(&self, now: OffsetDateTime) -> Result<(), MetadataError> {
        match self.valid_until {
            Some(t) if now >= t => Err(MetadataError::Expired),
            _ => Ok(()),
        }
    }

    /// The default ACS (SAML Metadata §2.2.3): the first with `isDefault="true"`, else the first
    /// without `isDefault="false"`, else the first.
    pub fn default_acs(&self) -> Option<&AcsEndpoint> {
        self.acs
            .iter()
            .find(|a| a.is_default == Some(true))
            .or_else(|| self.acs.iter().find(|a| a.is_default.is_none()))
            .or_else(|| self.acs.first())
    }

    /// The broker's registration of the service. It must have a signing certificate (OIOSAML:
    /// every AuthnRequest is signed). The first encryption certificate is the one assertions
    /// are encrypted to.
    pub fn to_saml_sp(&self) -> Result<SamlSp, MetadataError> {
        if self.signing_certificates.is_empty() {
            return Err(MetadataError::NoSigningCertificate);
        }
        let default_index = self.default_acs().map(|a| a.index);
        Ok(SamlSp {
            entity_id: self.entity_id.clone(),
            acs: self
                .acs
                .iter()
                .map(|a| AssertionConsumer {
                    location: a.location.clone(),
                    binding: a.binding.clone(),
                    index: a.index,
                    is_default: Some(a.index) == default_index,
                })
                .collect(),
            slo: self
                .slo
                .iter()
                .map(|s| SingleLogoutService {
                    binding: s.binding.clone(),
                    location: s.location.clone(),
                    response_location: s.response_location.clone(),
                })
                .collect(),
            signing_certificates: self.signing_certificates.clone(),
            encryption_certificate: self.encryption_certificates.first().cloned(),
        })
    }
}

/// The `md:` children `local` of `node`, at most `max`.
pub(crate) fn children<'a, 'i>(
    node: Node<'a, 'i>,
    local: &'static str,
    max: usize,
) -> Result<Vec<Node<'a, 'i>>, MetadataError> {
    let found: Vec<_> = node
        .children()
        .filter(|c| is(*c, NS_METADATA, local))
        .collect();
    if found.len() > max {
        return Err(MetadataError::TooMany(local));
    }
    Ok(found)
}

/// Whether `url` is `http://` to a loopback host (`localhost`, `127.0.0.1`, `[::1]`, any port):
/// the only plain-HTTP endpoints accepted (development and tests), as for OIDC redirect URIs.
fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix("[::1]") {
        Some(port) => return port.is_empty() || is_port(port),
        None => authority.split_once(':').map_or(authority, |(host, port)| {
            if is_port(&format!(":{port}")) {
                host
            } else {
                ""
            }
        }),
    };
    matches!(host, "localhost" | "127.0.0.1")
}

/// `:digits` (1 to 5 of them).
fn is_port(s: &str) -> bool {
    s.strip_prefix(':')
        .is_some_and(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// An endpoint URL attribute: absolute `https://` (`http://` only to a loopback host), no
/// fragment. An assertion must never travel in clear text to a service on the network.
pub(crate) fn location(
    node: Node<'_, '_>,
    attr: &'static str,
    what: &'static str,
) -> Result<Option<String>, MetadataError> {
    let Some(url) = opt_attr(node, attr)? else {
        return Ok(None);
    };
    let ok = (url.starts_with("https://") || is_loopback_http(&url))
        && !url.contains('#')
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(Some(url))
    } else {
        Err(MetadataError::BadLocation(what))
    }
}

/// The DER certificates of a KeyDescriptor's `ds:KeyInfo/ds:X509Data/ds:X509Certificate`s.
pub(crate) fn certificates(key: Node<'_, '_>) -> Result<Vec<Vec<u8>>, MetadataError> {
    let mut out = Vec::new();
    for info in key.children().filter(|c| is(*c, NS_DSIG, "KeyInfo")) {
        for data in info.children().filter(|c| is(*c, NS_DSIG, "X509Data")) {
            for cert in data
                .children()
                .filter(|c| is(*c, NS_DSIG, "X509Certificate"))
            {
                if out.len() == MAX_KEYS {
                    return Err(MetadataError::TooMany("X509Certificate"));
                }
                let text = text_bounded(cert, "X509Certificate", MAX_CERT_BASE64)?;
                let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                let der = STANDARD
                    .decode(compact)
                    .map_err(|_| MetadataError::BadCertificate("KeyDescriptor"))?;
                use x509_parser::prelude::FromDer as _;
                match x509_parser::certificate::X509Certificate::from_der(&der) {
                    Ok(([], _)) => out.push(der),
                    _ => return Err(MetadataError::BadCertificate("KeyDescriptor")),
                }
            }
        }
    }
    Ok(out)
}

/// Our IdP's metadata (OIOSAML 3: signed AuthnRequests wanted; SSO by Redirect and POST; SLO
/// by Redirect, POST and SOAP; next and active signing keys; an encryption key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    /// `ID` of the EntityDescriptor, referenced by its signature.
    pub id: String,
    /// `entityID`.
    pub entity_id: String,
    /// `validUntil`.
    pub valid_until: OffsetDateTime,
    /// The SSO endpoint (Redirect and POST).
    pub sso_url: String,
    /// The SLO endpoint (Redirect, POST and SOAP).
    pub slo_url: String,
    /// Signing certificates (DER): the active key's and the next key's, so that services trust
    /// the next key before it signs.
    pub signing_certificates: Vec<Vec<u8>>,
    /// The encryption certificate (DER).
    pub encryption_certificate: Vec<u8>,
}

impl IdpMetadata {
    /// The metadata as unsigned XML; the signature goes right after the root's start tag,
    /// referencing `#` + [`IdpMetadata::id`].
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        w.open(
            "md:EntityDescriptor",
            &[
                ("xmlns:md", NS_METADATA),
                ("xmlns:ds", NS_DSIG),
                ("ID", &self.id),
                ("entityID", &self.entity_id),
                ("validUntil", &instant(self.valid_until)),
            ],
        )
        .open(
            "md:IDPSSODescriptor",
            &[
                ("WantAuthnRequestsSigned", "true"),
                ("protocolSupportEnumeration", NS_PROTOCOL),
            ],
        );
        for der in &self.signing_certificates {
            key_descriptor(&mut w, "signing", der);
        }
        key_descriptor(&mut w, "encryption", &self.encryption_certificate);
        for binding in [BINDING_REDIRECT, BINDING_POST, BINDING_SOAP] {
            w.empty(
                "md:SingleLogoutService",
                &[("Binding", binding), ("Location", &self.slo_url)],
            );
        }
        w.leaf("md:NameIDFormat", &[], NAMEID_PERSISTENT);
        for binding in [BINDING_REDIRECT, BINDING_POST] {
            w.empty(
                "md:SingleSignOnService",
                &[("Binding", binding), ("Location", &self.sso_url)],
            );
        }
        w.close("md:IDPSSODescriptor")
            .close("md:EntityDescriptor")
            .finish()
    }
}

fn key_descriptor(w: &mut XmlWriter, usage: &str, der: &[u8]) {
    w.open("md:KeyDescriptor", &[("use", usage)])
        .open("ds:KeyInfo", &[])
        .open("ds:X509Data", &[])
        .leaf("ds:X509Certificate", &[], &STANDARD.encode(der))
        .close("ds:X509Data")
        .close("ds:KeyInfo")
        .close("md:KeyDescriptor");
}
