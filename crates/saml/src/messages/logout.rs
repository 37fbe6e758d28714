//! Single logout: the LogoutRequest and LogoutResponse we read and the ones we send (SAML Core
//! §3.7; OIOSAML: always answer with a signed LogoutResponse, even for an unknown session).

use super::response::StatusCode;
use super::writer::{XmlWriter, instant};
use super::xml::{
    check_version, instant_attr, is, issuer, message_id, opt_attr, parse_document, required_child,
    root, single_child, text_only,
};
use super::{MAX_MESSAGE_BYTES, MessageError, NS_ASSERTION, NS_PROTOCOL};
use time::OffsetDateTime;

/// The most `SessionIndex` elements we read.
const MAX_SESSION_INDEXES: usize = 16;

/// A `NameID`: the value and its qualifiers, as the session recorded them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameId {
    /// The value.
    pub value: String,
    /// `Format`, if given.
    pub format: Option<String>,
    /// `NameQualifier`, if given.
    pub name_qualifier: Option<String>,
    /// `SPNameQualifier`, if given.
    pub sp_name_qualifier: Option<String>,
}

/// A parsed LogoutRequest (from a service, or from the upstream IdP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    /// `ID`, echoed as the LogoutResponse's `InResponseTo`.
    pub id: String,
    /// `IssueInstant`.
    pub issue_instant: OffsetDateTime,
    /// `Destination`.
    pub destination: Option<String>,
    /// `NotOnOrAfter`, if given.
    pub not_on_or_after: Option<OffsetDateTime>,
    /// `Issuer`: the sender's entity ID.
    pub issuer: String,
    /// The person's `NameID` (an `EncryptedID` is not supported).
    pub name_id: NameId,
    /// `SessionIndex` values (possibly none: then every session of the NameID ends).
    pub session_indexes: Vec<String>,
}

impl LogoutRequest {
    /// Parses a LogoutRequest from XML whose signature was checked.
    pub fn parse(xml: &str) -> Result<LogoutRequest, MessageError> {
        let doc = parse_document(xml, MAX_MESSAGE_BYTES)?;
        let req = root(&doc, NS_PROTOCOL, "LogoutRequest")?;
        check_version(req)?;
        let id = message_id(req)?;
        let issue_instant = instant_attr(req, "IssueInstant")?
            .ok_or(MessageError::MissingAttribute("IssueInstant"))?;
        let issuer = issuer(req)?;
        if single_child(req, NS_ASSERTION, "EncryptedID")?.is_some() {
            return Err(MessageError::Unsupported("EncryptedID"));
        }
        let name_id = required_child(req, NS_ASSERTION, "NameID")?;
        let name_id = NameId {
            value: text_only(name_id, "NameID")?,
            format: opt_attr(name_id, "Format")?,
            name_qualifier: opt_attr(name_id, "NameQualifier")?,
            sp_name_qualifier: opt_attr(name_id, "SPNameQualifier")?,
        };
        let mut session_indexes = Vec::new();
        for child in req
            .children()
            .filter(|c| is(*c, NS_PROTOCOL, "SessionIndex"))
        {
            if session_indexes.len() == MAX_SESSION_INDEXES {
                return Err(MessageError::TooLarge);
            }
            session_indexes.push(text_only(child, "SessionIndex")?);
        }
        Ok(LogoutRequest {
            id,
            issue_instant,
            destination: opt_attr(req, "Destination")?,
            not_on_or_after: instant_attr(req, "NotOnOrAfter")?,
            issuer,
            name_id,
            session_indexes,
        })
    }

    /// Checks freshness (`IssueInstant` within `window` of `now`, `NotOnOrAfter` not passed) and
    /// that `Destination` is `endpoint`.
    pub fn check(
        &self,
        now: OffsetDateTime,
        window: time::Duration,
        endpoint: &str,
    ) -> Result<(), MessageError> {
        super::check_issue_instant(self.issue_instant, now, window)?;
        if self.not_on_or_after.is_some_and(|t| now >= t + window) {
            return Err(MessageError::Stale);
        }
        super::check_destination(self.destination.as_deref(), endpoint)
    }
}

/// A parsed LogoutResponse (a service's answer to our LogoutRequest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutResponse {
    /// `ID`.
    pub id: String,
    /// `InResponseTo`: our LogoutRequest's ID.
    pub in_response_to: Option<String>,
    /// `IssueInstant`.
    pub issue_instant: OffsetDateTime,
    /// `Destination`.
    pub destination: Option<String>,
    /// `Issuer`.
    pub issuer: String,
    /// The status, if it is one we know (`None`: some other code, i.e. not a success).
    pub status: Option<StatusCode>,
}

