//! [`verify`]: the structural rules around bergshamra's signature check, and the [`Verified`]
//! handle to the one element that was signed.

use bergshamra::{DsigContext, Key, KeysManager, VerifyResult};
use uppsala::NodeId;

use super::{
    AlgorithmPolicy, DigestAlg, DsigError, ENVELOPED_SIGNATURE, EXC_C14N, SignatureAlg, guarded,
};
use crate::xml::{Document, Element, QName, ns};

/// The most `ds:Signature` elements a document may hold (each is verified, so this bounds work).
pub const MAX_SIGNATURES: usize = 4;

/// The longest `ID` accepted.
pub const MAX_ID_LEN: usize = 256;

/// The most pinned keys per peer (rollover needs two or three).
pub const MAX_PINNED_KEYS: usize = 8;

/// Where the signed element must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// The document element, named so (e.g. `samlp:AuthnRequest`), and no other element of that
    /// name anywhere in the document.
    Root(QName),
    /// The only element of that name in the document (e.g. `saml:Assertion`), which must be the
    /// document element or a child of it.
    Only(QName),
}

/// The public keys a peer may sign with, pinned from its metadata (several during rollover).
///
/// `KeyInfo` in a message never adds a key; at most it orders these.
#[derive(Debug, Clone)]
pub struct PinnedKeys {
    keys: Vec<Key>,
}

impl PinnedKeys {
    /// Pins the public keys of DER X.509 certificates (RSA or EC P-256). The certificates are
    /// only key containers here: trust comes from metadata, not from a CA or validity dates.
    pub fn from_certificates<'c>(
        certificates: impl IntoIterator<Item = &'c [u8]>,
    ) -> Result<PinnedKeys, DsigError> {
        let mut keys = Vec::new();
        for (i, der) in certificates.into_iter().enumerate() {
            if i >= MAX_PINNED_KEYS {
                return Err(DsigError::PinnedKey(format!(
                    "more than {MAX_PINNED_KEYS} keys"
                )));
            }
            let key = guarded(|| bergshamra::keys::loader::load_x509_cert_der(der))
                .ok_or_else(|| DsigError::PinnedKey("certificate parser failure".into()))?
                .map_err(|e| DsigError::PinnedKey(e.to_string()))?;
            keys.push(key.with_name(format!("pinned-{i}")));
        }
        if keys.is_empty() {
            return Err(DsigError::PinnedKey("no keys".into()));
        }
        Ok(PinnedKeys { keys })
    }

    /// How many keys are pinned.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is pinned (never true for a value built by [`PinnedKeys::from_certificates`]).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn manager(&self) -> KeysManager {
        let mut m = KeysManager::new();
        m.add_keys(self.keys.iter().cloned());
        m
    }
}

/// A document whose expected element carries a valid signature by a pinned key.
///
/// [`Verified::element`] is the only way to read it, and it reads only the signed element.
pub struct Verified<'a> {
    doc: Document<'a>,
    node: NodeId,
    alg: SignatureAlg,
    digest: DigestAlg,
    key_index: usize,
}

impl std::fmt::Debug for Verified<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("element", &self.element())
            .field("alg", &self.alg)
            .field("digest", &self.digest)
            .field("key_index", &self.key_index)
            .finish()
    }
}

impl<'a> Verified<'a> {
    /// The signed element (and through it only its subtree).
    pub fn element(&self) -> Element<'_, 'a> {
        self.doc.element(self.node)
    }

    /// The signed element's `ID`.
    pub fn id(&self) -> &str {
        self.element().attr("ID").unwrap_or_default()
    }

    /// The signature algorithm used.
    pub fn signature_alg(&self) -> SignatureAlg {
        self.alg
    }

    /// The reference digest algorithm used.
    pub fn digest_alg(&self) -> DigestAlg {
        self.digest
    }

    /// Which of the [`PinnedKeys`] verified it (its position), e.g. to log a rollover.
    pub fn key_index(&self) -> usize {
        self.key_index
    }
}

/// Verifies the enveloped signature of the `expected` element of `xml` with `keys` under `policy`.
///
/// Refuses with a typed error, in this order: an unsafe or malformed document; the element not
/// where [`Expected`] says or not the only one; no valid or no unique `ID`; no signature or more
/// than one; a signature whose structure breaks a rule; an algorithm outside `policy`; a digest or
/// signature value that does not verify with a pinned key.
pub fn verify<'a>(
    xml: &'a str,
    expected: Expected,
    keys: &PinnedKeys,
    policy: &AlgorithmPolicy,
) -> Result<Verified<'a>, DsigError> {
    let doc = Document::parse(xml)?;
    let (target, alg, digest, key_index) = check(&doc, xml, expected, keys, policy)?;
    Ok(Verified {
        doc,
        node: target,
        alg,
        digest,
        key_index,
    })
}

