//! What the broker issues: codes for a session, ID tokens signed with the relying party's
//! algorithm, opaque access tokens and rotating refresh tokens.

use eid_core::{EphemeralStore, Identity, Loa, Mandate, StoreError};
use eid_oidc::grant::{AccessToken, CodeGrant, Grants};
use eid_oidc::random::{digest_key, token256};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::BrokerError;
use super::claims::person_claims;
use crate::core::release::{ReleasedAttribute, release};
use crate::core::session::{SsoSession, rp_sid};
use crate::registry::{RegisteredRp, key_alg};
use crate::state::Broker;
use eid_core::{GrantType, OidcClient};
use uuid::Uuid;

/// Namespace of the broker's codes and tokens in the ephemeral store.
pub const GRANTS: &str = "broker";
/// Lifetime of ID tokens, seconds.
pub const ID_TOKEN_TTL: i64 = 300;

/// What a code, and the tokens issued from it, stand for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrokerGrant {
    /// The SSO session's own id (relying parties see [`rp_sid`] of it): the grant lives only as
    /// long as the session, unless it holds `offline_access`.
    pub sid: String,
    /// The relying party's subject identifier.
    pub sub: String,
    /// The audit key of the person who logged in: every release from this grant names them.
    #[serde(default)]
    pub person: Option<Uuid>,
    /// Achieved level.
    pub loa: Loa,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Authentication time.
    pub auth_time: i64,
    /// The client's nonce.
    pub nonce: Option<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The released person claims.
    pub claims: Map<String, Value>,
    /// Which kinds of personal data the claims release (named in the audit event of each release).
    #[serde(default)]
    pub attributes: Vec<ReleasedAttribute>,
    /// Someone acting for the subject, and under which mandate: re-checked whenever the grant
    /// yields tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting: Option<Box<Acting>>,
}

/// The broker's codes and tokens; its access tokens are sealed, so issuing one stores nothing.
pub(crate) fn grants(broker: &Broker) -> Grants<'_> {
    Grants::new(broker.ephemeral.as_ref(), GRANTS).sealed_with(broker.pairwise.token_sealer())
}

/// A person acting for the subject of a grant under a mandate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acting {
    /// The acting person, as they logged in (the registry's re-check asks for them).
    pub agent: Identity,
    /// The mandate as chosen.
    pub mandate: Mandate,
}

/// What an authorization request asked for, besides the session's person.
#[derive(Debug, Clone, Copy)]
pub struct CodeRequest<'a> {
    /// The redirect URI.
    pub redirect_uri: &'a str,
    /// The PKCE challenge.
    pub code_challenge: &'a str,
    /// The client's nonce.
    pub nonce: Option<&'a str>,
    /// The requested scopes.
    pub scopes: &'a [String],
}

/// Issues a code for a session's person to a relying party, acting for `mandate`'s principal
/// when the person chose one.
pub async fn issue_code(
    broker: &Broker,
    rp: &RegisteredRp,
    session: &SsoSession,
    request: CodeRequest<'_>,
    mandate: Option<&Mandate>,
) -> Result<String, BrokerError> {
    let mut released = release(
        &rp.rp,
        &session.identity,
        session.loa,
        session.auth_time,
        mandate,
        &broker.pairwise,
    );
    // The legal person a foreign person represents goes only where this request asked for it:
    // another service of the same session gets the natural person alone.
    if !request
        .scopes
        .iter()
        .any(|s| s == eid_oidc::rp::LEGAL_PERSON_SCOPE)
        && let Some(eidas) = released.attributes.eidas.as_mut()
    {
        eidas.legal_person = None;
    }
    let grant = CodeGrant {
        grant_id: String::new(), // named by issue_code
        client_id: rp.rp.id.clone(),
        redirect_uri: request.redirect_uri.to_owned(),
        code_challenge: request.code_challenge.to_owned(),
        payload: BrokerGrant {
            sid: session.sid.clone(),
            person: Some(released.audit_id),
            claims: person_claims(&released, &rp.rp.id),
            attributes: released.attributes.released(),
            sub: released.subject,
            loa: released.level,
            amr: released.amr,
            auth_time: released.auth_time,
            nonce: request.nonce.map(str::to_owned),
            scopes: grantable_scopes(&rp.oidc, &request.scopes.join(" "), true),
            acting: mandate.map(|m| {
                Box::new(Acting {
                    agent: session.identity.clone(),
                    mandate: m.clone(),
                })
            }),
        },
    };
    Ok(grants(broker).issue_code(grant).await?)
}

