//! The token endpoint (authorization code, refresh token, client credentials), userinfo,
//! revocation (RFC 7009) and introspection (RFC 7662).

use eid_core::{AuditEvent, AuditOutcome};
use eid_oidc::grant::{CodeGrant, USED_CODE_MEMORY};
use eid_oidc::{ErrorCode, OAuthError, RawParams};
use serde::Serialize;
use serde_json::{Map, Value};

use super::client_auth::authenticate_audited;
use super::tokens::{
    BrokerGrant, RefreshRecord, RefreshUse, TokenSubject, access_token, grant_alive,
    grantable_scopes, grants, id_token, issue_refresh, refresh_record, restore_refresh,
    take_refresh, token_alive, withdraw_refresh,
};
use crate::core::release::ReleasedAttribute;
use crate::core::representation::{Recheck, recheck};
use crate::login::represent::{audit_use, audit_withdrawn, use_events, with_mandate};
use crate::registry::RegisteredRp;
use crate::state::Broker;

/// A successful token response.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// The opaque access token.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// The ID token (not for client credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// A new refresh token, when the client may refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Granted scopes.
    pub scope: String,
    /// The mandate the person acts under, as RFC 9396 authorization details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Value>,
}

/// Handles a token request.
pub async fn token(
    broker: &Broker,
    authorization: Option<&str>,
    form: &RawParams,
    ip: &str,
) -> Result<TokenResponse, OAuthError> {
    let endpoint = format!("{}/token", broker.config.issuer);
    let rp = authenticate_audited(
        broker,
        authorization,
        form,
        &endpoint,
        "token.rejected",
        Some(ip),
    )
    .await?;
    let result = match form.get("grant_type") {
        Some("authorization_code") if rp.oidc.allows(eid_core::GrantType::AuthorizationCode) => {
            authorization_code(broker, &rp, form, ip).await
        }
        Some("refresh_token") if rp.oidc.allows(eid_core::GrantType::RefreshToken) => {
            refresh(broker, &rp, form, ip).await
        }
        Some("client_credentials") if rp.oidc.allows(eid_core::GrantType::ClientCredentials) => {
            client_credentials(broker, &rp, form, ip).await
        }
        Some("authorization_code" | "refresh_token" | "client_credentials") => {
            Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "the client may not use this grant type",
            ))
        }
        Some(_) => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            "unsupported grant_type",
        )),
        None => Err(OAuthError::invalid_request("grant_type is missing")),
    };
    match &result {
        // Each grant audits its own issuance (see `issue_audited`).
        Ok(_) => broker.metrics.inc(
            "broker_tokens_total",
            "Tokens issued by grant type.",
            &[("grant_type", form.get("grant_type").unwrap_or_default())],
        ),
        Err(e) => audit_failure(broker, &rp, ip, e).await?,
    }
    result
}

fn issued_event(broker: &Broker, rp: &RegisteredRp, ip: &str, grant_type: &str) -> AuditEvent {
    broker
        .event("token.issued", AuditOutcome::Success)
        .client(rp.rp.id.clone())
        .ip(ip)
        .detail("grant_type", grant_type.to_owned())
}

fn refused_event(broker: &Broker, ip: &str, e: &OAuthError) -> AuditEvent {
    broker
        .event("token.rejected", AuditOutcome::Failure)
        .ip(ip)
        .detail("error", e.code.as_str())
        .detail("reason", e.description.clone())
}

/// Audits a refusal to an authenticated client (waiting for the durable write).
async fn audit_failure(
    broker: &Broker,
    rp: &RegisteredRp,
    ip: &str,
    e: &OAuthError,
) -> Result<(), OAuthError> {
    let event = refused_event(broker, ip, e).client(rp.rp.id.clone());
    broker.audit(event).await?;
    Ok(())
}

