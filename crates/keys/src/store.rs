//! [`KeySet`] (an immutable snapshot of loaded keys) and [`KeyStore`] (the current snapshot behind an
//! `ArcSwap`, reloadable without locking readers).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::alg::{Alg, KeyState};
use crate::error::KeyError;
use crate::manifest::{self, KeyEntry};
use crate::pem_io;
use crate::signing::SigningKey;

/// An immutable snapshot of loaded keys with its pre-computed signing choices and a cached JWKS.
pub struct KeySet {
    /// All loaded keys in JWKS order: active, then next, then retired; newest first within a state.
    keys: Vec<Arc<SigningKey>>,
    /// Active keys per algorithm ([`Alg::index`]), newest `created` first.
    active: [Vec<Arc<SigningKey>>; 3],
    by_kid: HashMap<String, Arc<SigningKey>>,
    jwks_cache: ArcSwap<JwksCache>,
}

struct JwksCache {
    json: Arc<str>,
    /// The earliest `not_after` among the published keys: the cache is stale from then on.
    valid_until: Option<OffsetDateTime>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet").field("keys", &self.keys).finish()
    }
}

/// A JWS whose signature has been verified by [`KeySet::verify_jws`]. Claims are *not* validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedJws {
    /// The key that verified it.
    pub kid: String,
    /// The header's (and key's) algorithm.
    pub alg: Alg,
    /// The header's `typ`, if any.
    pub typ: Option<String>,
    /// The decoded payload.
    pub payload: Vec<u8>,
}

#[derive(Deserialize)]
struct JwsHeader {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<Value>,
}

impl KeySet {
    /// An empty key set.
    pub fn empty() -> KeySet {
        KeySet::build(Vec::new())
    }

    /// Builds a key set from keys already parsed (tests, tools). Duplicate kids are an error.
    pub fn from_keys(keys: Vec<SigningKey>) -> Result<KeySet, KeyError> {
        let mut seen: HashMap<&str, &Path> = HashMap::new();
        for k in &keys {
            if let Some(first) = seen.insert(k.kid(), k.file()) {
                return Err(KeyError::DuplicateKid {
                    kid: k.kid().to_owned(),
                    first: first.to_owned(),
                    second: k.file().to_owned(),
                });
            }
        }
        Ok(KeySet::build(keys.into_iter().map(Arc::new).collect()))
    }

    /// Reads the manifest of `dir` (missing directory or manifest = no keys) plus `extra` entries, parses
    /// every key once and checks kids. Entries whose `not_after` has passed are skipped without reading
    /// their file, so operators may delete expired key files.
    pub fn load(dir: &Path, extra: &[KeyEntry]) -> Result<KeySet, KeyError> {
        let now = OffsetDateTime::now_utc();
        let manifest_entries = manifest::read_manifest(dir)?;
        let entries = manifest_entries
            .into_iter()
            .map(|mut e| {
                e.file = dir.join(&e.file);
                e
            })
            .chain(extra.iter().cloned());

        let mut keys: Vec<Arc<SigningKey>> = Vec::new();
        let mut by_kid: HashMap<String, usize> = HashMap::new();
        for entry in entries {
            if !entry.is_valid_at(now) {
                tracing::debug!(file = %entry.file.display(), "skipping expired key");
                continue;
            }
            let key = load_entry(&entry)?;
            if let Some(&i) = by_kid.get(key.kid()) {
                let first = &keys[i];
                if first.alg() == key.alg()
                    && first.state() == key.state()
                    && first.not_after() == key.not_after()
                {
                    continue; // the same key named twice (manifest and config): harmless
                }
                return Err(KeyError::DuplicateKid {
                    kid: key.kid().to_owned(),
                    first: first.file().to_owned(),
                    second: key.file().to_owned(),
                });
            }
            by_kid.insert(key.kid().to_owned(), keys.len());
            keys.push(Arc::new(key));
        }
        Ok(KeySet::build(keys))
    }

