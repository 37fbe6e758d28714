//! Signed assertions per second through the ring signer (RSA-3072, RSA-SHA256), beside one
//! RSA-3072 signature per second through ring alone. A measurement, never a timed assertion: run
//! it in release with
//! `cargo run --release -p eid-saml --example dsig_bench`
//! and compare with `openssl speed -seconds 5 rsa3072` on the same machine.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[path = "../tests/dsig_support/mod.rs"]
mod dsig_support;

use std::time::{Duration, Instant};

use dsig_support::*;
use eid_saml::dsig::{self, SignatureAlg};
use eid_saml::enc::{EncryptOptions, RecipientKey, encrypt_element};

fn rate(mut f: impl FnMut()) -> f64 {
    // Warm up, then run for about three seconds.
    f();
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(3) {
        f();
        n += 1;
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

fn main() {
    let alg = SignatureAlg::RsaSha256;
    let key = key(alg);
    let cert = cert(&key);
    let xml = assertion("_a1");
    let raw = rate(|| {
        key.sign_as(eid_keys::Alg::RS256, xml.as_bytes()).unwrap();
    });
    let signed = rate(|| {
        dsig::sign_enveloped(&xml, "_a1", &key, alg, &cert).unwrap();
    });
    println!(
        "RSA-3072: ring sign {raw:.0}/s; signed assertions (sign_enveloped) {signed:.0}/s ({:.2} of ring)",
        signed / raw
    );
    // What else a SAML login spends on its assertion: reading the service's encryption
    // certificate, and the encryption itself (AES-256-GCM, RSA-OAEP to that key).
    let enc_cert = dsig_support::cert(&rsa_key(eid_keys::Alg::RS256));
    let parse = rate(|| {
        RecipientKey::from_certificate(&enc_cert).unwrap();
    });
    let recipient = RecipientKey::from_certificate(&enc_cert).unwrap();
    let signed_xml = dsig::sign_enveloped(&xml, "_a1", &key, alg, &cert).unwrap();
    let encrypt = rate(|| {
        encrypt_element(&signed_xml, &recipient, EncryptOptions::default()).unwrap();
    });
    println!(
        "encryption certificate read {parse:.0}/s ({:.0} µs); assertion encrypted {encrypt:.0}/s ({:.0} µs)",
        1e6 / parse,
        1e6 / encrypt
    );
}
