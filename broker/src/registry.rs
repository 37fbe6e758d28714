//! The relying-party registry as the request paths see it: an in-memory snapshot of the durable
//! registry, swapped atomically (lock-free reads), refreshed on a timer and after admin changes so
//! every node converges.
//!
//! SAML service providers come from two places: the configuration (a metadata file, or a metadata
//! URL refreshed on a schedule) and the durable registry (the admin API). The configuration comes
//! first: a stored service provider with a configured entity ID, or with an OIDC client's id, is
//! left out (and the admin API refuses to store one).

use arc_swap::ArcSwap;
use eid_core::relying_party::SamlSp;
use eid_core::{
    GrantType, InvalidRegistration, OidcClient, Protocol, RelyingParty, RelyingPartyRepository,
    RpRegistration, SamlServiceProviderRepository, SamlSpRegistration, SigningAlg, StoreError,
};
use eid_oidc::{ClientRegistration, TokenEndpointAuthMethod};
use jsonwebtoken::jwk::JwkSet;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

use crate::saml_metadata::MetadataSource;

/// A registered OIDC relying party, ready for the request paths.
#[derive(Debug)]
pub struct RegisteredRp {
    /// The typed registration.
    pub rp: RelyingParty,
    /// Its OIDC integration (the [`Protocol::Oidc`] of `rp`, kept apart so that the OIDC paths
    /// need not match on the protocol again).
    pub oidc: OidcClient,
    /// Its OIDC client view (redirect URIs, authentication, secret digest).
    pub client: ClientRegistration,
    /// Its public keys, for `private_key_jwt`.
    pub jwks: Option<JwkSet>,
}

impl RegisteredRp {
    /// Its client id.
    pub fn id(&self) -> &str {
        &self.rp.id
    }
}

/// The key-store algorithm of a registered signing algorithm.
pub fn key_alg(alg: SigningAlg) -> eid_keys::Alg {
    match alg {
        SigningAlg::ES256 => eid_keys::Alg::ES256,
        SigningAlg::RS256 => eid_keys::Alg::RS256,
        SigningAlg::PS256 => eid_keys::Alg::PS256,
    }
}

/// Checks a registration document and prepares it for the OIDC request paths.
pub fn prepare(doc: RpRegistration) -> Result<RegisteredRp, InvalidRegistration> {
    let rp = RelyingParty::try_from(doc)?;
    let bad = |problem: String| InvalidRegistration {
        client_id: rp.id.clone(),
        problem,
    };
    let oidc = match &rp.protocol {
        Protocol::Oidc(oidc) => oidc.clone(),
        Protocol::Saml(_) => return Err(bad("not an OIDC client".into())),
    };
    if let Some(uri) = &oidc.backchannel_logout_uri {
        eid_oidc::client::check_redirect_uri(uri)
            .map_err(|p| bad(format!("backchannel_logout_uri: {p}")))?;
    }
    let jwks = match &oidc.jwks {
        Some(value) => Some(
            serde_json::from_value::<JwkSet>(value.clone())
                .map_err(|e| bad(format!("jwks: {e}")))?,
        ),
        None => None,
    };
    if oidc.auth_method == TokenEndpointAuthMethod::PrivateKeyJwt && jwks.is_none() {
        return Err(bad("private_key_jwt needs jwks".into()));
    }
    // Only a client of the code flow needs a redirect URI; a service client has none.
    if oidc.redirect_uris.is_empty() && oidc.allows(GrantType::AuthorizationCode) {
        return Err(bad("no redirect_uris".into()));
    }
    let client = ClientRegistration::with_secret_digest(
        rp.id.clone(),
        rp.name.clone(),
        oidc.redirect_uris.clone(),
        oidc.post_logout_redirect_uris.clone(),
        oidc.auth_method,
        oidc.client_secret_sha256.as_deref(),
    )
    .map_err(|e| bad(e.problem))?;
    Ok(RegisteredRp {
        rp,
        oidc,
        client,
        jwks,
    })
}

/// A registered SAML service provider, ready for the request paths.
#[derive(Debug)]
pub struct RegisteredSp {
    /// The typed registration (its id is the entity ID).
    pub rp: RelyingParty,
    /// Its SAML integration (the [`Protocol::Saml`] of `rp`).
    pub sp: SamlSp,
    /// How assertions are encrypted for it.
    pub encryption: eid_saml::enc::EncryptOptions,
}

