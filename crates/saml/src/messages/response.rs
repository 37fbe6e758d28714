//! The Response and Assertion we send (OIOSAML 3: an unsigned Response with exactly one
//! assertion, signed and then encrypted for the service).

use super::writer::{XmlWriter, instant};
use super::{NS_ASSERTION, NS_PROTOCOL};
use crate::{NAMEID_PERSISTENT, OIOSAML_SPEC_VERSION, attributes, person_name_id};
use eid_core::Loa;
use time::OffsetDateTime;

/// The attribute NameFormat of every attribute we send.
pub const ATTRNAME_FORMAT_URI: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
/// The bearer subject confirmation method.
pub const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// A SAML status, as the top-level code and (for the failures) the second-level code under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCode {
    /// `Success`.
    Success,
    /// `Requester`: the request was wrong.
    Requester,
    /// `Responder`: we could not answer.
    Responder,
    /// `VersionMismatch`.
    VersionMismatch,
    /// `Responder/AuthnFailed`: the person did not log in.
    AuthnFailed,
    /// `Responder/NoPassive`: `IsPassive` and no session fits.
    NoPassive,
    /// `Responder/NoAuthnContext`: the requested level cannot be given.
    NoAuthnContext,
    /// `Responder/RequestDenied`.
    RequestDenied,
    /// `Requester/RequestUnsupported`.
    RequestUnsupported,
    /// `Success/PartialLogout`: not every session participant was logged out.
    PartialLogout,
}

impl StatusCode {
    const PREFIX: &'static str = "urn:oasis:names:tc:SAML:2.0:status:";

    /// The top-level and optional second-level status code URIs.
    pub fn uris(self) -> (String, Option<String>) {
        let (top, second) = match self {
            StatusCode::Success => ("Success", None),
            StatusCode::Requester => ("Requester", None),
            StatusCode::Responder => ("Responder", None),
            StatusCode::VersionMismatch => ("VersionMismatch", None),
            StatusCode::AuthnFailed => ("Responder", Some("AuthnFailed")),
            StatusCode::NoPassive => ("Responder", Some("NoPassive")),
            StatusCode::NoAuthnContext => ("Responder", Some("NoAuthnContext")),
            StatusCode::RequestDenied => ("Responder", Some("RequestDenied")),
            StatusCode::RequestUnsupported => ("Requester", Some("RequestUnsupported")),
            StatusCode::PartialLogout => ("Success", Some("PartialLogout")),
        };
        (
            format!("{}{top}", Self::PREFIX),
            second.map(|s| format!("{}{s}", Self::PREFIX)),
        )
    }

    /// Reads a top-level and optional second-level code back (the codes above only).
    pub fn from_uris(top: &str, second: Option<&str>) -> Option<StatusCode> {
        [
            StatusCode::Success,
            StatusCode::Requester,
            StatusCode::Responder,
            StatusCode::VersionMismatch,
            StatusCode::AuthnFailed,
            StatusCode::NoPassive,
            StatusCode::NoAuthnContext,
            StatusCode::RequestDenied,
            StatusCode::RequestUnsupported,
            StatusCode::PartialLogout,
        ]
        .into_iter()
        .find(|s| {
            let (t, sec) = s.uris();
            t == top && sec.as_deref() == second
        })
    }

    /// Writes `<samlp:Status>`.
    pub(crate) fn write(self, w: &mut XmlWriter) {
        let (top, second) = self.uris();
        w.open("samlp:Status", &[]);
        match second {
            None => w.empty("samlp:StatusCode", &[("Value", &top)]),
            Some(second) => w
                .open("samlp:StatusCode", &[("Value", &top)])
                .empty("samlp:StatusCode", &[("Value", &second)])
                .close("samlp:StatusCode"),
        };
        w.close("samlp:Status");
    }
}

/// A `<saml:EncryptedAssertion>` element produced by the XML encryption module, inserted into
/// the Response as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedAssertion(String);

impl EncryptedAssertion {
    /// Wraps the encryption module's output; `None` unless its root is an `EncryptedAssertion`.
    pub fn from_encrypted_xml(xml: String) -> Option<EncryptedAssertion> {
        let tag = xml
            .trim_start()
            .strip_prefix('<')?
            .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .next()?;
        let local = tag.rsplit(':').next()?;
        (local == "EncryptedAssertion").then_some(EncryptedAssertion(xml))
    }

    /// The XML.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The envelope of an answer to an AuthnRequest (unsigned, as OIOSAML wants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// `ID`.
    pub id: String,
    /// `InResponseTo`: the AuthnRequest's ID.
    pub in_response_to: String,
    /// `IssueInstant`.
    pub issue_instant: OffsetDateTime,
    /// `Destination`: the ACS URL from the SP's metadata.
    pub destination: String,
    /// `Issuer`: our entity ID.
    pub issuer: String,
}

impl Response {
    /// The successful Response with exactly one assertion, already signed and encrypted.
    pub fn success_xml(&self, assertion: &EncryptedAssertion) -> String {
        let mut w = self.head();
        StatusCode::Success.write(&mut w);
        w.raw(assertion.as_str()).close("samlp:Response").finish()
    }

    /// A failed Response (no assertion) with `status`; a `Success` status is written as
    /// `Responder`, so that no success ever goes out without its assertion.
    pub fn failure_xml(&self, status: StatusCode) -> String {
        let status = match status {
            StatusCode::Success | StatusCode::PartialLogout => StatusCode::Responder,
            other => other,
        };
        let mut w = self.head();
        status.write(&mut w);
        w.close("samlp:Response").finish()
    }

