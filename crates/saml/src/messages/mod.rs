//! SAML 2.0 protocol messages: the requests we read (AuthnRequest, LogoutRequest,
//! LogoutResponse) as typed values, and the messages we write (Response, Assertion,
//! LogoutRequest, LogoutResponse) as XML strings.
//!
//! Reading uses roxmltree with DTDs refused, no entity resolver, and bounded size, node count
//! and depth. A message is read only from XML whose signature was checked: the inflated query
//! of a verified Redirect message, or the element the XML signature verifier returns.
// MERGE: the `dsig` verifier (brief C) parses with bergshamra/uppsala. For POST and SOAP, hand
// these parsers the verified element's serialisation only, never the whole received document.

mod authn_request;
mod logout;
mod response;
pub(crate) mod writer;
pub(crate) mod xml;

pub use authn_request::{
    AcsRef, AuthnClassRef, AuthnRequest, Comparison, NameIdPolicy, RequestedAuthnContext,
};
pub use logout::{LogoutRequest, LogoutRequestOut, LogoutResponse, LogoutResponseOut, NameId};
pub use response::{Assertion, AssertionAttribute, EncryptedAssertion, Response, StatusCode};
pub use writer::new_message_id;

use time::{Duration, OffsetDateTime};

/// The SAML 2.0 protocol namespace.
pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// The SAML 2.0 assertion namespace.
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// The entity NameID format (the only `Issuer` format besides none).
pub const NAMEID_ENTITY: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
/// The transient NameID format.
pub const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
/// The HTTP-POST binding URI.
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
/// The HTTP-Redirect binding URI.
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// The SOAP binding URI.
pub const BINDING_SOAP: &str = "urn:oasis:names:tc:SAML:2.0:bindings:SOAP";

/// The largest message we parse.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Why a message was refused. Nothing here echoes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The message is larger than [`MAX_MESSAGE_BYTES`] (or the parser's node limit).
    #[error("the message is too large")]
    TooLarge,
    /// Not well-formed XML, a DTD, or an entity reference.
    #[error("the message is not acceptable XML")]
    Malformed,
    /// Elements nested deeper than we read.
    #[error("the message is nested too deeply")]
    TooDeep,
    /// The root element is not the expected one.
    #[error("expected a {0} element")]
    UnexpectedRoot(&'static str),
    /// `Version` is not `2.0`.
    #[error("Version must be 2.0")]
    VersionMismatch,
    /// A required attribute is absent.
    #[error("attribute {0} is missing")]
    MissingAttribute(&'static str),
    /// An attribute has a value we do not accept.
    #[error("attribute {0} is not valid")]
    BadAttribute(&'static str),
    /// A required element is absent.
    #[error("element {0} is missing")]
    MissingElement(&'static str),
    /// An element that may occur once occurs more often.
    #[error("element {0} occurs more than once")]
    DuplicateElement(&'static str),
    /// An element holds something other than text (e.g. a comment or a child), or bad text.
    #[error("element {0} is not valid")]
    BadElement(&'static str),
    /// A feature of the message we do not support (e.g. a Subject in an AuthnRequest).
    #[error("{0} is not supported")]
    Unsupported(&'static str),
    /// `IssueInstant` is older than the accepted window.
    #[error("IssueInstant is too old")]
    Stale,
    /// `IssueInstant` is later than the accepted window.
    #[error("IssueInstant is in the future")]
    FromTheFuture,
    /// `Destination` is absent from a signed message.
    #[error("Destination is missing")]
    MissingDestination,
    /// `Destination` is not the endpoint that received the message.
    #[error("Destination is not this endpoint")]
    WrongDestination,
    /// The requested assertion consumer service is not in the SP's metadata. Never answer
    /// such a request with a Response: show an error page.
    #[error("the assertion consumer service is not in the service's metadata")]
    UnknownAcs,
    /// An NSIS level requested with a comparison other than `minimum` (OIO-SP-06).
    #[error("an NSIS level must be requested with Comparison=\"minimum\"")]
    ComparisonNotMinimum,
}

impl MessageError {
    /// The SAML second-level status code the error is answered with (its top level is
    /// `Requester`, except for a version mismatch).
    pub fn status(&self) -> StatusCode {
        match self {
            MessageError::VersionMismatch => StatusCode::VersionMismatch,
            MessageError::ComparisonNotMinimum => StatusCode::NoAuthnContext,
            MessageError::Unsupported(_) => StatusCode::RequestUnsupported,
            _ => StatusCode::Requester,
        }
    }
}

/// Checks an `IssueInstant` against `now`: no older than `window` and no later than `window`
/// ahead (clock skew).
pub fn check_issue_instant(
    issue_instant: OffsetDateTime,
    now: OffsetDateTime,
    window: Duration,
) -> Result<(), MessageError> {
    if issue_instant < now - window {
        return Err(MessageError::Stale);
    }
    if issue_instant > now + window {
        return Err(MessageError::FromTheFuture);
    }
    Ok(())
}

/// Checks that a message's `Destination` is `endpoint`, exactly. A signed message must name its
/// destination (SAML Bindings §3.4.5.2, §3.5.5.2).
pub fn check_destination(destination: Option<&str>, endpoint: &str) -> Result<(), MessageError> {
    match destination {
        None => Err(MessageError::MissingDestination),
        Some(d) if d == endpoint => Ok(()),
        Some(_) => Err(MessageError::WrongDestination),
    }
}
