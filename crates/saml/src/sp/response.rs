//! [`read_response`]: the Response to our AuthnRequest, read as a strict OIOSAML SP reads it.

use super::SpError;
use crate::dsig::{AlgorithmPolicy, Expected, PinnedKeys, verify};
use crate::enc::{DecryptPolicy, DecryptionKey, decrypt};
use crate::messages::{MessageError, NAMEID_ENTITY, StatusCode, check_issue_instant};
use crate::xml::{Element, QName, ns};
use crate::{NAMEID_PERSISTENT, attributes};
use eid_core::Loa;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The bearer subject confirmation method.
const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// The prefix of a person's persistent NameID, followed by a UUID.
const PERSON_PREFIX: &str = "https://data.gov.dk/model/core/eid/person/uuid/";
/// The longest value (ID, URI, attribute value) we keep.
const MAX_VALUE_BYTES: usize = 1024;
/// The most attributes, and values of one attribute, we read.
const MAX_ATTRIBUTES: usize = 64;
const MAX_VALUES: usize = 16;

/// What the Response must answer: our outstanding request, at our ACS, now.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    /// The IdP's entity ID (the Issuer of the Response and the assertion).
    pub idp_entity_id: &'a str,
    /// Our entity ID (the Audience).
    pub sp_entity_id: &'a str,
    /// Our ACS URL (the Response's Destination and the confirmation's Recipient).
    pub acs_url: &'a str,
    /// The ID of our outstanding AuthnRequest (InResponseTo).
    pub request_id: &'a str,
    /// The lowest level we asked for; the assertion's level is compared even when `None`
    /// (it must state one).
    pub min_loa: Option<Loa>,
    /// The time to check against.
    pub now: OffsetDateTime,
    /// The clock skew allowed either way.
    pub skew: time::Duration,
}

/// The keys a Response is read with: ours to decrypt, the IdP's pinned ones to verify.
#[derive(Debug, Clone, Copy)]
pub struct SpKeys<'a> {
    /// The IdP's signing keys, from its metadata.
    pub idp: &'a PinnedKeys,
    /// Our private key for the assertion's encryption key.
    pub decryption: &'a DecryptionKey,
}

/// A verified assertion, as far as an SP uses it.
#[derive(Clone, PartialEq, Eq)]
pub struct ReceivedAssertion {
    /// The assertion's `ID` (to remember, so it is used once).
    pub id: String,
    /// The persistent NameID, whole.
    pub name_id: String,
    /// The person's pairwise UUID, from the NameID.
    pub person: uuid::Uuid,
    /// `SessionIndex`, for single logout.
    pub session_index: String,
    /// When the person authenticated.
    pub authn_instant: OffsetDateTime,
    /// The `AuthnContextClassRef`, if given.
    pub authn_context: Option<String>,
    /// The level of the login (the `nsis/loa` attribute).
    pub loa: Loa,
    /// `Conditions/@NotOnOrAfter`: how long the assertion ID must be remembered.
    pub valid_until: OffsetDateTime,
    /// Every attribute: its name and values, in document order.
    pub attributes: Vec<(String, Vec<String>)>,
}

impl std::fmt::Debug for ReceivedAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Attribute values may be personal data (a CPR number): names only.
        f.debug_struct("ReceivedAssertion")
            .field("id", &self.id)
            .field("loa", &self.loa)
            .field(
                "attributes",
                &self.attributes.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ReceivedAssertion {
    /// The single value of attribute `name`, if it has exactly one.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        match self.attributes.iter().find(|(n, _)| n == name) {
            Some((_, values)) if values.len() == 1 => values.first().map(String::as_str),
            _ => None,
        }
    }
}

