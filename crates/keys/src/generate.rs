//! Key generation and rotation in a key directory (used by `eidbroker keygen` and the demo's first start).
//!
//! New key files are written first (mode 0600, temp file + rename, never overwriting), then the manifest is
//! rewritten once, atomically; a crash in between leaves at worst an unlisted key file, never a lost key.
//! Manifest updates are serialised within the process; do not run two key tools on one directory at once.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
use time::OffsetDateTime;

use crate::alg::{Alg, KeyKind, KeyState};
use crate::error::KeyError;
use crate::manifest::{self, KeyEntry};
use crate::pem_io;
use crate::signing::rng;

/// Size of RSA keys made by [`generate`].
pub const DEFAULT_RSA_BITS: usize = 3072;
/// Smallest RSA key this crate generates.
pub const MIN_NEW_RSA_BITS: usize = 3072;
/// Largest RSA key ring can sign with.
pub const MAX_RSA_BITS: usize = 4096;

static MANIFEST_LOCK: Mutex<()> = Mutex::new(());

/// Reads the manifest, lets `f` change the entries, and writes it back atomically if `f` succeeded.
fn update_manifest<R>(
    dir: &Path,
    f: impl FnOnce(&mut Vec<KeyEntry>) -> Result<R, KeyError>,
) -> Result<R, KeyError> {
    let _guard = MANIFEST_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    pem_io::create_key_dir(dir)?;
    let mut entries = manifest::read_manifest(dir)?;
    let r = f(&mut entries)?;
    manifest::write_manifest(dir, &entries)?;
    Ok(r)
}

/// Generates a key for `alg` (EC P-256, or RSA 3072 bits) into `dir`, writes it as PKCS#8 PEM (mode 0600)
/// named `<alg>-<kid prefix>.pem`, and appends it to `dir/keys.toml`. Returns the manifest entry (with kid,
/// `created` = now, and `file` relative to `dir`). Creates `dir` (mode 0700) if needed.
pub fn generate(
    dir: &Path,
    alg: Alg,
    state: KeyState,
    not_after: Option<OffsetDateTime>,
) -> Result<KeyEntry, KeyError> {
    generate_with_rsa_bits(dir, alg, DEFAULT_RSA_BITS, state, not_after)
}

/// Like [`generate`] with an explicit RSA size (3072–4096 bits; ignored for ES256).
pub fn generate_with_rsa_bits(
    dir: &Path,
    alg: Alg,
    rsa_bits: usize,
    state: KeyState,
    not_after: Option<OffsetDateTime>,
) -> Result<KeyEntry, KeyError> {
    check_rsa_bits(alg, rsa_bits)?;
    update_manifest(dir, |entries| {
        let entry = new_key_file(dir, alg, rsa_bits, state, not_after, now_seconds())?;
        entries.push(entry.clone());
        Ok(entry)
    })
}

/// Generates an active key for `alg` only if the manifest of `dir` has no active key for `alg` that is
/// still valid. Returns whether it generated one. Idempotent.
pub fn ensure_active(dir: &Path, alg: Alg) -> Result<bool, KeyError> {
    update_manifest(dir, |entries| {
        let now = OffsetDateTime::now_utc();
        if entries
            .iter()
            .any(|e| e.alg == alg && e.state == KeyState::Active && e.is_valid_at(now))
        {
            return Ok(false);
        }
        let entry = new_key_file(
            dir,
            alg,
            DEFAULT_RSA_BITS,
            KeyState::Active,
            None,
            now_seconds(),
        )?;
        entries.push(entry);
        Ok(true)
    })
}

/// What [`rotate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The previously active entries, now retired (with their new `not_after`).
    pub retired: Vec<KeyEntry>,
    /// The entry that is now active (the promoted next key, or a newly generated one).
    pub activated: KeyEntry,
    /// Whether `activated` was newly generated because there was no next key.
    pub activated_generated: bool,
    /// The newly generated next key.
    pub next: KeyEntry,
}

