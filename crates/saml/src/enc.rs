//! XML encryption of assertions: [`encrypt_element`] for a peer's certificate and [`decrypt`] with
//! our RSA key.
//!
//! * Data: AES-256-GCM (`xmlenc11#aes256-gcm`, the default) or AES-256-CBC (`xmlenc#aes256-cbc`,
//!   for peers that need it, e.g. OIOSAML.Net).
//! * Key transport to the peer's RSA key: RSA-OAEP `xmlenc#rsa-oaep-mgf1p` with a SHA-1 digest and
//!   MGF1-SHA-1 (what xmlsec1 1.2.37 and most SAML stacks read; OAEP with SHA-1 is not a
//!   collision use), or `xmlenc11#rsa-oaep` with SHA-256 and MGF1-SHA-256 where a peer wants it.
//!   The `EncryptedKey` sits inside `EncryptedData/KeyInfo`.
//! * Decryption accepts only the algorithms of a [`DecryptPolicy`], no `CipherReference`, no key
//!   agreement or derived keys, input bounded by the parser's limits; every failure after the
//!   structural checks is the same [`EncError::Decrypt`], so errors are no padding or OAEP oracle.
//!   The plaintext is returned as text for the caller to parse and verify
//!   ([`crate::xml::Document::parse`], [`crate::dsig::verify`]).

use bergshamra::{EncContext, Key, KeysManager};

use crate::xml::{Document, Element, QName, XmlError, ns};

/// The cipher for the element's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DataAlg {
    /// AES-256-GCM (`http://www.w3.org/2009/xmlenc11#aes256-gcm`).
    #[default]
    Aes256Gcm,
    /// AES-256-CBC (`http://www.w3.org/2001/04/xmlenc#aes256-cbc`).
    Aes256Cbc,
}

impl DataAlg {
    /// Every data algorithm.
    pub const ALL: [DataAlg; 2] = [DataAlg::Aes256Gcm, DataAlg::Aes256Cbc];

    /// The `EncryptionMethod` URI.
    pub fn uri(self) -> &'static str {
        match self {
            DataAlg::Aes256Gcm => "http://www.w3.org/2009/xmlenc11#aes256-gcm",
            DataAlg::Aes256Cbc => "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
        }
    }

    /// The algorithm named by a URI, if it is one of ours.
    pub fn from_uri(uri: &str) -> Option<DataAlg> {
        DataAlg::ALL.into_iter().find(|a| a.uri() == uri)
    }
}

/// How the AES key is encrypted to the peer's RSA key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyTransport {
    /// `http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p` with SHA-1 digest and MGF1-SHA-1.
    #[default]
    RsaOaepMgf1p,
    /// `http://www.w3.org/2009/xmlenc11#rsa-oaep` with SHA-256 digest and MGF1-SHA-256.
    RsaOaep,
}

impl KeyTransport {
    /// Every key transport.
    pub const ALL: [KeyTransport; 2] = [KeyTransport::RsaOaepMgf1p, KeyTransport::RsaOaep];

    /// The `EncryptionMethod` URI.
    pub fn uri(self) -> &'static str {
        match self {
            KeyTransport::RsaOaepMgf1p => "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
            KeyTransport::RsaOaep => "http://www.w3.org/2009/xmlenc11#rsa-oaep",
        }
    }

    /// The algorithm named by a URI, if it is one of ours.
    pub fn from_uri(uri: &str) -> Option<KeyTransport> {
        KeyTransport::ALL.into_iter().find(|a| a.uri() == uri)
    }

    fn method_xml(self) -> String {
        match self {
            KeyTransport::RsaOaepMgf1p => format!(
                "<xenc:EncryptionMethod Algorithm=\"{}\"><ds:DigestMethod Algorithm=\"{SHA1}\"/></xenc:EncryptionMethod>",
                self.uri()
            ),
            KeyTransport::RsaOaep => format!(
                "<xenc:EncryptionMethod Algorithm=\"{}\"><ds:DigestMethod Algorithm=\"{SHA256}\"/>\
<xenc11:MGF xmlns:xenc11=\"{}\" Algorithm=\"{MGF1_SHA256}\"/></xenc:EncryptionMethod>",
                self.uri(),
                ns::XENC11
            ),
        }
    }
}