    fn build(keys: Vec<Arc<SigningKey>>) -> KeySet {
        // Stable sort: state, then newest created first; equal created keeps the later-listed key first.
        let mut ordered: Vec<(usize, Arc<SigningKey>)> = keys.into_iter().enumerate().collect();
        ordered.sort_by(|(ia, a), (ib, b)| {
            state_rank(a.state())
                .cmp(&state_rank(b.state()))
                .then_with(|| b.created().cmp(&a.created()))
                .then_with(|| ib.cmp(ia))
        });
        let keys: Vec<Arc<SigningKey>> = ordered.into_iter().map(|(_, k)| k).collect();
        let mut active: [Vec<Arc<SigningKey>>; 3] = Default::default();
        for k in keys.iter().filter(|k| k.state() == KeyState::Active) {
            if let Some(v) = active.get_mut(k.alg().index()) {
                v.push(k.clone());
            }
        }
        let by_kid = keys
            .iter()
            .map(|k| (k.kid().to_owned(), k.clone()))
            .collect();
        let mut set = KeySet {
            keys,
            active,
            by_kid,
            jwks_cache: ArcSwap::from_pointee(JwksCache {
                json: Arc::from(""),
                valid_until: None,
            }),
        };
        set.jwks_cache = ArcSwap::from_pointee(set.build_jwks_cache(OffsetDateTime::now_utc()));
        set
    }

    /// All loaded keys (active first, then next, then retired; newest first), including any whose
    /// `not_after` has passed since loading.
    pub fn keys(&self) -> &[Arc<SigningKey>] {
        &self.keys
    }

    /// The key with this kid, if loaded.
    pub fn get(&self, kid: &str) -> Option<&Arc<SigningKey>> {
        self.by_kid.get(kid)
    }

    /// The active key for `alg` valid at `now`; if several, the one with the newest `created`.
    pub fn signing_key_at(&self, alg: Alg, now: OffsetDateTime) -> Option<Arc<SigningKey>> {
        self.active
            .get(alg.index())?
            .iter()
            .find(|k| k.is_valid_at(now))
            .cloned()
    }

