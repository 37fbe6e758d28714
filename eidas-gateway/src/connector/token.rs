//! The token endpoint (code single use, PKCE, client authentication; an ES256 ID token), the
//! discovery document and our signed eIDAS SP metadata.

use std::sync::Arc;

use eid_core::AuditOutcome;
use eid_core::eidas::PersonIdentifier;
use eid_oidc::grant::{ACCESS_TOKEN_TTL, AccessToken, Grants, USED_CODE_MEMORY};
use eid_oidc::{ClientRegistration, ErrorCode, OAuthError, RawParams};
use eid_saml::dsig::SignatureAlg;
use eid_saml::eidas::{MetadataOut, NodeRole};
use serde::Serialize;

use super::acs::ConnectorGrant;
use super::claims::EidasClaims;
use super::login::{audit_unauthenticated, authenticate_client};
use super::{Connector, GRANTS};

/// Lifetime of ID tokens, seconds.
pub const ID_TOKEN_TTL: i64 = 300;
/// How long our metadata says it is valid.
pub const METADATA_VALIDITY: time::Duration = time::Duration::days(7);
/// How long the signed metadata is served before it is signed again.
pub const METADATA_CACHE: time::Duration = time::Duration::hours(1);
/// The one authentication method the ID token names.
pub const AMR: &str = "eidas";

/// A successful token response.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// An opaque access token (the broker reads the ID token; there is no userinfo).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// The signed ID token.
    pub id_token: String,
    /// Granted scopes.
    pub scope: String,
}

/// The ID token's claims.
#[derive(Debug, Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    acr: &'static str,
    amr: [&'static str; 1],
    #[serde(flatten)]
    person: &'a EidasClaims,
}

/// Handles a token request (`authorization_code` grant); every outcome audited (refusals before
/// the client is authenticated within a budget).
pub async fn token(
    conn: &Connector,
    authorization: Option<&str>,
    form: &RawParams,
    ip: &str,
) -> Result<TokenResponse, OAuthError> {
    let client = match authenticate_client(conn, authorization, form) {
        Ok(client) => client,
        Err(e) => {
            let event = conn
                .event("token.rejected", AuditOutcome::Failure)
                .ip(ip)
                .detail("error", e.code.as_str())
                .detail("reason", e.description.clone());
            audit_unauthenticated(conn, ip, event).await?;
            return Err(e);
        }
    };
    let result = redeem(conn, client, form).await;
    let event = match &result {
        Ok((_, grant)) => {
            let event = conn
                .event("token.issued", AuditOutcome::Success)
                .detail("country", grant.claims.eidas_country.clone())
                .detail("loa", grant.loa.as_word());
            // The person whose data went to the broker, keyed as the broker keys them.
            match PersonIdentifier::parse(&grant.claims.eidas_person_identifier) {
                Ok(id) => event.person(eid_core::eidas::audit_id(&id)),
                Err(_) => event,
            }
        }
        Err(e) => conn
            .event("token.rejected", AuditOutcome::Failure)
            .detail("error", e.code.as_str())
            .detail("reason", e.description.clone()),
    };
    conn.audit(event.client(client.client_id.clone()).ip(ip))
        .await?;
    result.map(|(response, _)| response)
}

async fn redeem(
    conn: &Connector,
    client: &ClientRegistration,
    form: &RawParams,
) -> Result<(TokenResponse, ConnectorGrant), OAuthError> {
    let grants = Grants::new(conn.common.ephemeral.as_ref(), GRANTS);
    let grant = grants
        .redeem_authorization_code::<ConnectorGrant>(
            &client.client_id,
            form,
            ACCESS_TOKEN_TTL + USED_CODE_MEMORY,
        )
        .await?;
    let payload = grant.payload;
    let now = conn.common.clock.now().unix_timestamp();
    let claims = IdTokenClaims {
        iss: &conn.issuer,
        aud: &client.client_id,
        exp: now + ID_TOKEN_TTL,
        iat: now,
        auth_time: payload.auth_time,
        nonce: payload.nonce.as_deref(),
        acr: payload.loa.as_uri(),
        amr: [AMR],
        person: &payload.claims,
    };
    let key = conn
        .oidc_keys
        .signing_key(eid_keys::Alg::ES256)
        .ok_or_else(|| OAuthError::new(ErrorCode::ServerError, "no active signing key"))?;
    let id_token = key
        .sign_claims(Some("JWT"), &claims)
        .map_err(|e| OAuthError::new(ErrorCode::ServerError, format!("signing failed: {e}")))?;
    let access_token = grants
        .issue_access_token(&AccessToken {
            grant_id: grant.grant_id,
            client_id: client.client_id.clone(),
            scopes: payload.scopes.clone(),
            payload: (),
        })
        .await?;
    Ok((
        TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: eid_oidc::grant::ACCESS_TOKEN_TTL.as_secs(),
            id_token,
            scope: payload.scopes.join(" "),
        },
        payload,
    ))
}

/// The discovery document.
pub fn discovery(conn: &Connector) -> serde_json::Value {
    let iss = &conn.issuer;
    serde_json::json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "jwks_uri": format!("{iss}/jwks"),
        "pushed_authorization_request_endpoint": format!("{iss}/par"),
        "require_pushed_authorization_requests": false,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", super::LEGAL_PERSON_SCOPE],
        "acr_values_supported": eid_core::Loa::ALL.iter().map(|l| l.as_uri()).collect::<Vec<_>>(),
        "claims_supported": [
            "sub", "acr", "amr", "auth_time", "given_name", "family_name", "birthdate",
            "eidas_person_identifier", "eidas_country", "eidas_given_name_native",
            "eidas_family_name_native", "eidas_legal_person_identifier", "eidas_legal_name"
        ],
        "prompt_values_supported": ["login"],
        "ui_locales_supported": ["da", "en"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
    })
}

/// Our signed SP metadata (entity ID = its URL, `SPType`, valid 7 days), signed again once an
/// hour.
pub fn metadata(conn: &Connector) -> Result<Arc<str>, eid_saml::eidas::EidasError> {
    let now = conn.common.clock.now();
    let mut cache = conn
        .metadata
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((xml, signed_at)) = cache.as_ref()
        && now - *signed_at < METADATA_CACHE
        && now >= *signed_at
    {
        return Ok(xml.clone());
    }
    let mut signing_methods = vec![SignatureAlg::RsaPssSha256];
    for peer in conn.peers.configured() {
        if !signing_methods.contains(&peer.algorithms.sign) {
            signing_methods.push(peer.algorithms.sign);
        }
    }
    let out = MetadataOut {
        entity_id: conn.entity_id(),
        node_country: conn.country.clone(),
        role: NodeRole::Connector {
            acs_url: conn.acs_url(),
            sp_type: Some(conn.sp_type),
        },
        signing_certificate: conn.node.certificate.clone(),
        encryption_certificate: conn.node.certificate.clone(),
        valid_until: now + METADATA_VALIDITY,
        signing_methods,
    };
    let xml: Arc<str> = out
        .to_signed_xml(
            &conn.node.key,
            SignatureAlg::RsaPssSha256,
            &conn.node.certificate,
        )?
        .into();
    *cache = Some((xml.clone(), now));
    Ok(xml)
}