/// A SAML service provider as configured: its metadata document and what the broker adds.
#[derive(Debug, Clone)]
pub struct SamlSpConfig<'a> {
    /// The metadata XML.
    pub metadata: &'a str,
    /// The name shown to citizens.
    pub name: &'a str,
    /// The sector of its pairwise identifiers.
    pub sector: &'a str,
    /// The attributes it may receive (`cpr`, `name`, `birthdate`).
    pub release: &'a [String],
    /// Encrypt with AES-256-CBC rather than AES-256-GCM (for a service that supports only CBC).
    pub aes_cbc: bool,
    /// Whether it accepts people acting on behalf of others.
    pub representation: bool,
    /// Whether it needs a CPR number (a person without one is refused).
    pub requires_cpr: bool,
    /// The service areas it declares (mandates may name an area instead of the service).
    pub service_areas: &'a [String],
}

/// The most service areas a service declares.
pub const MAX_SERVICE_AREAS: usize = 32;
/// The longest service area name.
pub const MAX_SERVICE_AREA_LEN: usize = 64;

/// Checks declared service areas: at most [`MAX_SERVICE_AREAS`], each once, 1 to
/// [`MAX_SERVICE_AREA_LEN`] characters of `a-z`, `0-9`, `-`, `.`, `:` or `_`.
pub fn check_service_areas(areas: &[String]) -> Result<(), String> {
    if areas.len() > MAX_SERVICE_AREAS {
        return Err(format!("at most {MAX_SERVICE_AREAS} service areas"));
    }
    for (i, area) in areas.iter().enumerate() {
        let fine = !area.is_empty()
            && area.len() <= MAX_SERVICE_AREA_LEN
            && area
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:_".contains(&b));
        if !fine {
            return Err(format!(
                "service area {:?} must be 1 to {MAX_SERVICE_AREA_LEN} characters of a-z, 0-9, -, ., : or _",
                area.chars().take(MAX_SERVICE_AREA_LEN).collect::<String>()
            ));
        }
        if areas[..i].contains(area) {
            return Err(format!("service area {area:?} is named twice"));
        }
    }
    Ok(())
}

/// Reads a SAML service provider's registration from its metadata; `now` checks `validUntil`.
pub fn prepare_saml(
    config: &SamlSpConfig<'_>,
    now: time::OffsetDateTime,
) -> Result<RegisteredSp, InvalidRegistration> {
    let metadata = eid_saml::metadata::SpMetadata::parse(config.metadata).map_err(|e| {
        InvalidRegistration {
            client_id: config.name.to_owned(),
            problem: format!("metadata: {e}"),
        }
    })?;
    let bad = |problem: String| InvalidRegistration {
        client_id: metadata.entity_id.clone(),
        problem,
    };
    metadata
        .check_valid(now)
        .map_err(|e| bad(format!("metadata: {e}")))?;
    let sp = metadata
        .to_saml_sp()
        .map_err(|e| bad(format!("metadata: {e}")))?;
    let Some(encryption_certificate) = &sp.encryption_certificate else {
        return Err(bad("metadata: no encryption certificate".into()));
    };
    eid_saml::enc::RecipientKey::from_certificate(encryption_certificate)
        .map_err(|e| bad(format!("metadata: encryption certificate: {e}")))?;
    if config.name.trim().is_empty() {
        return Err(bad("name is empty".into()));
    }
    if config.sector.trim().is_empty() {
        return Err(bad("sector is empty".into()));
    }
    check_service_areas(config.service_areas).map_err(|p| bad(format!("service_areas: {p}")))?;
    let release = config
        .release
        .iter()
        .map(|c| {
            eid_core::Attribute::from_name(c)
                .ok_or_else(|| bad(format!("unknown attribute {c:?} in release")))
        })
        .collect::<Result<std::collections::BTreeSet<_>, _>>()?;
    let encryption = eid_saml::enc::EncryptOptions {
        data: if config.aes_cbc {
            eid_saml::enc::DataAlg::Aes256Cbc
        } else {
            eid_saml::enc::DataAlg::Aes256Gcm
        },
        ..Default::default()
    };
    Ok(RegisteredSp {
        rp: RelyingParty {
            id: sp.entity_id.clone(),
            name: config.name.to_owned(),
            sector: config.sector.to_owned(),
            subject_type: eid_core::SubjectType::Pairwise,
            release,
            representation: config.representation,
            requires_cpr: config.requires_cpr,
            service_areas: config.service_areas.to_vec(),
            protocol: Protocol::Saml(sp.clone()),
        },
        sp,
        encryption,
    })
}

