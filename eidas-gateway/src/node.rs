//! A node's SAML identity: its RSA key (signing, and decrypting what peers encrypt to it) and the
//! certificate its metadata publishes. The demo generates it on first start into the node's key
//! directory (`<data_dir>/keys/eidas-gateway/saml/`, `<data_dir>/keys/eidas-xa/`); production
//! names it in the key directory like every other key.

use std::path::Path;
use std::sync::Arc;

use eid_keys::{Alg, KeyStore, SigningKey};
use eid_saml::dsig::certificate_for;
use eid_saml::enc::DecryptionKey;

/// A node's key and certificate.
pub struct NodeKeys {
    /// The RSA key (PS256 in the key store: it signs RSA-PSS, and RSA-SHA256 for peers that need it).
    pub key: Arc<SigningKey>,
    /// The same key, for decrypting assertions.
    pub decryption: DecryptionKey,
    /// Its self-signed certificate (DER): the signing and encryption certificate of our metadata.
    pub certificate: Vec<u8>,
}

impl std::fmt::Debug for NodeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKeys")
            .field("kid", &self.key.kid())
            .finish_non_exhaustive()
    }
}

impl NodeKeys {
    /// Loads the active PS256 key of `dir`, generating one first when `may_generate` (the demo).
    /// `subject` names the certificate (`DK eIDAS node`).
    pub fn load(dir: &Path, subject: &str, may_generate: bool) -> anyhow::Result<NodeKeys> {
        use anyhow::Context;
        if may_generate {
            eid_keys::ensure_active(dir, Alg::PS256)
                .with_context(|| format!("generating an eIDAS node key in {}", dir.display()))?;
        }
        let store = KeyStore::open(dir, Vec::new())
            .with_context(|| format!("loading the eIDAS node key from {}", dir.display()))?;
        let key = store.signing_key(Alg::PS256).with_context(|| {
            format!(
                "no active PS256 key in {}: run `eidbroker keygen --component eidas-gateway --alg PS256` \
                 and move it there",
                dir.display()
            )
        })?;
        let pem = std::fs::read(key.file())
            .with_context(|| format!("reading {}", key.file().display()))?;
        let decryption = DecryptionKey::from_pem(&pem)
            .map_err(|e| anyhow::anyhow!("{}: {e}", key.file().display()))?;
        let certificate = certificate_for(&key, subject)?;
        Ok(NodeKeys {
            key,
            decryption,
            certificate,
        })
    }
}
