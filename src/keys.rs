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
        // The broker's SAML IdP signs with RSA (OIOSAML 3); only needed once a service uses it.
        if saml_needs_rsa(settings, component)
            && eid_keys::ensure_active(&dir, Alg::RS256)
                .with_context(|| format!("generating a demo RS256 key in {}", dir.display()))?
        {
            tracing::info!(component = component.name(), dir = %dir.display(), "generated a demo RS256 signing key for SAML");
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
    if saml_needs_rsa(settings, component) && store.signing_key(Alg::RS256).is_none() {
        anyhow::bail!(
            "the broker has SAML service providers but no active RS256 signing key in {}: run \
             `eidbroker keygen --component broker --alg RS256`",
            dir.display()
        );
    }
    Ok(store)
}

/// Whether `component` is the broker with SAML service providers (which need an RSA key).
fn saml_needs_rsa(settings: &Settings, component: Component) -> bool {
    component == Component::Broker && !settings.broker.saml_service_providers.is_empty()
}
