//! Safe parsing of untrusted XML, and a read-only view of its elements.
//!
//! Every SAML message is parsed here, with the parser bergshamra verifies on (`uppsala`), so that
//! the element whose signature [`crate::dsig::verify`] checks is the very element a caller reads.
//! The parser refuses, before anything else looks at the document:
//! * a `<!DOCTYPE` (hence every DTD, external entity and entity expansion: only the five
//!   predefined entities and character references remain);
//! * input over [`Limits::max_bytes`] (default [`MAX_XML_BYTES`], the HTTP body limit), input that
//!   is not UTF-8, and nesting deeper than [`Limits::max_depth`] (default [`MAX_DEPTH`]);
//! * comments and processing instructions inside the document element, unless
//!   [`Limits::comments`] allows them (metadata). A comment splits a text node
//!   (`<NameID>alice@example.org<!---->.evil.example</NameID>`); canonicalisation drops it, so the
//!   signature covers the joined text while a naive reader sees only the first half. No SAML
//!   message needs comments, so they are refused; and [`Element::text`] refuses any content that
//!   is not pure text even where comments are allowed.
//!
//! [`Element`] is a view without a way up: code handed an element (e.g. a verified assertion)
//! can read only that element's subtree.

use std::borrow::Cow;
use std::fmt;

use uppsala::{NodeId, NodeKind};

/// The largest XML document accepted by default: the HTTP body limit.
pub const MAX_XML_BYTES: usize = 256 * 1024;

/// The deepest element nesting accepted by default.
pub const MAX_DEPTH: u32 = 64;

/// Namespace URIs of SAML, XML-DSig and XML-Enc.
pub mod ns {
    /// SAML 2.0 assertions (`saml:`).
    pub const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
    /// SAML 2.0 protocol (`samlp:`).
    pub const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
    /// XML-DSig (`ds:`).
    pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
    /// XML-Enc (`xenc:`).
    pub const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
    /// XML-Enc 1.1 (`xenc11:`).
    pub const XENC11: &str = "http://www.w3.org/2009/xmlenc11#";
}

/// An expanded element name: namespace URI and local name (prefixes never matter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QName {
    /// The namespace URI.
    pub ns: &'static str,
    /// The local name.
    pub local: &'static str,
}

impl QName {
    /// `saml:Assertion`.
    pub const ASSERTION: QName = QName::new(ns::SAML, "Assertion");
    /// `saml:EncryptedAssertion`.
    pub const ENCRYPTED_ASSERTION: QName = QName::new(ns::SAML, "EncryptedAssertion");
    /// `saml:Issuer`.
    pub const ISSUER: QName = QName::new(ns::SAML, "Issuer");
    /// `samlp:AuthnRequest`.
    pub const AUTHN_REQUEST: QName = QName::new(ns::SAMLP, "AuthnRequest");
    /// `samlp:Response`.
    pub const RESPONSE: QName = QName::new(ns::SAMLP, "Response");
    /// `samlp:LogoutRequest`.
    pub const LOGOUT_REQUEST: QName = QName::new(ns::SAMLP, "LogoutRequest");
    /// `samlp:LogoutResponse`.
    pub const LOGOUT_RESPONSE: QName = QName::new(ns::SAMLP, "LogoutResponse");
    /// `ds:Signature`.
    pub const SIGNATURE: QName = QName::new(ns::DS, "Signature");

    /// A name from its namespace URI and local name.
    pub const fn new(ns: &'static str, local: &'static str) -> QName {
        QName { ns, local }
    }
}

impl fmt::Display for QName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}{}", self.ns, self.local)
    }
}

/// Whether comments and processing instructions may appear inside the document element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comments {
    /// Refuse them (every SAML protocol message).
    Refuse,
    /// Keep them in the tree (metadata files written by people); [`Element::text`] still refuses
    /// text split by one.
    Allow,
}

/// Bounds for one parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest input in bytes.
    pub max_bytes: usize,
    /// Deepest element nesting (the document element is depth 1).
    pub max_depth: u32,
    /// Comments and processing instructions.
    pub comments: Comments,
}

