//! [`read`]: a proxy service's Response, verified, decrypted and checked by our connector.

use time::OffsetDateTime;

use super::read::{
    CLOCK_SKEW, MAX_VALUE_BYTES, attr, contains, count, id, instant, issue_instant, issuer_is,
    saml, samlp, text, version,
};
use super::request::NAME_ID_FORMATS;
use super::response::{
    Attribute, AttributeValue, EidasAssertion, ReadResponse, ResponseExpectations, Status,
    SubStatus, TopStatus,
};
use super::response_write::CM_BEARER;
use super::{EidasError, NS_LEGAL_TYPES, NS_NATURAL_TYPES, NodeRole, PersonIdentifier, rules};
use crate::dsig::{Expected, verify};
use crate::enc::decrypt;
use crate::xml::{Document, Element, QName};

/// The longest a bearer confirmation may still run (the EU node issues minutes): a longer one is
/// refused, so that the assertion IDs a connector remembers until then stay bounded.
pub const MAX_CONFIRMATION_LIFETIME: time::Duration = time::Duration::hours(1);

/// The most attributes, and values of one attribute, read.
const MAX_ATTRIBUTES: usize = 64;
const MAX_VALUES: usize = 8;
/// The longest attribute value (a CurrentAddress is base64 XML).
const MAX_ATTRIBUTE_VALUE_BYTES: usize = 4096;
/// The longest StatusMessage kept.
const MAX_STATUS_MESSAGE_BYTES: usize = 1024;

pub(crate) fn read(
    xml: &str,
    expect: &ResponseExpectations<'_>,
) -> Result<ReadResponse, EidasError> {
    let verified = verify(
        xml,
        Expected::Root(QName::RESPONSE),
        &expect.peer.signing_keys,
        expect.signature_policy,
    )?;
    let response = verified.element();
    if !matches!(expect.peer.role, NodeRole::ProxyService { .. }) {
        return Err(EidasError::Rule(rules::NOT_PROXY_SERVICE));
    }
    version(response)?;
    id(response)?;
    if response.attr("InResponseTo") != Some(expect.request_id) {
        return Err(EidasError::Rule(rules::IN_RESPONSE_TO));
    }
    if response.attr("Destination") != Some(expect.acs_url) {
        return Err(EidasError::Rule(rules::DESTINATION));
    }
    issue_instant(response, expect.now)?;
    issuer_is(response, &expect.peer.entity_id)?;
    let allowed = [
        QName::ISSUER,
        QName::SIGNATURE,
        samlp("Extensions"),
        samlp("Status"),
        QName::ASSERTION,
        QName::ENCRYPTED_ASSERTION,
    ];
    if response
        .children()
        .any(|c| !allowed.iter().any(|a| c.is(*a)))
    {
        return Err(EidasError::Rule(rules::UNSUPPORTED));
    }
    let status = status(response)?;
    let has_plaintext = contains(response, QName::ASSERTION);
    let encrypted = count(response, QName::ENCRYPTED_ASSERTION);
    if status.top != TopStatus::Success {
        if has_plaintext || encrypted > 0 {
            return Err(EidasError::Rule(rules::FAILURE_WITH_ASSERTION));
        }
        return Ok(ReadResponse::Failure(status));
    }
    if has_plaintext {
        return Err(EidasError::Rule(rules::PLAINTEXT_ASSERTION));
    }
    let mut direct = response.children_named(QName::ENCRYPTED_ASSERTION);
    let (Some(encrypted_assertion), None, 1) = (direct.next(), direct.next(), encrypted) else {
        return Err(EidasError::Rule(rules::ENCRYPTED_ASSERTION_COUNT));
    };
    let plain = decrypt(
        encrypted_assertion,
        expect.decryption,
        expect.decrypt_policy,
    )?;
    let doc = Document::parse(&plain)?;
    if doc.root().child(QName::SIGNATURE)?.is_some() {
        let verified = verify(
            &plain,
            Expected::Root(QName::ASSERTION),
            &expect.peer.signing_keys,
            expect.signature_policy,
        )?;
        assertion(verified.element(), expect).map(ReadResponse::Success)
    } else {
        if !doc.root().is(QName::ASSERTION) {
            return Err(EidasError::Malformed(
                "the encrypted element is not an Assertion",
            ));
        }
        assertion(doc.root(), expect).map(ReadResponse::Success)
    }
}