/// What the broker adds to a SAML service provider's metadata (owned [`SamlSpConfig`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpDetails {
    /// The name shown to citizens.
    pub name: String,
    /// The sector of its pairwise identifiers.
    pub sector: String,
    /// The attributes it may receive.
    pub release: Vec<String>,
    /// AES-256-CBC rather than GCM.
    pub aes_cbc: bool,
    /// Whether it accepts people acting on behalf of others.
    pub representation: bool,
    /// Whether it needs a CPR number (a person without one is refused).
    pub requires_cpr: bool,
    /// The service areas it declares.
    pub service_areas: Vec<String>,
}

impl SpDetails {
    /// These details with `metadata`, to [`prepare_saml`].
    pub fn with_metadata<'a>(&'a self, metadata: &'a str) -> SamlSpConfig<'a> {
        SamlSpConfig {
            metadata,
            name: &self.name,
            sector: &self.sector,
            release: &self.release,
            aes_cbc: self.aes_cbc,
            representation: self.representation,
            requires_cpr: self.requires_cpr,
            service_areas: &self.service_areas,
        }
    }

    /// The details of a stored registration.
    pub fn of(registration: &SamlSpRegistration) -> SpDetails {
        SpDetails {
            name: registration.name.clone(),
            sector: registration.sector.clone(),
            release: registration.release.clone(),
            aes_cbc: registration.aes_cbc,
            representation: registration.accepts_representation,
            requires_cpr: registration.requires_cpr,
            service_areas: registration.service_areas.clone(),
        }
    }
}

/// Checks a stored registration and prepares it: [`prepare_saml`] on its (last good) metadata,
/// whose entity ID must be the registration's.
pub fn prepare_stored(
    registration: &SamlSpRegistration,
    now: OffsetDateTime,
) -> Result<RegisteredSp, InvalidRegistration> {
    let details = SpDetails::of(registration);
    let sp = prepare_saml(&details.with_metadata(&registration.metadata), now)?;
    if sp.rp.id != registration.entity_id {
        return Err(InvalidRegistration {
            client_id: registration.entity_id.clone(),
            problem: format!(
                "the metadata's entityID {:?} differs from the registered entity ID",
                sp.rp.id
            ),
        });
    }
    Ok(sp)
}

/// A configured SAML service provider whose metadata is fetched from a URL.
#[derive(Debug, Clone)]
pub struct ConfiguredUrlSp {
    /// Its entity ID (the fetched metadata must name it).
    pub entity_id: String,
    /// What the broker adds to its metadata.
    pub details: SpDetails,
    /// Where its metadata comes from.
    pub source: MetadataSource,
}

/// A configured SAML service provider and its current state.
#[derive(Debug, Clone)]
struct Configured {
    /// Where its metadata comes from, if from a URL.
    url: Option<Arc<ConfiguredUrlSp>>,
    /// Its registration from the last good metadata (`None` until a URL's first good fetch).
    current: Option<Arc<RegisteredSp>>,
    /// When its metadata was last fetched, and whether that fetch failed.
    fetched: Option<(OffsetDateTime, bool)>,
}

/// A configured URL service provider as the metadata schedule sees it.
#[derive(Debug, Clone)]
pub struct UrlSpState {
    /// The service provider.
    pub sp: Arc<ConfiguredUrlSp>,
    /// When its metadata was last fetched, and whether that fetch failed.
    pub fetched: Option<(OffsetDateTime, bool)>,
}

/// The snapshot of all registrations.
#[derive(Default)]
pub struct Registry {
    snapshot: ArcSwap<HashMap<String, Arc<RegisteredRp>>>,
    /// Every SAML service provider the request paths see: configured, then stored.
    saml: ArcSwap<HashMap<String, Arc<RegisteredSp>>>,
    saml_configured: ArcSwap<HashMap<String, Configured>>,
    saml_stored: ArcSwap<HashMap<String, Arc<RegisteredSp>>>,
    /// Serialises the SAML writers (each rebuilds `saml` from both sources).
    saml_writes: Mutex<()>,
    /// Serialises each re-read of the store with its store into the snapshot, so that a slower
    /// read (the timer's) never replaces a newer one (an admin change's, a notice's).
    reads: tokio::sync::Mutex<()>,
}