impl Limits {
    /// SAML protocol messages: [`MAX_XML_BYTES`], [`MAX_DEPTH`], no comments.
    pub const MESSAGE: Limits = Limits {
        max_bytes: MAX_XML_BYTES,
        max_depth: MAX_DEPTH,
        comments: Comments::Refuse,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::MESSAGE
    }
}

/// Why a document was refused or an element could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The input is larger than the limit.
    #[error("XML document larger than {max} bytes")]
    TooLarge {
        /// The limit in bytes.
        max: usize,
    },
    /// The input is not UTF-8.
    #[error("XML document is not UTF-8")]
    NotUtf8,
    /// The input has a document type declaration (DTD, entities).
    #[error("XML document has a DOCTYPE (DTDs and entity declarations are refused)")]
    Doctype,
    /// Elements nest deeper than the limit.
    #[error("XML elements nested deeper than {max}")]
    TooDeep {
        /// The limit.
        max: u32,
    },
    /// A comment or processing instruction where none is allowed.
    #[error("XML document has a comment or processing instruction")]
    Comment,
    /// Not well-formed (or not namespace-well-formed) XML.
    #[error("XML document is not well-formed: {0}")]
    Malformed(String),
    /// There is no document element.
    #[error("XML document has no document element")]
    NoRoot,
    /// An element expected to hold only text holds something else (an element, a comment).
    #[error("element {0} holds more than text")]
    NotText(String),
    /// An element occurs more often than allowed.
    #[error("element {0} occurs more than once")]
    Duplicate(QName),
}

/// Checks the size and encoding of untrusted bytes and returns them as text for [`Document::parse`].
pub fn text_of(bytes: &[u8], limits: Limits) -> Result<&str, XmlError> {
    if bytes.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            max: limits.max_bytes,
        });
    }
    std::str::from_utf8(bytes).map_err(|_| XmlError::NotUtf8)
}

/// A parsed document that passed every check of [`Limits`].
pub struct Document<'a> {
    inner: uppsala::Document<'a>,
    root: NodeId,
}

impl fmt::Debug for Document<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the content: it may hold personal data.
        f.debug_struct("Document")
            .field("root", &self.root().local_name())
            .finish_non_exhaustive()
    }
}

impl<'a> Document<'a> {
    /// Parses a SAML message with [`Limits::MESSAGE`].
    pub fn parse(xml: &'a str) -> Result<Document<'a>, XmlError> {
        Document::parse_with(xml, Limits::MESSAGE)
    }

    /// Parses with explicit limits.
    pub fn parse_with(xml: &'a str, limits: Limits) -> Result<Document<'a>, XmlError> {
        if xml.len() > limits.max_bytes {
            return Err(XmlError::TooLarge {
                max: limits.max_bytes,
            });
        }
        // The parser refuses a DOCTYPE too; this names the reason and keeps the refusal even if a
        // parser update changed its defaults.
        if has_doctype(xml) {
            return Err(XmlError::Doctype);
        }
        let parser = parser(limits);
        let inner = match std::panic::catch_unwind(|| parser.parse(xml)) {
            Ok(Ok(doc)) => doc,
            Ok(Err(e)) => return Err(classify(&e.to_string(), limits)),
            Err(_) => return Err(XmlError::Malformed("parser failure".into())),
        };
        let root = inner.document_element().ok_or(XmlError::NoRoot)?;
        let doc = Document { inner, root };
        doc.check_tree(limits)?;
        Ok(doc)
    }

    /// The document element.
    pub fn root(&self) -> Element<'_, 'a> {
        Element {
            doc: &self.inner,
            id: self.root,
        }
    }

    /// Every element in document order whose expanded name is `name`.
    pub fn elements_named(&self, name: QName) -> impl Iterator<Item = Element<'_, 'a>> + '_ {
        // From the document node, so the document element itself is included.
        self.inner
            .descendants(self.inner.root())
            .into_iter()
            .map(|id| Element {
                doc: &self.inner,
                id,
            })
            .filter(move |e| e.is(name))
    }

    pub(crate) fn raw(&self) -> &uppsala::Document<'a> {
        &self.inner
    }

