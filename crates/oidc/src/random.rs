//! Unguessable identifiers: codes, tokens, transaction ids.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};

/// `bytes` random bytes, base64url without padding (32 bytes give 43 characters, 256 bits).
pub fn token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // SystemRandom only fails when the OS has no entropy source at all; then nothing is safe.
    if SystemRandom::new().fill(&mut buf).is_err() {
        buf.iter_mut().for_each(|b| *b = 0);
        abort_without_randomness();
    }
    URL_SAFE_NO_PAD.encode(&buf)
}

/// A random 256-bit token.
pub fn token256() -> String {
    token(32)
}

fn abort_without_randomness() {
    // No secure randomness: refusing to continue is the only safe behaviour.
    std::process::abort();
}

/// SHA-256 of `input`, base64url: how codes and tokens are keyed in stores, so a store dump
/// reveals no usable secret.
pub fn digest_key(input: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        input.as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = token256();
        let b = token256();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn digest_key_is_stable() {
        assert_eq!(digest_key("abc"), digest_key("abc"));
        assert_ne!(digest_key("abc"), digest_key("abd"));
    }
}
