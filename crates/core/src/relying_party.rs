//! Relying parties (services) as the broker registers them: how they integrate and what they may
//! receive.
//!
//! Two shapes: [`RpRegistration`], the document as stored and as the admin API and configuration
//! files spell it (flat, OIDC dynamic-registration names), and [`RelyingParty`], the typed value the
//! request paths use, parsed once from it ([`RelyingParty::try_from`]). Nothing past the registry
//! reads a string where a type says what it is.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

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

/// A relying party's registration document, as stored in the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpRegistration {
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
    /// Claims the relying party may receive beyond `sub` and the level (`cpr`, `name`, `birthdate`,
    /// `eidas`).
    #[serde(default)]
    pub allowed_claims: Vec<String>,
    /// Whether it accepts people acting on behalf of others.
    #[serde(default)]
    pub accepts_representation: bool,
    /// Whether it needs a CPR number: a person without one (a foreign eID) is refused with a page
    /// instead of logged in.
    #[serde(default)]
    pub requires_cpr: bool,
    /// Named service areas it belongs to (`housing-benefit`), which powers of attorney can name
    /// instead of the relying party itself.
    #[serde(default)]
    pub service_areas: Vec<String>,
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

/// A fact about a person that a relying party may be registered to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribute {
    /// The CPR number.
    Cpr,
    /// Given and family name.
    Name,
    /// Date of birth.
    Birthdate,
    /// A foreign person's eIDAS PersonIdentifier and issuing country.
    Eidas,
}

impl Attribute {
    /// Every attribute, in a stable order.
    pub const ALL: [Attribute; 4] = [
        Attribute::Cpr,
        Attribute::Name,
        Attribute::Birthdate,
        Attribute::Eidas,
    ];

    /// The registered name (`allowed_claims`).
    pub fn as_str(self) -> &'static str {
        match self {
            Attribute::Cpr => "cpr",
            Attribute::Name => "name",
            Attribute::Birthdate => "birthdate",
            Attribute::Eidas => "eidas",
        }
    }

    /// Parses a registered name.
    pub fn from_name(name: &str) -> Option<Attribute> {
        Attribute::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// An OAuth grant type a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// The authorization-code flow (a person logs in).
    AuthorizationCode,
    /// Refresh tokens.
    RefreshToken,
    /// Client credentials (the service acting as itself).
    ClientCredentials,
    /// Token introspection (a resource server).
    Introspection,
}

impl GrantType {
    /// Every grant type.
    pub const ALL: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::Introspection,
    ];

    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Introspection => "introspection",
        }
    }

    /// Parses a registered name.
    pub fn from_name(name: &str) -> Option<GrantType> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == name)
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with the client id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523).
    PrivateKeyJwt,
}

impl ClientAuthMethod {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// Parses a registered name.
    pub fn from_name(name: &str) -> Option<ClientAuthMethod> {
        [
            ClientAuthMethod::ClientSecretBasic,
            ClientAuthMethod::ClientSecretPost,
            ClientAuthMethod::PrivateKeyJwt,
        ]
        .into_iter()
        .find(|m| m.as_str() == name)
    }
}

/// The signature algorithm of what the broker signs for a relying party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    /// ECDSA P-256 with SHA-256 (the default).
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256.
    PS256,
}

impl SigningAlg {
    /// The RFC 7518 name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::ES256 => "ES256",
            SigningAlg::RS256 => "RS256",
            SigningAlg::PS256 => "PS256",
        }
    }

    /// Parses an RFC 7518 name (only the three above).
    pub fn from_name(name: &str) -> Option<SigningAlg> {
        [SigningAlg::ES256, SigningAlg::RS256, SigningAlg::PS256]
            .into_iter()
            .find(|a| a.as_str() == name)
    }
}