    /// The JWKS `{"keys":[…]}` of next, active and retired keys that are valid at `now`.
    pub fn jwks_at(&self, now: OffsetDateTime) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .filter(|k| k.is_valid_at(now))
            .map(|k| k.public_jwk())
            .collect();
        json!({ "keys": keys })
    }

    fn build_jwks_cache(&self, now: OffsetDateTime) -> JwksCache {
        let published: Vec<&Value> = self
            .keys
            .iter()
            .filter(|k| k.is_valid_at(now))
            .map(|k| k.public_jwk_ref())
            .collect();
        let valid_until = self
            .keys
            .iter()
            .filter(|k| k.is_valid_at(now))
            .filter_map(|k| k.not_after())
            .min();
        let json = serde_json::to_string(&json!({ "keys": published }))
            .unwrap_or_else(|_| String::from(r#"{"keys":[]}"#));
        JwksCache {
            json: Arc::from(json),
            valid_until,
        }
    }

    /// The serialised JWKS for now, cached: rebuilt only when a published key's `not_after` passes.
    pub fn jwks_json(&self) -> Arc<str> {
        let now = OffsetDateTime::now_utc();
        let cache = self.jwks_cache.load();
        if cache.valid_until.is_none_or(|until| now < until) {
            return cache.json.clone();
        }
        let fresh = Arc::new(self.build_jwks_cache(now));
        let json = fresh.json.clone();
        self.jwks_cache.store(fresh);
        json
    }

    /// Verifies the signature of a compact JWS made by one of this set's keys valid at `now` (looked up by
    /// the header's `kid`; the header's `alg` must be the key's). Headers with `crit` are refused.
    /// Claims (`exp`, `aud`, …) are not checked.
    pub fn verify_jws(&self, token: &str, now: OffsetDateTime) -> Result<VerifiedJws, KeyError> {
        let mut parts = token.splitn(3, '.');
        let (Some(h64), Some(p64), Some(s64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(KeyError::InvalidJws("not a compact JWS"));
        };
        if s64.contains('.') {
            return Err(KeyError::InvalidJws("not a compact JWS"));
        }
        let header_bytes = URL_SAFE_NO_PAD
            .decode(h64)
            .map_err(|_| KeyError::InvalidJws("bad header encoding"))?;
        let header: JwsHeader = serde_json::from_slice(&header_bytes)
            .map_err(|_| KeyError::InvalidJws("bad header"))?;
        if header.crit.is_some() {
            return Err(KeyError::InvalidJws("unsupported critical header"));
        }
        let kid = header.kid.ok_or(KeyError::InvalidJws("no kid"))?;
        let key = self
            .get(&kid)
            .filter(|k| k.is_valid_at(now))
            .ok_or(KeyError::InvalidJws("unknown kid"))?;
        if header.alg != key.alg().as_str() {
            return Err(KeyError::InvalidJws("alg does not match the key"));
        }
        let sig = URL_SAFE_NO_PAD
            .decode(s64)
            .map_err(|_| KeyError::InvalidJws("bad signature encoding"))?;
        let signing_input = &token[..h64.len() + 1 + p64.len()];
        if !key.verify(signing_input.as_bytes(), &sig) {
            return Err(KeyError::InvalidJws("bad signature"));
        }
        let payload = URL_SAFE_NO_PAD
            .decode(p64)
            .map_err(|_| KeyError::InvalidJws("bad payload encoding"))?;
        Ok(VerifiedJws {
            kid,
            alg: key.alg(),
            typ: header.typ,
            payload,
        })
    }
}

fn state_rank(s: KeyState) -> u8 {
    match s {
        KeyState::Active => 0,
        KeyState::Next => 1,
        KeyState::Retired => 2,
    }
}

fn load_entry(entry: &KeyEntry) -> Result<SigningKey, KeyError> {
    let parsed = pem_io::read_key_file(&entry.file)?;
    let created = entry.created.or_else(|| {
        std::fs::metadata(&entry.file)
            .and_then(|m| m.modified())
            .ok()
            .map(OffsetDateTime::from)
    });
    let key = SigningKey::from_parsed(
        parsed,
        entry.alg,
        entry.state,
        created,
        entry.not_after,
        entry.file.clone(),
    )?;
    if let Some(expected) = &entry.kid
        && expected != key.kid()
    {
        return Err(KeyError::KidMismatch {
            path: entry.file.clone(),
            expected: expected.clone(),
            computed: key.kid().to_owned(),
        });
    }
    Ok(key)
}

/// The key store of one component: the current [`KeySet`] behind an [`ArcSwap`], so readers never lock and
/// a reload swaps the whole set atomically. Cloning is cheap (one `Arc`).
#[derive(Clone)]
pub struct KeyStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: Option<PathBuf>,
    extra: Vec<KeyEntry>,
    current: ArcSwap<KeySet>,
    reload_lock: Mutex<()>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("dir", &self.inner.dir)
            .field("extra", &self.inner.extra)
            .field("keys", &self.inner.current.load().keys)
            .finish()
    }
}

impl KeyStore {
    /// Loads the keys of `dir` (its `keys.toml`) plus `extra` entries named in the configuration.
    ///
    /// A missing directory gives an empty set; a listed file that is missing or unparsable, a kid mismatch or
    /// a conflicting duplicate is an error naming the file.
    pub fn open(dir: &Path, extra: Vec<KeyEntry>) -> Result<KeyStore, KeyError> {
        let set = KeySet::load(dir, &extra)?;
        log_set("keys loaded", dir, &set);
        Ok(KeyStore {
            inner: Arc::new(Inner {
                dir: Some(dir.to_owned()),
                extra,
                current: ArcSwap::from_pointee(set),
                reload_lock: Mutex::new(()),
            }),
        })
    }

    /// A store holding a fixed key set with no directory; [`KeyStore::reload`] keeps it unchanged.
    pub fn from_key_set(set: KeySet) -> KeyStore {
        KeyStore {
            inner: Arc::new(Inner {
                dir: None,
                extra: Vec::new(),
                current: ArcSwap::from_pointee(set),
                reload_lock: Mutex::new(()),
            }),
        }
    }

