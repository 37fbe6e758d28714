//! The eIDAS AuthnRequest: written by our connector, read by our proxy service (PROTOCOLS.md §4.1).

use std::sync::Arc;

use eid_keys::SigningKey;
use time::OffsetDateTime;

use super::{Comparison, EidasError, EidasLoa, PeerMetadata, SpType};
use crate::dsig::{AlgorithmPolicy, SignatureAlg};

/// One `eidas:RequestedAttribute`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestedAttribute {
    /// The attribute's `Name` (a URI of [`super::definition`]).
    pub name: String,
    /// `isRequired`.
    pub required: bool,
}

/// An AuthnRequest our connector sends (HTTP-POST, enveloped signature).
#[derive(Debug, Clone)]
pub struct AuthnRequestOut {
    /// Its `ID` ([`crate::messages::new_message_id`]).
    pub id: String,
    /// `IssueInstant`.
    pub issue_instant: OffsetDateTime,
    /// `Issuer`: our connector's metadata URL (format `entity`).
    pub issuer: String,
    /// `Destination`: the proxy service's SSO endpoint from its metadata.
    pub destination: String,
    /// `ProviderName` (the service's display name), optional.
    pub provider_name: Option<String>,
    /// `eidas:SPType`, sent only when our metadata does not carry it.
    pub sp_type: Option<SpType>,
    /// The end relying party (`samlp:Scoping/samlp:RequesterID`), when the peer wants it.
    pub requester_id: Option<String>,
    /// The requested attributes.
    pub requested: Vec<RequestedAttribute>,
    /// The one level, sent with `Comparison="minimum"`.
    pub loa: EidasLoa,
    /// `NameIDPolicy@Format` (with `AllowCreate="true"`), optional.
    pub name_id_format: Option<String>,
}

impl AuthnRequestOut {
    /// The request as XML signed with `key` (`ForceAuthn="true"`, `IsPassive="false"`), ready
    /// for base64 in an HTTP-POST form's `SAMLRequest`.
    pub fn to_signed_xml(
        &self,
        key: &Arc<SigningKey>,
        alg: SignatureAlg,
        certificate_der: &[u8],
    ) -> Result<String, EidasError> {
        let _ = (key, alg, certificate_der);
        todo!("eidas: AuthnRequestOut::to_signed_xml")
    }
}

/// What a proxy service checks an AuthnRequest against.
#[derive(Debug, Clone, Copy)]
pub struct RequestExpectations<'a> {
    /// Our SSO endpoint: `Destination` must be it when present.
    pub destination: &'a str,
    /// The connector's verified metadata (its entity ID must be the `Issuer`; its signing keys
    /// verify the request; its `SPType`, if any, counts against the request's).
    pub peer: &'a PeerMetadata,
    /// The algorithms its signatures may use.
    pub policy: &'a AlgorithmPolicy,
    /// Now, for `IssueInstant` (± the skew of [`crate::messages::check_issue_instant`]).
    pub now: OffsetDateTime,
}

/// A verified, checked AuthnRequest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuthnRequest {
    /// Its `ID` (the Response's `InResponseTo`; remember it so it is used once).
    pub id: String,
    /// `Issuer`: the connector's entity ID.
    pub issuer: String,
    /// `ProviderName`, if given (bounded, control characters refused).
    pub provider_name: Option<String>,
    /// The SPType, from the request or else the connector's metadata (exactly one of the two).
    pub sp_type: SpType,
    /// RequesterID, from `samlp:Scoping` or an `eidas:RequesterID` extension (at most one).
    pub requester_id: Option<String>,
    /// The requested attributes (known names only, no duplicates).
    pub requested: Vec<RequestedAttribute>,
    /// The requested level.
    pub loa: EidasLoa,
    /// Its comparison (`minimum`, or `exact` when absent).
    pub comparison: Comparison,
    /// `NameIDPolicy@Format`, if given (persistent, transient or unspecified).
    pub name_id_format: Option<String>,
    /// `AssertionConsumerServiceURL`, if given: it must then equal the connector's metadata ACS.
    pub acs_url: Option<String>,
}

impl AuthnRequest {
    /// Whether the natural-person minimum data set was requested (all four, each `isRequired`).
    pub fn asks_natural_person(&self) -> bool {
        todo!("eidas: AuthnRequest::asks_natural_person")
    }
}

/// The `Issuer` of a (not yet verified) AuthnRequest, to choose whose metadata verifies it. Never
/// trusted for anything else.
pub fn request_issuer(xml: &str) -> Result<String, EidasError> {
    let _ = xml;
    todo!("eidas: request_issuer")
}

/// Verifies and checks an AuthnRequest (the XML of a POSTed `SAMLRequest`): signature by the
/// connector's metadata keys over the request element itself, `Issuer` = the connector,
/// `Destination`, `IssueInstant`, `ForceAuthn="true"`, `IsPassive` not true, SPType in exactly one
/// place, at most one RequesterID (≤ [`super::MAX_REQUESTER_ID_CHARS`]), requested attributes
/// known and not repeated, the minimum data set of a natural or legal person required, exactly one
/// notified LoA with `minimum` (or `exact`), no non-notified level.
pub fn read_authn_request(
    xml: &str,
    expect: &RequestExpectations<'_>,
) -> Result<AuthnRequest, EidasError> {
    let _ = (xml, expect);
    todo!("eidas: read_authn_request")
}
