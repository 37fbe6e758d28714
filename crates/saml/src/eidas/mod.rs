//! The eIDAS SAML profile (eIDAS SAML Technical Specifications 1.2–1.4, as the EU eIDAS-Node 2.x
//! applies them; PROTOCOLS.md §4): the connector's AuthnRequest and the proxy service's Response
//! (written and read), and both roles' signed metadata.
//!
//! Reading follows the EU node's rules, stricter where our own safety asks for it:
//! * every message and every metadata document is verified with [`crate::dsig::verify`] against keys
//!   pinned from the peer's *signed metadata* (never a key from the message), and only the verified
//!   element is read;
//! * a Response holds exactly one `EncryptedAssertion` and no plaintext assertion; it is decrypted with
//!   our key ([`crate::enc::decrypt`]) under the peer's [`crate::enc::DecryptPolicy`];
//! * errors name the broken rule, never the content.
//!
//! Algorithms are configured per peer: the node allow-lists RSA-PSS or ECDSA signatures and
//! `xmlenc11#rsa-oaep`, while Debian's `xmlsec1` knows neither RSA-PSS nor xmlenc11 rsa-oaep.

mod attributes;
mod loa;
mod metadata;
mod metadata_read;
mod read;
mod request;
mod request_read;
mod response;
mod response_read;
mod response_write;
pub(crate) mod rules;

/// Every attribute the profile defines.
pub use attributes::ALL as ATTRIBUTES;
pub use attributes::{
    AttributeDef, DATE_OF_BIRTH, FAMILY_NAME, GIVEN_NAME, LEGAL_MINIMUM, LEGAL_NAME,
    LEGAL_PERSON_IDENTIFIER, NATURAL_MINIMUM, PERSON_IDENTIFIER, PersonIdentifier, definition,
};
pub use loa::{Comparison, EidasLoa};
pub use metadata::{MetadataOut, NodeRole, PeerMetadata, read_metadata};
pub use read::CLOCK_SKEW;
pub use request::{
    AuthnRequest, AuthnRequestOut, RequestExpectations, RequestedAttribute, read_authn_request,
    request_issuer,
};
pub use response::{
    AssertionOut, Attribute, AttributeValue, EidasAssertion, ReadResponse, ResponseExpectations,
    ResponseKeys, ResponseOut, ResponseOutcome, Status, SubStatus, TopStatus, read_response,
    response_issuer,
};
pub use response_read::MAX_CONFIRMATION_LIFETIME;

/// The eIDAS SAML extensions namespace (prefix `eidas`).
pub const NS_EIDAS: &str = "http://eidas.europa.eu/saml-extensions";
/// Prefix of natural-person attribute names.
pub const NS_NATURAL_PERSON: &str = "http://eidas.europa.eu/attributes/naturalperson";
/// Prefix of legal-person attribute names.
pub const NS_LEGAL_PERSON: &str = "http://eidas.europa.eu/attributes/legalperson";
/// The xsi types of natural-person attribute values (prefix `eidas-natural`).
pub const NS_NATURAL_TYPES: &str = "http://eidas.europa.eu/attributes/naturalperson";
/// The xsi types of legal-person attribute values (prefix `eidas-legal`).
pub const NS_LEGAL_TYPES: &str = "http://eidas.europa.eu/attributes/legalperson";
/// Entity attribute listing the protocol versions a node speaks.
pub const ENTITY_ATTR_PROTOCOL_VERSION: &str =
    "http://eidas.europa.eu/entity-attributes/protocol-version";
/// Entity attribute naming the node's software.
pub const ENTITY_ATTR_APPLICATION_ID: &str =
    "http://eidas.europa.eu/entity-attributes/application-identifier";
/// Entity attribute listing the levels a proxy service supports.
pub const ENTITY_ATTR_LOA: &str = "http://eidas.europa.eu/LoA";
/// Entity category (`http://macedir.org/entity-category`) by which a proxy service asks connectors
/// to name the end relying party (RequesterID).
pub const ENTITY_CATEGORY_REQUESTER_ID: &str =
    "http://eidas.europa.eu/entity-attributes/termsofaccess/requesterid";
/// The protocol versions we speak.
pub const PROTOCOL_VERSIONS: [&str; 3] = ["1.4", "1.3", "1.2"];
/// The longest RequesterID accepted or sent (the EU node's cap).
pub const MAX_REQUESTER_ID_CHARS: usize = 1024;

/// Whether the service behind a connector is public or private (`eidas:SPType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpType {
    /// A public-sector service.
    Public,
    /// A private-sector service.
    Private,
}

impl SpType {
    /// The element's text: `public` or `private`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpType::Public => "public",
            SpType::Private => "private",
        }
    }

    /// The value of an `eidas:SPType` text (exact, no whitespace).
    pub fn parse(s: &str) -> Option<SpType> {
        match s {
            "public" => Some(SpType::Public),
            "private" => Some(SpType::Private),
            _ => None,
        }
    }
}

/// Why an eIDAS message or metadata document was refused. The messages name the rule, never the
/// content (they are audited and may be shown to operators).
#[derive(Debug, thiserror::Error)]
pub enum EidasError {
    /// Not well-formed, too large, a DTD, …
    #[error("xml: {0}")]
    Xml(#[from] crate::xml::XmlError),
    /// The signature is missing, invalid, by a key not pinned, or over another element.
    #[error("signature: {0}")]
    Signature(#[from] crate::dsig::DsigError),
    /// The encrypted assertion could not be decrypted (one error for every cause: no oracle).
    #[error("decryption: {0}")]
    Decrypt(#[from] crate::enc::EncError),
    /// The document is not the expected message or lacks a required part.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// A rule of the profile is broken (the text names it).
    #[error("{0}")]
    Rule(&'static str),
    /// Metadata past its `validUntil`, or a message outside its time window.
    #[error("expired: {0}")]
    Expired(&'static str),
    /// Writing a message failed (key or certificate unusable).
    #[error("cannot write: {0}")]
    Write(String),
}

impl EidasError {
    /// The status a proxy service answers a refused AuthnRequest with (`Requester`, with
    /// `RequestDenied` for signature and trust failures, `InvalidAttrNameOrValue` for bad requested
    /// attributes, …).
    pub fn status(&self) -> Status {
        let (top, sub) = match self {
            EidasError::Xml(_) | EidasError::Malformed(_) => (TopStatus::Requester, None),
            EidasError::Signature(_) | EidasError::Decrypt(_) | EidasError::Expired(_) => {
                (TopStatus::Requester, Some(SubStatus::RequestDenied))
            }
            EidasError::Rule(rule) => rules::status(rule),
            EidasError::Write(_) => (TopStatus::Responder, None),
        };
        let message = match self {
            EidasError::Malformed(m) | EidasError::Rule(m) | EidasError::Expired(m) => {
                Some((*m).to_owned())
            }
            _ => None,
        };
        Status { top, sub, message }
    }
}
