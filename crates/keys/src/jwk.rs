//! Public JWKs (RFC 7517/7518) and RFC 7638 thumbprints, used as `kid`s.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest;
use serde_json::{Value, json};

use crate::alg::Alg;

/// The public half of a key, as needed for JWKs and thumbprints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicComponents {
    /// P-256 point coordinates, 32 bytes each, big-endian.
    EcP256 {
        /// The x coordinate.
        x: Vec<u8>,
        /// The y coordinate.
        y: Vec<u8>,
    },
    /// RSA modulus and public exponent, big-endian without leading zeros.
    Rsa {
        /// The modulus.
        n: Vec<u8>,
        /// The public exponent.
        e: Vec<u8>,
    },
}

impl PublicComponents {
    /// Splits an uncompressed SEC1 point (`0x04 || x || y`) as returned by ring's `EcdsaKeyPair::public_key()`.
    pub fn from_uncompressed_p256(point: &[u8]) -> Option<Self> {
        if point.len() != 65 || point[0] != 0x04 {
            return None;
        }
        Some(PublicComponents::EcP256 {
            x: point[1..33].to_vec(),
            y: point[33..65].to_vec(),
        })
    }

    /// The RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order without whitespace,
    /// base64url without padding.
    pub fn thumbprint(&self) -> String {
        let canonical = match self {
            PublicComponents::EcP256 { x, y } => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                URL_SAFE_NO_PAD.encode(x),
                URL_SAFE_NO_PAD.encode(y)
            ),
            PublicComponents::Rsa { n, e } => rsa_canonical(n, e),
        };
        let hash = digest::digest(&digest::SHA256, canonical.as_bytes());
        URL_SAFE_NO_PAD.encode(hash.as_ref())
    }

    /// The public JWK with `kid`, `kty`, `alg`, `use: "sig"` and the key's public members.
    pub fn to_jwk(&self, kid: &str, alg: Alg) -> Value {
        match self {
            PublicComponents::EcP256 { x, y } => json!({
                "kty": "EC",
                "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(x),
                "y": URL_SAFE_NO_PAD.encode(y),
                "kid": kid,
                "alg": alg.as_str(),
                "use": "sig",
            }),
            PublicComponents::Rsa { n, e } => json!({
                "kty": "RSA",
                "n": URL_SAFE_NO_PAD.encode(n),
                "e": URL_SAFE_NO_PAD.encode(e),
                "kid": kid,
                "alg": alg.as_str(),
                "use": "sig",
            }),
        }
    }
}

fn rsa_canonical(n: &[u8], e: &[u8]) -> String {
    format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(e),
        URL_SAFE_NO_PAD.encode(n)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1.
    const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    #[test]
    fn thumbprint_rfc7638_example() {
        let n = URL_SAFE_NO_PAD.decode(RFC7638_N).unwrap();
        let e = URL_SAFE_NO_PAD.decode("AQAB").unwrap();
        let pc = PublicComponents::Rsa { n, e };
        assert_eq!(
            pc.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn thumbprint_ec_canonical_form() {
        let point: Vec<u8> = std::iter::once(4u8).chain(1..=64).collect();
        let pc = PublicComponents::from_uncompressed_p256(&point).unwrap();
        let PublicComponents::EcP256 { x, y } = &pc else {
            unreachable!()
        };
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(x),
            URL_SAFE_NO_PAD.encode(y)
        );
        let expected =
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()));
        assert_eq!(pc.thumbprint(), expected);
        assert!(PublicComponents::from_uncompressed_p256(&point[1..]).is_none());
    }

    #[test]
    fn jwk_members() {
        let pc = PublicComponents::Rsa {
            n: vec![1, 2, 3],
            e: vec![1, 0, 1],
        };
        let jwk = pc.to_jwk("k1", Alg::PS256);
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["alg"], "PS256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(jwk["kid"], "k1");
    }
}
