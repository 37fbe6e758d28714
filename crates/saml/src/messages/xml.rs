//! Bounded, DTD-free reading of SAML XML with roxmltree, and the small checks every message
//! shares (ID, Version, IssueInstant, Issuer, text-only elements).

use super::{MessageError, NAMEID_ENTITY, NS_ASSERTION};
use roxmltree::{Document, Node, ParsingOptions};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The most nodes a message may have.
const MAX_NODES: u32 = 4096;
/// The deepest element nesting we read.
const MAX_DEPTH: usize = 32;
/// The longest ID, URI or short text we keep.
pub(crate) const MAX_VALUE_BYTES: usize = 1024;

/// Parses `xml` with DTDs refused, no external entities, and bounded size, nodes and depth.
pub(crate) fn parse_document(xml: &str, max_bytes: usize) -> Result<Document<'_>, MessageError> {
    if xml.len() > max_bytes {
        return Err(MessageError::TooLarge);
    }
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(xml, options).map_err(|e| match e {
        roxmltree::Error::NodesLimitReached => MessageError::TooLarge,
        _ => MessageError::Malformed,
    })?;
    // Document order visits a parent before its children: one pass gives every depth.
    let mut depths = vec![0u16; doc.root().descendants().count() + 1];
    for node in doc.root().descendants() {
        let depth = node
            .parent()
            .and_then(|p| depths.get(p.id().get_usize()).copied())
            .unwrap_or(0)
            .saturating_add(1);
        if usize::from(depth) > MAX_DEPTH + 1 {
            return Err(MessageError::TooDeep);
        }
        if let Some(slot) = depths.get_mut(node.id().get_usize()) {
            *slot = depth;
        }
    }
    Ok(doc)
}

/// Whether `node` is the element `{ns}local`.
pub(crate) fn is(node: Node<'_, '_>, ns: &str, local: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(ns) && node.tag_name().name() == local
}

/// The root element, which must be `{ns}local`.
pub(crate) fn root<'a, 'i>(
    doc: &'a Document<'i>,
    ns: &str,
    local: &'static str,
) -> Result<Node<'a, 'i>, MessageError> {
    let root = doc.root_element();
    if is(root, ns, local) {
        Ok(root)
    } else {
        Err(MessageError::UnexpectedRoot(local))
    }
}

/// The one child `{ns}local` of `node`, if any; a second one is refused.
pub(crate) fn single_child<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &str,
    local: &'static str,
) -> Result<Option<Node<'a, 'i>>, MessageError> {
    let mut found = node.children().filter(|c| is(*c, ns, local));
    let first = found.next();
    if found.next().is_some() {
        return Err(MessageError::DuplicateElement(local));
    }
    Ok(first)
}

/// The one required child `{ns}local` of `node`.
pub(crate) fn required_child<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &str,
    local: &'static str,
) -> Result<Node<'a, 'i>, MessageError> {
    single_child(node, ns, local)?.ok_or(MessageError::MissingElement(local))
}

/// The text of an element that must hold only text (no child elements, no comments, no
/// processing instructions: a comment inside a NameID must not truncate it), bounded and
/// trimmed, and not empty.
pub(crate) fn text_only(node: Node<'_, '_>, name: &'static str) -> Result<String, MessageError> {
    text_bounded(node, name, MAX_VALUE_BYTES)
}

/// [`text_only`] with another bound (e.g. for base64 certificates).
pub(crate) fn text_bounded(
    node: Node<'_, '_>,
    name: &'static str,
    max: usize,
) -> Result<String, MessageError> {
    let mut text = String::new();
    for child in node.children() {
        if !child.is_text() {
            return Err(MessageError::BadElement(name));
        }
        text.push_str(child.text().unwrap_or_default());
    }
    let text = text.trim();
    if text.is_empty() || text.len() > max {
        return Err(MessageError::BadElement(name));
    }
    Ok(text.to_owned())
}

/// A bounded attribute value (no namespace), if present.
pub(crate) fn opt_attr(
    node: Node<'_, '_>,
    name: &'static str,
) -> Result<Option<String>, MessageError> {
    match node.attribute(name) {
        None => Ok(None),
        Some(v) if v.is_empty() || v.len() > MAX_VALUE_BYTES => {
            Err(MessageError::BadAttribute(name))
        }
        Some(v) => Ok(Some(v.to_owned())),
    }
}

/// A required bounded attribute value.
pub(crate) fn req_attr(node: Node<'_, '_>, name: &'static str) -> Result<String, MessageError> {
    opt_attr(node, name)?.ok_or(MessageError::MissingAttribute(name))
}

/// An `xs:boolean` attribute (`true`, `false`, `1`, `0`), `default` when absent.
pub(crate) fn bool_attr(
    node: Node<'_, '_>,
    name: &'static str,
    default: bool,
) -> Result<bool, MessageError> {
    match node.attribute(name).map(str::trim) {
        None => Ok(default),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(_) => Err(MessageError::BadAttribute(name)),
    }
}

/// The message `ID`: an xs:ID (NCName), ASCII here, 1 to 256 characters.
pub(crate) fn message_id(node: Node<'_, '_>) -> Result<String, MessageError> {
    let id = req_attr(node, "ID")?;
    if is_ncname(&id) {
        Ok(id)
    } else {
        Err(MessageError::BadAttribute("ID"))
    }
}

/// Whether `s` is an ASCII NCName of at most 256 characters.
pub(crate) fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 256
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `Version` must be `2.0`.
pub(crate) fn check_version(node: Node<'_, '_>) -> Result<(), MessageError> {
    match node.attribute("Version") {
        None => Err(MessageError::MissingAttribute("Version")),
        Some("2.0") => Ok(()),
        Some(_) => Err(MessageError::VersionMismatch),
    }
}

/// An `xs:dateTime` attribute (RFC 3339, with `Z` or an offset).
pub(crate) fn instant_attr(
    node: Node<'_, '_>,
    name: &'static str,
) -> Result<Option<OffsetDateTime>, MessageError> {
    match node.attribute(name) {
        None => Ok(None),
        Some(v) if v.len() > 64 => Err(MessageError::BadAttribute(name)),
        Some(v) => OffsetDateTime::parse(v.trim(), &Rfc3339)
            .map(Some)
            .map_err(|_| MessageError::BadAttribute(name)),
    }
}

/// The `saml:Issuer` child: its value; its Format must be absent or `entity`.
pub(crate) fn issuer(node: Node<'_, '_>) -> Result<String, MessageError> {
    let issuer = required_child(node, NS_ASSERTION, "Issuer")?;
    match issuer.attribute("Format") {
        None => {}
        Some(f) if f == NAMEID_ENTITY => {}
        Some(_) => return Err(MessageError::BadAttribute("Issuer Format")),
    }
    text_only(issuer, "Issuer")
}