/// Reads the Response `xml` (as posted to our ACS) to the request of `expect`, in this order:
/// the envelope (root, Version, InResponseTo, Destination, Issuer, Status); exactly one
/// `EncryptedAssertion` and no plaintext assertion anywhere; decryption with our key; the
/// assertion's signature by a pinned IdP key (only the verified element is read from then on);
/// its IssueInstant, Issuer, subject (a persistent person NameID), a bearer confirmation for this
/// request and ACS that has not expired, its conditions (time window, our audience in every
/// AudienceRestriction, nothing unknown), exactly one AuthnStatement with a SessionIndex, exactly
/// one AttributeStatement with plain attributes, and a level no lower than the one asked for.
/// A failure status after the envelope checks is [`SpError::Status`].
pub fn read_response(
    xml: &str,
    expect: &Expectations<'_>,
    keys: &SpKeys<'_>,
) -> Result<ReceivedAssertion, SpError> {
    let doc = crate::xml::Document::parse(xml)?;
    let response = doc.root();
    if !response.is(QName::RESPONSE) {
        return Err(MessageError::UnexpectedRoot("Response").into());
    }
    version(response)?;
    id(response)?;
    if response.attr("InResponseTo") != Some(expect.request_id) {
        return Err(SpError::NotOurRequest);
    }
    if response.attr("Destination") != Some(expect.acs_url) {
        return Err(SpError::WrongDestination);
    }
    if let Some(issuer) = response.child(QName::ISSUER)? {
        check_issuer(issuer, expect.idp_entity_id)?;
    }
    match status(response)? {
        Some(StatusCode::Success) => {}
        other => return Err(SpError::Status(other)),
    }
    if doc.elements_named(QName::ASSERTION).next().is_some()
        || doc.elements_named(QName::ENCRYPTED_ASSERTION).count() != 1
    {
        return Err(SpError::AssertionCount);
    }
    let encrypted = response
        .child(QName::ENCRYPTED_ASSERTION)?
        .ok_or(SpError::AssertionCount)?;
    let plain = decrypt(encrypted, keys.decryption, &DecryptPolicy::default())?;
    let verified = verify(
        &plain,
        Expected::Root(QName::ASSERTION),
        keys.idp,
        &AlgorithmPolicy::default(),
    )?;
    read_assertion(verified.element(), expect)
}

fn saml(local: &'static str) -> QName {
    QName::new(ns::SAML, local)
}

fn samlp(local: &'static str) -> QName {
    QName::new(ns::SAMLP, local)
}

fn version(e: Element<'_, '_>) -> Result<(), SpError> {
    match e.attr("Version") {
        Some("2.0") => Ok(()),
        Some(_) => Err(MessageError::VersionMismatch.into()),
        None => Err(MessageError::MissingAttribute("Version").into()),
    }
}

fn id(e: Element<'_, '_>) -> Result<String, SpError> {
    match e.attr("ID") {
        Some(id) if crate::messages::xml::is_ncname(id) => Ok(id.to_owned()),
        Some(_) => Err(MessageError::BadAttribute("ID").into()),
        None => Err(MessageError::MissingAttribute("ID").into()),
    }
}

/// The text of an element that holds only text, trimmed, not empty, bounded.
fn text(e: Element<'_, '_>, what: &'static str) -> Result<String, SpError> {
    let text = e.text()?;
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_VALUE_BYTES {
        return Err(MessageError::BadElement(what).into());
    }
    Ok(text.to_owned())
}

/// The one child `name` of `e`; none or several is `missing`.
fn one<'d, 'a>(
    e: Element<'d, 'a>,
    name: QName,
    missing: SpError,
) -> Result<Element<'d, 'a>, SpError> {
    e.child(name)?.ok_or(missing)
}

fn instant(e: Element<'_, '_>, attr: &'static str) -> Result<Option<OffsetDateTime>, SpError> {
    match e.attr(attr) {
        None => Ok(None),
        Some(v) if v.len() > 64 => Err(MessageError::BadAttribute(attr).into()),
        Some(v) => OffsetDateTime::parse(v.trim(), &Rfc3339)
            .map(Some)
            .map_err(|_| MessageError::BadAttribute(attr).into()),
    }
}

fn check_issuer(issuer: Element<'_, '_>, idp: &str) -> Result<(), SpError> {
    if issuer.attr("Format").is_some_and(|f| f != NAMEID_ENTITY) {
        return Err(SpError::WrongIssuer);
    }
    if text(issuer, "Issuer")? != idp {
        return Err(SpError::WrongIssuer);
    }
    Ok(())
}