fn subject_of(grant: &BrokerGrant, exp: i64, iat: i64) -> TokenSubject {
    TokenSubject {
        sub: grant.sub.clone(),
        sid: Some(grant.sid.clone()),
        person: grant.person,
        claims: grant.claims.clone(),
        attributes: grant.attributes.clone(),
        exp,
        iat,
        login: Some((grant.loa, grant.auth_time)),
        acting: grant.acting.clone(),
    }
}

/// Whether the mandate a token's holder acts under (if any) still holds at the client the token
/// was issued to; a withdrawn one is audited at `at` (`userinfo`, `introspect`).
async fn token_mandate_holds(
    broker: &Broker,
    subject: &TokenSubject,
    client_id: &str,
    at: &str,
) -> Result<bool, OAuthError> {
    let Some(acting) = &subject.acting else {
        return Ok(true);
    };
    let Some(rp) = broker.registry.get(client_id) else {
        return Ok(false);
    };
    match recheck(
        broker.mandates.as_ref(),
        &acting.agent,
        &acting.mandate,
        &rp.rp,
        broker.clock.now(),
    )
    .await?
    {
        Recheck::Valid(_) => Ok(true),
        Recheck::Withdrawn => {
            let agent = acting.agent.audit_id;
            audit_withdrawn(broker, agent, &acting.mandate, client_id, at).await?;
            Ok(false)
        }
    }
}

/// Tokens issued for a grant, and what must be withdrawn if their answer cannot be given.
struct Issued {
    response: TokenResponse,
}

async fn tokens_for(
    broker: &Broker,
    rp: &RegisteredRp,
    grant_id: &str,
    grant: &BrokerGrant,
) -> Result<Issued, OAuthError> {
    let id_token = id_token(broker, rp, grant)
        .map_err(|e| OAuthError::new(ErrorCode::ServerError, e.to_string()))?;
    let now = broker.now();
    let ttl = broker.config.access_token_ttl;
    let exp = now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    // The two writes are independent: issue them together (one round trip's latency on Redis).
    let access = access_token(
        broker,
        grant_id,
        &rp.rp.id,
        grant.scopes.clone(),
        subject_of(grant, exp, now),
    );
    let refresh = async {
        if !rp.oidc.allows(eid_core::GrantType::RefreshToken) {
            return Ok(None);
        }
        let record = RefreshRecord {
            grant_id: grant_id.to_owned(),
            client_id: rp.rp.id.clone(),
            grant: grant.clone(),
        };
        issue_refresh(broker, &record).await.map(Some)
    };
    let (access, refresh_token) = tokio::try_join!(access, refresh)?;
    Ok(Issued {
        response: TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: ttl.as_secs(),
            id_token: Some(id_token),
            refresh_token,
            scope: grant.scopes.join(" "),
            authorization_details: grant.claims.get("authorization_details").cloned(),
        },
    })
}

/// Re-checks the mandate of a grant whose person acts for someone (`at`: `token` or `refresh`):
/// a mandate revoked or expired since the choice yields nothing (`invalid_grant`, audited).
async fn recheck_acting(
    broker: &Broker,
    rp: &RegisteredRp,
    grant: &BrokerGrant,
    at: &str,
) -> Result<(), OAuthError> {
    let Some(acting) = &grant.acting else {
        return Ok(());
    };
    let lookup = broker.mandates.as_ref();
    let now = broker.clock.now();
    match recheck(lookup, &acting.agent, &acting.mandate, &rp.rp, now).await? {
        Recheck::Valid(_) => Ok(()),
        Recheck::Withdrawn => {
            let agent = acting.agent.audit_id;
            audit_withdrawn(broker, agent, &acting.mandate, &rp.rp.id, at).await?;
            Err(OAuthError::invalid_grant(
                "the mandate the person acts under is no longer valid",
            ))
        }
    }
}