/// The algorithm the relying party registered for what the broker signs for it.
pub(crate) fn signing_alg(rp: &RegisteredRp) -> eid_keys::Alg {
    key_alg(rp.oidc.alg)
}

/// Signs an ID token for a grant.
pub fn id_token(
    broker: &Broker,
    rp: &RegisteredRp,
    grant: &BrokerGrant,
) -> Result<String, BrokerError> {
    let now = broker.now();
    let mut claims = Map::with_capacity(12 + grant.claims.len());
    claims.insert("iss".into(), Value::String(broker.config.issuer.clone()));
    claims.insert("sub".into(), Value::String(grant.sub.clone()));
    claims.insert("aud".into(), Value::String(rp.rp.id.clone()));
    claims.insert("exp".into(), Value::from(now + ID_TOKEN_TTL));
    claims.insert("iat".into(), Value::from(now));
    claims.insert("auth_time".into(), Value::from(grant.auth_time));
    if let Some(nonce) = &grant.nonce {
        claims.insert("nonce".into(), Value::String(nonce.clone()));
    }
    claims.insert("acr".into(), Value::String(grant.loa.as_uri().to_owned()));
    claims.insert("amr".into(), Value::from(grant.amr.clone()));
    claims.insert("sid".into(), Value::String(rp_sid(&grant.sid, &rp.rp.id)));
    for (k, v) in &grant.claims {
        claims.insert(k.clone(), v.clone());
    }
    let alg = signing_alg(rp);
    let key = broker
        .keys
        .signing_key(alg)
        .ok_or_else(|| BrokerError::Keys(format!("no active {alg} key")))?;
    key.sign_claims(Some("JWT"), &claims)
        .map_err(|e| BrokerError::Keys(e.to_string()))
}

/// What an access token lets its bearer read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenSubject {
    /// `sub` (the person's pairwise id, or the client id for client credentials).
    pub sub: String,
    /// The SSO session, when a person is behind it.
    pub sid: Option<String>,
    /// The audit key of the person behind it, named in the audit event of each userinfo answer.
    #[serde(default)]
    pub person: Option<Uuid>,
    /// Claims userinfo returns.
    pub claims: Map<String, Value>,
    /// Which kinds of personal data the claims release (named in the audit event of each answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<ReleasedAttribute>,
    /// When it expires (Unix seconds), for introspection.
    pub exp: i64,
    /// When it was issued.
    pub iat: i64,
    /// The person's login behind it (level and time), for introspection: a resource server that
    /// allows changes only after a fresh login reads them there (`acr`, `auth_time`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<(Loa, i64)>,
    /// Someone acting for the subject, under which mandate: re-checked whenever the token is used
    /// (userinfo, introspection), so a revoked mandate stops its tokens at once. The token is
    /// sealed, so the agent's identity in it is read by nobody but the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting: Option<Box<Acting>>,
}

/// Issues an opaque access token.
pub async fn access_token(
    broker: &Broker,
    grant_id: &str,
    client_id: &str,
    scopes: Vec<String>,
    subject: TokenSubject,
) -> Result<String, StoreError> {
    grants(broker)
        .issue_access_token_for(
            &AccessToken {
                grant_id: grant_id.to_owned(),
                client_id: client_id.to_owned(),
                scopes,
                payload: subject,
            },
            broker.config.access_token_ttl,
        )
        .await
}

/// A refresh token's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// The grant it continues.
    pub grant_id: String,
    /// The client it belongs to.
    pub client_id: String,
    /// The grant.
    pub grant: BrokerGrant,
}

fn refresh_key(token: &str) -> String {
    format!("{GRANTS}:rt:{}", digest_key(token))
}

fn refresh_used_key(token: &str) -> String {
    format!("{GRANTS}:rt-used:{}", digest_key(token))
}

/// How long a refresh token of `grant` is kept: `refresh_token_ttl` with `offline_access`;
/// otherwise it dies with its SSO session ([`token_alive`]), which lives at most `session_ttl`
/// from now, so it is kept no longer than that.
pub fn refresh_ttl(broker: &Broker, grant: &BrokerGrant) -> std::time::Duration {
    let ttl = broker.config.refresh_token_ttl;
    if grant.scopes.iter().any(|s| s == OFFLINE_ACCESS) {
        ttl
    } else {
        ttl.min(broker.config.session_ttl)
    }
}

