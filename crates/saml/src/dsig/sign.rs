//! [`sign_enveloped`]: an enveloped signature over one element, through the key store's ring key.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bergshamra::{DsigContext, KeysManager};
use eid_keys::SigningKey;
use uppsala::NodeId;

use super::{DigestAlg, DsigError, ENVELOPED_SIGNATURE, EXC_C14N, SignatureAlg, guarded};
use crate::xml::{Document, Limits, QName, ns};

/// bergshamra's `Signer` seam backed by a ring key pair of the key store (later: an HSM).
struct RingSigner {
    key: Arc<SigningKey>,
    alg: SignatureAlg,
}

impl kryptering::Signer for RingSigner {
    fn algorithm(&self) -> kryptering::SignatureAlgorithm {
        self.alg.kryptering()
    }

    /// ring gives what XML-DSig wants: ECDSA as the fixed `r || s`, RSA-PSS with MGF1-SHA-256
    /// and a salt as long as the hash (RFC 6931 §2.3.10's default).
    fn sign(&self, data: &[u8]) -> kryptering::Result<Vec<u8>> {
        self.key
            .sign_as(self.alg.key_alg(), data)
            .map_err(|e| kryptering::Error::Crypto(e.to_string()))
    }
}

/// Signs the element whose `ID` is `element_id` with an enveloped signature and returns the
/// document.
///
/// The `ds:Signature` goes right after the element's `saml:Issuer` (or first, without one); the
/// reference is `#element_id` with the enveloped-signature and exclusive C14N transforms and a
/// SHA-256 digest; `KeyInfo` holds `certificate_der` (see [`super::certificate_for`]). The
/// document is our own, but it is still parsed with the message limits.
pub fn sign_enveloped(
    xml: &str,
    element_id: &str,
    key: &Arc<SigningKey>,
    alg: SignatureAlg,
    certificate_der: &[u8],
) -> Result<String, DsigError> {
    if key.alg().kind() != alg.key_alg().kind() {
        return Err(DsigError::KeyMismatch(alg));
    }
    let parsed = Document::parse_with(xml, Limits::MESSAGE)?;
    let target = find_by_id(&parsed, element_id)?;
    if parsed
        .element(target)
        .children_named(QName::SIGNATURE)
        .next()
        .is_some()
    {
        return Err(DsigError::Signing("the element is already signed".into()));
    }
    let after_issuer = parsed
        .element(target)
        .children()
        .next()
        .filter(|first| first.is(QName::ISSUER))
        .map(|issuer| issuer.node_id());

    // Exclusive C14N leaves out a namespace used only inside attribute values (`xsi:type=
    // "xs:string"`); naming `xs` in the transform's PrefixList puts its binding under the digest.
    let prefixes = xml.contains("xmlns:xs=").then_some("xs");
    let template = signature_template(element_id, alg, certificate_der, prefixes);
    let template_doc = uppsala::parse(&template)
        .map_err(|e| DsigError::Signing(format!("signature template: {e}")))?;
    let template_root = template_doc
        .document_element()
        .ok_or_else(|| DsigError::Signing("empty signature template".into()))?;

    // Mutate the parsed tree: the signed bytes are what we serialise.
    let mut doc = parsed.into_raw();
    let sig = doc
        .import_subtree(&template_doc, template_root)
        .ok_or_else(|| DsigError::Signing("cannot import the signature template".into()))?;
    match after_issuer {
        Some(issuer) => doc.insert_after(target, sig, issuer),
        None => match doc.first_child(target) {
            Some(first) => doc.insert_before(target, sig, first),
            None => doc.append_child(target, sig),
        },
    }

    let mut ctx = DsigContext::new(KeysManager::new());
    ctx.hsm_signer = Some(Box::new(RingSigner {
        key: Arc::clone(key),
        alg,
    }));
    match guarded(|| bergshamra::dsig::sign::sign_document_node(&ctx, &mut doc, sig)) {
        Some(Ok(())) => Ok(doc.to_xml()),
        Some(Err(e)) => Err(DsigError::Signing(e.to_string())),
        None => Err(DsigError::Signing("signer failure".into())),
    }
}

/// The one element whose `ID` attribute is `id`.
fn find_by_id(doc: &Document<'_>, id: &str) -> Result<NodeId, DsigError> {
    if !super::verify::is_valid_id(id) {
        return Err(DsigError::MissingId);
    }
    let mut found = doc
        .raw()
        .descendants(doc.raw().root())
        .into_iter()
        .filter(|n| doc.raw().element(*n).is_some() && doc.element(*n).attr("ID") == Some(id));
    let first = found
        .next()
        .ok_or_else(|| DsigError::Signing("no element has that ID".into()))?;
    if found.next().is_some() {
        return Err(DsigError::DuplicateId);
    }
    Ok(first)
}

fn signature_template(
    element_id: &str,
    alg: SignatureAlg,
    certificate_der: &[u8],
    inclusive_prefixes: Option<&str>,
) -> String {
    // `element_id` passed `is_valid_id` (an NCName) and the prefixes are ours: nothing to escape.
    let reference_c14n = match inclusive_prefixes {
        Some(list) => format!(
            "<ds:Transform Algorithm=\"{EXC_C14N}\"><ec:InclusiveNamespaces \
xmlns:ec=\"{EXC_C14N}\" PrefixList=\"{list}\"/></ds:Transform>"
        ),
        None => format!("<ds:Transform Algorithm=\"{EXC_C14N}\"/>"),
    };
    format!(
        "<ds:Signature xmlns:ds=\"{ds}\"><ds:SignedInfo>\
<ds:CanonicalizationMethod Algorithm=\"{c14n}\"/>\
<ds:SignatureMethod Algorithm=\"{sig}\"/>\
<ds:Reference URI=\"#{element_id}\"><ds:Transforms>\
<ds:Transform Algorithm=\"{env}\"/>{reference_c14n}\
</ds:Transforms><ds:DigestMethod Algorithm=\"{dig}\"/><ds:DigestValue></ds:DigestValue>\
</ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue>\
<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>\
</ds:Signature>",
        ds = ns::DS,
        c14n = EXC_C14N,
        sig = alg.uri(),
        env = ENVELOPED_SIGNATURE,
        dig = DigestAlg::Sha256.uri(),
        cert = STANDARD.encode(certificate_der),
    )
}