/// The Response's status (`None`: a code we do not know, i.e. not a success).
fn status(response: Element<'_, '_>) -> Result<Option<StatusCode>, SpError> {
    let status = one(
        response,
        samlp("Status"),
        MessageError::MissingElement("Status").into(),
    )?;
    let top = one(
        status,
        samlp("StatusCode"),
        MessageError::MissingElement("StatusCode").into(),
    )?;
    let second = top
        .child(samlp("StatusCode"))?
        .and_then(|s| s.attr("Value"));
    let top = top
        .attr("Value")
        .ok_or(MessageError::MissingAttribute("StatusCode Value"))?;
    Ok(StatusCode::from_uris(top, second))
}

/// Reads the verified assertion.
fn read_assertion(
    a: Element<'_, '_>,
    expect: &Expectations<'_>,
) -> Result<ReceivedAssertion, SpError> {
    version(a)?;
    let id = id(a)?;
    let issued =
        instant(a, "IssueInstant")?.ok_or(MessageError::MissingAttribute("IssueInstant"))?;
    check_issue_instant(issued, expect.now, expect.skew)?;
    check_issuer(
        one(a, QName::ISSUER, SpError::WrongIssuer)?,
        expect.idp_entity_id,
    )?;
    let known = [
        QName::ISSUER,
        QName::SIGNATURE,
        saml("Subject"),
        saml("Conditions"),
        saml("AuthnStatement"),
        saml("AttributeStatement"),
    ];
    if a.children().any(|c| !known.iter().any(|k| c.is(*k))) {
        return Err(SpError::Statements(
            "an element other than Issuer, Signature, Subject, Conditions and the two statements",
        ));
    }
    let (name_id, person) = subject(a, expect)?;
    let valid_until = conditions(a, expect)?;
    let mut authn = a.children_named(saml("AuthnStatement"));
    let (Some(authn), None) = (authn.next(), authn.next()) else {
        return Err(SpError::Statements("not exactly one AuthnStatement"));
    };
    let session_index = match authn.attr("SessionIndex") {
        Some(s) if !s.is_empty() && s.len() <= MAX_VALUE_BYTES => s.to_owned(),
        _ => {
            return Err(SpError::Statements(
                "the AuthnStatement has no SessionIndex",
            ));
        }
    };
    let authn_instant =
        instant(authn, "AuthnInstant")?.ok_or(MessageError::MissingAttribute("AuthnInstant"))?;
    let authn_context = match authn.child(saml("AuthnContext"))? {
        Some(ctx) => ctx
            .child(saml("AuthnContextClassRef"))?
            .map(|r| text(r, "AuthnContextClassRef"))
            .transpose()?,
        None => None,
    };
    let attributes = attribute_statement(a)?;
    let loa = match attributes.iter().find(|(n, _)| n == attributes::NSIS_LOA) {
        Some((_, values)) => match values.as_slice() {
            [one] => level_word(one),
            _ => None,
        },
        None => None,
    };
    let loa = match loa {
        Some(loa) if expect.min_loa.is_none_or(|min| loa >= min) => loa,
        got => {
            return Err(SpError::LevelTooLow {
                wanted: expect.min_loa,
                got,
            });
        }
    };
    Ok(ReceivedAssertion {
        id,
        name_id,
        person,
        session_index,
        authn_instant,
        authn_context,
        loa,
        valid_until,
        attributes,
    })
}

/// The `nsis/loa` value: the bare word only (never the URI).
fn level_word(word: &str) -> Option<Loa> {
    Loa::ALL.into_iter().find(|l| l.as_word() == word)
}