/// Issues the tokens of a grant and audits the release, as one outcome: a response that releases a
/// person's data waits until its event is durable, and if the event cannot be written the tokens
/// just written are withdrawn and an error returned, so that nothing is released unaudited. A
/// grant of someone acting for another is re-checked first, and its use audited on both logs.
async fn issue_audited(
    broker: &Broker,
    rp: &RegisteredRp,
    grant_id: &str,
    grant: &BrokerGrant,
    event: AuditEvent,
    at: &str,
) -> Result<TokenResponse, OAuthError> {
    // Both lookups are known up front: ask them together (one round trip's latency on Redis).
    // A reuse seen while a code or refresh token was out for a failed answer revoked the grant, so
    // a restored one releases nothing.
    let grants = grants(broker);
    let (revoked, alive) =
        tokio::try_join!(grants.is_revoked(grant_id), grant_alive(broker, grant))?;
    if revoked {
        return Err(OAuthError::invalid_grant("the grant was revoked"));
    }
    if !alive {
        return Err(OAuthError::invalid_grant(
            "the session the grant belongs to has ended",
        ));
    }
    recheck_acting(broker, rp, grant, at).await?;
    let issued = tokens_for(broker, rp, grant_id, grant).await?;
    // The release names the person who logged in, so that they can be shown it, with what it
    // released: the level and the kinds of personal data (names, never values).
    let attributes = ReleasedAttribute::names(&grant.attributes);
    let event = event
        .detail("loa", grant.loa.as_word())
        .detail("attributes", attributes.clone());
    let event = match grant.person {
        Some(person) => event.person(person),
        None => event,
    };
    let written = match &grant.acting {
        None => broker.audit(event).await,
        Some(acting) => {
            let agent = acting.agent.audit_id;
            // The claims are the principal's: their log names the same kinds of data.
            let events = use_events(
                broker,
                event,
                agent,
                &acting.mandate,
                &rp.rp.id,
                &attributes,
            );
            audit_use(broker, events, Vec::new()).await
        }
    };
    if let Err(e) = written {
        // Best effort: the secrets were never shown, so a leftover is unusable anyway.
        let _ = grants
            .delete_access_token::<TokenSubject>(&issued.response.access_token)
            .await;
        if let Some(refresh) = &issued.response.refresh_token {
            let _ = withdraw_refresh(broker.ephemeral.as_ref(), refresh).await;
        }
        return Err(e.into());
    }
    Ok(issued.response)
}

/// After a failure past the redemption of `code`: makes the code redeemable again so that the
/// client's retry can succeed, or, when even that fails, answers so that it does not invite a
/// retry that could only meet `invalid_grant`.
async fn after_failed_redemption(
    broker: &Broker,
    code: &str,
    grant: &CodeGrant<BrokerGrant>,
    error: OAuthError,
) -> OAuthError {
    if !matches!(
        error.code,
        ErrorCode::TemporarilyUnavailable | ErrorCode::ServerError
    ) {
        return error;
    }
    let grants = grants(broker);
    match grants.restore_code(code, grant).await {
        Ok(()) => error,
        Err(_) => OAuthError::invalid_grant(
            "the code could not be redeemed because of a storage failure; start a new authorization",
        ),
    }
}

async fn authorization_code(
    broker: &Broker,
    rp: &RegisteredRp,
    form: &RawParams,
    ip: &str,
) -> Result<TokenResponse, OAuthError> {
    let code = form
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let grants = grants(broker);
    let grant = grants
        .redeem_authorization_code::<BrokerGrant>(
            &rp.rp.id,
            form,
            broker.config.refresh_token_ttl + USED_CODE_MEMORY,
        )
        .await?;
    let event = issued_event(broker, rp, ip, "authorization_code");
    match issue_audited(broker, rp, &grant.grant_id, &grant.payload, event, "token").await {
        Ok(response) => Ok(response),
        Err(e) => Err(after_failed_redemption(broker, code, &grant, e).await),
    }
}