    fn head(&self) -> XmlWriter {
        let mut w = XmlWriter::new();
        w.open(
            "samlp:Response",
            &[
                ("xmlns:samlp", NS_PROTOCOL),
                ("xmlns:saml", NS_ASSERTION),
                ("ID", &self.id),
                ("InResponseTo", &self.in_response_to),
                ("Version", "2.0"),
                ("IssueInstant", &instant(self.issue_instant)),
                ("Destination", &self.destination),
            ],
        )
        .leaf("saml:Issuer", &[], &self.issuer);
        w
    }
}

/// One attribute of the AttributeStatement (NameFormat `uri`, `xs:string` values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionAttribute {
    /// The attribute URI (see [`crate::attributes`]).
    pub name: String,
    /// Its values.
    pub values: Vec<String>,
}

/// The assertion about a person, unsigned: the XML signature module signs it (the enveloped
/// `ds:Signature` goes right after `</saml:Issuer>`, referencing `#` + [`Assertion::id`]) and
/// the encryption module then encrypts it for the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// `ID`.
    pub id: String,
    /// `IssueInstant`.
    pub issue_instant: OffsetDateTime,
    /// `Issuer`: our entity ID.
    pub issuer: String,
    /// The person's pairwise UUID for this service: the persistent NameID is
    /// `https://data.gov.dk/model/core/eid/person/uuid/<uuid>`.
    pub subject: uuid::Uuid,
    /// `SPNameQualifier` of the NameID (the SP's entity ID), if sent.
    pub sp_name_qualifier: Option<String>,
    /// `Recipient`: the ACS URL the Response goes to.
    pub recipient: String,
    /// `InResponseTo`: the AuthnRequest's ID.
    pub in_response_to: String,
    /// `SubjectConfirmationData/@NotOnOrAfter`.
    pub confirmation_not_on_or_after: OffsetDateTime,
    /// `Conditions/@NotBefore`.
    pub not_before: OffsetDateTime,
    /// `Conditions/@NotOnOrAfter`.
    pub not_on_or_after: OffsetDateTime,
    /// The one `Audience`: the SP's entity ID.
    pub audience: String,
    /// `AuthnInstant`: when the person authenticated.
    pub authn_instant: OffsetDateTime,
    /// `SessionIndex`, for single logout.
    pub session_index: String,
    /// The level of the login: the AuthnContextClassRef and the `nsis/loa` attribute.
    pub loa: Loa,
    /// Attributes after `specVersion` and `nsis/loa`, which are always sent first (from
    /// [`Assertion::loa`]; the same names here are left out, so each attribute occurs once).
    pub attributes: Vec<AssertionAttribute>,
}

impl Assertion {
    /// The persistent NameID value.
    pub fn name_id(&self) -> String {
        person_name_id(&self.subject.hyphenated().to_string())
    }

    /// The assertion as XML, its namespaces declared on its root so that it can be signed and
    /// encrypted on its own.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        w.open(
            "saml:Assertion",
            &[
                ("xmlns:saml", NS_ASSERTION),
                ("xmlns:xs", "http://www.w3.org/2001/XMLSchema"),
                ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
                ("ID", &self.id),
                ("Version", "2.0"),
                ("IssueInstant", &instant(self.issue_instant)),
            ],
        )
        .leaf("saml:Issuer", &[], &self.issuer)
        .open("saml:Subject", &[]);
        let mut name_id_attrs = vec![("Format", NAMEID_PERSISTENT)];
        if let Some(q) = &self.sp_name_qualifier {
            name_id_attrs.push(("SPNameQualifier", q));
        }
        w.leaf("saml:NameID", &name_id_attrs, &self.name_id())
            .open("saml:SubjectConfirmation", &[("Method", CM_BEARER)])
            .empty(
                "saml:SubjectConfirmationData",
                &[
                    ("InResponseTo", &self.in_response_to),
                    ("NotOnOrAfter", &instant(self.confirmation_not_on_or_after)),
                    ("Recipient", &self.recipient),
                ],
            )
            .close("saml:SubjectConfirmation")
            .close("saml:Subject")
            .open(
                "saml:Conditions",
                &[
                    ("NotBefore", &instant(self.not_before)),
                    ("NotOnOrAfter", &instant(self.not_on_or_after)),
                ],
            )
            .open("saml:AudienceRestriction", &[])
            .leaf("saml:Audience", &[], &self.audience)
            .close("saml:AudienceRestriction")
            .close("saml:Conditions")
            .open(
                "saml:AuthnStatement",
                &[
                    ("AuthnInstant", &instant(self.authn_instant)),
                    ("SessionIndex", &self.session_index),
                ],
            )
            .open("saml:AuthnContext", &[])
            .leaf("saml:AuthnContextClassRef", &[], self.loa.as_uri())
            .close("saml:AuthnContext")
            .close("saml:AuthnStatement")
            .open("saml:AttributeStatement", &[]);
        write_attribute(&mut w, attributes::SPEC_VERSION, &[OIOSAML_SPEC_VERSION]);
        write_attribute(&mut w, attributes::NSIS_LOA, &[self.loa.as_word()]);
        let written = [attributes::SPEC_VERSION, attributes::NSIS_LOA];
        for attribute in self
            .attributes
            .iter()
            .filter(|a| !written.contains(&a.name.as_str()))
        {
            write_attribute(&mut w, &attribute.name, &attribute.values);
        }
        w.close("saml:AttributeStatement")
            .close("saml:Assertion")
            .finish()
    }
}

fn write_attribute<S: AsRef<str>>(w: &mut XmlWriter, name: &str, values: &[S]) {
    w.open(
        "saml:Attribute",
        &[("Name", name), ("NameFormat", ATTRNAME_FORMAT_URI)],
    );
    for value in values {
        w.leaf(
            "saml:AttributeValue",
            &[("xsi:type", "xs:string")],
            value.as_ref(),
        );
    }
    w.close("saml:Attribute");
}
