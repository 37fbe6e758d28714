//! The relying-party registry as the request paths see it: an in-memory snapshot of the durable
//! registry, swapped atomically (lock-free reads), refreshed on a timer and after admin changes so
//! every node converges.

use arc_swap::ArcSwap;
use eid_core::relying_party::SamlSp;
use eid_core::{
    GrantType, InvalidRegistration, OidcClient, Protocol, RelyingParty, RelyingPartyRepository,
    RpRegistration, SigningAlg, StoreError,
};
use eid_oidc::{ClientRegistration, TokenEndpointAuthMethod};
use jsonwebtoken::jwk::JwkSet;
use std::collections::HashMap;
use std::sync::Arc;

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
            representation: false,
            protocol: Protocol::Saml(sp.clone()),
        },
        sp,
        encryption,
    })
}

/// The snapshot of all registrations.
#[derive(Default)]
pub struct Registry {
    snapshot: ArcSwap<HashMap<String, Arc<RegisteredRp>>>,
    saml: ArcSwap<HashMap<String, Arc<RegisteredSp>>>,
}

impl Registry {
    /// The SAML service provider of an entity ID.
    pub fn saml(&self, entity_id: &str) -> Option<Arc<RegisteredSp>> {
        self.saml.load().get(entity_id).cloned()
    }

    /// Replaces the SAML service providers (registered from configured metadata at start).
    pub fn set_saml(&self, sps: Vec<RegisteredSp>) {
        let map = sps
            .into_iter()
            .map(|sp| (sp.rp.id.clone(), Arc::new(sp)))
            .collect();
        self.saml.store(Arc::new(map));
    }

    /// The name shown to citizens of a relying party of either protocol.
    pub fn service_name(&self, id: &str) -> Option<String> {
        self.get(id)
            .map(|rp| rp.rp.name.clone())
            .or_else(|| self.saml(id).map(|sp| sp.rp.name.clone()))
    }

    /// The registration of a client id.
    pub fn get(&self, client_id: &str) -> Option<Arc<RegisteredRp>> {
        self.snapshot.load().get(client_id).cloned()
    }

    /// Re-reads every registration from the durable store. Invalid stored registrations are skipped
    /// and logged (they were validated when written, so this means tampering or an old version).
    pub async fn refresh(&self, repo: &dyn RelyingPartyRepository) -> Result<usize, StoreError> {
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
