//! The eIDAS AuthnRequest: written by our connector, read by our proxy service (PROTOCOLS.md §4.1).

use std::sync::Arc;

use eid_keys::SigningKey;
use time::OffsetDateTime;

use super::{
    Comparison, EidasError, EidasLoa, MAX_REQUESTER_ID_CHARS, NS_EIDAS, PeerMetadata, SpType,
};
use crate::dsig::{AlgorithmPolicy, SignatureAlg};
use crate::messages::writer::{XmlWriter, instant};
use crate::messages::{NAMEID_ENTITY, NS_ASSERTION, NS_PROTOCOL};
use crate::xml::QName;

/// The URI attribute name format.
pub(crate) const NAME_FORMAT_URI: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
/// The NameID formats a request may ask for.
pub(crate) const NAME_ID_FORMATS: [&str; 3] = [
    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
    "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
];
/// The longest `ProviderName` accepted or sent.
pub(crate) const MAX_PROVIDER_NAME_CHARS: usize = 256;

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
        let bad = |what: &str| Err(EidasError::Write(format!("AuthnRequest: {what}")));
        if self.requested.is_empty() {
            return bad("no requested attributes");
        }
        if self
            .requested
            .iter()
            .any(|r| super::definition(&r.name).is_none())
        {
            return bad("a requested attribute is not an eIDAS attribute");
        }
        if self
            .requester_id
            .as_deref()
            .is_some_and(|r| !requester_id_ok(r))
        {
            return bad("RequesterID is empty, too long or has control characters");
        }
        if self
            .provider_name
            .as_deref()
            .is_some_and(|p| !provider_name_ok(p))
        {
            return bad("ProviderName is too long or has control characters");
        }
        if self
            .name_id_format
            .as_deref()
            .is_some_and(|f| !NAME_ID_FORMATS.contains(&f))
        {
            return bad("unsupported NameID format");
        }
        let issued = instant(self.issue_instant);
        let mut root: Vec<(&str, &str)> = vec![
            ("xmlns:saml2p", NS_PROTOCOL),
            ("xmlns:saml2", NS_ASSERTION),
            ("xmlns:eidas", NS_EIDAS),
            ("ID", &self.id),
            ("Version", "2.0"),
            ("IssueInstant", &issued),
            ("Destination", &self.destination),
            ("ForceAuthn", "true"),
            ("IsPassive", "false"),
        ];
        if let Some(name) = &self.provider_name {
            root.push(("ProviderName", name));
        }
        let mut w = XmlWriter::new();
        w.open("saml2p:AuthnRequest", &root)
            .leaf("saml2:Issuer", &[("Format", NAMEID_ENTITY)], &self.issuer)
            .open("saml2p:Extensions", &[]);
        if let Some(sp_type) = self.sp_type {
            w.leaf("eidas:SPType", &[], sp_type.as_str());
        }
        w.open("eidas:RequestedAttributes", &[]);
        for r in &self.requested {
            let friendly = super::definition(&r.name).map_or("", |d| d.friendly);
            w.empty(
                "eidas:RequestedAttribute",
                &[
                    ("Name", &r.name),
                    ("FriendlyName", friendly),
                    ("NameFormat", NAME_FORMAT_URI),
                    ("isRequired", if r.required { "true" } else { "false" }),
                ],
            );
        }
        w.close("eidas:RequestedAttributes")
            .close("saml2p:Extensions");
        if let Some(format) = &self.name_id_format {
            w.empty(
                "saml2p:NameIDPolicy",
                &[("Format", format), ("AllowCreate", "true")],
            );
        }
        w.open(
            "saml2p:RequestedAuthnContext",
            &[("Comparison", Comparison::Minimum.as_str())],
        )
        .leaf("saml2:AuthnContextClassRef", &[], self.loa.uri())
        .close("saml2p:RequestedAuthnContext");
        if let Some(requester) = &self.requester_id {
            w.open("saml2p:Scoping", &[])
                .leaf("saml2p:RequesterID", &[], requester)
                .close("saml2p:Scoping");
        }
        let xml = w.close("saml2p:AuthnRequest").finish();
        Ok(crate::dsig::sign_enveloped(
            &xml,
            &self.id,
            key,
            alg,
            certificate_der,
        )?)
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
        minimum_required(&self.requested, &super::NATURAL_MINIMUM)
    }

    /// Whether the legal-person minimum data set was requested (both, each `isRequired`).
    pub fn asks_legal_person(&self) -> bool {
        minimum_required(&self.requested, &super::LEGAL_MINIMUM)
    }
}

/// Whether every attribute of `minimum` is requested with `isRequired`.
pub(crate) fn minimum_required(
    requested: &[RequestedAttribute],
    minimum: &[&super::AttributeDef],
) -> bool {
    minimum
        .iter()
        .all(|d| requested.iter().any(|r| r.name == d.name && r.required))
}

/// A RequesterID we send or accept: 1 to [`MAX_REQUESTER_ID_CHARS`] characters, no control
/// characters.
pub(crate) fn requester_id_ok(r: &str) -> bool {
    !r.trim().is_empty()
        && r.chars().count() <= MAX_REQUESTER_ID_CHARS
        && !r.chars().any(char::is_control)
}

/// A ProviderName we send or accept.
pub(crate) fn provider_name_ok(p: &str) -> bool {
    !p.trim().is_empty()
        && p.chars().count() <= MAX_PROVIDER_NAME_CHARS
        && !p.chars().any(char::is_control)
}

impl AuthnRequest {
    /// Whether the request asked for an attribute (required or not).
    pub fn asks_for(&self, name: &str) -> bool {
        self.requested.iter().any(|r| r.name == name)
    }
}

/// The `Issuer` of a (not yet verified) AuthnRequest, to choose whose metadata verifies it. Never
/// trusted for anything else.
pub fn request_issuer(xml: &str) -> Result<String, EidasError> {
    super::read::unverified_issuer(xml, QName::AUTHN_REQUEST)
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
    super::request_read::read(xml, expect)
}
