//! Code display: TOTP (RFC 6238, HMAC-SHA1, 30-second steps, 6 digits).

use data_encoding::BASE32_NOPAD;
use ring::hmac;
use subtle::ConstantTimeEq;

/// Length of a time step, seconds.
pub const STEP: i64 = 30;
/// Steps accepted either side of now, for clock drift.
pub const DRIFT_STEPS: i64 = 1;

/// A fresh 160-bit secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret);
    secret
}

/// The secret as base32, as typed into or scanned by a code display app.
pub fn secret_base32(secret: &[u8]) -> String {
    BASE32_NOPAD.encode(secret)
}

/// The `otpauth://` URI for enrolment.
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let label = url::form_urlencoded::byte_serialize(format!("{issuer}:{account}").as_bytes())
        .collect::<String>();
    let issuer_q = url::form_urlencoded::byte_serialize(issuer.as_bytes()).collect::<String>();
    format!(
        "otpauth://totp/{label}?secret={}&issuer={issuer_q}&algorithm=SHA1&digits=6&period={STEP}",
        secret_base32(secret)
    )
}

/// The code for time step `step`.
pub fn code_at_step(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let digest = tag.as_ref();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = (u32::from(digest[offset] & 0x7f) << 24)
        | (u32::from(digest[offset + 1]) << 16)
        | (u32::from(digest[offset + 2]) << 8)
        | u32::from(digest[offset + 3]);
    format!("{:06}", binary % 1_000_000)
}

/// The time step of a Unix time.
pub fn step_of(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP)
}

/// Checks `code` at `unix_seconds`; returns the matching step (to refuse its reuse), if any.
pub fn verify(secret: &[u8], code: &str, unix_seconds: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(unix_seconds);
    let mut found = None;
    for step in (now - DRIFT_STEPS)..=(now + DRIFT_STEPS) {
        if bool::from(code_at_step(secret, step).as_bytes().ct_eq(code.as_bytes())) {
            found = Some(step);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any text at any time: no panic, and only six digits (after trimming) can match.
        #[test]
        fn any_input_is_answered_and_only_six_digits_match(
            code in ".{0,40}",
            secret in proptest::collection::vec(any::<u8>(), 0..64),
            t in any::<i64>(),
        ) {
            let t = t / 4; // room for the drift arithmetic at the extremes
            if verify(&secret, &code, t).is_some() {
                let c = code.trim();
                prop_assert!(c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()));
            }
        }

        /// The code of a time verifies at that time, within one step of it.
        #[test]
        fn a_code_verifies_at_its_own_time(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            t in 0i64..4_000_000_000,
        ) {
            let code = code_at_step(&secret, step_of(t));
            let step = verify(&secret, &format!(" {code} "), t);
            prop_assert!(step.is_some_and(|s| (s - step_of(t)).abs() <= DRIFT_STEPS));
        }
    }

    /// RFC 6238 Appendix B, SHA-1 secret, truncated to six digits.
    #[test]
    fn rfc6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at_step(secret, step_of(time)), code, "t={time}");
        }
    }

    #[test]
    fn drift_of_one_step_is_accepted_and_two_is_not() {
        let secret = b"12345678901234567890";
        let t = 1_234_567_890;
        let code = code_at_step(secret, step_of(t));
        assert_eq!(verify(secret, &code, t), Some(step_of(t)));
        assert!(verify(secret, &code, t + 30).is_some());
        assert!(verify(secret, &code, t + 61).is_none());
        assert!(verify(secret, "12345", t).is_none());
        assert!(verify(secret, "abcdef", t).is_none());
    }

    #[test]
    fn otpauth_uri_carries_the_secret() {
        let uri = otpauth_uri(b"12345678901234567890", "MitID demo", "alice");
        assert!(uri.starts_with(
            "otpauth://totp/MitID+demo%3Aalice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        ));
    }
}