async fn refresh(
    broker: &Broker,
    rp: &RegisteredRp,
    form: &RawParams,
    ip: &str,
) -> Result<TokenResponse, OAuthError> {
    let token = form
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let grants = grants(broker);
    let memory = broker.config.refresh_token_ttl;
    match take_refresh(broker.ephemeral.as_ref(), token, memory).await? {
        RefreshUse::Fresh(record) => {
            if record.client_id != rp.rp.id {
                grants
                    .revoke_grant_for(&record.grant_id, memory + USED_CODE_MEMORY)
                    .await?;
                return Err(OAuthError::invalid_grant("refresh token of another client"));
            }
            let event = issued_event(broker, rp, ip, "refresh_token");
            match issue_audited(
                broker,
                rp,
                &record.grant_id,
                &record.grant,
                event,
                "refresh",
            )
            .await
            {
                Ok(response) => Ok(response),
                Err(e)
                    if matches!(
                        e.code,
                        ErrorCode::TemporarilyUnavailable | ErrorCode::ServerError
                    ) =>
                {
                    // The token stays usable for the retry, or the answer does not invite one.
                    match restore_refresh(broker, token, &record).await {
                        Ok(()) => Err(e),
                        Err(_) => Err(OAuthError::invalid_grant(
                            "the refresh token could not be used because of a storage failure",
                        )),
                    }
                }
                Err(e) => Err(e),
            }
        }
        RefreshUse::Reused(grant_id) => {
            grants
                .revoke_grant_for(&grant_id, memory + USED_CODE_MEMORY)
                .await?;
            Err(OAuthError::invalid_grant(
                "refresh token already used; the grant is revoked",
            ))
        }
        RefreshUse::Unknown => Err(OAuthError::invalid_grant(
            "unknown or expired refresh token",
        )),
    }
}

async fn client_credentials(
    broker: &Broker,
    rp: &RegisteredRp,
    form: &RawParams,
    ip: &str,
) -> Result<TokenResponse, OAuthError> {
    // A service's own token: no person behind it, so no person scope (`openid`, `offline_access`).
    let scopes = grantable_scopes(&rp.oidc, form.get("scope").unwrap_or_default(), false);
    let now = broker.now();
    let ttl = broker.config.access_token_ttl;
    let exp = now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let subject = TokenSubject {
        sub: rp.rp.id.clone(),
        sid: None,
        person: None,
        claims: Map::new(),
        attributes: Vec::new(),
        exp,
        iat: now,
        login: None,
        acting: None,
    };
    // It releases no personal data: the event need not be durable before the answer, but it must
    // be queued. When the audit log is not keeping up, the client is told to come back shortly
    // (503 with Retry-After) before any token exists.
    broker
        .audit
        .record_detached(issued_event(broker, rp, ip, "client_credentials"))
        .map_err(|e| OAuthError::new(ErrorCode::TemporarilyUnavailable, e.to_string()))?;
    let grant_id = eid_oidc::random::token(16);
    let access = access_token(broker, &grant_id, &rp.rp.id, scopes.clone(), subject).await?;
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: ttl.as_secs(),
        id_token: None,
        refresh_token: None,
        scope: scopes.join(" "),
        authorization_details: None,
    })
}

/// Handles a userinfo request: the claims released with the token, answered only once the release
/// is audited (naming the person and the client).
pub async fn userinfo(broker: &Broker, authorization: Option<&str>) -> Result<Value, OAuthError> {
    let token = eid_oidc::client_auth::bearer_token(authorization)?;
    let record = grants(broker)
        .access_token::<TokenSubject>(token)
        .await?
        .ok_or_else(|| {
            OAuthError::new(ErrorCode::InvalidToken, "unknown, expired or revoked token")
        })?;
    let Some(sid) = &record.payload.sid else {
        return Err(OAuthError::new(
            ErrorCode::InvalidToken,
            "the token has no person behind it",
        ));
    };
    if !token_alive(broker, sid, &record.scopes).await? {
        return Err(OAuthError::new(
            ErrorCode::InvalidToken,
            "the session the token belongs to has ended",
        ));
    }
    if !token_mandate_holds(broker, &record.payload, &record.client_id, "userinfo").await? {
        return Err(OAuthError::new(
            ErrorCode::InvalidToken,
            "the mandate the person acts under is no longer valid",
        ));
    }
    let mut event = broker
        .event("userinfo.released", AuditOutcome::Success)
        .client(record.client_id.clone())
        .detail(
            "attributes",
            ReleasedAttribute::names(&record.payload.attributes),
        );
    if let Some((loa, _)) = record.payload.login {
        event = event.detail("loa", loa.as_word());
    }
    if let Some(person) = record.payload.person {
        event = event.person(person);
    }
    if let Some(acting) = &record.payload.acting {
        event = with_mandate(broker, event, &acting.mandate);
    }
    broker.audit(event).await?;
    let mut out = Map::with_capacity(record.payload.claims.len() + 1);
    out.insert("sub".into(), Value::String(record.payload.sub));
    out.extend(record.payload.claims);
    Ok(Value::Object(out))
}