/// The Response's status: a known top-level code, an optional second-level code and message.
fn status(response: Element<'_, '_>) -> Result<Status, EidasError> {
    let status = response
        .child(samlp("Status"))?
        .ok_or(EidasError::Malformed("Status is missing"))?;
    let code = status
        .child(samlp("StatusCode"))?
        .ok_or(EidasError::Malformed("StatusCode is missing"))?;
    let top = code
        .attr("Value")
        .and_then(TopStatus::from_uri)
        .ok_or(EidasError::Rule(rules::STATUS))?;
    let sub = code
        .child(samlp("StatusCode"))?
        .map(|second| SubStatus::from_uri(second.attr("Value").unwrap_or_default()));
    let message = match status.child(samlp("StatusMessage"))? {
        Some(m) => Some(text(
            m,
            "StatusMessage is not a bounded text",
            MAX_STATUS_MESSAGE_BYTES,
        )?),
        None => None,
    };
    Ok(Status { top, sub, message })
}

/// The decrypted (and, if signed, verified) assertion.
fn assertion(
    a: Element<'_, '_>,
    expect: &ResponseExpectations<'_>,
) -> Result<EidasAssertion, EidasError> {
    version(a)?;
    let assertion_id = id(a)?;
    issue_instant(a, expect.now)?;
    issuer_is(a, &expect.peer.entity_id)?;
    let allowed = [
        QName::ISSUER,
        QName::SIGNATURE,
        saml("Subject"),
        saml("Conditions"),
        saml("AuthnStatement"),
        saml("AttributeStatement"),
    ];
    if a.children().any(|c| !allowed.iter().any(|k| c.is(*k))) {
        return Err(EidasError::Rule(rules::ASSERTION_CONTENT));
    }
    let one = |name| {
        let mut it = a.children_named(name);
        match (it.next(), it.next()) {
            (Some(e), None) => Ok(e),
            _ => Err(EidasError::Rule(rules::ASSERTION_CONTENT)),
        }
    };
    let (name_id, not_on_or_after) = subject(one(saml("Subject"))?, expect)?;
    conditions(one(saml("Conditions"))?, expect)?;
    let authn = one(saml("AuthnStatement"))?;
    let authn_instant = instant(authn, "AuthnInstant", "AuthnInstant is not a dateTime")?
        .ok_or(EidasError::Malformed("AuthnInstant is missing"))?;
    let class_ref = authn
        .child(saml("AuthnContext"))?
        .and_then(|c| c.child(saml("AuthnContextClassRef")).transpose())
        .transpose()?
        .ok_or(EidasError::Rule(rules::LOA_UNKNOWN))?;
    let loa = super::loa::read_level(&text(
        class_ref,
        "AuthnContextClassRef is not a bounded text",
        MAX_VALUE_BYTES,
    )?)?;
    if loa < expect.requested_loa {
        return Err(EidasError::Rule(rules::LOA_TOO_LOW));
    }
    let mut statements = a.children_named(saml("AttributeStatement"));
    let attributes = match (statements.next(), statements.next()) {
        (None, _) => Vec::new(),
        (Some(s), None) => attributes(s, expect)?,
        (Some(_), Some(_)) => return Err(EidasError::Rule(rules::ASSERTION_CONTENT)),
    };
    if expect
        .required
        .iter()
        .any(|name| !attributes.iter().any(|a| a.name == *name))
    {
        return Err(EidasError::Rule(rules::ATTR_MISSING));
    }
    Ok(EidasAssertion {
        id: assertion_id,
        name_id,
        loa,
        authn_instant,
        not_on_or_after,
        attributes,
    })
}

