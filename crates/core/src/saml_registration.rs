//! SAML service providers registered at run time (through the admin API, from a metadata document
//! or a metadata URL), in the form the durable registry stores them.
//!
//! Service providers named in the configuration are not stored: the broker reads them at start.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The largest metadata document a registration holds (the SAML metadata parser's bound).
pub const MAX_SAML_METADATA_BYTES: usize = 256 * 1024;

/// A SAML service provider's registration document, as stored (and as the admin API shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlSpRegistration {
    /// Its entity ID: the key, and the `entityID` of its metadata.
    pub entity_id: String,
    /// The name shown to citizens.
    pub name: String,
    /// The sector of its pairwise identifiers.
    pub sector: String,
    /// The attributes it may receive (`cpr`, `name`, `birthdate`).
    #[serde(default)]
    pub release: Vec<String>,
    /// Encrypt its assertions with AES-256-CBC rather than AES-256-GCM.
    #[serde(default)]
    pub aes_cbc: bool,
    /// Whether it accepts people acting on behalf of others (assertions with OIO-BPP privileges
    /// scoped to the principal); a service that did not say so never gets one.
    #[serde(default)]
    pub accepts_representation: bool,
    /// Whether it needs a CPR number: a person without one (a foreign eID) is refused.
    #[serde(default)]
    pub requires_cpr: bool,
    /// Named service areas it belongs to, which mandates can name instead of its entity ID.
    #[serde(default)]
    pub service_areas: Vec<String>,
    /// Its metadata XML: as given, or the last good document fetched from [`Self::metadata_url`].
    pub metadata: String,
    /// Where its metadata is fetched from on a schedule, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_url: Option<MetadataUrl>,
}

/// A metadata URL refreshed on a schedule, and how its last fetch went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataUrl {
    /// The URL (https, or http on loopback).
    pub url: String,
    /// The certificate (PEM) whose key must sign the fetched `EntityDescriptor`; without one,
    /// unsigned metadata is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_certificate: Option<String>,
    /// Seconds between fetches.
    pub refresh_interval_secs: u64,
    /// When it was last fetched, successfully or not.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub fetched_at: Option<OffsetDateTime>,
    /// Why the last fetch or check failed; `None` after a good one.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// A stored registration with the store's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSamlSp {
    /// The registration.
    pub registration: SamlSpRegistration,
    /// Counts the writes of this entity ID: a conditional replace
    /// ([`SamlServiceProviderRepository::replace_saml_sp`](crate::SamlServiceProviderRepository::replace_saml_sp))
    /// writes only over the revision it read.
    pub revision: i64,
    /// When it was last written.
    pub updated_at: OffsetDateTime,
}
