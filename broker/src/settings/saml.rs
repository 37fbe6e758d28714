//! SAML service providers as the configuration names them: a metadata file or a metadata URL,
//! and what the broker adds to each.

use serde::Deserialize;
use std::path::PathBuf;

use super::{SettingsError, invalid};

/// A SAML service provider, as written: its metadata file (or metadata URL) and what the broker
/// adds to it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSamlSp {
    /// The SP's metadata file (an `EntityDescriptor` with one SAML 2.0 `SPSSODescriptor`), or
    /// `metadata_url`.
    pub metadata: Option<PathBuf>,
    /// Where the SP's metadata is fetched from, at start and then on a schedule (https; plain
    /// http only to a loopback host).
    pub metadata_url: Option<String>,
    /// With `metadata_url`: the entity ID the fetched metadata must name.
    pub entity_id: Option<String>,
    /// With `metadata_url`: a PEM file of the certificate(s) whose key must sign the metadata.
    pub anchor_certificate_file: Option<PathBuf>,
    /// With `metadata_url`: seconds between fetches (default 3600).
    pub refresh_interval_secs: Option<u64>,
    /// The name shown to citizens.
    pub name: String,
    /// The sector of its pairwise identifiers.
    pub sector: String,
    /// Attributes it may receive (`cpr`, `name`, `birthdate`).
    #[serde(default)]
    pub release: Vec<String>,
    /// Encrypt its assertions with AES-256-CBC (only for a service that cannot do AES-256-GCM).
    #[serde(default)]
    pub aes_cbc: bool,
    /// Whether it accepts people acting on behalf of others (OIO-BPP privileges in its
    /// assertions).
    #[serde(default)]
    pub accepts_representation: bool,
    /// Whether it needs a CPR number (a person with a foreign eID is refused).
    #[serde(default)]
    pub requires_cpr: bool,
    /// Named service areas it belongs to, which mandates can name instead of its entity ID.
    #[serde(default)]
    pub service_areas: Vec<String>,
}

/// Where a configured SAML service provider's metadata comes from.
#[derive(Debug, Clone)]
pub enum SamlSpSource {
    /// A file, read (and parsed once) at validation: the XML.
    File(String),
    /// A URL, fetched at start and then on a schedule.
    Url {
        /// The entity ID the metadata must name.
        entity_id: String,
        /// The URL, anchor and interval.
        source: crate::saml_metadata::MetadataSource,
    },
}

/// A SAML service provider's validated settings (so that `check-config` names a bad file, URL or
/// anchor).
#[derive(Debug, Clone)]
pub struct SamlSpSettings {
    /// Where its metadata comes from.
    pub source: SamlSpSource,
    /// What the broker adds to it.
    pub details: crate::registry::SpDetails,
}

impl SamlSpSettings {
    /// Its entity ID: the metadata file's (`None` if it cannot be read) or the configured one.
    pub fn entity_id(&self) -> Option<String> {
        match &self.source {
            SamlSpSource::File(xml) => eid_saml::metadata::SpMetadata::parse(xml)
                .ok()
                .map(|m| m.entity_id),
            SamlSpSource::Url { entity_id, .. } => Some(entity_id.clone()),
        }
    }

    /// The registration from the metadata file, with its `validUntil` checked at `now`; `None`
    /// for a metadata URL (fetched by [`crate::saml_metadata::refresh`]).
    pub fn register(
        &self,
        now: time::OffsetDateTime,
    ) -> Option<Result<crate::registry::RegisteredSp, eid_core::InvalidRegistration>> {
        match &self.source {
            SamlSpSource::File(xml) => Some(crate::registry::prepare_saml(
                &self.details.with_metadata(xml),
                now,
            )),
            SamlSpSource::Url { .. } => None,
        }
    }

    /// The service provider as the registry keeps a configured metadata URL.
    pub fn url_sp(&self) -> Option<crate::registry::ConfiguredUrlSp> {
        match &self.source {
            SamlSpSource::File(_) => None,
            SamlSpSource::Url { entity_id, source } => Some(crate::registry::ConfiguredUrlSp {
                entity_id: entity_id.clone(),
                details: self.details.clone(),
                source: source.clone(),
            }),
        }
    }
}