impl Registry {
    /// The SAML service provider of an entity ID.
    pub fn saml(&self, entity_id: &str) -> Option<Arc<RegisteredSp>> {
        self.saml.load().get(entity_id).cloned()
    }

    /// Replaces the configured SAML service providers by these (read from metadata files).
    pub fn set_saml(&self, sps: Vec<RegisteredSp>) {
        self.configure_saml(sps, Vec::new());
    }

    /// Replaces the configured SAML service providers: those read from metadata files, and those
    /// whose metadata comes from a URL (not yet fetched).
    pub fn configure_saml(&self, files: Vec<RegisteredSp>, urls: Vec<ConfiguredUrlSp>) {
        let mut map = HashMap::with_capacity(files.len() + urls.len());
        for sp in files {
            let id = sp.rp.id.clone();
            let configured = Configured {
                url: None,
                current: Some(Arc::new(sp)),
                fetched: None,
            };
            map.insert(id, configured);
        }
        for sp in urls {
            map.insert(
                sp.entity_id.clone(),
                Configured {
                    url: Some(Arc::new(sp)),
                    current: None,
                    fetched: None,
                },
            );
        }
        let _writing = self.saml_writes.lock().unwrap_or_else(|p| p.into_inner());
        self.saml_configured.store(Arc::new(map));
        self.rebuild_saml();
    }

    /// Whether the configuration names this entity ID (its registration cannot be stored).
    pub fn is_configured_saml(&self, entity_id: &str) -> bool {
        self.saml_configured.load().contains_key(entity_id)
    }

    /// The configured service providers whose metadata comes from a URL, with their fetch state.
    pub fn configured_url_sps(&self) -> Vec<UrlSpState> {
        self.saml_configured
            .load()
            .values()
            .filter_map(|c| {
                c.url.as_ref().map(|sp| UrlSpState {
                    sp: sp.clone(),
                    fetched: c.fetched,
                })
            })
            .collect()
    }

    /// Records a fetch of a configured URL service provider's metadata at `at`: a good one
    /// (`Some`) replaces its registration; a failed one (`None`) keeps the last good.
    pub fn record_configured_fetch(
        &self,
        entity_id: &str,
        at: OffsetDateTime,
        fetched: Option<RegisteredSp>,
    ) {
        let _writing = self.saml_writes.lock().unwrap_or_else(|p| p.into_inner());
        let mut map = HashMap::clone(&self.saml_configured.load());
        let Some(entry) = map.get_mut(entity_id) else {
            return;
        };
        entry.fetched = Some((at, fetched.is_none()));
        if let Some(sp) = fetched {
            entry.current = Some(Arc::new(sp));
        }
        self.saml_configured.store(Arc::new(map));
        self.rebuild_saml();
    }

    /// Re-reads the stored SAML service providers. Invalid ones (tampering, an old version, or
    /// metadata whose `validUntil` passed) and ones with an OIDC client's id are left out, and one
    /// with a configured entity ID is shadowed by the configured one; each is logged.
    pub async fn refresh_saml(
        &self,
        repo: &dyn SamlServiceProviderRepository,
        now: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        let _reading = self.reads.lock().await;
        let all = repo.saml_sps().await?;
        let mut map = HashMap::with_capacity(all.len());
        for stored in all {
            let entity_id = &stored.registration.entity_id;
            if self.get(entity_id).is_some() {
                tracing::error!(
                    entity_id = %entity_id,
                    "skipping a stored SAML service provider whose entity ID is an OIDC client id"
                );
                continue;
            }
            if self.is_configured_saml(entity_id) {
                // Kept here, but the configured one is what the request paths see.
                tracing::error!(
                    entity_id = %entity_id,
                    "a stored SAML service provider has a configured entity ID; the configuration's is used"
                );
            }
            match prepare_stored(&stored.registration, now) {
                Ok(sp) => {
                    map.insert(entity_id.clone(), Arc::new(sp));
                }
                Err(e) => {
                    tracing::error!(error = %e, "skipping an invalid stored SAML service provider")
                }
            }
        }
        let count = map.len();
        let _writing = self.saml_writes.lock().unwrap_or_else(|p| p.into_inner());
        self.saml_stored.store(Arc::new(map));
        self.rebuild_saml();
        Ok(count)
    }

