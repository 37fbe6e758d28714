//! Enveloped XML signatures: [`sign_enveloped`], [`verify`] and [`certificate_for`].
//!
//! * Signing: exclusive C14N, SHA-256 digest, RSA-SHA256, RSA-PSS-SHA256 or ECDSA-SHA256, the
//!   `ds:Signature` placed after the element's `saml:Issuer` (where the SAML schema wants it),
//!   `KeyInfo` holding the X.509 certificate. The private-key operation is the key store's ring key
//!   pair ([`eid_keys::SigningKey::sign_as`]) behind bergshamra's `Signer` seam.
//! * Verification: bergshamra checks digests and the signature value with the pinned keys only
//!   ([`PinnedKeys`], never a key from the message), and this module adds the structural rules
//!   bergshamra lacks: the signed element is the expected one ([`Expected`]) and the only one of its
//!   kind, exactly one `ds:Signature` as its direct child, exactly one `Reference` to `#` + its
//!   `ID`, that ID unique in the document, only the enveloped-signature and exclusive C14N
//!   transforms, algorithms from an allow-list ([`AlgorithmPolicy`]; never SHA-1). The result,
//!   [`Verified`], gives access to that element and nothing else.

mod cert;
mod sign;
mod verify;

pub use cert::{CertificateError, certificate_for};
pub use sign::sign_enveloped;
pub use verify::{Expected, PinnedKeys, Verified, verify};

use eid_keys::Alg;

use crate::xml::XmlError;

/// A signature algorithm this crate signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (`xmldsig-more#rsa-sha256`), the OIOSAML default.
    RsaSha256,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (`xmldsig-more#sha256-rsa-MGF1`).
    RsaPssSha256,
    /// ECDSA P-256 with SHA-256 (`xmldsig-more#ecdsa-sha256`), `r || s`.
    EcdsaSha256,
}

impl SignatureAlg {
    /// Every algorithm, in order of preference.
    pub const ALL: [SignatureAlg; 3] = [
        SignatureAlg::RsaSha256,
        SignatureAlg::RsaPssSha256,
        SignatureAlg::EcdsaSha256,
    ];

    /// The `SignatureMethod` URI.
    pub fn uri(self) -> &'static str {
        match self {
            SignatureAlg::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            SignatureAlg::RsaPssSha256 => "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",
            SignatureAlg::EcdsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        }
    }

    /// The algorithm named by a `SignatureMethod` URI, if it is one of ours.
    pub fn from_uri(uri: &str) -> Option<SignatureAlg> {
        SignatureAlg::ALL.into_iter().find(|a| a.uri() == uri)
    }

    /// The key store algorithm that produces this signature (an RSA key signs both RSA forms).
    pub fn key_alg(self) -> Alg {
        match self {
            SignatureAlg::RsaSha256 => Alg::RS256,
            SignatureAlg::RsaPssSha256 => Alg::PS256,
            SignatureAlg::EcdsaSha256 => Alg::ES256,
        }
    }

    fn kryptering(self) -> kryptering::SignatureAlgorithm {
        use kryptering::{EcCurve, HashAlgorithm, SignatureAlgorithm as S};
        match self {
            SignatureAlg::RsaSha256 => S::RsaPkcs1v15(HashAlgorithm::Sha256),
            SignatureAlg::RsaPssSha256 => S::RsaPss(HashAlgorithm::Sha256),
            SignatureAlg::EcdsaSha256 => S::Ecdsa(EcCurve::P256, HashAlgorithm::Sha256),
        }
    }
}

/// A reference digest algorithm accepted on verification (SHA-1 is not one of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlg {
    /// SHA-256 (what we sign with).
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlg {
    /// Every digest algorithm.
    pub const ALL: [DigestAlg; 3] = [DigestAlg::Sha256, DigestAlg::Sha384, DigestAlg::Sha512];

    /// The `DigestMethod` URI.
    pub fn uri(self) -> &'static str {
        match self {
            DigestAlg::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
            DigestAlg::Sha384 => "http://www.w3.org/2001/04/xmldsig-more#sha384",
            DigestAlg::Sha512 => "http://www.w3.org/2001/04/xmlenc#sha512",
        }
    }

    /// The algorithm named by a `DigestMethod` URI, if it is one of ours.
    pub fn from_uri(uri: &str) -> Option<DigestAlg> {
        DigestAlg::ALL.into_iter().find(|a| a.uri() == uri)
    }
}

/// The algorithms a peer's signatures may use (configured per peer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgorithmPolicy {
    /// Allowed signature algorithms.
    pub signature: Vec<SignatureAlg>,
    /// Allowed reference digests.
    pub digest: Vec<DigestAlg>,
}

impl Default for AlgorithmPolicy {
    /// Every [`SignatureAlg`] and every [`DigestAlg`].
    fn default() -> Self {
        AlgorithmPolicy {
            signature: SignatureAlg::ALL.to_vec(),
            digest: DigestAlg::ALL.to_vec(),
        }
    }
}

/// The exclusive C14N URI (without comments): the only canonicalisation we sign or accept.
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// The enveloped-signature transform URI.
pub const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// Why signing or verification failed. Verification errors name the broken rule, never content.
#[derive(Debug, thiserror::Error)]
pub enum DsigError {
    /// The document was refused by the safe parser.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The expected element is not where it must be (wrong root, none, or more than one).
    #[error("the document does not hold exactly one expected {0} element in place")]
    UnexpectedElement(String),
    /// The element has no usable `ID` attribute.
    #[error("the signed element has no valid ID attribute")]
    MissingId,
    /// The element's ID is carried by another element too.
    #[error("the signed element's ID is not unique in the document")]
    DuplicateId,
    /// The element is not signed (no `ds:Signature` child).
    #[error("the element is not signed")]
    Unsigned,
    /// More than one `ds:Signature` child, or too many signatures in the document.
    #[error("the element has more than one signature")]
    MultipleSignatures,
    /// The signature's structure breaks a rule (children, references, transforms, URI).
    #[error("the signature is malformed: {0}")]
    Malformed(&'static str),
    /// The reference does not point at the element (`#` + its ID).
    #[error("the signature's reference is not to the signed element")]
    WrongReference,
    /// A signature, digest or canonicalisation algorithm outside the allow-list.
    #[error("algorithm not allowed: {0}")]
    AlgorithmNotAllowed(String),
    /// No pinned key verifies the signature, or a digest does not match.
    #[error("the signature does not verify with the pinned keys")]
    Invalid,
    /// No pinned keys were given, or one could not be loaded.
    #[error("pinned key: {0}")]
    PinnedKey(String),
    /// The key cannot sign with the requested algorithm.
    #[error("the key cannot sign with {0:?}")]
    KeyMismatch(SignatureAlg),
    /// Signing failed (the element to sign is missing, bergshamra or the key failed).
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Runs bergshamra (a young library) so that a panic inside it is an error, not a crash.
fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip_and_sha1_is_not_an_algorithm() {
        for a in SignatureAlg::ALL {
            assert_eq!(SignatureAlg::from_uri(a.uri()), Some(a));
        }
        for d in DigestAlg::ALL {
            assert_eq!(DigestAlg::from_uri(d.uri()), Some(d));
        }
        assert_eq!(
            SignatureAlg::from_uri("http://www.w3.org/2000/09/xmldsig#rsa-sha1"),
            None
        );
        assert_eq!(
            DigestAlg::from_uri("http://www.w3.org/2000/09/xmldsig#sha1"),
            None
        );
    }
}