/// One NameID and one bearer confirmation of our request at our ACS, still valid; returns the
/// NameID and the confirmation's `NotOnOrAfter`.
fn subject(
    subject: Element<'_, '_>,
    expect: &ResponseExpectations<'_>,
) -> Result<(String, OffsetDateTime), EidasError> {
    let mut name_ids = subject.children_named(saml("NameID"));
    let (Some(name_id), None) = (name_ids.next(), name_ids.next()) else {
        return Err(EidasError::Malformed("not exactly one NameID"));
    };
    let mut confirmations = subject.children_named(saml("SubjectConfirmation"));
    let (Some(confirmation), None) = (confirmations.next(), confirmations.next()) else {
        return Err(EidasError::Rule(rules::CONFIRMATION));
    };
    if subject.children().count() != 2 {
        return Err(EidasError::Rule(rules::ASSERTION_CONTENT));
    }
    if name_id
        .attr("Format")
        .is_some_and(|f| !NAME_ID_FORMATS.contains(&f))
    {
        return Err(EidasError::Rule(rules::NAME_ID_FORMAT));
    }
    let name_id = text(name_id, "NameID is not a bounded text", MAX_VALUE_BYTES)?;
    if confirmation.attr("Method") != Some(CM_BEARER) {
        return Err(EidasError::Rule(rules::CONFIRMATION));
    }
    let data = confirmation
        .child(saml("SubjectConfirmationData"))?
        .ok_or(EidasError::Rule(rules::CONFIRMATION))?;
    if data.attr("Recipient") != Some(expect.acs_url)
        || data.attr("InResponseTo") != Some(expect.request_id)
    {
        return Err(EidasError::Rule(rules::CONFIRMATION));
    }
    let not_on_or_after = instant(data, "NotOnOrAfter", "NotOnOrAfter is not a dateTime")?
        .ok_or(EidasError::Rule(rules::CONFIRMATION))?;
    // Written so that no sum can overflow, whatever year the peer wrote.
    if expect.now - CLOCK_SKEW >= not_on_or_after {
        return Err(EidasError::Expired("the SubjectConfirmation has expired"));
    }
    // A bearer confirmation lives minutes, not years: its ID is remembered until it ends.
    if not_on_or_after - expect.now > MAX_CONFIRMATION_LIFETIME {
        return Err(EidasError::Rule(rules::CONFIRMATION));
    }
    if instant(data, "NotBefore", "NotBefore is not a dateTime")?
        .is_some_and(|t| t > expect.now + CLOCK_SKEW)
    {
        return Err(EidasError::Expired(
            "the SubjectConfirmation is not yet valid",
        ));
    }
    Ok((name_id, not_on_or_after))
}

/// A valid time window now, and AudienceRestrictions naming only our connector.
fn conditions(c: Element<'_, '_>, expect: &ResponseExpectations<'_>) -> Result<(), EidasError> {
    if instant(c, "NotBefore", "NotBefore is not a dateTime")?
        .is_some_and(|t| t > expect.now + CLOCK_SKEW)
    {
        return Err(EidasError::Expired("the Conditions are not yet valid"));
    }
    let not_on_or_after = instant(c, "NotOnOrAfter", "NotOnOrAfter is not a dateTime")?
        .ok_or(EidasError::Malformed("Conditions have no NotOnOrAfter"))?;
    if expect.now - CLOCK_SKEW >= not_on_or_after {
        return Err(EidasError::Expired("the Conditions have expired"));
    }
    let mut audiences = 0;
    for condition in c.children() {
        if condition.is(saml("AudienceRestriction")) {
            for audience in condition.children() {
                if !audience.is(saml("Audience"))
                    || text(audience, "Audience is not a bounded text", MAX_VALUE_BYTES)?
                        != expect.audience
                {
                    return Err(EidasError::Rule(rules::AUDIENCE));
                }
                audiences += 1;
            }
        } else if !condition.is(saml("OneTimeUse")) {
            return Err(EidasError::Rule(rules::CONDITION));
        }
    }
    if audiences == 0 {
        return Err(EidasError::Rule(rules::AUDIENCE));
    }
    Ok(())
}