    /// Rebuilds the request paths' map: the configured service providers, then the stored ones.
    /// Callers hold `saml_writes`.
    fn rebuild_saml(&self) {
        let configured = self.saml_configured.load();
        let stored = self.saml_stored.load();
        let mut map = HashMap::with_capacity(configured.len() + stored.len());
        for (id, sp) in stored.iter() {
            if !configured.contains_key(id) {
                map.insert(id.clone(), sp.clone());
            }
        }
        for (id, c) in configured.iter() {
            if let Some(sp) = &c.current {
                map.insert(id.clone(), sp.clone());
            }
        }
        self.saml.store(Arc::new(map));
    }

    /// The relying parties of either protocol that accept representation, by name: what a power of
    /// attorney can name (the delegation portal lists them).
    pub fn representing_services(&self) -> Vec<eid_core::RelyingParty> {
        let oidc = self.snapshot.load();
        let saml = self.saml.load();
        let mut out: Vec<eid_core::RelyingParty> = oidc
            .values()
            .map(|r| &r.rp)
            .chain(saml.values().map(|sp| &sp.rp))
            .filter(|rp| rp.representation)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        out
    }

    /// Every registered service of either protocol as `(id, name)`, by name: what a person can
    /// filter their log by.
    pub fn services(&self) -> Vec<(String, String)> {
        let oidc = self.snapshot.load();
        let saml = self.saml.load();
        let mut out: Vec<(String, String)> = oidc
            .values()
            .map(|r| &r.rp)
            .chain(saml.values().map(|sp| &sp.rp))
            .map(|rp| (rp.id.clone(), rp.name.clone()))
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// The name shown to citizens of a relying party of either protocol.
    pub fn service_name(&self, id: &str) -> Option<String> {
        self.get(id)
            .map(|rp| rp.rp.name.clone())
            .or_else(|| self.saml(id).map(|sp| sp.rp.name.clone()))
    }

    /// Whether the relying party of either protocol called `id` requires a CPR number.
    pub fn requires_cpr(&self, id: &str) -> bool {
        self.get(id)
            .map(|rp| rp.rp.requires_cpr)
            .or_else(|| self.saml(id).map(|sp| sp.rp.requires_cpr))
            .unwrap_or(false)
    }

    /// The registration of a client id.
    pub fn get(&self, client_id: &str) -> Option<Arc<RegisteredRp>> {
        self.snapshot.load().get(client_id).cloned()
    }

    /// Re-reads every registration from the durable store. Invalid stored registrations are skipped
    /// and logged (they were validated when written, so this means tampering or an old version).
    pub async fn refresh(&self, repo: &dyn RelyingPartyRepository) -> Result<usize, StoreError> {
        let _reading = self.reads.lock().await;
        let all = repo.relying_parties().await?;
        let mut map = HashMap::with_capacity(all.len());
        for rp in all {
            match prepare(rp) {
                Ok(prepared) => {
                    map.insert(prepared.rp.id.clone(), Arc::new(prepared));
                }
                Err(e) => tracing::error!(error = %e, "skipping an invalid stored registration"),
            }
        }
        let count = map.len();
        self.snapshot.store(Arc::new(map));
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_areas_are_short_lowercase_names_each_named_once() {
        let areas = |a: &[&str]| {
            check_service_areas(&a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        };
        assert!(areas(&[]).is_ok());
        assert!(areas(&["housing-benefit", "dk:tax.2026", "a_b"]).is_ok());
        for bad in [
            &[""][..],
            &["Housing"],
            &["housing benefit"],
            &["x\n"],
            &["a", "a"],
        ] {
            assert!(areas(bad).is_err(), "{bad:?}");
        }
        assert!(areas(&[&"a".repeat(MAX_SERVICE_AREA_LEN + 1)]).is_err());
        let many: Vec<String> = (0..=MAX_SERVICE_AREAS).map(|i| format!("a{i}")).collect();
        assert!(check_service_areas(&many).is_err());
    }
}