impl LogoutResponse {
    /// Parses a LogoutResponse from XML whose signature was checked.
    pub fn parse(xml: &str) -> Result<LogoutResponse, MessageError> {
        let doc = parse_document(xml, MAX_MESSAGE_BYTES)?;
        let res = root(&doc, NS_PROTOCOL, "LogoutResponse")?;
        check_version(res)?;
        let status = required_child(res, NS_PROTOCOL, "Status")?;
        let top = required_child(status, NS_PROTOCOL, "StatusCode")?;
        let second = single_child(top, NS_PROTOCOL, "StatusCode")?
            .map(|s| opt_attr(s, "Value"))
            .transpose()?
            .flatten();
        let top =
            opt_attr(top, "Value")?.ok_or(MessageError::MissingAttribute("StatusCode Value"))?;
        Ok(LogoutResponse {
            id: message_id(res)?,
            in_response_to: opt_attr(res, "InResponseTo")?,
            issue_instant: instant_attr(res, "IssueInstant")?
                .ok_or(MessageError::MissingAttribute("IssueInstant"))?,
            destination: opt_attr(res, "Destination")?,
            issuer: issuer(res)?,
            status: StatusCode::from_uris(&top, second.as_deref()),
        })
    }
}

/// A LogoutRequest we send to a service of the session (unsigned here; the binding or the XML
/// signature module signs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequestOut {
    /// `ID`.
    pub id: String,
    /// `IssueInstant`.
    pub issue_instant: OffsetDateTime,
    /// `Destination`: the service's SLO endpoint.
    pub destination: String,
    /// `NotOnOrAfter`.
    pub not_on_or_after: OffsetDateTime,
    /// `Issuer`: our entity ID.
    pub issuer: String,
    /// The NameID the service received.
    pub name_id: NameId,
    /// The session's `SessionIndex`.
    pub session_index: String,
}

impl LogoutRequestOut {
    /// The LogoutRequest as XML.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        w.open(
            "samlp:LogoutRequest",
            &[
                ("xmlns:samlp", NS_PROTOCOL),
                ("xmlns:saml", NS_ASSERTION),
                ("ID", &self.id),
                ("Version", "2.0"),
                ("IssueInstant", &instant(self.issue_instant)),
                ("Destination", &self.destination),
                ("NotOnOrAfter", &instant(self.not_on_or_after)),
            ],
        )
        .leaf("saml:Issuer", &[], &self.issuer);
        let mut attrs = Vec::new();
        for (k, v) in [
            ("Format", &self.name_id.format),
            ("NameQualifier", &self.name_id.name_qualifier),
            ("SPNameQualifier", &self.name_id.sp_name_qualifier),
        ] {
            if let Some(v) = v {
                attrs.push((k, v.as_str()));
            }
        }
        w.leaf("saml:NameID", &attrs, &self.name_id.value)
            .leaf("samlp:SessionIndex", &[], &self.session_index)
            .close("samlp:LogoutRequest")
            .finish()
    }
}

/// The LogoutResponse we send (always, even for an unknown or expired session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutResponseOut {
    /// `ID`.
    pub id: String,
    /// `InResponseTo`: the LogoutRequest's ID.
    pub in_response_to: String,
    /// `IssueInstant`.
    pub issue_instant: OffsetDateTime,
    /// `Destination`: the sender's SLO response endpoint (absent on SOAP).
    pub destination: Option<String>,
    /// `Issuer`: our entity ID.
    pub issuer: String,
    /// The status.
    pub status: StatusCode,
}

impl LogoutResponseOut {
    /// The LogoutResponse as XML.
    pub fn to_xml(&self) -> String {
        let issue_instant = instant(self.issue_instant);
        let mut attrs = vec![
            ("xmlns:samlp", NS_PROTOCOL),
            ("xmlns:saml", NS_ASSERTION),
            ("ID", self.id.as_str()),
            ("InResponseTo", self.in_response_to.as_str()),
            ("Version", "2.0"),
            ("IssueInstant", issue_instant.as_str()),
        ];
        if let Some(d) = &self.destination {
            attrs.push(("Destination", d));
        }
        let mut w = XmlWriter::new();
        w.open("samlp:LogoutResponse", &attrs)
            .leaf("saml:Issuer", &[], &self.issuer);
        self.status.write(&mut w);
        w.close("samlp:LogoutResponse").finish()
    }
}
