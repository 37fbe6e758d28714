//! Reading helpers shared by the eIDAS readers: bounded text, instants, IDs, issuers, names.
//! They read a [`crate::xml::Element`] (the verified element or below it), never raw text.

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::EidasError;
use crate::messages::NAMEID_ENTITY;
use crate::xml::{Element, QName, ns};

/// The clock skew allowed either way on every time of a message.
pub const CLOCK_SKEW: Duration = Duration::minutes(5);

/// The longest ID, URI or short value we keep.
pub(crate) const MAX_VALUE_BYTES: usize = 1024;

pub(crate) fn saml(local: &'static str) -> QName {
    QName::new(ns::SAML, local)
}

pub(crate) fn samlp(local: &'static str) -> QName {
    QName::new(ns::SAMLP, local)
}

pub(crate) fn eidas(local: &'static str) -> QName {
    QName::new(super::NS_EIDAS, local)
}

/// The text of an element that holds only text, trimmed, not empty, at most `max` bytes, no
/// control characters.
pub(crate) fn text(
    e: Element<'_, '_>,
    what: &'static str,
    max: usize,
) -> Result<String, EidasError> {
    let text = e.text()?;
    let text = text.trim();
    if text.is_empty() || text.len() > max || text.chars().any(char::is_control) {
        return Err(EidasError::Malformed(what));
    }
    Ok(text.to_owned())
}

/// A bounded attribute value without control characters, if present.
pub(crate) fn attr<'d>(
    e: Element<'d, '_>,
    name: &str,
    what: &'static str,
) -> Result<Option<&'d str>, EidasError> {
    match e.attr(name) {
        None => Ok(None),
        Some(v) if v.is_empty() || v.len() > MAX_VALUE_BYTES || v.chars().any(char::is_control) => {
            Err(EidasError::Malformed(what))
        }
        Some(v) => Ok(Some(v)),
    }
}

/// An `xs:dateTime` attribute.
pub(crate) fn instant(
    e: Element<'_, '_>,
    name: &str,
    what: &'static str,
) -> Result<Option<OffsetDateTime>, EidasError> {
    match e.attr(name) {
        None => Ok(None),
        Some(v) if v.len() > 64 => Err(EidasError::Malformed(what)),
        Some(v) => OffsetDateTime::parse(v.trim(), &Rfc3339)
            .map(Some)
            .map_err(|_| EidasError::Malformed(what)),
    }
}

/// `Version="2.0"`.
pub(crate) fn version(e: Element<'_, '_>) -> Result<(), EidasError> {
    match e.attr("Version") {
        Some("2.0") => Ok(()),
        Some(_) => Err(EidasError::Rule(super::rules::VERSION)),
        None => Err(EidasError::Malformed("Version is missing")),
    }
}

/// The `ID`: an ASCII NCName of at most 256 characters.
pub(crate) fn id(e: Element<'_, '_>) -> Result<String, EidasError> {
    match e.attr("ID") {
        Some(id) if crate::messages::xml::is_ncname(id) => Ok(id.to_owned()),
        _ => Err(EidasError::Malformed("ID is missing or not an NCName")),
    }
}

/// `IssueInstant`, present and within [`CLOCK_SKEW`] of `now`.
pub(crate) fn issue_instant(e: Element<'_, '_>, now: OffsetDateTime) -> Result<(), EidasError> {
    let issued = instant(e, "IssueInstant", "IssueInstant is not a dateTime")?
        .ok_or(EidasError::Malformed("IssueInstant is missing"))?;
    crate::messages::check_issue_instant(issued, now, CLOCK_SKEW)
        .map_err(|_| EidasError::Expired("IssueInstant is outside the accepted window"))
}

/// The one `saml:Issuer` child (format absent or `entity`), which must be `expected`.
pub(crate) fn issuer_is(e: Element<'_, '_>, expected: &str) -> Result<(), EidasError> {
    if issuer(e)? != expected {
        return Err(EidasError::Rule(super::rules::ISSUER));
    }
    Ok(())
}

/// The one `saml:Issuer` child's value (format absent or `entity`).
pub(crate) fn issuer(e: Element<'_, '_>) -> Result<String, EidasError> {
    let issuer = e
        .child(QName::ISSUER)?
        .ok_or(EidasError::Malformed("Issuer is missing"))?;
    if issuer.attr("Format").is_some_and(|f| f != NAMEID_ENTITY) {
        return Err(EidasError::Rule(super::rules::ISSUER_FORMAT));
    }
    text(issuer, "Issuer is not a bounded text", MAX_VALUE_BYTES)
}

/// Whether `e` or an element below it is named `name`.
pub(crate) fn contains(e: Element<'_, '_>, name: QName) -> bool {
    e.is(name) || e.children().any(|c| contains(c, name))
}

/// How many elements named `name` are at or below `e`.
pub(crate) fn count(e: Element<'_, '_>, name: QName) -> usize {
    usize::from(e.is(name)) + e.children().map(|c| count(c, name)).sum::<usize>()
}

/// An `xs:boolean` attribute, `default` when absent.
pub(crate) fn boolean(
    e: Element<'_, '_>,
    name: &str,
    default: bool,
    what: &'static str,
) -> Result<bool, EidasError> {
    match e.attr(name).map(str::trim) {
        None => Ok(default),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(_) => Err(EidasError::Malformed(what)),
    }
}

/// The root of an unverified message, only to pick the peer whose metadata verifies it.
pub(crate) fn unverified_issuer(xml: &str, root: QName) -> Result<String, EidasError> {
    let doc = crate::xml::Document::parse(xml)?;
    if !doc.root().is(root) {
        return Err(EidasError::Malformed("not the expected message"));
    }
    issuer(doc.root())
}
