//! The AuthnRequest a service sends (SAML Core §3.4.1, OIOSAML 3 §1.2 of PROTOCOLS.md).

use super::xml::{
    bool_attr, check_version, instant_attr, is, issuer, message_id, opt_attr, parse_document, root,
    single_child, text_only,
};
use super::{MAX_MESSAGE_BYTES, MessageError, NS_ASSERTION, NS_PROTOCOL};
use eid_core::Loa;
use eid_core::loa::{NSIS_LOA_PREFIX, NSIS_PREFIX_WITHOUT_LOA};
use eid_core::relying_party::{AssertionConsumer, SamlSp};
use time::OffsetDateTime;

/// The most `AuthnContextClassRef`s we read.
const MAX_CLASS_REFS: usize = 16;

/// Which assertion consumer service the response goes to: always one of the SP's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcsRef {
    /// `AssertionConsumerServiceURL` (matched exactly against the metadata).
    Url(String),
    /// `AssertionConsumerServiceIndex`.
    Index(u16),
    /// Neither: the metadata's default.
    Default,
}

/// `RequestedAuthnContext/@Comparison`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `exact` (the default when absent).
    Exact,
    /// `minimum` (OIOSAML's rule for NSIS levels).
    Minimum,
    /// `maximum`.
    Maximum,
    /// `better`.
    Better,
}

/// One requested `AuthnContextClassRef`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthnClassRef {
    /// An NSIS level, in either spelling (`…/nsis/loa/High` or `…/nsis/High`).
    Nsis(Loa),
    /// Anything else (identity or credential type URIs), kept as sent.
    Other(String),
}

impl AuthnClassRef {
    /// Reads a class reference, recognising both NSIS spellings.
    pub fn parse(uri: &str) -> AuthnClassRef {
        let word = uri
            .strip_prefix(NSIS_LOA_PREFIX)
            .or_else(|| uri.strip_prefix(NSIS_PREFIX_WITHOUT_LOA));
        match word {
            Some("Low") => AuthnClassRef::Nsis(Loa::Low),
            Some("Substantial") => AuthnClassRef::Nsis(Loa::Substantial),
            Some("High") => AuthnClassRef::Nsis(Loa::High),
            _ => AuthnClassRef::Other(uri.to_owned()),
        }
    }
}

/// `RequestedAuthnContext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedAuthnContext {
    /// The comparison.
    pub comparison: Comparison,
    /// The class references, in order (at least one).
    pub class_refs: Vec<AuthnClassRef>,
}

/// `NameIDPolicy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameIdPolicy {
    /// The requested format, if any.
    pub format: Option<String>,
    /// `SPNameQualifier`, if any.
    pub sp_name_qualifier: Option<String>,
    /// `AllowCreate` (false when absent).
    pub allow_create: bool,
}

/// A parsed AuthnRequest. Its signature is checked by the binding before it is read; its
/// IssueInstant and Destination by [`AuthnRequest::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnRequest {
    /// `ID`, echoed as `InResponseTo` (single use: the broker keeps it until it expires).
    pub id: String,
    /// `IssueInstant`.
    pub issue_instant: OffsetDateTime,
    /// `Destination`.
    pub destination: Option<String>,
    /// `Issuer`: the SP's entity ID.
    pub issuer: String,
    /// Which ACS to answer at.
    pub acs: AcsRef,
    /// `ProtocolBinding`, if given.
    pub protocol_binding: Option<String>,
    /// `ForceAuthn`.
    pub force_authn: bool,
    /// `IsPassive`.
    pub is_passive: bool,
    /// `RequestedAuthnContext`, if given.
    pub requested_authn_context: Option<RequestedAuthnContext>,
    /// `NameIDPolicy`, if given.
    pub name_id_policy: Option<NameIdPolicy>,
}

