//! Signature algorithms, key kinds and key states.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A JWS signature algorithm (RFC 7518 names).
///
/// Every key is bound to exactly one `Alg` (its JWK `alg` member). `RS256` and `PS256` keys are both RSA
/// keys ([`KeyKind::Rsa`]); a PEM file holding an RSA key may be listed for either, and
/// [`crate::SigningKey::sign_as`] lets a caller (XML-DSig towards a peer that lacks RSA-PSS, say) use the
/// other RSA padding with the same key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Alg {
    /// ECDSA with P-256 and SHA-256, signature `r || s` (64 bytes).
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt.
    PS256,
}

impl Alg {
    /// All algorithms, in a stable order.
    pub const ALL: [Alg; 3] = [Alg::ES256, Alg::RS256, Alg::PS256];

    /// The RFC 7518 name (`"ES256"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::ES256 => "ES256",
            Alg::RS256 => "RS256",
            Alg::PS256 => "PS256",
        }
    }

    /// The kind of key this algorithm signs with.
    pub fn kind(self) -> KeyKind {
        match self {
            Alg::ES256 => KeyKind::EcP256,
            Alg::RS256 | Alg::PS256 => KeyKind::Rsa,
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Alg::ES256 => 0,
            Alg::RS256 => 1,
            Alg::PS256 => 2,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned when parsing an unknown algorithm name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signature algorithm `{0}` (expected ES256, RS256 or PS256)")]
pub struct UnknownAlg(pub String);

impl FromStr for Alg {
    type Err = UnknownAlg;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ES256" => Ok(Alg::ES256),
            "RS256" => Ok(Alg::RS256),
            "PS256" => Ok(Alg::PS256),
            other => Err(UnknownAlg(other.to_owned())),
        }
    }
}

/// The kind of a key pair, independent of the padding used with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// An ECDSA key on NIST P-256.
    EcP256,
    /// An RSA key (2048–4096 bits loaded, 3072–4096 bits generated).
    Rsa,
}

impl KeyKind {
    /// A short human-readable name for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            KeyKind::EcP256 => "an EC P-256 key",
            KeyKind::Rsa => "an RSA key",
        }
    }
}

/// The life-cycle state of a key.
///
/// * `Next`: published in the JWKS (so relying parties cache it) but not yet used for signing.
/// * `Active`: used for signing and published.
/// * `Retired`: no longer used for signing; published until its `not_after` so tokens it signed still verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Pre-published, not yet signing.
    Next,
    /// Signing.
    Active,
    /// Published for verification only.
    Retired,
}

impl KeyState {
    /// The manifest spelling (`"next"`, `"active"`, `"retired"`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }
}

impl FromStr for KeyState {
    type Err = UnknownKeyState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "next" => Ok(KeyState::Next),
            "active" => Ok(KeyState::Active),
            "retired" => Ok(KeyState::Retired),
            other => Err(UnknownKeyState(other.to_owned())),
        }
    }
}

/// A key state name that is not `next`, `active` or `retired`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key state {0:?} (expected next, active or retired)")]
pub struct UnknownKeyState(pub String);

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn alg_serde_and_display() {
        for alg in Alg::ALL {
            let json = serde_json::to_string(&alg).unwrap();
            assert_eq!(json, format!("\"{alg}\""));
            assert_eq!(serde_json::from_str::<Alg>(&json).unwrap(), alg);
            assert_eq!(alg.as_str().parse::<Alg>().unwrap(), alg);
        }
        assert!("HS256".parse::<Alg>().is_err());
        assert_eq!(Alg::PS256.kind(), KeyKind::Rsa);
        assert_eq!(
            serde_json::to_string(&KeyState::Retired).unwrap(),
            "\"retired\""
        );
    }
}