fn check(
    doc: &Document<'_>,
    xml: &str,
    expected: Expected,
    keys: &PinnedKeys,
    policy: &AlgorithmPolicy,
) -> Result<(NodeId, SignatureAlg, DigestAlg, usize), DsigError> {
    let target = locate(doc, expected)?;
    let element = doc.element(target);
    let id = element.attr("ID").ok_or(DsigError::MissingId)?;
    if !is_valid_id(id) {
        return Err(DsigError::MissingId);
    }
    if count_id(doc, id) != 1 {
        return Err(DsigError::DuplicateId);
    }
    let mut sigs = element.children_named(QName::SIGNATURE);
    let sig = sigs.next().ok_or(DsigError::Unsigned)?;
    if sigs.next().is_some() || doc.elements_named(QName::SIGNATURE).count() > MAX_SIGNATURES {
        return Err(DsigError::MultipleSignatures);
    }
    let (alg, digest) = check_structure(sig, id, policy)?;

    let ctx = DsigContext::new(keys.manager());
    let results = guarded(|| {
        bergshamra::dsig::verify::verify_all_document_with_source(&ctx, doc.raw(), Some(xml))
    })
    .ok_or(DsigError::Invalid)?
    .map_err(|_| DsigError::Invalid)?;
    let sig_node = sig.node_id();
    let reference = format!("#{id}");
    let key_index = results
        .iter()
        .find_map(|r| match r {
            VerifyResult::Valid {
                signature_node,
                references,
                key_info,
            } if *signature_node == sig_node
                && references.len() == 1
                && references.iter().all(|r| {
                    r.digest_verified && r.resolved_node == Some(target) && r.uri == reference
                }) =>
            {
                Some(
                    key_info
                        .key_name
                        .as_deref()
                        .and_then(|n| n.strip_prefix("pinned-"))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0),
                )
            }
            _ => None,
        })
        .ok_or(DsigError::Invalid)?;
    Ok((target, alg, digest, key_index))
}

fn locate(doc: &Document<'_>, expected: Expected) -> Result<NodeId, DsigError> {
    let root = doc.root();
    let (name, target) = match expected {
        Expected::Root(name) => (name, root.is(name).then(|| root.node_id())),
        Expected::Only(name) => {
            let in_place = |e: &Element<'_, '_>| {
                e.node_id() == root.node_id()
                    || doc.raw().parent(e.node_id()) == Some(root.node_id())
            };
            (
                name,
                doc.elements_named(name)
                    .next()
                    .filter(in_place)
                    .map(|e| e.node_id()),
            )
        }
    };
    match target {
        Some(t) if doc.elements_named(name).count() == 1 => Ok(t),
        _ => Err(DsigError::UnexpectedElement(name.to_string())),
    }
}

/// An `ID` we sign or accept: an NCName of ASCII letters, digits, `_`, `-`, `.`, at most
/// [`MAX_ID_LEN`] long, not starting with a digit, `-` or `.`.
pub(crate) fn is_valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    id.len() <= MAX_ID_LEN
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// How many elements carry `id` in any attribute an XML-DSig implementation may treat as an ID
/// (`ID`, `Id`, `id`, `AssertionID`, `xml:id`, with or without a namespace).
fn count_id(doc: &Document<'_>, id: &str) -> usize {
    let raw = doc.raw();
    raw.descendants(raw.root())
        .into_iter()
        .filter_map(|n| raw.element(n))
        .map(|e| {
            e.attributes
                .iter()
                .filter(|a| {
                    matches!(
                        a.name.local_name.as_ref(),
                        "ID" | "Id" | "id" | "AssertionID"
                    ) && a.value == id
                })
                .count()
        })
        .sum()
}

fn algorithm_attr<'d>(e: &Element<'d, '_>) -> Result<&'d str, DsigError> {
    e.attr("Algorithm").ok_or(DsigError::Malformed(
        "an algorithm element has no Algorithm",
    ))
}

/// The only child a `CanonicalizationMethod` or C14N `Transform` may have.
const INCLUSIVE_NAMESPACES: QName = QName::new(EXC_C14N, "InclusiveNamespaces");

fn only_inclusive_namespaces(e: &Element<'_, '_>) -> Result<(), DsigError> {
    let mut kids = e.children();
    match (kids.next(), kids.next()) {
        (None, _) => Ok(()),
        (Some(k), None) if k.is(INCLUSIVE_NAMESPACES) => Ok(()),
        _ => Err(DsigError::Malformed("unexpected content in a C14N method")),
    }
}