    pub(crate) fn into_raw(self) -> uppsala::Document<'a> {
        self.inner
    }

    pub(crate) fn element(&self, id: NodeId) -> Element<'_, 'a> {
        Element {
            doc: &self.inner,
            id,
        }
    }

    /// Depth (belt and braces: the parser enforces it too) and comments.
    fn check_tree(&self, limits: Limits) -> Result<(), XmlError> {
        let mut stack = vec![(self.root, 1u32)];
        while let Some((id, depth)) = stack.pop() {
            if depth > limits.max_depth {
                return Err(XmlError::TooDeep {
                    max: limits.max_depth,
                });
            }
            for child in self.inner.children_iter(id) {
                match self.inner.node_kind(child) {
                    Some(NodeKind::Element(_)) => stack.push((child, depth + 1)),
                    Some(NodeKind::Comment(_) | NodeKind::ProcessingInstruction(_))
                        if limits.comments == Comments::Refuse =>
                    {
                        return Err(XmlError::Comment);
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// The parser, configured to refuse DTDs and entity declarations and to bound the depth.
fn parser(limits: Limits) -> uppsala::Parser {
    uppsala::Parser::new()
        .with_forbid_dtd(true)
        .with_forbid_entities(true)
        .with_max_depth(limits.max_depth)
}

/// A `<!DOCTYPE` anywhere before the document element (case-sensitive, as XML is).
fn has_doctype(xml: &str) -> bool {
    xml.contains("<!DOCTYPE")
}

fn classify(message: &str, limits: Limits) -> XmlError {
    let lower = message.to_ascii_lowercase();
    if lower.contains("doctype") || lower.contains("dtd") {
        XmlError::Doctype
    } else if lower.contains("depth") || lower.contains("nest") {
        XmlError::TooDeep {
            max: limits.max_depth,
        }
    } else {
        // The parser's messages name a position and a grammar rule; cut them short anyway.
        XmlError::Malformed(message.chars().take(120).collect())
    }
}

/// A read-only element of a [`Document`]: its name, attributes, child elements and text.
///
/// There is no way to the parent or a sibling: a holder reads only this subtree.
#[derive(Clone, Copy)]
pub struct Element<'d, 'a> {
    doc: &'d uppsala::Document<'a>,
    id: NodeId,
}

impl fmt::Debug for Element<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Element")
            .field("namespace", &self.namespace())
            .field("local_name", &self.local_name())
            .finish_non_exhaustive()
    }
}

impl<'d, 'a> Element<'d, 'a> {
    fn raw(&self) -> Option<&'d uppsala::Element<'a>> {
        self.doc.element(self.id)
    }

    pub(crate) fn node_id(&self) -> NodeId {
        self.id
    }

    /// The local name.
    pub fn local_name(&self) -> &'d str {
        self.raw().map_or("", |e| e.name.local_name.as_ref())
    }

    /// The namespace URI, if any.
    pub fn namespace(&self) -> Option<&'d str> {
        self.raw().and_then(|e| e.name.namespace_uri.as_deref())
    }

    /// Whether the element has the expanded name `name`.
    pub fn is(&self, name: QName) -> bool {
        self.namespace() == Some(name.ns) && self.local_name() == name.local
    }

    /// The value of the attribute `name` that has no namespace (like `ID`, `Destination`).
    pub fn attr(&self, name: &str) -> Option<&'d str> {
        self.raw()?
            .attributes
            .iter()
            .find(|a| a.name.namespace_uri.is_none() && a.name.local_name == name)
            .map(|a| a.value.as_ref())
    }

    /// The value of the namespaced attribute `{ns}local` (like `xsi:type`).
    pub fn attr_ns(&self, ns: &str, local: &str) -> Option<&'d str> {
        self.raw()?
            .attributes
            .iter()
            .find(|a| a.name.namespace_uri.as_deref() == Some(ns) && a.name.local_name == local)
            .map(|a| a.value.as_ref())
    }

    /// The child elements, in document order.
    pub fn children(&self) -> impl Iterator<Item = Element<'d, 'a>> + 'd {
        let doc = self.doc;
        doc.children_iter(self.id)
            .filter(move |id| doc.element(*id).is_some())
            .map(move |id| Element { doc, id })
    }

    /// The child elements named `name`.
    pub fn children_named(&self, name: QName) -> impl Iterator<Item = Element<'d, 'a>> + 'd {
        self.children().filter(move |e| e.is(name))
    }

    /// The child element named `name`, if there is exactly one; an error if there are several.
    pub fn child(&self, name: QName) -> Result<Option<Element<'d, 'a>>, XmlError> {
        let mut it = self.children_named(name);
        let first = it.next();
        if it.next().is_some() {
            return Err(XmlError::Duplicate(name));
        }
        Ok(first)
    }

    /// The text content: text and CDATA children joined. Refused ([`XmlError::NotText`]) when the
    /// element holds a child element, a comment or a processing instruction, so a value cannot be
    /// read differently from what a signature covered.
    pub fn text(&self) -> Result<Cow<'d, str>, XmlError> {
        let mut parts: Vec<&'d str> = Vec::new();
        for child in self.doc.children_iter(self.id) {
            match self.doc.node_kind(child) {
                Some(NodeKind::Text(t) | NodeKind::CData(t)) => parts.push(t.as_ref()),
                _ => return Err(XmlError::NotText(self.local_name().to_owned())),
            }
        }
        Ok(match parts.as_slice() {
            [] => Cow::Borrowed(""),
            [one] => Cow::Borrowed(one),
            many => Cow::Owned(many.concat()),
        })
    }

    /// The element's subtree as XML text that stands alone: the namespace declarations in scope
    /// from its ancestors are declared on it (e.g. to encrypt it, or to read a decrypted one).
    pub fn to_xml(&self) -> String {
        let mut out = uppsala::Document::new();
        let Some(copy) = out.import_subtree(self.doc, self.id) else {
            return String::new();
        };
        let root = out.root();
        out.append_child(root, copy);
        let mut inherited: Vec<(String, String)> = Vec::new();
        for ancestor in self.doc.ancestors(self.id) {
            if let Some(e) = self.doc.element(ancestor) {
                for (prefix, uri) in &e.namespace_declarations {
                    if !inherited.iter().any(|(p, _)| p == prefix.as_ref()) {
                        inherited.push((prefix.to_string(), uri.to_string()));
                    }
                }
            }
        }
        if let Some(e) = out.element_mut(copy) {
            for (prefix, uri) in inherited {
                if !e
                    .namespace_declarations
                    .iter()
                    .any(|(p, _)| p.as_ref() == prefix)
                {
                    e.namespace_declarations.push((prefix.into(), uri.into()));
                }
            }
        }
        out.to_xml()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_doctype_is_refused_even_without_entities() {
        let xml = "<!DOCTYPE a><a/>";
        assert_eq!(Document::parse(xml).err(), Some(XmlError::Doctype));
    }

    #[test]
    fn the_parser_itself_refuses_a_doctype_and_deep_nesting() {
        // The parser configuration alone, without the textual pre-check and the tree walk.
        let p = parser(Limits::MESSAGE);
        assert!(p.parse("<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>").is_err());
        assert!(p.parse("<!DOCTYPE a><a/>").is_err());
        let n = MAX_DEPTH as usize + 1;
        let deep = format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
        assert!(p.parse(&deep).is_err());
        assert_eq!(
            classify("DOCTYPE declarations are not allowed", Limits::MESSAGE),
            XmlError::Doctype
        );
    }

    #[test]
    fn size_and_depth_are_bounded() {
        let big = format!("<a>{}</a>", "x".repeat(MAX_XML_BYTES));
        assert_eq!(
            Document::parse(&big).err(),
            Some(XmlError::TooLarge { max: MAX_XML_BYTES })
        );
        let n = MAX_DEPTH as usize;
        let ok = format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
        assert!(Document::parse(&ok).is_ok());
        let deep = format!("{}{}", "<a>".repeat(n + 1), "</a>".repeat(n + 1));
        assert!(matches!(
            Document::parse(&deep),
            Err(XmlError::TooDeep { .. })
        ));
    }

    #[test]
    fn the_depth_is_checked_on_the_tree_as_well() {
        let n = 10usize;
        let xml = format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
        let limits = Limits {
            max_depth: 100,
            ..Limits::MESSAGE
        };
        let doc = Document::parse_with(&xml, limits).expect("parses");
        let strict = Limits {
            max_depth: 9,
            ..Limits::MESSAGE
        };
        assert_eq!(
            doc.check_tree(strict).err(),
            Some(XmlError::TooDeep { max: 9 })
        );
    }

    #[test]
    fn comments_are_refused_in_messages_and_kept_out_of_text_elsewhere() {
        let xml = "<a><n>alice@example.org<!---->.evil.example</n></a>";
        assert_eq!(Document::parse(xml).err(), Some(XmlError::Comment));
        let pi = "<a><?x y?></a>";
        assert_eq!(Document::parse(pi).err(), Some(XmlError::Comment));
        let limits = Limits {
            comments: Comments::Allow,
            ..Limits::MESSAGE
        };
        let doc = Document::parse_with(xml, limits).expect("parses");
        let n = doc.root().children().next().expect("n");
        assert!(matches!(n.text(), Err(XmlError::NotText(_))));
    }

    #[test]
    fn text_joins_text_and_cdata_and_refuses_child_elements() {
        let doc = Document::parse("<a><n>ab<![CDATA[cd]]>e</n><m>x<b/></m></a>").expect("parses");
        let mut kids = doc.root().children();
        let n = kids.next().expect("n");
        assert_eq!(n.text().expect("text"), "abcde");
        let m = kids.next().expect("m");
        assert!(matches!(m.text(), Err(XmlError::NotText(_))));
    }

    #[test]
    fn not_utf8_and_malformed_are_refused() {
        assert_eq!(
            text_of(&[0x3c, 0xff, 0x3e], Limits::MESSAGE).err(),
            Some(XmlError::NotUtf8)
        );
        assert!(matches!(
            Document::parse("<a><b></a>"),
            Err(XmlError::Malformed(_))
        ));
        assert!(matches!(
            Document::parse("<a>&unknown;</a>"),
            Err(XmlError::Malformed(_))
        ));
        assert!(Document::parse("").is_err());
    }

    #[test]
    fn to_xml_stands_alone_with_the_namespaces_of_its_ancestors() {
        let doc = Document::parse(
            r#"<p:r xmlns:p="urn:p" xmlns:q="urn:q" xmlns="urn:d"><p:a q:x="1"><b/></p:a></p:r>"#,
        )
        .expect("parses");
        let a = doc.root().children().next().expect("a");
        let xml = a.to_xml();
        let alone = Document::parse(&xml).expect("stands alone");
        assert!(alone.root().is(QName::new("urn:p", "a")));
        assert_eq!(alone.root().attr_ns("urn:q", "x"), Some("1"));
        let b = alone.root().children().next().expect("b");
        assert_eq!(b.namespace(), Some("urn:d"));
    }

    #[test]
    fn names_are_matched_by_namespace_not_prefix() {
        let doc = Document::parse(
            r#"<x:Assertion xmlns:x="urn:oasis:names:tc:SAML:2.0:assertion" ID="a"/>"#,
        )
        .expect("parses");
        assert!(doc.root().is(QName::ASSERTION));
        assert_eq!(doc.root().attr("ID"), Some("a"));
        let other =
            Document::parse(r#"<saml:Assertion xmlns:saml="urn:evil" ID="a"/>"#).expect("parses");
        assert!(!other.root().is(QName::ASSERTION));
    }
}
