//! The error type of the key store.

use std::path::PathBuf;

use crate::alg::Alg;

/// Everything that can go wrong while loading, generating or using keys.
///
/// Messages name the file concerned but never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The file is not valid PEM or holds no private key.
    #[error("{path}: not a usable PEM private key: {reason}")]
    Pem {
        /// The key file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },

    /// The PEM block type is one this store cannot load.
    #[error("{path}: unsupported PEM type `{label}`: {hint}")]
    UnsupportedFormat {
        /// The key file.
        path: PathBuf,
        /// The PEM label found (e.g. `ENCRYPTED PRIVATE KEY`).
        label: String,
        /// What the operator should do.
        hint: &'static str,
    },

    /// ring refused the key (bad encoding, wrong curve, RSA modulus outside 2048–4096 bits, …).
    #[error("{path}: key rejected: {reason}")]
    KeyRejected {
        /// The key file.
        path: PathBuf,
        /// ring's reason (never key material).
        reason: String,
    },

    /// The key in the file does not fit the algorithm it is listed for.
    #[error("{path}: listed for {alg} but the file holds {found}")]
    AlgMismatch {
        /// The key file.
        path: PathBuf,
        /// The algorithm in the entry.
        alg: Alg,
        /// The kind of key found in the file.
        found: &'static str,
    },

    /// The `kid` in the manifest is not the RFC 7638 thumbprint of the key in the file.
    #[error(
        "{path}: kid mismatch: manifest says `{expected}`, the key's RFC 7638 thumbprint is `{computed}`"
    )]
    KidMismatch {
        /// The key file.
        path: PathBuf,
        /// The kid in the manifest or configuration.
        expected: String,
        /// The thumbprint computed from the key.
        computed: String,
    },

    /// The same key is listed twice with different settings.
    #[error(
        "key `{kid}` is listed more than once with different alg/state/not_after ({first} and {second})"
    )]
    DuplicateKid {
        /// The key id.
        kid: String,
        /// The first file listing it.
        first: PathBuf,
        /// The second file listing it.
        second: PathBuf,
    },

    /// The manifest `keys.toml` is malformed.
    #[error("{path}: invalid key manifest: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },

    /// A new RSA key of an unacceptable size was requested.
    #[error(
        "refusing to generate an RSA key of {bits} bits: new RSA keys must have 3072 to 4096 bits"
    )]
    RsaKeySize {
        /// The requested size.
        bits: usize,
    },

    /// Key generation failed.
    #[error("key generation failed: {0}")]
    Generate(String),

    /// The algorithm cannot be used with this key (e.g. ES256 with an RSA key).
    #[error("key `{kid}` cannot sign with {alg}")]
    IncompatibleAlg {
        /// The key id.
        kid: String,
        /// The requested algorithm.
        alg: Alg,
    },

    /// The signing operation failed (should not happen with a valid key).
    #[error("signing failed")]
    Sign,

    /// Serialising claims or a header to JSON failed.
    #[error("JSON serialisation failed: {0}")]
    Json(#[from] serde_json::Error),

    /// A JWS could not be verified by [`crate::KeySet::verify_jws`].
    #[error("JWS rejected: {0}")]
    InvalidJws(&'static str),
}

impl KeyError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        KeyError::Io {
            path: path.into(),
            source,
        }
    }
}