/// Rotates the keys of `alg` in `dir`, in one manifest update:
/// 1. every active key of `alg` becomes retired with `not_after = now + retire_grace` (or its existing
///    `not_after` if that is earlier);
/// 2. the newest valid next key of `alg` becomes active; if there is none, a new active key is generated;
/// 3. a fresh next key is generated.
///
/// New keys get `created = now`. No entry is removed. Readers pick the change up on their next reload.
pub fn rotate(
    dir: &Path,
    alg: Alg,
    retire_grace: time::Duration,
    now: OffsetDateTime,
) -> Result<Rotation, KeyError> {
    let now = truncate_seconds(now);
    update_manifest(dir, |entries| {
        let retire_at = now + retire_grace;
        let mut retired = Vec::new();
        for e in entries
            .iter_mut()
            .filter(|e| e.alg == alg && e.state == KeyState::Active)
        {
            e.state = KeyState::Retired;
            e.not_after = Some(e.not_after.map_or(retire_at, |na| na.min(retire_at)));
            retired.push(e.clone());
        }
        let promote = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.alg == alg && e.state == KeyState::Next && e.is_valid_at(now))
            .max_by_key(|(i, e)| (e.created, *i))
            .map(|(i, _)| i);
        let (activated, activated_generated) = match promote.and_then(|i| entries.get_mut(i)) {
            Some(e) => {
                e.state = KeyState::Active;
                (e.clone(), false)
            }
            None => {
                let e = new_key_file(dir, alg, DEFAULT_RSA_BITS, KeyState::Active, None, now)?;
                entries.push(e.clone());
                (e, true)
            }
        };
        let next = new_key_file(dir, alg, DEFAULT_RSA_BITS, KeyState::Next, None, now)?;
        entries.push(next.clone());
        Ok(Rotation {
            retired,
            activated,
            activated_generated,
            next,
        })
    })
}

fn check_rsa_bits(alg: Alg, bits: usize) -> Result<(), KeyError> {
    if alg.kind() == KeyKind::Rsa && !(MIN_NEW_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(KeyError::RsaKeySize { bits });
    }
    Ok(())
}

fn now_seconds() -> OffsetDateTime {
    truncate_seconds(OffsetDateTime::now_utc())
}

fn truncate_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// Generates a private key as PKCS#8 PEM text (no manifest involved).
pub fn generate_pem(alg: Alg, rsa_bits: usize) -> Result<String, KeyError> {
    check_rsa_bits(alg, rsa_bits)?;
    match alg.kind() {
        KeyKind::EcP256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng())
                .map_err(|_| KeyError::Generate("EC P-256 key generation failed".into()))?;
            Ok(pem::encode_config(
                &pem::Pem::new("PRIVATE KEY", doc.as_ref()),
                pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
            ))
        }
        KeyKind::Rsa => {
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, rsa_bits)
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            Ok(pem.as_str().to_owned())
        }
    }
}

/// Generates a key, writes its PEM file into `dir` and returns its manifest entry (not yet in the manifest).
fn new_key_file(
    dir: &Path,
    alg: Alg,
    rsa_bits: usize,
    state: KeyState,
    not_after: Option<OffsetDateTime>,
    created: OffsetDateTime,
) -> Result<KeyEntry, KeyError> {
    let pem_text = generate_pem(alg, rsa_bits)?;
    // Parse it back exactly as the store will, which also gives the kid.
    let parsed = pem_io::parse_private_pem(pem_text.as_bytes(), Path::new("<generated>"))?;
    let kid = parsed.public_components()?.thumbprint();
    let prefix: String = kid.chars().take(16).collect();
    let file = PathBuf::from(format!(
        "{}-{prefix}.pem",
        alg.as_str().to_ascii_lowercase()
    ));
    pem_io::write_atomic(&dir.join(&file), pem_text.as_bytes(), false)?;
    tracing::info!(%alg, %kid, %state, file = %dir.join(&file).display(), "generated key");
    Ok(KeyEntry {
        kid: Some(kid),
        alg,
        file,
        state,
        created: Some(created),
        not_after,
    })
}
