//! [`certificate_for`]: a self-signed X.509 certificate for a key store key, so SAML metadata and
//! `KeyInfo` can carry it.
//!
//! The keys have no certificates, and SAML peers pin a key by the certificate in our metadata (the
//! certificate is a key container there, not a trust path). The DER is written by hand: a v3
//! certificate with `CN=<subject>` as issuer and subject, a serial derived from the key id,
//! `notBefore` = the key's creation time (or 2026-01-01), `notAfter` = 9999-12-31 (RFC 5280's "no
//! well-defined expiration"), `basicConstraints cA=FALSE`, signed by the key itself
//! (ecdsa-with-SHA256 or sha256WithRSAEncryption) through ring.

use eid_keys::{Alg, KeyKind, PublicComponents, SigningKey};
use ring::digest;
use time::OffsetDateTime;

/// The longest subject common name accepted (X.520 `ub-common-name`).
pub const MAX_SUBJECT_LEN: usize = 64;

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// The subject is empty, too long or has control characters.
    #[error("certificate subject must be 1 to {MAX_SUBJECT_LEN} printable characters")]
    Subject,
    /// The key failed to sign.
    #[error("signing the certificate failed: {0}")]
    Sign(#[from] eid_keys::KeyError),
}

const OID_SHA256_RSA: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
];
const OID_RSA: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_ECDSA_SHA256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_CN: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x03];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x13];
const NULL: &[u8] = &[0x05, 0x00];

/// A self-signed DER X.509 certificate for `key` with common name `subject`.
///
/// Deterministic for RSA keys (same key, same bytes); ECDSA signatures are randomised, so compute
/// it once per key and keep it (metadata and `KeyInfo` must then show the same bytes).
pub fn certificate_for(key: &SigningKey, subject: &str) -> Result<Vec<u8>, CertificateError> {
    if subject.is_empty()
        || subject.chars().count() > MAX_SUBJECT_LEN
        || subject.chars().any(char::is_control)
    {
        return Err(CertificateError::Subject);
    }
    let kind = key.alg().kind();
    let sig_alg = match kind {
        KeyKind::EcP256 => seq(&[OID_ECDSA_SHA256]),
        KeyKind::Rsa => seq(&[OID_SHA256_RSA, NULL]),
    };
    let name = seq(&[&set(&[&seq(&[OID_CN, &tlv(0x0c, subject.as_bytes())])])]);
    let not_before = key.created().unwrap_or(DEFAULT_NOT_BEFORE);
    let validity = seq(&[&utc_time(not_before), &tlv(0x18, b"99991231235959Z")]);
    let spki = match key.public_components() {
        PublicComponents::EcP256 { .. } => seq(&[
            &seq(&[OID_EC_PUBLIC_KEY, OID_P256]),
            &bit_string(key.public_key_bytes()),
        ]),
        PublicComponents::Rsa { .. } => {
            seq(&[&seq(&[OID_RSA, NULL]), &bit_string(key.public_key_bytes())])
        }
    };
    let serial_hash = digest::digest(&digest::SHA256, key.kid().as_bytes());
    let mut serial = serial_hash.as_ref().get(..16).unwrap_or_default().to_vec();
    if let Some(first) = serial.first_mut() {
        *first &= 0x7f;
    }
    // basicConstraints (critical): cA = FALSE, i.e. the empty SEQUENCE.
    let extensions = tlv(
        0xa3,
        &seq(&[&seq(&[
            OID_BASIC_CONSTRAINTS,
            &tlv(0x01, &[0xff]),
            &tlv(0x04, &seq(&[])),
        ])]),
    );
    let tbs = seq(&[
        &tlv(0xa0, &integer(&[2])),
        &integer(&serial),
        &sig_alg,
        &name,
        &validity,
        &name,
        &spki,
        &extensions,
    ]);
    let signature = match kind {
        KeyKind::EcP256 => ecdsa_der(&key.sign_as(Alg::ES256, &tbs)?),
        KeyKind::Rsa => key.sign_as(Alg::RS256, &tbs)?,
    };
    Ok(seq(&[&tbs, &sig_alg, &bit_string(&signature)]))
}

/// 2026-01-01T00:00:00Z, for keys without a creation time.
const DEFAULT_NOT_BEFORE: OffsetDateTime = time::macros::datetime!(2026-01-01 00:00:00 UTC);

fn utc_time(t: OffsetDateTime) -> Vec<u8> {
    let t = t.to_offset(time::UtcOffset::UTC);
    let year = t.year();
    if (1950..2050).contains(&year) {
        let s = format!(
            "{:02}{:02}{:02}{:02}{:02}{:02}Z",
            year % 100,
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        tlv(0x17, s.as_bytes())
    } else {
        let s = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}Z",
            year.clamp(0, 9999),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        tlv(0x18, s.as_bytes())
    }
}

/// ring's fixed `r || s` as the DER `Ecdsa-Sig-Value` certificates use.
fn ecdsa_der(fixed: &[u8]) -> Vec<u8> {
    let (r, s) = fixed.split_at(fixed.len() / 2);
    seq(&[&integer(r), &integer(s)])
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn set(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x31, &parts.concat())
}

/// A non-negative INTEGER from big-endian magnitude bytes.
fn integer(magnitude: &[u8]) -> Vec<u8> {
    let skip = magnitude.iter().take_while(|b| **b == 0).count();
    let trimmed = magnitude.get(skip..).unwrap_or_default();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    tlv(0x02, &content)
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(bytes.len() + 1);
    content.push(0);
    content.extend_from_slice(bytes);
    tlv(0x03, &content)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_and_integers_are_minimal() {
        assert_eq!(tlv(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        assert_eq!(tlv(0x04, &[0; 200]).get(..3), Some(&[0x04, 0x81, 200][..]));
        assert_eq!(
            tlv(0x04, &[0; 300]).get(..4),
            Some(&[0x04, 0x82, 1, 44][..])
        );
        assert_eq!(integer(&[0, 0, 5]), vec![0x02, 1, 5]);
        assert_eq!(integer(&[0x80]), vec![0x02, 2, 0, 0x80]);
        assert_eq!(integer(&[0, 0]), vec![0x02, 1, 0]);
    }
}
