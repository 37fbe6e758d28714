//! Who the demo SAML service is: its RSA key (generated on first start into its key directory,
//! `<data_dir>/keys/demo-rp/`, like the broker's demo keys), the certificate of that key, its
//! endpoints and its metadata, and its registration at the broker.

use anyhow::Context;
use eid_broker::registry::SpDetails;
use eid_broker::settings::{SamlSpSettings, SamlSpSource};
use eid_keys::{Alg, KeyStore, SigningKey};
use eid_saml::dsig::certificate_for;
use eid_saml::enc::DecryptionKey;
use eid_saml::sp::SpMetadataOut;
use std::sync::Arc;

use crate::config::{Component, Settings};

/// The name citizens see for the service at the broker.
pub const NAME: &str = "Demo-service (SAML)";
/// The sector of its pairwise NameIDs (another than the OIDC demo service's, so a person has
/// another identifier there).
pub const SECTOR: &str = "saml.demo";
/// What the broker releases to it: as to the OIDC demo service (the eIDAS identifier and country
/// of a foreign person included).
pub const RELEASE: [&str; 4] = ["cpr", "name", "birthdate", "eidas"];
/// The service area it declares: the demo mandates (config/demo/delegation.toml) name it.
pub const SERVICE_AREA: &str = "housing-benefit";
/// Where it is served on the demo listener.
pub const BASE: &str = "/saml";

/// The demo SAML service's key, certificate, endpoints and metadata.
pub struct Identity {
    /// Its entity ID: its metadata URL.
    pub entity_id: String,
    /// Its assertion consumer service (HTTP-POST).
    pub acs_url: String,
    /// Its single logout endpoint (HTTP-Redirect).
    pub slo_url: String,
    /// Its single logout endpoint for the broker's back-channel requests (SOAP).
    pub soap_url: String,
    /// It signs its requests with this key, and the broker encrypts to it.
    pub key: Arc<SigningKey>,
    /// The same key, for decrypting assertions.
    pub decryption: DecryptionKey,
    /// Its metadata (unsigned: the broker gets it at start, not by a fetch).
    pub metadata: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("entity_id", &self.entity_id)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Loads the service's RSA key, generating it on first start, and makes its metadata for the
    /// origin of the demo listener.
    pub fn ensure(settings: &Settings) -> anyhow::Result<Identity> {
        let dir = settings.key_dir(Component::DemoRp);
        if eid_keys::ensure_active(&dir, Alg::RS256).with_context(|| {
            format!(
                "generating the demo SAML service's key in {}",
                dir.display()
            )
        })? {
            tracing::info!(dir = %dir.display(), "generated the demo SAML service's RSA key");
        }
        let keys = KeyStore::open(&dir, Vec::new()).with_context(|| {
            format!("loading the demo SAML service's key from {}", dir.display())
        })?;
        let key = keys
            .signing_key(Alg::RS256)
            .with_context(|| format!("no active RS256 key in {}", dir.display()))?;
        let pem = std::fs::read(key.file())
            .with_context(|| format!("reading {}", key.file().display()))?;
        let decryption = DecryptionKey::from_pem(&pem)
            .map_err(|e| anyhow::anyhow!("{}: {e}", key.file().display()))?;
        let certificate = certificate_for(&key, NAME)?;
        let origin = settings.listener(Component::DemoRp).issuer();
        let url = |path: &str| format!("{origin}{BASE}{path}");
        let metadata = SpMetadataOut {
            entity_id: url("/metadata"),
            acs_url: url("/acs"),
            slo_redirect_url: Some(url("/slo")),
            slo_soap_url: Some(url("/slo/soap")),
            signing_certificate: certificate.clone(),
            encryption_certificate: certificate,
        }
        .to_xml();
        Ok(Identity {
            entity_id: url("/metadata"),
            acs_url: url("/acs"),
            slo_url: url("/slo"),
            soap_url: url("/slo/soap"),
            key,
            decryption,
            metadata,
        })
    }

    /// Its registration at the broker, as a configured SAML service provider would have.
    pub fn registration(&self) -> SamlSpSettings {
        SamlSpSettings {
            source: SamlSpSource::File(self.metadata.clone()),
            details: SpDetails {
                name: NAME.to_owned(),
                sector: SECTOR.to_owned(),
                release: RELEASE.iter().map(|r| (*r).to_owned()).collect(),
                aes_cbc: false,
                // People act for others here (the demo mandates name this area), not at the OIDC
                // demo service, whose password logins the benchmarks drive.
                representation: true,
                requires_cpr: false,
                service_areas: vec![SERVICE_AREA.to_owned()],
            },
        }
    }
}