/// The persistent person NameID and a bearer confirmation of this request at our ACS.
fn subject(a: Element<'_, '_>, expect: &Expectations<'_>) -> Result<(String, uuid::Uuid), SpError> {
    let subject = one(a, saml("Subject"), SpError::Subject("missing"))?;
    let name_id = one(subject, saml("NameID"), SpError::Subject("not one NameID"))?;
    if subject
        .children()
        .any(|c| !c.is(saml("NameID")) && !c.is(saml("SubjectConfirmation")))
    {
        return Err(SpError::Subject("an identifier other than one NameID"));
    }
    if name_id.attr("Format") != Some(NAMEID_PERSISTENT) {
        return Err(SpError::Subject("the NameID is not persistent"));
    }
    let value = text(name_id, "NameID")?;
    let person = value
        .strip_prefix(PERSON_PREFIX)
        .filter(|uuid| uuid.len() == 36)
        .and_then(|uuid| uuid::Uuid::parse_str(uuid).ok())
        .ok_or(SpError::Subject("the NameID is not a person's UUID"))?;
    let now = expect.now;
    let mut confirmed = false;
    for confirmation in subject.children_named(saml("SubjectConfirmation")) {
        if confirmation.attr("Method") != Some(CM_BEARER) {
            continue;
        }
        let Some(data) = confirmation.child(saml("SubjectConfirmationData"))? else {
            continue;
        };
        let not_on_or_after = instant(data, "NotOnOrAfter")?;
        let not_before = instant(data, "NotBefore")?;
        if data.attr("Recipient") == Some(expect.acs_url)
            && data.attr("InResponseTo") == Some(expect.request_id)
            && not_on_or_after.is_some_and(|t| now < t + expect.skew)
            && not_before.is_none_or(|t| t <= now + expect.skew)
        {
            confirmed = true;
        }
    }
    if !confirmed {
        return Err(SpError::Confirmation);
    }
    Ok((value, person))
}

/// The conditions hold now and we are the audience; returns `NotOnOrAfter`.
fn conditions(a: Element<'_, '_>, expect: &Expectations<'_>) -> Result<OffsetDateTime, SpError> {
    let conditions = one(a, saml("Conditions"), SpError::Conditions("missing"))?;
    if instant(conditions, "NotBefore")?.is_some_and(|t| expect.now + expect.skew < t) {
        return Err(SpError::Conditions("not yet valid"));
    }
    let not_on_or_after =
        instant(conditions, "NotOnOrAfter")?.ok_or(SpError::Conditions("no NotOnOrAfter"))?;
    if expect.now >= not_on_or_after + expect.skew {
        return Err(SpError::Conditions("expired"));
    }
    let mut restrictions = 0;
    for condition in conditions.children() {
        if condition.is(saml("AudienceRestriction")) {
            restrictions += 1;
            let mut ours = false;
            for audience in condition.children() {
                if !audience.is(saml("Audience")) {
                    return Err(SpError::Conditions(
                        "an AudienceRestriction holds a non-Audience",
                    ));
                }
                ours |= text(audience, "Audience")? == expect.sp_entity_id;
            }
            if !ours {
                return Err(SpError::Conditions("we are not the audience"));
            }
        } else if !condition.is(saml("OneTimeUse")) && !condition.is(saml("ProxyRestriction")) {
            return Err(SpError::Conditions("an unknown condition"));
        }
    }
    if restrictions == 0 {
        return Err(SpError::Conditions("no AudienceRestriction"));
    }
    Ok(not_on_or_after)
}

/// The one AttributeStatement's attributes: each named by a URI once, with plain text values.
fn attribute_statement(a: Element<'_, '_>) -> Result<Vec<(String, Vec<String>)>, SpError> {
    let mut statements = a.children_named(saml("AttributeStatement"));
    let (Some(statement), None) = (statements.next(), statements.next()) else {
        return Err(SpError::Statements("not exactly one AttributeStatement"));
    };
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for attribute in statement.children() {
        if !attribute.is(saml("Attribute")) {
            return Err(SpError::Statements(
                "an AttributeStatement holds a non-Attribute",
            ));
        }
        if out.len() == MAX_ATTRIBUTES {
            return Err(MessageError::TooLarge.into());
        }
        let name = match attribute.attr("Name") {
            Some(n)
                if n.len() <= MAX_VALUE_BYTES
                    && n.contains(':')
                    && !n.chars().any(|c| c.is_whitespace() || c.is_control()) =>
            {
                n.to_owned()
            }
            _ => return Err(MessageError::BadAttribute("Attribute Name").into()),
        };
        if out.iter().any(|(n, _)| *n == name) {
            return Err(SpError::Statements("an attribute occurs twice"));
        }
        let mut values = Vec::new();
        for value in attribute.children() {
            if !value.is(saml("AttributeValue")) {
                return Err(SpError::Statements(
                    "an Attribute holds a non-AttributeValue",
                ));
            }
            if values.len() == MAX_VALUES {
                return Err(MessageError::TooLarge.into());
            }
            values.push(text(value, "AttributeValue")?);
        }
        out.push((name, values));
    }
    Ok(out)
}
