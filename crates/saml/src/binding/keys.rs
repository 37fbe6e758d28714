//! Public keys taken from a peer's metadata certificates, ready for ring.

use super::BindingError;
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The kind of a peer's public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKeyKind {
    /// RSA (`rsaEncryption`), used with PKCS#1 v1.5 or PSS signatures.
    Rsa,
    /// ECDSA on P-256.
    EcP256,
}

/// A public key from a certificate in a peer's metadata: the only keys a signature is checked
/// with. The certificate is used as a key container (OIOSAML pins keys by metadata; no chain
/// or validity checks here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpVerificationKey {
    kind: PublicKeyKind,
    /// RSA: the PKCS#1 `RSAPublicKey` DER; EC: the uncompressed point.
    key: Vec<u8>,
}

impl SpVerificationKey {
    /// Reads the subject public key of a DER certificate (RSA or P-256; anything else refused).
    pub fn from_certificate_der(der: &[u8]) -> Result<SpVerificationKey, BindingError> {
        if der.len() > 16 * 1024 {
            return Err(BindingError::BadCertificate("too large"));
        }
        let (rest, cert) = X509Certificate::from_der(der)
            .map_err(|_| BindingError::BadCertificate("not a DER X.509 certificate"))?;
        if !rest.is_empty() {
            return Err(BindingError::BadCertificate("trailing bytes"));
        }
        let spki = cert.public_key();
        let key = spki.subject_public_key.data.to_vec();
        let alg = &spki.algorithm.algorithm;
        if *alg == OID_PKCS1_RSAENCRYPTION {
            return Ok(SpVerificationKey {
                kind: PublicKeyKind::Rsa,
                key,
            });
        }
        if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .clone()
                .and_then(|p| x509_parser::der_parser::oid::Oid::try_from(p).ok());
            if curve.as_ref() == Some(&OID_EC_P256) && key.len() == 65 && key[0] == 4 {
                return Ok(SpVerificationKey {
                    kind: PublicKeyKind::EcP256,
                    key,
                });
            }
            return Err(BindingError::BadCertificate("EC key not on P-256"));
        }
        Err(BindingError::BadCertificate("unsupported key type"))
    }

    /// A key given by its ring bytes (PKCS#1 `RSAPublicKey` DER, or the uncompressed P-256
    /// point), e.g. our own key store's public key.
    pub fn from_public_key(kind: PublicKeyKind, bytes: &[u8]) -> SpVerificationKey {
        SpVerificationKey {
            kind,
            key: bytes.to_vec(),
        }
    }

    /// The key's kind.
    pub fn kind(&self) -> PublicKeyKind {
        self.kind
    }

    /// The key bytes in the form ring reads (PKCS#1 for RSA, the uncompressed point for EC).
    pub fn ring_bytes(&self) -> &[u8] {
        &self.key
    }
}