impl RawSamlSp {
    /// Reads and checks the metadata file, or the URL and its anchor; `field` is its path
    /// (`saml_service_providers[0]`).
    pub(super) fn validate(&self, field: &str) -> Result<SamlSpSettings, SettingsError> {
        let details = crate::registry::SpDetails {
            name: self.name.clone(),
            sector: self.sector.clone(),
            release: self.release.clone(),
            aes_cbc: self.aes_cbc,
            representation: self.accepts_representation,
            requires_cpr: self.requires_cpr,
            service_areas: self.service_areas.clone(),
        };
        let url_only = [
            (self.entity_id.is_some(), "entity_id"),
            (
                self.anchor_certificate_file.is_some(),
                "anchor_certificate_file",
            ),
            (
                self.refresh_interval_secs.is_some(),
                "refresh_interval_secs",
            ),
        ];
        let url = match (&self.metadata, &self.metadata_url) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    format!("{field}.metadata"),
                    "give metadata (a file) or metadata_url, not both",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    format!("{field}.metadata"),
                    "give metadata (a file) or metadata_url",
                ));
            }
            (Some(path), None) => {
                if let Some((_, name)) = url_only.iter().find(|(given, _)| *given) {
                    return Err(invalid(
                        format!("{field}.{name}"),
                        "goes with metadata_url, not with a metadata file",
                    ));
                }
                let metadata_field = format!("{field}.metadata");
                let xml = std::fs::read_to_string(path)
                    .map_err(|e| invalid(&metadata_field, format!("{}: {e}", path.display())))?;
                let settings = SamlSpSettings {
                    source: SamlSpSource::File(xml),
                    details,
                };
                if let Some(Err(e)) = settings.register(time::OffsetDateTime::now_utc()) {
                    return Err(invalid(&metadata_field, format!("{}: {e}", path.display())));
                }
                return Ok(settings);
            }
            (None, Some(url)) => url,
        };
        let entity_id = self
            .entity_id
            .clone()
            .filter(|id| crate::http::is_valid_entity_id(id))
            .ok_or_else(|| {
                invalid(
                    format!("{field}.entity_id"),
                    "required with metadata_url (the entity ID its metadata must name)",
                )
            })?;
        let anchor = self
            .anchor_certificate_file
            .as_ref()
            .map(|path| {
                std::fs::read_to_string(path).map_err(|e| {
                    invalid(
                        format!("{field}.anchor_certificate_file"),
                        format!("{}: {e}", path.display()),
                    )
                })
            })
            .transpose()?;
        let source = crate::saml_metadata::MetadataSource::new(
            url,
            anchor.as_deref(),
            self.refresh_interval_secs,
        )
        .map_err(|e| {
            let name = match e {
                crate::saml_metadata::SourceError::Anchor(_) => "anchor_certificate_file",
                crate::saml_metadata::SourceError::Interval => "refresh_interval_secs",
                _ => "metadata_url",
            };
            invalid(format!("{field}.{name}"), e.to_string())
        })?;
        // What the registration will check of the details, checked now (the metadata is not).
        check_details(&details).map_err(|p| invalid(format!("{field}.{}", p.0), p.1))?;
        Ok(SamlSpSettings {
            source: SamlSpSource::Url { entity_id, source },
            details,
        })
    }
}

/// Checks what [`crate::registry::prepare_saml`] checks of the details alone (for a metadata URL,
/// whose metadata is not known before start): the failing field and the problem.
fn check_details(details: &crate::registry::SpDetails) -> Result<(), (&'static str, String)> {
    if details.name.trim().is_empty() {
        return Err(("name", "is empty".into()));
    }
    if details.sector.trim().is_empty() {
        return Err(("sector", "is empty".into()));
    }
    if let Some(unknown) = details
        .release
        .iter()
        .find(|c| eid_core::Attribute::from_name(c).is_none())
    {
        return Err(("release", format!("unknown attribute {unknown:?}")));
    }
    crate::registry::check_service_areas(&details.service_areas)
        .map_err(|p| ("service_areas", p))?;
    Ok(())
}
