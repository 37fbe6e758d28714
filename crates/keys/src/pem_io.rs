//! Reading private keys from PEM into ring key pairs, and writing files safely.
//!
//! Accepted PEM blocks:
//! * `PRIVATE KEY` (PKCS#8 v1, EC P-256 or RSA) — what `generate` writes and the recommended format;
//! * `RSA PRIVATE KEY` (PKCS#1);
//! * `EC PRIVATE KEY` (SEC1, named curve P-256, with the public key present) — wrapped into PKCS#8 in memory,
//!   because ring only parses PKCS#8; a SEC1 key without its public key is refused with a conversion hint.
//!
//! Other blocks in the same file (e.g. `CERTIFICATE`) are ignored; exactly one private key block must be present.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ring::rsa::PublicKeyComponents;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RsaKeyPair};

use crate::alg::KeyKind;
use crate::error::KeyError;
use crate::jwk::PublicComponents;
use crate::signing::rng;

const CONVERT_HINT: &str = "convert it to unencrypted PKCS#8 with `openssl pkcs8 -topk8 -nocrypt -in old.pem -out new.pem`";

/// A parsed private key, ready to sign.
pub(crate) enum ParsedKey {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl ParsedKey {
    pub(crate) fn kind(&self) -> KeyKind {
        match self {
            ParsedKey::Ec(_) => KeyKind::EcP256,
            ParsedKey::Rsa(_) => KeyKind::Rsa,
        }
    }

    pub(crate) fn public_components(&self) -> Result<PublicComponents, KeyError> {
        match self {
            ParsedKey::Ec(kp) => PublicComponents::from_uncompressed_p256(kp.public_key().as_ref())
                .ok_or_else(|| KeyError::Generate("unexpected EC public key encoding".into())),
            ParsedKey::Rsa(kp) => {
                let c: PublicKeyComponents<Vec<u8>> = kp.public().into();
                Ok(PublicComponents::Rsa { n: c.n, e: c.e })
            }
        }
    }
}

/// Reads and parses the private key in `path`.
pub(crate) fn read_key_file(path: &Path) -> Result<ParsedKey, KeyError> {
    let text = fs::read(path).map_err(|e| KeyError::io(path, e))?;
    parse_private_pem(&text, path)
}

/// Parses PEM text holding exactly one private key; `path` is only used in error messages.
pub(crate) fn parse_private_pem(text: &[u8], path: &Path) -> Result<ParsedKey, KeyError> {
    let blocks = pem::parse_many(text).map_err(|e| KeyError::Pem {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let mut keys = blocks.iter().filter(|b| {
        matches!(
            b.tag(),
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "ENCRYPTED PRIVATE KEY"
        )
    });
    let block = match (keys.next(), keys.next()) {
        (Some(b), None) => b,
        (None, _) => {
            return Err(KeyError::Pem {
                path: path.to_owned(),
                reason: "no PRIVATE KEY / RSA PRIVATE KEY / EC PRIVATE KEY block found".into(),
            });
        }
        (Some(_), Some(_)) => {
            return Err(KeyError::Pem {
                path: path.to_owned(),
                reason: "more than one private key block; put each key in its own file".into(),
            });
        }
    };
    let rejected = |e: ring::error::KeyRejected| KeyError::KeyRejected {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    match block.tag() {
        "PRIVATE KEY" => parse_pkcs8(block.contents(), path),
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(block.contents())
            .map(ParsedKey::Rsa)
            .map_err(rejected),
        "EC PRIVATE KEY" => {
            let pkcs8 = sec1_to_pkcs8(block.contents());
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, rng())
                .map(ParsedKey::Ec)
                .map_err(|e| KeyError::UnsupportedFormat {
                    path: path.to_owned(),
                    label: format!(
                        "EC PRIVATE KEY ({e}; only P-256 with its public key is supported)"
                    ),
                    hint: CONVERT_HINT,
                })
        }
        other => Err(KeyError::UnsupportedFormat {
            path: path.to_owned(),
            label: other.to_owned(),
            hint: "encrypted keys are not supported; protect the file with permissions (0600) and \
                   decrypt it with `openssl pkcs8 -topk8 -nocrypt -in old.pem -out new.pem`",
        }),
    }
}

/// Parses a PKCS#8 document as EC P-256 or RSA.
pub(crate) fn parse_pkcs8(der: &[u8], path: &Path) -> Result<ParsedKey, KeyError> {
    // The AlgorithmIdentifier decides; try EC first (cheap), then RSA, and report the more useful error.
    match EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, rng()) {
        Ok(kp) => Ok(ParsedKey::Ec(kp)),
        Err(ec_err) => match RsaKeyPair::from_pkcs8(der) {
            Ok(kp) => Ok(ParsedKey::Rsa(kp)),
            Err(rsa_err) => {
                let reason = if rsa_err.to_string() == "WrongAlgorithm" {
                    format!(
                        "{ec_err} (expected an EC P-256 or RSA key; other curves and key types are not supported)"
                    )
                } else {
                    rsa_err.to_string()
                };
                Err(KeyError::KeyRejected {
                    path: path.to_owned(),
                    reason,
                })
            }
        },
    }
}

/// Wraps a SEC1 `ECPrivateKey` into a PKCS#8 `PrivateKeyInfo` for P-256.
fn sec1_to_pkcs8(sec1: &[u8]) -> Vec<u8> {
    // AlgorithmIdentifier { id-ecPublicKey, prime256v1 }
    const ALG_ID: &[u8] = &[
        0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
        0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ];
    let mut body = Vec::with_capacity(sec1.len() + 32);
    body.extend_from_slice(&[0x02, 0x01, 0x00]); // version 0
    body.extend_from_slice(ALG_ID);
    body.push(0x04); // OCTET STRING
    der_len(&mut body, sec1.len());
    body.extend_from_slice(sec1);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(0x30);
    der_len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

fn der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        // Keys are far below 64 KiB.
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn temp_path_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Writes `bytes` to `path` atomically (temp file in the same directory, fsync, rename), mode 0600 on Unix.
/// With `overwrite == false` an existing `path` is an error and is left untouched.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), KeyError> {
    if !overwrite && path.exists() {
        return Err(KeyError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::AlreadyExists, "file already exists"),
        ));
    }
    let tmp = temp_path_for(path);
    let result = (|| {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(KeyError::io(path, e));
    }
    // Make the rename durable (best effort; not all platforms allow opening a directory).
    if let Some(dir) = path.parent()
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Creates `dir` (and parents) if missing; new directories get mode 0700 on Unix.
pub(crate) fn create_key_dir(dir: &Path) -> Result<(), KeyError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| KeyError::io(dir, e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths() {
        let mut v = Vec::new();
        der_len(&mut v, 5);
        der_len(&mut v, 200);
        der_len(&mut v, 300);
        assert_eq!(v, [5, 0x81, 200, 0x82, 1, 44]);
    }

    #[test]
    fn no_private_key_block() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = parse_private_pem(pem.as_bytes(), Path::new("/x/y.pem"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("/x/y.pem"), "{err}");
    }

    #[test]
    fn encrypted_key_refused_with_hint() {
        let pem =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = parse_private_pem(pem.as_bytes(), Path::new("k.pem"))
            .err()
            .unwrap();
        assert!(matches!(err, KeyError::UnsupportedFormat { .. }), "{err}");
        assert!(err.to_string().contains("openssl pkcs8"), "{err}");
    }
}