impl AuthnRequest {
    /// Parses an AuthnRequest from XML whose signature was checked. Refused: another root, a
    /// `Version` other than 2.0, a missing or bad ID/IssueInstant/Issuer, both an ACS URL and an
    /// index, a `Subject` (we do not log in a named person on request), duplicate elements.
    pub fn parse(xml: &str) -> Result<AuthnRequest, MessageError> {
        let doc = parse_document(xml, MAX_MESSAGE_BYTES)?;
        let req = root(&doc, NS_PROTOCOL, "AuthnRequest")?;
        check_version(req)?;
        let id = message_id(req)?;
        let issue_instant = instant_attr(req, "IssueInstant")?
            .ok_or(MessageError::MissingAttribute("IssueInstant"))?;
        let destination = opt_attr(req, "Destination")?;
        let issuer = issuer(req)?;
        if single_child(req, NS_ASSERTION, "Subject")?.is_some() {
            return Err(MessageError::Unsupported("Subject"));
        }
        let acs_url = opt_attr(req, "AssertionConsumerServiceURL")?;
        let acs_index = opt_attr(req, "AssertionConsumerServiceIndex")?
            .map(|i| {
                i.parse::<u16>()
                    .map_err(|_| MessageError::BadAttribute("AssertionConsumerServiceIndex"))
            })
            .transpose()?;
        let acs = match (acs_url, acs_index) {
            (Some(_), Some(_)) => {
                return Err(MessageError::BadAttribute("AssertionConsumerServiceIndex"));
            }
            (Some(url), None) => AcsRef::Url(url),
            (None, Some(index)) => AcsRef::Index(index),
            (None, None) => AcsRef::Default,
        };
        let protocol_binding = opt_attr(req, "ProtocolBinding")?;
        let force_authn = bool_attr(req, "ForceAuthn", false)?;
        let is_passive = bool_attr(req, "IsPassive", false)?;
        let requested_authn_context = single_child(req, NS_PROTOCOL, "RequestedAuthnContext")?
            .map(requested_context)
            .transpose()?;
        let name_id_policy = single_child(req, NS_PROTOCOL, "NameIDPolicy")?
            .map(|n| {
                Ok::<_, MessageError>(NameIdPolicy {
                    format: opt_attr(n, "Format")?,
                    sp_name_qualifier: opt_attr(n, "SPNameQualifier")?,
                    allow_create: bool_attr(n, "AllowCreate", false)?,
                })
            })
            .transpose()?;
        Ok(AuthnRequest {
            id,
            issue_instant,
            destination,
            issuer,
            acs,
            protocol_binding,
            force_authn,
            is_passive,
            requested_authn_context,
            name_id_policy,
        })
    }

    /// Checks the request's freshness (`IssueInstant` within `window` of `now`) and that its
    /// `Destination` is `endpoint`.
    pub fn check(
        &self,
        now: OffsetDateTime,
        window: time::Duration,
        endpoint: &str,
    ) -> Result<(), MessageError> {
        super::check_issue_instant(self.issue_instant, now, window)?;
        super::check_destination(self.destination.as_deref(), endpoint)
    }

    /// The assertion consumer service the Response goes to, always one from the SP's metadata:
    /// the URL matched exactly, or the index, or the default. It must use HTTP-POST (the only
    /// binding we answer by), and a `ProtocolBinding`, if given, must be HTTP-POST too.
    pub fn acs_in<'a>(&self, sp: &'a SamlSp) -> Result<&'a AssertionConsumer, MessageError> {
        if self
            .protocol_binding
            .as_deref()
            .is_some_and(|b| b != super::BINDING_POST)
        {
            return Err(MessageError::Unsupported("ProtocolBinding"));
        }
        let acs = match &self.acs {
            AcsRef::Url(url) => sp.acs.iter().find(|a| a.location == *url),
            AcsRef::Index(index) => sp.acs.iter().find(|a| a.index == *index),
            AcsRef::Default => sp.acs.iter().find(|a| a.is_default),
        }
        .ok_or(MessageError::UnknownAcs)?;
        if acs.binding != super::BINDING_POST {
            return Err(MessageError::Unsupported("ACS binding"));
        }
        Ok(acs)
    }

    /// The lowest NSIS level the request accepts: `None` if it names no NSIS level. NSIS levels
    /// must be requested with `Comparison="minimum"` (OIO-SP-06).
    pub fn minimum_loa(&self) -> Result<Option<Loa>, MessageError> {
        let Some(ctx) = &self.requested_authn_context else {
            return Ok(None);
        };
        let lowest = ctx
            .class_refs
            .iter()
            .filter_map(|c| match c {
                AuthnClassRef::Nsis(loa) => Some(*loa),
                AuthnClassRef::Other(_) => None,
            })
            .min();
        if lowest.is_some() && ctx.comparison != Comparison::Minimum {
            return Err(MessageError::ComparisonNotMinimum);
        }
        Ok(lowest)
    }
}

fn requested_context(node: roxmltree::Node<'_, '_>) -> Result<RequestedAuthnContext, MessageError> {
    let comparison = match node.attribute("Comparison") {
        None | Some("exact") => Comparison::Exact,
        Some("minimum") => Comparison::Minimum,
        Some("maximum") => Comparison::Maximum,
        Some("better") => Comparison::Better,
        Some(_) => return Err(MessageError::BadAttribute("Comparison")),
    };
    if node
        .children()
        .any(|c| is(c, NS_ASSERTION, "AuthnContextDeclRef"))
    {
        return Err(MessageError::Unsupported("AuthnContextDeclRef"));
    }
    let mut class_refs = Vec::new();
    for child in node
        .children()
        .filter(|c| is(*c, NS_ASSERTION, "AuthnContextClassRef"))
    {
        if class_refs.len() == MAX_CLASS_REFS {
            return Err(MessageError::TooLarge);
        }
        class_refs.push(AuthnClassRef::parse(&text_only(
            child,
            "AuthnContextClassRef",
        )?));
    }
    if class_refs.is_empty() {
        return Err(MessageError::MissingElement("AuthnContextClassRef"));
    }
    Ok(RequestedAuthnContext {
        comparison,
        class_refs,
    })
}