/// How an OpenID Connect client integrates.
#[derive(Debug, Clone, PartialEq)]
pub struct OidcClient {
    /// Redirect URIs, matched exactly (none for a client-credentials-only service).
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs, matched exactly.
    pub post_logout_redirect_uris: Vec<String>,
    /// Where back-channel logout tokens are POSTed.
    pub backchannel_logout_uri: Option<String>,
    /// Token endpoint authentication.
    pub auth_method: ClientAuthMethod,
    /// SHA-256 of the client secret, hex.
    pub client_secret_sha256: Option<String>,
    /// The client's public keys (JWKS), for `private_key_jwt`.
    pub jwks: Option<serde_json::Value>,
    /// The algorithm of its ID tokens and logout tokens.
    pub alg: SigningAlg,
    /// The grant types it may use.
    pub grants: BTreeSet<GrantType>,
    /// Whether it must push its authorization requests (PAR).
    pub require_par: bool,
    /// Whether it may be granted `offline_access` (see [`RpRegistration::offline_access`]).
    pub offline_access: bool,
}

impl OidcClient {
    /// Whether it may use a grant type.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grants.contains(&grant)
    }
}

/// One assertion consumer service of a SAML service provider, from its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionConsumer {
    /// The ACS URL, matched exactly.
    pub location: String,
    /// The binding URI (HTTP-POST for OIOSAML).
    pub binding: String,
    /// Its index in the metadata.
    pub index: u16,
    /// Whether the metadata marks it as the default (`isDefault="true"`).
    pub is_default: bool,
}

/// One single logout endpoint of a SAML service provider, from its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleLogoutService {
    /// The binding URI (HTTP-Redirect, HTTP-POST or SOAP).
    pub binding: String,
    /// Where LogoutRequests go.
    pub location: String,
    /// Where LogoutResponses go, when not to `location`.
    pub response_location: Option<String>,
}

/// How a SAML 2.0 service provider integrates (registered from its metadata by the SAML
/// frontend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlSp {
    /// Its entity ID.
    pub entity_id: String,
    /// Its assertion consumer services.
    pub acs: Vec<AssertionConsumer>,
    /// Its single logout endpoints, one per binding at most.
    pub slo: Vec<SingleLogoutService>,
    /// Certificates (DER) whose keys sign its requests.
    pub signing_certificates: Vec<Vec<u8>>,
    /// The certificate (DER) whose key assertions are encrypted to.
    pub encryption_certificate: Option<Vec<u8>>,
}

/// The protocol a relying party speaks, with what only that protocol needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Protocol {
    /// OpenID Connect.
    Oidc(OidcClient),
    /// SAML 2.0 (OIOSAML 3).
    Saml(SamlSp),
}

/// A registered relying party, typed: who it is, what it may receive about a person, and how it
/// integrates.
#[derive(Debug, Clone, PartialEq)]
pub struct RelyingParty {
    /// Its identifier: the OIDC client id or the SAML entity ID.
    pub id: String,
    /// The name shown to citizens.
    pub name: String,
    /// The sector of its pairwise identifiers.
    pub sector: String,
    /// Pairwise or public subject identifiers.
    pub subject_type: SubjectType,
    /// The person attributes it may receive (besides the subject and the level).
    pub release: BTreeSet<Attribute>,
    /// Whether it accepts people acting on behalf of others.
    pub representation: bool,
    /// Whether it needs a CPR number (persons without one are refused).
    pub requires_cpr: bool,
    /// The service areas it declares (mandates may name an area instead of the relying party).
    pub service_areas: Vec<String>,
    /// How it integrates.
    pub protocol: Protocol,
}

impl RelyingParty {
    /// Whether it may receive an attribute.
    pub fn may_receive(&self, attribute: Attribute) -> bool {
        self.release.contains(&attribute)
    }

    /// Its OIDC client view, when it is an OIDC client.
    pub fn oidc(&self) -> Option<&OidcClient> {
        match &self.protocol {
            Protocol::Oidc(client) => Some(client),
            Protocol::Saml(_) => None,
        }
    }
}

/// A registration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("relying party {client_id}: {problem}")]
pub struct InvalidRegistration {
    /// The client.
    pub client_id: String,
    /// What is wrong.
    pub problem: String,
}

/// Ids that begin so name the broker's own built-in registrations (its log page): no relying
/// party may be registered under one.
pub const RESERVED_ID_PREFIX: &str = "eidbroker:";

impl TryFrom<RpRegistration> for RelyingParty {
    type Error = InvalidRegistration;