/// The attributes with known names (others are dropped), each once, with checked values.
fn attributes(
    statement: Element<'_, '_>,
    expect: &ResponseExpectations<'_>,
) -> Result<Vec<Attribute>, EidasError> {
    let mut out: Vec<Attribute> = Vec::new();
    let mut seen = 0usize;
    for attribute in statement.children() {
        if !attribute.is(saml("Attribute")) {
            return Err(EidasError::Rule(rules::ASSERTION_CONTENT));
        }
        seen += 1;
        if seen > MAX_ATTRIBUTES {
            return Err(EidasError::Rule(rules::ATTR_TOO_MANY));
        }
        let name = attr(attribute, "Name", "an Attribute Name is malformed")?
            .ok_or(EidasError::Malformed("an Attribute has no Name"))?;
        let Some(def) = super::definition(name) else {
            continue;
        };
        if out.iter().any(|a| a.name == def.name) {
            return Err(EidasError::Rule(rules::ATTR_TWICE));
        }
        let mut values = Vec::new();
        for value in attribute.children() {
            if !value.is(saml("AttributeValue")) || values.len() == MAX_VALUES {
                return Err(EidasError::Rule(rules::ATTR_VALUE));
            }
            let text = text(
                value,
                "an AttributeValue is not a bounded text",
                MAX_ATTRIBUTE_VALUE_BYTES,
            )?;
            let latin = [NS_NATURAL_TYPES, NS_LEGAL_TYPES]
                .iter()
                .filter_map(|ns| value.attr_ns(ns, "LatinScript"))
                .chain(value.attr("LatinScript"))
                .all(|v| !matches!(v.trim(), "false" | "0"));
            values.push(AttributeValue {
                value: text,
                latin_script: latin,
            });
        }
        if values.is_empty() {
            return Err(EidasError::Rule(rules::ATTR_VALUE));
        }
        check_value(def, &values, expect)?;
        out.push(Attribute {
            name: def.name.to_owned(),
            values,
        });
    }
    Ok(out)
}

/// Identifiers are `XX/YY/id` issued by the peer's country; a date of birth is `YYYY-MM-DD`.
fn check_value(
    def: &super::AttributeDef,
    values: &[AttributeValue],
    expect: &ResponseExpectations<'_>,
) -> Result<(), EidasError> {
    if def.name == super::PERSON_IDENTIFIER.name || def.name == super::LEGAL_PERSON_IDENTIFIER.name
    {
        let [one] = values else {
            return Err(EidasError::Rule(rules::PERSON_IDENTIFIER));
        };
        match PersonIdentifier::parse(&one.value) {
            Some(p) if p.issuing_country() == expect.peer.node_country => {}
            _ => return Err(EidasError::Rule(rules::PERSON_IDENTIFIER)),
        }
    }
    if def.name == super::DATE_OF_BIRTH.name && values.iter().any(|v| !is_date(&v.value)) {
        return Err(EidasError::Rule(rules::ATTR_VALUE));
    }
    Ok(())
}

/// `YYYY-MM-DD`, a real calendar date.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
            .then(|| s.get(r).and_then(|t| t.parse::<u16>().ok()))
            .flatten()
    };
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    match (digits(0..4), digits(5..7), digits(8..10)) {
        (Some(y), Some(m), Some(d)) => time::Month::try_from(m as u8)
            .ok()
            .and_then(|m| time::Date::from_calendar_date(i32::from(y), m, d as u8).ok())
            .is_some(),
        _ => false,
    }
}
