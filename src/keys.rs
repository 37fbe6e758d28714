//! Opening each component's key store, and generating demo keys on first start.

use anyhow::Context;
use eid_keys::{Alg, KeyStore};

use crate::config::{Component, Settings};

/// The components that sign with their own keys.
pub const SIGNING_COMPONENTS: [Component; 3] =
    [Component::Broker, Component::Idp, Component::EidasGateway];

/// Opens the key store of `component`. In the single-node demo, an active ES256 key is generated into
/// the data directory when there is none; anywhere else (the nodes of a cluster must share their
/// keys) a missing key is an error that says what to run.
pub fn open_key_store(settings: &Settings, component: Component) -> anyhow::Result<KeyStore> {
    let dir = settings.key_dir(component);
    if settings.may_generate_secrets() {
        let generated = eid_keys::ensure_active(&dir, Alg::ES256)
            .with_context(|| format!("generating demo keys in {}", dir.display()))?;
        if generated {
            tracing::info!(component = component.name(), dir = %dir.display(), "generated a demo ES256 signing key");
        }
    }
    let store = KeyStore::open(&dir, settings.key_entries(component)).with_context(|| {
        format!(
            "loading the {} keys from {}",
            component.name(),
            dir.display()
        )
    })?;
    if store.signing_key(Alg::ES256).is_none() {
        anyhow::bail!(
            "{} has no active ES256 signing key in {}: run `eidbroker keygen --component {} --alg ES256`",
            component.name(),
            dir.display(),
            component.name()
        );
    }
    Ok(store)
}