/// Issues a refresh token.
pub async fn issue_refresh(broker: &Broker, record: &RefreshRecord) -> Result<String, StoreError> {
    let token = token256();
    let bytes = serde_json::to_vec(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    broker
        .ephemeral
        .put(
            &refresh_key(&token),
            &bytes,
            refresh_ttl(broker, &record.grant),
        )
        .await?;
    Ok(token)
}

/// The outcome of presenting a refresh token.
pub enum RefreshUse {
    /// Valid and now used up: issue a new one (rotation).
    Fresh(Box<RefreshRecord>),
    /// Used before: the grant must be revoked (a stolen token is being replayed).
    Reused(String),
    /// Unknown or expired.
    Unknown,
}

/// Takes a refresh token (single use; reuse is recognised atomically, see `take_once`).
pub async fn take_refresh(
    store: &dyn EphemeralStore,
    token: &str,
    memory: std::time::Duration,
) -> Result<RefreshUse, StoreError> {
    let decode = |bytes: &[u8]| -> Result<RefreshRecord, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
    };
    Ok(
        match store
            .take_once(&refresh_key(token), &refresh_used_key(token), None, memory)
            .await?
        {
            eid_core::Taken::First(bytes) => RefreshUse::Fresh(Box::new(decode(&bytes)?)),
            eid_core::Taken::Again(bytes) => RefreshUse::Reused(decode(&bytes)?.grant_id),
            eid_core::Taken::Missing => RefreshUse::Unknown,
        },
    )
}

/// The record of a live refresh token, left in place.
pub async fn refresh_record(
    store: &dyn EphemeralStore,
    token: &str,
) -> Result<Option<RefreshRecord>, StoreError> {
    Ok(store
        .get(&refresh_key(token))
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// Removes a refresh token; returns whether it existed.
pub async fn withdraw_refresh(store: &dyn EphemeralStore, token: &str) -> Result<bool, StoreError> {
    store.delete(&refresh_key(token)).await
}

/// Makes a refresh token taken by [`take_refresh`] usable again (its answer could not be given).
/// Its reuse tombstone stays (a concurrent retry may have written it); the restored token is still
/// taken first.
pub async fn restore_refresh(
    broker: &Broker,
    token: &str,
    record: &RefreshRecord,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    broker
        .ephemeral
        .put(
            &refresh_key(token),
            &bytes,
            refresh_ttl(broker, &record.grant),
        )
        .await
}

/// The scope that lets a grant outlive its session (OIDC Core §11).
pub const OFFLINE_ACCESS: &str = "offline_access";
/// The scopes the broker grants (and advertises in discovery).
pub const SUPPORTED_SCOPES: [&str; 2] = ["openid", OFFLINE_ACCESS];

/// The scopes of a request that may be granted to `rp`: advertised ones only, each once;
/// `offline_access` only to a client registered for it and for refresh tokens (its registration
/// stands for the consent OIDC Core §11 asks for, see [`OidcClient::offline_access`]); no person
/// scope when no person is behind the grant (`person` false: client credentials).
pub fn grantable_scopes(rp: &OidcClient, requested: &str, person: bool) -> Vec<String> {
    let mut granted: Vec<String> = Vec::new();
    for scope in requested.split(' ') {
        let allowed = match scope {
            "openid" => person,
            OFFLINE_ACCESS => person && rp.offline_access && rp.allows(GrantType::RefreshToken),
            _ => false,
        };
        if allowed && !granted.iter().any(|g| g == scope) {
            granted.push(scope.to_owned());
        }
    }
    granted
}

/// Whether tokens with `scopes` of the session `sid` are still honoured: while the session lives,
/// or for good with `offline_access`.
pub async fn token_alive(
    broker: &Broker,
    sid: &str,
    scopes: &[String],
) -> Result<bool, StoreError> {
    if scopes.iter().any(|s| s == OFFLINE_ACCESS) {
        return Ok(true);
    }
    SsoSession::is_alive(broker.ephemeral.as_ref(), sid).await
}

/// [`token_alive`] for a grant.
pub async fn grant_alive(broker: &Broker, grant: &BrokerGrant) -> Result<bool, StoreError> {
    token_alive(broker, &grant.sid, &grant.scopes).await
}
