//! The relying-party registry as the request paths see it: an in-memory snapshot of the durable
//! registry, swapped atomically (lock-free reads), refreshed on a timer and after admin changes so
//! every node converges.

use arc_swap::ArcSwap;
use eid_core::{RelyingParty, RelyingPartyRepository, StoreError};
use eid_oidc::{ClientRegistration, TokenEndpointAuthMethod};
use jsonwebtoken::jwk::JwkSet;
use std::collections::HashMap;
use std::sync::Arc;

/// A registered relying party, ready for the request paths.
#[derive(Debug)]
pub struct RegisteredRp {
    /// The registration as stored.
    pub rp: RelyingParty,
    /// Its OIDC client view (redirect URIs, authentication, secret digest).
    pub client: ClientRegistration,
    /// Its public keys, for `private_key_jwt`.
    pub jwks: Option<JwkSet>,
}

/// A registration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("relying party {client_id}: {problem}")]
pub struct InvalidRegistration {
    /// The client.
    pub client_id: String,
    /// What is wrong.
    pub problem: String,
}

/// Checks a registration and prepares it for the request paths.
pub fn prepare(rp: RelyingParty) -> Result<RegisteredRp, InvalidRegistration> {
    let bad = |problem: String| InvalidRegistration {
        client_id: rp.client_id.clone(),
        problem,
    };
    let method = match rp.token_endpoint_auth_method.as_str() {
        "client_secret_basic" => TokenEndpointAuthMethod::ClientSecretBasic,
        "client_secret_post" => TokenEndpointAuthMethod::ClientSecretPost,
        "private_key_jwt" => TokenEndpointAuthMethod::PrivateKeyJwt,
        other => {
            return Err(bad(format!(
                "unsupported token_endpoint_auth_method {other:?}"
            )));
        }
    };
    if !matches!(
        rp.id_token_signed_response_alg.as_str(),
        "ES256" | "RS256" | "PS256"
    ) {
        return Err(bad(
            "id_token_signed_response_alg must be ES256, RS256 or PS256".into(),
        ));
    }
    if rp.sector.is_empty() {
        return Err(bad("sector is empty".into()));
    }
    for claim in &rp.allowed_claims {
        if !crate::core::release::RELEASABLE.contains(&claim.as_str()) {
            return Err(bad(format!("unknown claim {claim:?} in allowed_claims")));
        }
    }
    for grant in &rp.grant_types {
        if !matches!(
            grant.as_str(),
            "authorization_code" | "refresh_token" | "client_credentials" | "introspection"
        ) {
            return Err(bad(format!("unsupported grant type {grant:?}")));
        }
    }
    if let Some(uri) = &rp.backchannel_logout_uri {
        eid_oidc::client::check_redirect_uri(uri)
            .map_err(|p| bad(format!("backchannel_logout_uri: {p}")))?;
    }
    let jwks = match &rp.jwks {
        Some(value) => Some(
            serde_json::from_value::<JwkSet>(value.clone())
                .map_err(|e| bad(format!("jwks: {e}")))?,
        ),
        None => None,
    };
    if method == TokenEndpointAuthMethod::PrivateKeyJwt && jwks.is_none() {
        return Err(bad("private_key_jwt needs jwks".into()));
    }
    // A service client (client credentials only) may have no redirect URI.
    let redirect_uris = if rp.redirect_uris.is_empty() && !rp.allows_grant("authorization_code") {
        vec!["https://invalid.invalid/no-redirect".to_owned()]
    } else {
        rp.redirect_uris.clone()
    };
    let client = ClientRegistration::with_secret_digest(
        rp.client_id.clone(),
        rp.client_name.clone(),
        redirect_uris,
        rp.post_logout_redirect_uris.clone(),
        method,
        rp.client_secret_sha256.as_deref(),
    )
    .map_err(|e| bad(e.problem))?;
    Ok(RegisteredRp { rp, client, jwks })
}

/// The snapshot of all registrations.
#[derive(Default)]
pub struct Registry {
    snapshot: ArcSwap<HashMap<String, Arc<RegisteredRp>>>,
}

impl Registry {
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
                    map.insert(prepared.rp.client_id.clone(), Arc::new(prepared));
                }
                Err(e) => tracing::error!(error = %e, "skipping an invalid stored registration"),
            }
        }
        let count = map.len();
        self.snapshot.store(Arc::new(map));
        Ok(count)
    }
}
