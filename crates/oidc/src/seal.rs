//! Sealed tokens: a record encrypted and authenticated into the token itself, so that issuing it
//! writes nothing to a store.
//!
//! Each token has its own key: HMAC-SHA256 of the sealer's secret over a random 128-bit salt that
//! the token carries, used for one AES-256-GCM encryption with a zero nonce. A key is never used
//! twice, so no nonce can repeat however many tokens one secret seals (random 96-bit nonces under
//! one key would be safe only up to about 2³² tokens). The salt doubles as the token's identifier
//! (`jti`) for revocation lists. The associated data binds a token to its purpose, so a token of one
//! kind never opens as another.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hmac;

/// Bytes of the per-token salt.
const SALT: usize = 16;
/// Longest token accepted by [`TokenSealer::open`], in characters: a bound on untrusted input.
pub const MAX_SEALED_LEN: usize = 8 * 1024;

/// Seals and opens tokens under one secret.
#[derive(Clone)]
pub struct TokenSealer {
    master: hmac::Key,
}

impl std::fmt::Debug for TokenSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSealer(..)")
    }
}

/// An opened token: its identifier and the record it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The token's identifier (its salt, base64url): stable, unique, not secret.
    pub id: String,
    /// The plaintext.
    pub plaintext: Vec<u8>,
}

impl TokenSealer {
    /// A sealer with `secret` (at least 32 bytes of key material; share it between the nodes that
    /// open each other's tokens).
    pub fn new(secret: &[u8; 32]) -> TokenSealer {
        TokenSealer {
            master: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    fn key(&self, salt: &[u8]) -> Option<LessSafeKey> {
        // HMAC-SHA256 gives 32 bytes, exactly an AES-256 key.
        let tag = hmac::sign(&self.master, salt);
        Some(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, tag.as_ref()).ok()?,
        ))
    }

    /// Seals `plaintext` for `purpose`: base64url of salt, ciphertext and tag. `None` only if the
    /// cipher refuses (it does not, for an HMAC-SHA256 key and a plaintext under 64 GiB).
    pub fn seal(&self, purpose: &[u8], plaintext: &[u8]) -> Option<String> {
        let mut salt = [0u8; SALT];
        crate::random::fill(&mut salt);
        let mut buf = Vec::with_capacity(SALT + plaintext.len() + AES_256_GCM.tag_len());
        buf.extend_from_slice(&salt);
        buf.extend_from_slice(plaintext);
        let (head, body) = buf.split_at_mut(SALT);
        let tag = self
            .key(head)?
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key([0; 12]),
                Aad::from(purpose),
                body,
            )
            .ok()?;
        buf.extend_from_slice(tag.as_ref());
        Some(URL_SAFE_NO_PAD.encode(&buf))
    }

    /// Opens a token sealed for `purpose`; `None` for anything else (too long, not base64url, cut,
    /// altered, another purpose, another secret).
    pub fn open(&self, purpose: &[u8], token: &str) -> Option<Opened> {
        if token.len() > MAX_SEALED_LEN {
            return None;
        }
        let mut buf = URL_SAFE_NO_PAD.decode(token).ok()?;
        if buf.len() < SALT + AES_256_GCM.tag_len() {
            return None;
        }
        let (salt, body) = buf.split_at_mut(SALT);
        let plain_len = self
            .key(salt)?
            .open_in_place(
                Nonce::assume_unique_for_key([0; 12]),
                Aad::from(purpose),
                body,
            )
            .ok()?
            .len();
        let id = URL_SAFE_NO_PAD.encode(&salt[..]);
        let mut plaintext = buf.split_off(SALT);
        plaintext.truncate(plain_len);
        Some(Opened { id, plaintext })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sealer(b: u8) -> TokenSealer {
        TokenSealer::new(&[b; 32])
    }

    #[test]
    fn a_sealed_token_opens_with_its_secret_and_purpose_only() {
        let token = sealer(1).seal(b"at", b"hello").unwrap();
        let opened = sealer(1).open(b"at", &token).unwrap();
        assert_eq!(opened.plaintext, b"hello");
        assert_eq!(opened.id.len(), 22);
        assert!(sealer(2).open(b"at", &token).is_none(), "another secret");
        assert!(sealer(1).open(b"rt", &token).is_none(), "another purpose");
    }

    #[test]
    fn every_token_has_its_own_identifier_and_ciphertext() {
        let a = sealer(1).seal(b"at", b"same").unwrap();
        let b = sealer(1).seal(b"at", b"same").unwrap();
        assert_ne!(a, b);
        assert_ne!(
            sealer(1).open(b"at", &a).unwrap().id,
            sealer(1).open(b"at", &b).unwrap().id
        );
    }

    #[test]
    fn an_altered_or_cut_token_does_not_open() {
        let token = sealer(1).seal(b"at", b"payload").unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in [0, SALT, bytes.len() - 1] {
            bytes[i] ^= 1;
            assert!(
                sealer(1)
                    .open(b"at", &URL_SAFE_NO_PAD.encode(&bytes))
                    .is_none()
            );
            bytes[i] ^= 1;
        }
        assert!(sealer(1).open(b"at", &token[..token.len() - 2]).is_none());
        assert!(
            sealer(1)
                .open(b"at", &"A".repeat(MAX_SEALED_LEN + 1))
                .is_none()
        );
    }

    proptest! {
        #[test]
        fn any_input_opens_to_nothing_or_is_a_real_token(input in ".{0,200}") {
            prop_assert!(sealer(3).open(b"at", &input).is_none());
        }

        #[test]
        fn any_plaintext_round_trips(plain in proptest::collection::vec(any::<u8>(), 0..512)) {
            let s = sealer(4);
            prop_assert_eq!(s.open(b"p", &s.seal(b"p", &plain).unwrap()).unwrap().plaintext, plain);
        }
    }
}
