//! Relying parties (services) as the broker registers them: how they integrate and what they may
//! receive.

use serde::{Deserialize, Serialize};

/// How the `sub` a relying party receives is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    /// A keyed hash of the sector and the person: differs between sectors (the default).
    #[default]
    Pairwise,
    /// The same identifier for every relying party (only for trusted infrastructure).
    Public,
}

/// A relying party's OIDC registration, as stored in the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelyingParty {
    /// The client id.
    pub client_id: String,
    /// The name shown to citizens.
    pub client_name: String,
    /// Redirect URIs, matched exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs, matched exactly.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Where back-channel logout tokens are POSTed.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// `client_secret_basic`, `client_secret_post` or `private_key_jwt`.
    pub token_endpoint_auth_method: String,
    /// SHA-256 of the client secret, hex (the secret itself is never stored).
    #[serde(default)]
    pub client_secret_sha256: Option<String>,
    /// The client's public keys (JWKS) for `private_key_jwt`.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// The sector for pairwise identifiers; relying parties of one sector see the same `sub`.
    pub sector: String,
    /// Pairwise (default) or public subject identifiers.
    #[serde(default)]
    pub subject_type: SubjectType,
    /// Claims the relying party may receive beyond `sub` and the level (`cpr`, `name`, `birthdate`).
    #[serde(default)]
    pub allowed_claims: Vec<String>,
    /// Whether it accepts people acting on behalf of others.
    #[serde(default)]
    pub accepts_representation: bool,
    /// The ID token signature algorithm: `ES256` (default), `RS256` or `PS256`.
    #[serde(default = "default_alg")]
    pub id_token_signed_response_alg: String,
    /// Grant types it may use: `authorization_code`, `refresh_token`, `client_credentials`.
    #[serde(default = "default_grants")]
    pub grant_types: Vec<String>,
    /// Whether it must push its authorization requests (PAR).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// Whether it may be granted `offline_access`: the operator's decision that this service may
    /// act while the person is away (its tokens then outlive the session). With no consent page
    /// yet, this registration stands for the person's consent OIDC Core §11 asks for.
    #[serde(default)]
    pub offline_access: bool,
}

fn default_alg() -> String {
    "ES256".into()
}

fn default_grants() -> Vec<String> {
    vec!["authorization_code".into()]
}

impl RelyingParty {
    /// Whether it may use a grant type.
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    /// Whether it may receive a claim.
    pub fn may_receive(&self, claim: &str) -> bool {
        self.allowed_claims.iter().any(|c| c == claim)
    }
}
