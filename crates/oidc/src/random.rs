//! Unguessable identifiers: codes, tokens, transaction ids.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

/// Fills `buf` with secure random bytes from the thread's CSPRNG (`rand`'s `ThreadRng`: ChaCha12,
/// seeded from the operating system and periodically reseeded from it). A system call
/// per code, token and salt cost more than a microsecond each under load (issue 14); the
/// generator's output is as unpredictable to an attacker as the kernel's.
pub fn fill(buf: &mut [u8]) {
    rand::rng().fill_bytes(buf);
}

/// `bytes` random bytes, base64url without padding (32 bytes give 43 characters, 256 bits).
pub fn token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fill(&mut buf);
    URL_SAFE_NO_PAD.encode(&buf)
}

/// A random 256-bit token.
pub fn token256() -> String {
    token(32)
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