    /// Parses a registration document once; every name it holds must be one we know.
    fn try_from(doc: RpRegistration) -> Result<Self, Self::Error> {
        let bad = |problem: String| InvalidRegistration {
            client_id: doc.client_id.clone(),
            problem,
        };
        let auth_method =
            ClientAuthMethod::from_name(&doc.token_endpoint_auth_method).ok_or_else(|| {
                bad(format!(
                    "unsupported token_endpoint_auth_method {:?}",
                    doc.token_endpoint_auth_method
                ))
            })?;
        let alg = SigningAlg::from_name(&doc.id_token_signed_response_alg).ok_or_else(|| {
            bad("id_token_signed_response_alg must be ES256, RS256 or PS256".into())
        })?;
        if doc.sector.is_empty() {
            return Err(bad("sector is empty".into()));
        }
        if doc.client_id.starts_with(RESERVED_ID_PREFIX) {
            return Err(bad(format!(
                "client ids beginning {RESERVED_ID_PREFIX:?} are the broker's own"
            )));
        }
        let release = doc
            .allowed_claims
            .iter()
            .map(|c| {
                Attribute::from_name(c)
                    .ok_or_else(|| bad(format!("unknown claim {c:?} in allowed_claims")))
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        let grants = doc
            .grant_types
            .iter()
            .map(|g| {
                GrantType::from_name(g).ok_or_else(|| bad(format!("unsupported grant type {g:?}")))
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        Ok(RelyingParty {
            id: doc.client_id,
            name: doc.client_name,
            sector: doc.sector,
            subject_type: doc.subject_type,
            release,
            representation: doc.accepts_representation,
            requires_cpr: doc.requires_cpr,
            service_areas: doc.service_areas,
            protocol: Protocol::Oidc(OidcClient {
                redirect_uris: doc.redirect_uris,
                post_logout_redirect_uris: doc.post_logout_redirect_uris,
                backchannel_logout_uri: doc.backchannel_logout_uri,
                auth_method,
                client_secret_sha256: doc.client_secret_sha256,
                jwks: doc.jwks,
                alg,
                grants,
                require_par: doc.require_pushed_authorization_requests,
                offline_access: doc.offline_access,
            }),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn doc(extra: serde_json::Value) -> RpRegistration {
        let mut base = serde_json::json!({
            "client_id": "rp", "client_name": "RP", "token_endpoint_auth_method": "client_secret_basic",
            "sector": "s",
        });
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn a_registration_is_parsed_once_into_types() {
        let rp = RelyingParty::try_from(doc(serde_json::json!({
            "allowed_claims": ["cpr", "name"], "grant_types": ["authorization_code", "refresh_token"],
            "id_token_signed_response_alg": "PS256", "accepts_representation": true,
        })))
        .unwrap();
        assert!(rp.may_receive(Attribute::Cpr) && !rp.may_receive(Attribute::Birthdate));
        assert!(rp.representation);
        let oidc = rp.oidc().unwrap();
        assert_eq!(oidc.alg, SigningAlg::PS256);
        assert_eq!(oidc.auth_method, ClientAuthMethod::ClientSecretBasic);
        assert!(oidc.allows(GrantType::RefreshToken) && !oidc.allows(GrantType::ClientCredentials));
    }

    #[test]
    fn unknown_names_are_refused_with_the_field() {
        for (extra, field) in [
            (
                serde_json::json!({"allowed_claims": ["email"]}),
                "allowed_claims",
            ),
            (
                serde_json::json!({"grant_types": ["implicit"]}),
                "grant type",
            ),
            (
                serde_json::json!({"id_token_signed_response_alg": "HS256"}),
                "id_token_signed_response_alg",
            ),
            (
                serde_json::json!({"token_endpoint_auth_method": "none"}),
                "token_endpoint_auth_method",
            ),
            (serde_json::json!({"sector": ""}), "sector"),
            (
                serde_json::json!({"client_id": "eidbroker:my-log"}),
                "the broker's own",
            ),
        ] {
            let e = RelyingParty::try_from(doc(extra)).unwrap_err();
            assert!(e.problem.contains(field), "{e}");
        }
    }
}