const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const MGF1_SHA1: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha1";
const MGF1_SHA256: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha256";
const TYPE_ELEMENT: &str = "http://www.w3.org/2001/04/xmlenc#Element";

/// The algorithms used to encrypt for one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EncryptOptions {
    /// The data cipher.
    pub data: DataAlg,
    /// The key transport.
    pub key_transport: KeyTransport,
}

/// The algorithms accepted when decrypting (configured per peer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptPolicy {
    /// Allowed data ciphers.
    pub data: Vec<DataAlg>,
    /// Allowed key transports.
    pub key_transport: Vec<KeyTransport>,
}

impl Default for DecryptPolicy {
    /// AES-256-GCM only, both RSA-OAEP forms. CBC is unauthenticated: a peer that needs it is
    /// configured for it alone, never beside GCM, because the `EncryptionMethod` is not
    /// authenticated and a GCM ciphertext relabelled as CBC would meet the CBC padding oracle
    /// (Jager–Somorovsky's backwards-compatibility attack on XML Encryption).
    fn default() -> Self {
        DecryptPolicy {
            data: vec![DataAlg::Aes256Gcm],
            key_transport: KeyTransport::ALL.to_vec(),
        }
    }
}

/// The smallest RSA modulus we encrypt to, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// The most `EncryptedKey` elements one `EncryptedAssertion` may hold.
const MAX_ENCRYPTED_KEYS: usize = 4;

/// Why encryption or decryption failed.
#[derive(Debug, thiserror::Error)]
pub enum EncError {
    /// A document or the element was refused by the safe parser.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The peer certificate or our key is unusable (not RSA, too small, not parseable).
    #[error("key: {0}")]
    Key(String),
    /// The `EncryptedAssertion` does not have the expected shape.
    #[error("encrypted element is malformed: {0}")]
    Malformed(&'static str),
    /// An algorithm outside the policy (or a feature we never accept).
    #[error("algorithm not allowed: {0}")]
    AlgorithmNotAllowed(String),
    /// Encryption failed.
    #[error("encryption failed: {0}")]
    Encrypt(String),
    /// Decryption failed (deliberately without detail).
    #[error("decryption failed")]
    Decrypt,
}

/// A peer's RSA public key, from the encryption certificate in its metadata.
#[derive(Debug, Clone)]
pub struct RecipientKey {
    key: Key,
}

impl RecipientKey {
    /// The RSA key (at least 2048 bits) of a DER X.509 certificate.
    pub fn from_certificate(der: &[u8]) -> Result<RecipientKey, EncError> {
        let key = guarded(|| bergshamra::keys::loader::load_x509_cert_der(der))
            .ok_or_else(|| EncError::Key("certificate parser failure".into()))?
            .map_err(|e| EncError::Key(e.to_string()))?;
        if !matches!(key.data.algorithm(), kryptering::KeyAlgorithm::Rsa) {
            return Err(EncError::Key("not an RSA key".into()));
        }
        let spki = key.data.to_spki_der().unwrap_or_default();
        // A 2048-bit SPKI is about 294 bytes; this is a floor on the modulus, not an exact parse.
        if spki.len() < MIN_RSA_MODULUS_BYTES + 22 {
            return Err(EncError::Key("RSA key smaller than 2048 bits".into()));
        }
        Ok(RecipientKey { key })
    }
}

/// Our RSA private key for decryption (the key file, not a ring key pair: ring cannot decrypt).
#[derive(Clone)]
pub struct DecryptionKey {
    key: Key,
}

impl std::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecryptionKey(<redacted>)")
    }
}

impl DecryptionKey {
    /// An RSA private key in PEM (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`).
    pub fn from_pem(pem: &[u8]) -> Result<DecryptionKey, EncError> {
        let key = guarded(|| bergshamra::keys::loader::load_pem_auto(pem, None))
            .ok_or_else(|| EncError::Key("key parser failure".into()))?
            .map_err(|_| EncError::Key("not a PEM private key".into()))?;
        if !matches!(key.data.algorithm(), kryptering::KeyAlgorithm::Rsa) || !key.has_private_key()
        {
            return Err(EncError::Key("not an RSA private key".into()));
        }
        Ok(DecryptionKey { key })
    }
}