fn no_children(e: &Element<'_, '_>, what: &'static str) -> Result<(), DsigError> {
    match e.children().next() {
        None => Ok(()),
        Some(_) => Err(DsigError::Malformed(what)),
    }
}

/// `Signature` = `SignedInfo`, `SignatureValue`, optional `KeyInfo` (no `Object`: XSW hides
/// things there); `SignedInfo` = exclusive C14N, an allowed `SignatureMethod`, one `Reference`
/// to `#id` with the enveloped-signature and exclusive C14N transforms and an allowed digest.
fn check_structure(
    sig: Element<'_, '_>,
    id: &str,
    policy: &AlgorithmPolicy,
) -> Result<(SignatureAlg, DigestAlg), DsigError> {
    let ds = |local| QName::new(ns::DS, local);
    let kids: Vec<_> = sig.children().collect();
    let signed_info = match kids.as_slice() {
        [si, sv] if sv.is(ds("SignatureValue")) => si,
        [si, sv, ki] if sv.is(ds("SignatureValue")) && ki.is(ds("KeyInfo")) => si,
        _ => {
            return Err(DsigError::Malformed(
                "Signature must hold SignedInfo, SignatureValue and at most KeyInfo",
            ));
        }
    };
    if !signed_info.is(ds("SignedInfo")) {
        return Err(DsigError::Malformed("SignedInfo missing"));
    }
    let parts: Vec<_> = signed_info.children().collect();
    let [c14n, method, reference] = parts.as_slice() else {
        return Err(DsigError::Malformed(
            "SignedInfo must hold one method of each kind and exactly one Reference",
        ));
    };
    if !c14n.is(ds("CanonicalizationMethod"))
        || !method.is(ds("SignatureMethod"))
        || !reference.is(ds("Reference"))
    {
        return Err(DsigError::Malformed(
            "SignedInfo must hold one method of each kind and exactly one Reference",
        ));
    }
    let c14n_uri = algorithm_attr(c14n)?;
    if c14n_uri != EXC_C14N {
        return Err(DsigError::AlgorithmNotAllowed(
            c14n_uri.chars().take(100).collect(),
        ));
    }
    only_inclusive_namespaces(c14n)?;
    let method_uri = algorithm_attr(method)?;
    let alg = SignatureAlg::from_uri(method_uri)
        .filter(|a| policy.signature.contains(a))
        .ok_or_else(|| DsigError::AlgorithmNotAllowed(method_uri.chars().take(100).collect()))?;
    no_children(method, "SignatureMethod has parameters")?;

    if reference.attr("URI") != Some(format!("#{id}").as_str()) {
        return Err(DsigError::WrongReference);
    }
    let rparts: Vec<_> = reference.children().collect();
    let [transforms, digest_method, digest_value] = rparts.as_slice() else {
        return Err(DsigError::Malformed(
            "Reference must hold Transforms, DigestMethod, DigestValue",
        ));
    };
    if !transforms.is(ds("Transforms"))
        || !digest_method.is(ds("DigestMethod"))
        || !digest_value.is(ds("DigestValue"))
    {
        return Err(DsigError::Malformed(
            "Reference must hold Transforms, DigestMethod, DigestValue",
        ));
    }
    let steps: Vec<_> = transforms.children().collect();
    let [enveloped, exc] = steps.as_slice() else {
        return Err(DsigError::Malformed(
            "exactly the enveloped-signature and exclusive C14N transforms are allowed",
        ));
    };
    if !enveloped.is(ds("Transform"))
        || !exc.is(ds("Transform"))
        || algorithm_attr(enveloped)? != ENVELOPED_SIGNATURE
        || algorithm_attr(exc)? != EXC_C14N
    {
        return Err(DsigError::Malformed(
            "exactly the enveloped-signature and exclusive C14N transforms are allowed",
        ));
    }
    no_children(
        enveloped,
        "the enveloped-signature transform has parameters",
    )?;
    only_inclusive_namespaces(exc)?;
    let digest_uri = algorithm_attr(digest_method)?;
    let digest = DigestAlg::from_uri(digest_uri)
        .filter(|d| policy.digest.contains(d))
        .ok_or_else(|| DsigError::AlgorithmNotAllowed(digest_uri.chars().take(100).collect()))?;
    Ok((alg, digest))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_ncnames_of_bounded_length() {
        assert!(is_valid_id("_a1-b.c"));
        assert!(is_valid_id("id-0f8e"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("1abc"));
        assert!(!is_valid_id("a b"));
        assert!(!is_valid_id("a\"b"));
        assert!(!is_valid_id(&"a".repeat(MAX_ID_LEN + 1)));
    }
}