/// Handles a revocation request: always succeeds for an authenticated client (RFC 7009 §2.2).
pub async fn revoke(
    broker: &Broker,
    authorization: Option<&str>,
    form: &RawParams,
) -> Result<(), OAuthError> {
    let rp = authenticate_audited(
        broker,
        authorization,
        form,
        &format!("{}/revoke", broker.config.issuer),
        "revoke.rejected",
        None,
    )
    .await?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    let grants = grants(broker);
    if let Some(record) = grants.access_token::<TokenSubject>(token).await? {
        if record.client_id == rp.rp.id {
            grants.delete_access_token::<TokenSubject>(token).await?;
        }
        return Ok(());
    }
    if let Some(record) = refresh_record(broker.ephemeral.as_ref(), token).await?
        && record.client_id == rp.rp.id
    {
        // Another client's token is left exactly as it is (RFC 7009 §2.1: no effect).
        withdraw_refresh(broker.ephemeral.as_ref(), token).await?;
        grants
            .revoke_grant_for(
                &record.grant_id,
                broker.config.refresh_token_ttl + USED_CODE_MEMORY,
            )
            .await?;
    }
    broker
        .audit(
            broker
                .event("token.revoked", AuditOutcome::Success)
                .client(rp.rp.id.clone()),
        )
        .await?;
    Ok(())
}

/// Handles an introspection request. Only the client the token was issued to, or a client
/// registered with the `introspection` grant (a resource server), learns about it.
pub async fn introspect(
    broker: &Broker,
    authorization: Option<&str>,
    form: &RawParams,
) -> Result<Value, OAuthError> {
    let rp = authenticate_audited(
        broker,
        authorization,
        form,
        &format!("{}/introspect", broker.config.issuer),
        "introspect.rejected",
        None,
    )
    .await?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    let record = grants(broker).access_token::<TokenSubject>(token).await?;
    let Some(record) = record
        .filter(|r| r.client_id == rp.rp.id || rp.oidc.allows(eid_core::GrantType::Introspection))
    else {
        return Ok(serde_json::json!({ "active": false }));
    };
    if let Some(sid) = &record.payload.sid
        && !token_alive(broker, sid, &record.scopes).await?
    {
        return Ok(serde_json::json!({ "active": false }));
    }
    if !token_mandate_holds(broker, &record.payload, &record.client_id, "introspect").await? {
        return Ok(serde_json::json!({ "active": false }));
    }
    let mut answer = serde_json::json!({
        "active": true,
        "client_id": record.client_id,
        "sub": record.payload.sub,
        "scope": record.scopes.join(" "),
        "exp": record.payload.exp,
        "iat": record.payload.iat,
        "iss": broker.config.issuer,
        "token_type": "Bearer",
    });
    // The person's login behind the token, as in the ID token (OIDC Core §2).
    if let Some((loa, auth_time)) = record.payload.login {
        answer["acr"] = Value::String(loa.as_uri().to_owned());
        answer["auth_time"] = Value::from(auth_time);
    }
    // Someone acting for the subject: who, and under which mandate (RFC 8693 §4.1, RFC 9396 §9.2).
    for claim in ["act", "authorization_details"] {
        if let Some(value) = record.payload.claims.get(claim) {
            answer[claim] = value.clone();
        }
    }
    Ok(answer)
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