/// Encrypts a standalone element (the signed assertion, as [`crate::dsig::sign_enveloped`]
/// returned it) into `<saml:EncryptedAssertion>` for `recipient`.
pub fn encrypt_element(
    element_xml: &str,
    recipient: &RecipientKey,
    options: EncryptOptions,
) -> Result<String, EncError> {
    let doc = Document::parse(element_xml)?;
    let root = doc.root();
    // The element's own bytes (it is the document element, so every namespace it uses is declared
    // on it or below): the signature over them stays intact.
    let plaintext = doc
        .raw()
        .node_source(root.node_id())
        .map(str::to_owned)
        .unwrap_or_else(|| root.to_xml());
    let template = format!(
        "<xenc:EncryptedData xmlns:xenc=\"{xenc}\" xmlns:ds=\"{ds}\" Type=\"{TYPE_ELEMENT}\">\
<xenc:EncryptionMethod Algorithm=\"{data}\"/><ds:KeyInfo><xenc:EncryptedKey>{transport}\
<xenc:CipherData><xenc:CipherValue></xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>\
<xenc:CipherData><xenc:CipherValue></xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>",
        xenc = ns::XENC,
        ds = ns::DS,
        data = options.data.uri(),
        transport = options.key_transport.method_xml(),
    );
    let mut manager = KeysManager::new();
    manager.add_key(recipient.key.clone());
    let ctx = EncContext::new(manager);
    let encrypted = guarded(|| bergshamra::encrypt(&ctx, &template, plaintext.as_bytes()))
        .ok_or_else(|| EncError::Encrypt("cipher failure".into()))?
        .map_err(|e| EncError::Encrypt(e.to_string()))?;
    Ok(format!(
        "<saml:EncryptedAssertion xmlns:saml=\"{}\">{encrypted}</saml:EncryptedAssertion>",
        ns::SAML
    ))
}

/// Decrypts a `saml:EncryptedAssertion` element (from a document parsed with
/// [`crate::xml::Document::parse`]) with `key`, and returns the `saml:Assertion` it held as a
/// standalone document (namespaces in scope declared on it), to be verified with
/// [`crate::dsig::verify`] and `Expected::Root(QName::ASSERTION)`.
pub fn decrypt(
    encrypted: Element<'_, '_>,
    key: &DecryptionKey,
    policy: &DecryptPolicy,
) -> Result<String, EncError> {
    if !encrypted.is(QName::ENCRYPTED_ASSERTION) {
        return Err(EncError::Malformed("not an EncryptedAssertion"));
    }
    check_encrypted(encrypted, policy)?;
    let xml = encrypted.to_xml();
    let mut manager = KeysManager::new();
    manager.add_key(key.key.clone());
    let mut ctx = EncContext::new(manager);
    ctx.disable_cipher_reference = true;
    let plaintext = guarded(|| bergshamra::decrypt_to_bytes(&ctx, &xml))
        .ok_or(EncError::Decrypt)?
        .map_err(|_| EncError::Decrypt)?;
    // From here on every failure is the same `Decrypt`: telling a plaintext that is too long,
    // not UTF-8, not XML or not one assertion apart would be a decryption oracle for whoever
    // chose the ciphertext (Jager–Somorovsky).
    if plaintext.len() > crate::xml::MAX_XML_BYTES {
        return Err(EncError::Decrypt);
    }
    // bergshamra puts the plaintext where the EncryptedData was: take the one assertion out of the
    // EncryptedAssertion, with the namespaces in scope there.
    let replaced = String::from_utf8(plaintext).map_err(|_| EncError::Decrypt)?;
    let doc = Document::parse(&replaced).map_err(|_| EncError::Decrypt)?;
    let mut inner = doc
        .root()
        .children()
        .filter(|c| !c.is(xenc("EncryptedKey")));
    match (inner.next(), inner.next()) {
        (Some(assertion), None) if assertion.is(QName::ASSERTION) => Ok(assertion.to_xml()),
        _ => Err(EncError::Decrypt),
    }
}

