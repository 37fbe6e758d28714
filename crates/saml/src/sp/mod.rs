//! The service-provider side of the profile: what a strict SP sends (a signed AuthnRequest and
//! LogoutRequest, its metadata) and how it reads what the IdP sends back (the IdP's signed
//! metadata, the Response with its one encrypted and signed assertion, LogoutRequests and
//! LogoutResponses). The demo service uses it; nothing in the broker does.
//!
//! Reading follows the rules a strict OIOSAML SP applies (PROTOCOLS.md §1.3): the Response
//! answers our outstanding request at our ACS, holds exactly one `EncryptedAssertion` and no
//! plaintext assertion; the decrypted assertion is signed by a pinned IdP key, and only the
//! verified element is read; its bearer confirmation, conditions, audience, statements and level
//! are checked against what we asked. Errors name the broken rule, never content.

mod idp_metadata;
mod response;
pub mod soap;
mod writer;

pub use idp_metadata::IdpDescriptor;
pub use response::{Expectations, ReceivedAssertion, SpKeys, read_response};
pub use writer::{AuthnRequestOut, SpMetadataOut};

use crate::binding::BindingError;
use crate::dsig::DsigError;
use crate::enc::EncError;
use crate::messages::{LogoutResponse, MessageError, StatusCode};
use crate::metadata::MetadataError;
use crate::xml::XmlError;
use eid_core::Loa;
use time::OffsetDateTime;

/// Why an SP refused what the IdP sent. Nothing here echoes the input.
#[derive(Debug, thiserror::Error)]
pub enum SpError {
    /// The document was refused by the safe parser.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The binding could not be decoded, or its signature is missing or wrong.
    #[error("binding: {0}")]
    Binding(#[from] BindingError),
    /// A message is not acceptable, or fails a check.
    #[error("message: {0}")]
    Message(#[from] MessageError),
    /// The IdP's metadata is not acceptable.
    #[error("metadata: {0}")]
    Metadata(#[from] MetadataError),
    /// The IdP's metadata has not exactly one SAML 2.0 `IDPSSODescriptor` with an HTTP-Redirect
    /// SSO endpoint.
    #[error("expected exactly one SAML 2.0 IDPSSODescriptor with an HTTP-Redirect SSO service")]
    NoIdpDescriptor,
    /// The assertion could not be decrypted (deliberately without detail).
    #[error("decryption: {0}")]
    Decrypt(#[from] EncError),
    /// A signature does not verify with the pinned IdP keys, or breaks a structural rule.
    #[error("signature: {0}")]
    Signature(#[from] DsigError),
    /// The IdP answered with a status other than success.
    #[error("the IdP answered with status {0:?}")]
    Status(Option<StatusCode>),
    /// The message does not answer our outstanding request.
    #[error("InResponseTo is not our outstanding request")]
    NotOurRequest,
    /// The message was sent to another endpoint (`Destination`, `Recipient`).
    #[error("the message is addressed to another endpoint")]
    WrongDestination,
    /// The message or assertion comes from another issuer than the IdP.
    #[error("the issuer is not the IdP")]
    WrongIssuer,
    /// Not exactly one `EncryptedAssertion`, or a plaintext assertion beside it.
    #[error("the Response must hold exactly one EncryptedAssertion and no plaintext Assertion")]
    AssertionCount,
    /// The subject is missing or not a persistent person NameID.
    #[error("subject: {0}")]
    Subject(&'static str),
    /// No bearer confirmation for this request, recipient and time.
    #[error("no bearer SubjectConfirmation for this request, recipient and time")]
    Confirmation,
    /// The assertion's conditions do not hold now, or name another audience.
    #[error("conditions: {0}")]
    Conditions(&'static str),
    /// The statements are not exactly one AuthnStatement and one AttributeStatement as required.
    #[error("statements: {0}")]
    Statements(&'static str),
    /// The login's level is below the one we asked for, or missing.
    #[error("the level of assurance {got:?} is below the requested {wanted:?}")]
    LevelTooLow {
        /// The level asked for.
        wanted: Option<Loa>,
        /// The level the assertion states (`None`: it states none).
        got: Option<Loa>,
    },
}

/// Checks an IdP's LogoutResponse to our LogoutRequest `request_id` (its signature already
/// verified): the issuer, `InResponseTo`, a `Destination` (if given) of `endpoint`, freshness, and
/// a success status (`Success`, or `PartialLogout` where not every service was reached).
pub fn check_logout_response(
    response: &LogoutResponse,
    idp_entity_id: &str,
    request_id: &str,
    endpoint: &str,
    now: OffsetDateTime,
    skew: time::Duration,
) -> Result<(), SpError> {
    if response.issuer != idp_entity_id {
        return Err(SpError::WrongIssuer);
    }
    if response.in_response_to.as_deref() != Some(request_id) {
        return Err(SpError::NotOurRequest);
    }
    if response
        .destination
        .as_deref()
        .is_some_and(|d| d != endpoint)
    {
        return Err(SpError::WrongDestination);
    }
    crate::messages::check_issue_instant(response.issue_instant, now, skew)?;
    match response.status {
        Some(StatusCode::Success | StatusCode::PartialLogout) => Ok(()),
        other => Err(SpError::Status(other)),
    }
}