    /// The key directory, if the store was opened from one.
    pub fn dir(&self) -> Option<&Path> {
        self.inner.dir.as_deref()
    }

    /// Re-reads the directory and the extra entries and swaps the new set in atomically. On error the old
    /// set stays in place and the error is returned. Blocking (file I/O and key parsing).
    pub fn reload(&self) -> Result<(), KeyError> {
        let Some(dir) = &self.inner.dir else {
            return Ok(());
        };
        let _guard = self
            .inner
            .reload_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let set = KeySet::load(dir, &self.inner.extra)?;
        let old = self.inner.current.load();
        let changed = old.keys.len() != set.keys.len()
            || old
                .keys
                .iter()
                .zip(&set.keys)
                .any(|(a, b)| a.kid() != b.kid() || a.state() != b.state());
        if changed {
            log_set("keys reloaded", dir, &set);
        }
        self.inner.current.store(Arc::new(set));
        Ok(())
    }

    /// Spawns a task that calls [`KeyStore::reload`] every `interval` (at least 10 ms) on the blocking pool,
    /// logging errors and keeping the old keys. The first reload happens one interval after the call. The
    /// task ends by itself when every `KeyStore` clone has been dropped; abort the handle to stop it sooner.
    ///
    /// Must be called inside a tokio runtime.
    pub fn spawn_reloader(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let interval = interval.max(Duration::from_millis(10));
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await; // the first tick completes immediately
            loop {
                ticker.tick().await;
                let Some(inner) = weak.upgrade() else {
                    break;
                };
                let store = KeyStore { inner };
                match tokio::task::spawn_blocking(move || store.reload()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        tracing::error!(%error, "key reload failed; keeping the previous keys");
                    }
                    Err(error) => tracing::error!(%error, "key reload task failed"),
                }
            }
        })
    }

    /// The current key set (a cheap `Arc` clone; hold it to use one consistent snapshot).
    pub fn current(&self) -> Arc<KeySet> {
        self.inner.current.load_full()
    }

    /// The active key for `alg` (newest `created` if several), if any.
    pub fn signing_key(&self, alg: Alg) -> Option<Arc<SigningKey>> {
        self.signing_key_at(alg, OffsetDateTime::now_utc())
    }

    /// Like [`KeyStore::signing_key`] at a given instant.
    pub fn signing_key_at(&self, alg: Alg, now: OffsetDateTime) -> Option<Arc<SigningKey>> {
        self.inner.current.load().signing_key_at(alg, now)
    }

    /// The key with this kid (any state), if loaded.
    pub fn key(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.inner.current.load().get(kid).cloned()
    }

    /// The JWKS `{"keys":[…]}` (next, active and retired keys not past their `not_after`).
    pub fn jwks(&self) -> Value {
        self.jwks_at(OffsetDateTime::now_utc())
    }

    /// The JWKS as of `now`.
    pub fn jwks_at(&self, now: OffsetDateTime) -> Value {
        self.inner.current.load().jwks_at(now)
    }

    /// The serialised JWKS, cached per key set (for the JWKS endpoint; serve as `application/json`).
    pub fn jwks_json(&self) -> Arc<str> {
        self.inner.current.load().jwks_json()
    }

    /// Verifies a compact JWS signed by one of our keys; see [`KeySet::verify_jws`].
    pub fn verify_jws(&self, token: &str) -> Result<VerifiedJws, KeyError> {
        self.inner
            .current
            .load()
            .verify_jws(token, OffsetDateTime::now_utc())
    }
}

fn log_set(msg: &str, dir: &Path, set: &KeySet) {
    let kids: Vec<String> = set
        .keys
        .iter()
        .map(|k| format!("{}:{}:{}", k.alg(), k.state(), k.kid()))
        .collect();
    tracing::info!(dir = %dir.display(), keys = ?kids, "{msg}");
    for alg in Alg::ALL {
        if let Some(v) = set.active.get(alg.index())
            && v.len() > 1
        {
            tracing::warn!(%alg, count = v.len(), "several active keys; the newest signs");
        }
    }
}
