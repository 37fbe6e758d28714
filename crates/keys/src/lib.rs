//! `eid-keys`: the key store of every component (broker, idp, eidas-gateway each have their own key
//! directory).
//!
//! * Every private key is parsed **once** into a ring key pair ([`SigningKey`]); signing never re-parses.
//!   ES256 uses `ECDSA_P256_SHA256_FIXED_SIGNING`, RS256 `RSA_PKCS1_SHA256`, PS256 `RSA_PSS_SHA256`.
//! * Each key is bound to one [`Alg`] (its JWK `alg`): an EC P-256 key to ES256, an RSA key to RS256 *or*
//!   PS256. [`SigningKey::sign_as`] lets an RSA key sign with the other RSA padding when a protocol needs it
//!   (XML-DSig per peer); the JWKS and JWS always use the key's own alg. Listing the same RSA file twice with
//!   different algs is refused (one kid, one alg).
//! * `kid` = RFC 7638 thumbprint of the public JWK.
//! * A key directory holds PEM files and a manifest `keys.toml` ([`manifest`]); configuration may name
//!   more key files ([`KeyEntry`]). [`KeyStore`] keeps the current [`KeySet`] in an `ArcSwap`: readers never
//!   lock; [`KeyStore::reload`] (SIGHUP, [`KeyStore::spawn_reloader`]) swaps in a fresh set or keeps the old
//!   one on error.
//! * States: next (published, not signing), active (signing), retired (published until `not_after`).
//!   [`generate()`], [`ensure_active`] and [`rotate`] maintain a directory.
//!
//! Private key material is never logged or shown by `Debug`.

#![warn(missing_docs)]

pub mod alg;
pub mod error;
pub mod generate;
pub mod jwk;
pub mod manifest;
mod pem_io;
pub mod signing;
pub mod store;

pub use alg::{Alg, KeyKind, KeyState, UnknownAlg, UnknownKeyState};
pub use error::KeyError;
pub use generate::{
    DEFAULT_RSA_BITS, MAX_RSA_BITS, MIN_NEW_RSA_BITS, Rotation, ensure_active, generate,
    generate_pem, generate_with_rsa_bits, rotate,
};
pub use jwk::PublicComponents;
pub use manifest::{KeyEntry, MANIFEST_FILE, read_manifest, write_manifest};
pub use signing::SigningKey;
pub use store::{KeySet, KeyStore, VerifiedJws};