fn xenc(local: &'static str) -> QName {
    QName::new(ns::XENC, local)
}

fn ds(local: &'static str) -> QName {
    QName::new(ns::DS, local)
}

/// One `EncryptedData` of type Element with an allowed cipher and inline `CipherValue`; every
/// `EncryptedKey` (inside its `KeyInfo` or beside it) with an allowed transport and parameters.
fn check_encrypted(encrypted: Element<'_, '_>, policy: &DecryptPolicy) -> Result<(), EncError> {
    let mut data = encrypted.children_named(xenc("EncryptedData"));
    let enc_data = data.next().ok_or(EncError::Malformed("no EncryptedData"))?;
    if data.next().is_some() {
        return Err(EncError::Malformed("more than one EncryptedData"));
    }
    if enc_data.attr("Type").is_some_and(|t| t != TYPE_ELEMENT) {
        return Err(EncError::Malformed("EncryptedData is not of type Element"));
    }
    let method = enc_data
        .child(xenc("EncryptionMethod"))?
        .ok_or(EncError::Malformed("EncryptedData has no EncryptionMethod"))?;
    let uri = method.attr("Algorithm").unwrap_or_default();
    if !DataAlg::from_uri(uri).is_some_and(|a| policy.data.contains(&a)) {
        return Err(EncError::AlgorithmNotAllowed(
            uri.chars().take(100).collect(),
        ));
    }
    inline_cipher_value(enc_data)?;

    let mut keys: Vec<Element<'_, '_>> = encrypted.children_named(xenc("EncryptedKey")).collect();
    if let Some(key_info) = enc_data.child(ds("KeyInfo"))? {
        for child in key_info.children() {
            if child.is(xenc("EncryptedKey")) {
                keys.push(child);
            } else if !child.is(ds("RetrievalMethod")) && !child.is(ds("KeyName")) {
                // AgreementMethod, DerivedKey, inline keys: never ours.
                return Err(EncError::AlgorithmNotAllowed(format!(
                    "KeyInfo/{}",
                    child.local_name()
                )));
            }
        }
    }
    if keys.is_empty() {
        return Err(EncError::Malformed("no EncryptedKey"));
    }
    if keys.len() > MAX_ENCRYPTED_KEYS {
        return Err(EncError::Malformed("too many EncryptedKey elements"));
    }
    for key in keys {
        check_encrypted_key(key, policy)?;
    }
    Ok(())
}

fn check_encrypted_key(key: Element<'_, '_>, policy: &DecryptPolicy) -> Result<(), EncError> {
    let method = key
        .child(xenc("EncryptionMethod"))?
        .ok_or(EncError::Malformed("EncryptedKey has no EncryptionMethod"))?;
    let uri = method.attr("Algorithm").unwrap_or_default();
    let transport = KeyTransport::from_uri(uri)
        .filter(|t| policy.key_transport.contains(t))
        .ok_or_else(|| EncError::AlgorithmNotAllowed(uri.chars().take(100).collect()))?;
    for param in method.children() {
        let alg = param.attr("Algorithm").unwrap_or_default();
        let ok = if param.is(ds("DigestMethod")) {
            alg == SHA1 || alg == SHA256
        } else if param.is(QName::new(ns::XENC11, "MGF")) {
            transport == KeyTransport::RsaOaep && (alg == MGF1_SHA1 || alg == MGF1_SHA256)
        } else {
            // OAEPparams (a label) is harmless but never used by SAML peers.
            false
        };
        if !ok {
            return Err(EncError::AlgorithmNotAllowed(format!(
                "{} {}",
                param.local_name(),
                alg.chars().take(100).collect::<String>()
            )));
        }
    }
    inline_cipher_value(key)
}

fn inline_cipher_value(e: Element<'_, '_>) -> Result<(), EncError> {
    let cipher_data = e
        .child(xenc("CipherData"))?
        .ok_or(EncError::Malformed("no CipherData"))?;
    if cipher_data.child(xenc("CipherValue"))?.is_none() || cipher_data.children().count() != 1 {
        return Err(EncError::Malformed("CipherData must hold one CipherValue"));
    }
    Ok(())
}

fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}
