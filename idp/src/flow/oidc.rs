//! The OIDC provider towards the broker: authorization requests, the token endpoint, userinfo and
//! discovery.

use eid_core::Lang;
use eid_core::{AuditOutcome, PersonStatus};
use eid_oidc::authorize::{AuthorizeRejection, error_redirect, validate};
use eid_oidc::client_auth::{PresentedCredentials, authenticate_with_secret};
use eid_oidc::grant::{ACCESS_TOKEN_TTL, AccessToken, Grants, USED_CODE_MEMORY};
use eid_oidc::params::{MAX_SERVICE_NAME_CHARS, valid_service_name};
use eid_oidc::{AuthorizeRequest, ClientRegistration, ErrorCode, OAuthError, Prompt, RawParams};
use serde::Serialize;
use std::time::Duration;
use url::Url;

use super::IdpError;
use super::complete::{Completion, GRANTS, IdpGrant, answer_request};
use super::session::IdpSession;
use super::tx::{LoginTx, Purpose};
use crate::state::Idp;

/// Lifetime of ID tokens, seconds.
pub const ID_TOKEN_TTL: i64 = 300;

/// Prefix of pushed request URIs (RFC 9126).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// Lifetime of a pushed request: it is used once, at once, by the browser the client redirects.
pub const PAR_TTL: Duration = Duration::from_secs(60);

/// Most audit events per client address and minute for requests refused before their client was
/// authenticated (at `/par` and `/token`): anyone can send those, and a flood of them must not fill
/// the audit log. Beyond it they are counted in `idp_unaudited_rejections_total`.
pub const UNAUTHENTICATED_AUDITS_PER_MINUTE: u64 = 10;

/// Most such audit events per minute from all addresses together: addresses (an IPv6 /64 holds
/// 2^64) must not multiply the budget into a flood of the audit log.
pub const UNAUTHENTICATED_AUDITS_PER_MINUTE_IN_ALL: u64 = 600;

/// A pushed request is stored under its client and its id together, so that only its own client
/// can even find it: another client presenting the `request_uri` neither uses nor spends it.
fn par_key(client_id: &str, id: &str) -> String {
    let bound = format!("{}:{client_id}:{id}", client_id.len());
    format!("idp:par:{}", eid_oidc::random::digest_key(&bound))
}

/// Audits the refusal `event` of a request whose client was not authenticated, within
/// [`UNAUTHENTICATED_AUDITS_PER_MINUTE`] for the network of the address `ip` (an IPv6 /64) and
/// [`UNAUTHENTICATED_AUDITS_PER_MINUTE_IN_ALL`] in all, without waiting for the disk.
pub async fn audit_unauthenticated(
    idp: &Idp,
    ip: &str,
    event: eid_core::AuditEvent,
) -> Result<(), eid_core::StoreError> {
    let minute = idp.clock.now().unix_timestamp().div_euclid(60);
    let network = ip
        .parse::<std::net::IpAddr>()
        .map_or_else(|_| ip.to_owned(), eid_web::client_addr::network_bucket);
    let count = idp
        .ephemeral
        .incr(
            &format!("idp:audit-unauthenticated:{network}:{minute}"),
            Duration::from_secs(120),
        )
        .await?;
    let in_all = if count > UNAUTHENTICATED_AUDITS_PER_MINUTE {
        0
    } else {
        idp.ephemeral
            .incr(
                &format!("idp:audit-unauthenticated:all:{minute}"),
                Duration::from_secs(120),
            )
            .await?
    };
    // Beyond either budget, or when the audit log is not keeping up (its queue is full), the
    // refusal goes unwritten and is counted instead.
    let recorded = count <= UNAUTHENTICATED_AUDITS_PER_MINUTE
        && in_all <= UNAUTHENTICATED_AUDITS_PER_MINUTE_IN_ALL
        && idp.audit.record_detached(event).is_ok();
    if !recorded {
        idp.metrics.inc(
            "idp_unaudited_rejections_total",
            "Requests of no authenticated client refused beyond the per-address audit budget.",
            &[],
        );
    }
    Ok(())
}

/// Resolves a pushed request: `client_id` + `request_uri` stand for the stored parameters, which
/// are taken (single use) only by that client.
async fn resolve_par(idp: &Idp, params: &RawParams) -> Result<Option<RawParams>, OAuthError> {
    let Some(request_uri) = params.get("request_uri") else {
        return Ok(None);
    };
    let id = request_uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequestUri, "unknown request_uri"))?;
    let client_id = params.get("client_id").ok_or_else(|| {
        OAuthError::new(
            ErrorCode::InvalidRequestUri,
            "request_uri without client_id",
        )
    })?;
    let stored = idp
        .ephemeral
        .take(&par_key(client_id, id))
        .await?
        .ok_or_else(|| {
            OAuthError::new(
                ErrorCode::InvalidRequestUri,
                "request_uri unknown, expired, used or another client's",
            )
        })?;
    let stored = RawParams::parse(&String::from_utf8_lossy(&stored))?;
    if stored.get("client_id") != params.get("client_id") {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequestUri,
            "request_uri belongs to another client",
        ));
    }
    Ok(Some(stored))
}

/// Handles a pushed authorization request (RFC 9126) from a client authenticated with its secret;
/// audits refusals (those before the client is authenticated within the address's budget, see
/// [`audit_unauthenticated`]). Only here is `service_name` (the service the person logs in to,
/// shown on every page) accepted: it must pass [`valid_service_name`].
pub async fn push(
    idp: &Idp,
    authorization: Option<&str>,
    form: &RawParams,
    ip: &str,
) -> Result<(String, u64), OAuthError> {
    let result = push_inner(idp, authorization, form).await;
    if let Err((e, client)) = &result {
        let event = idp
            .event("par.rejected", AuditOutcome::Failure)
            .ip(ip)
            .detail("error", e.code.as_str())
            .detail("reason", e.description.clone());
        match client {
            Some(client) => idp.audit(event.client(client.clone())).await?,
            None => audit_unauthenticated(idp, ip, event).await?,
        }
    }
    result.map_err(|(e, _)| e)
}

/// The pushed request, or the refusal and the client when it was authenticated.
async fn push_inner(
    idp: &Idp,
    authorization: Option<&str>,
    form: &RawParams,
) -> Result<(String, u64), (OAuthError, Option<String>)> {
    let client = authenticate_client(idp, authorization, form).map_err(|e| (e, None))?;
    let named = |e: OAuthError| (e, Some(client.client_id.clone()));
    if form.get("request_uri").is_some() {
        return Err(named(OAuthError::invalid_request(
            "request_uri is not allowed in a pushed request",
        )));
    }
    if form.get("client_id") != Some(client.client_id.as_str()) {
        return Err(named(OAuthError::invalid_request(
            "client_id must be the authenticated client",
        )));
    }
    match validate(form, |_| Some(client)) {
        Ok(_) => {}
        Err(AuthorizeRejection::ShowError(e))
        | Err(AuthorizeRejection::Redirect { error: e, .. }) => return Err(named(e)),
    }
    if form
        .get("service_name")
        .is_some_and(|name| !valid_service_name(name))
    {
        return Err(named(OAuthError::invalid_request(format!(
            "service_name must be at most {MAX_SERVICE_NAME_CHARS} printable characters"
        ))));
    }
    // Keep only the authorization parameters (not the client's credentials). A client that may not
    // name services (only brokers may) loses its `service_name`: the pages then show its own
    // registered name, so that it cannot present itself as another service.
    let may_name = idp
        .config
        .service_namers
        .iter()
        .any(|c| c == &client.client_id);
    if !may_name && form.get("service_name").is_some() {
        tracing::info!(client = %client.client_id, "service_name ignored: the client may not name services");
    }
    let kept = form
        .pairs()
        .filter(|(k, _)| {
            !matches!(
                *k,
                "client_secret" | "client_assertion" | "client_assertion_type"
            ) && (may_name || *k != "service_name")
        })
        .fold(
            url::form_urlencoded::Serializer::new(String::new()),
            |mut s, (k, v)| {
                s.append_pair(k, v);
                s
            },
        )
        .finish();
    let id = eid_oidc::random::token256();
    idp.ephemeral
        .put(&par_key(&client.client_id, &id), kept.as_bytes(), PAR_TTL)
        .await
        .map_err(|e| named(e.into()))?;
    Ok((format!("{REQUEST_URI_PREFIX}{id}"), PAR_TTL.as_secs()))
}

/// The answer to an authorization request.
#[derive(Debug)]
pub enum AuthorizeOutcome {
    /// The client or redirect URI could not be verified: show this error, never redirect.
    ShowError(OAuthError),
    /// Answered from the session, or an error for the verified redirect URI.
    Redirect(Url),
    /// The session's level is too low and the client asked for no interaction… or the person must
    /// log in: the new transaction to continue with.
    Login(Box<LoginTx>),
    /// The session is below the requested level and re-authentication cannot reach it.
    Completed {
        /// The answer.
        completion: Completion,
        /// The service the person logs in to (pushed, else the client's name), for its page.
        service: Option<String>,
    },
}

/// Handles an authorization request.
pub async fn authorize(
    idp: &Idp,
    params: &RawParams,
    session_cookie: Option<&str>,
    browser_cookie: &str,
    accept_language: Option<&str>,
) -> Result<AuthorizeOutcome, IdpError> {
    let pushed = match resolve_par(idp, params).await {
        Ok(pushed) => pushed,
        Err(e) => {
            idp.audit(
                idp.event("authorize.rejected", AuditOutcome::Failure)
                    .detail("error", e.code.as_str())
                    .detail("reason", e.description.clone()),
            )
            .await?;
            return Ok(AuthorizeOutcome::ShowError(e));
        }
    };
    // The service's name is taken only from a pushed request, which its client authenticated; one
    // in a front-channel request is ignored (anyone can craft a link), so the page names the client.
    let service_name = pushed
        .as_ref()
        .and_then(|p| p.get("service_name"))
        .filter(|name| valid_service_name(name))
        .map(str::to_owned);
    let params = pushed.as_ref().unwrap_or(params);
    let req = match validate(params, |id| idp.clients.get(id)) {
        Ok(req) => req,
        Err(AuthorizeRejection::ShowError(e)) => {
            idp.audit(
                idp.event("authorize.rejected", AuditOutcome::Failure)
                    .detail("error", e.code.as_str())
                    .detail("reason", e.description.clone()),
            )
            .await?;
            return Ok(AuthorizeOutcome::ShowError(e));
        }
        Err(AuthorizeRejection::Redirect {
            redirect_uri,
            state,
            error,
        }) => {
            idp.audit(
                idp.event("authorize.rejected", AuditOutcome::Failure)
                    .detail("error", error.code.as_str())
                    .detail("reason", error.description.clone()),
            )
            .await?;
            let url = error_redirect(&redirect_uri, &error, state.as_deref(), &idp.config.issuer)
                .map_err(|e| IdpError::BadRequest(e.to_string()))?;
            return Ok(AuthorizeOutcome::Redirect(url));
        }
    };
    let session = IdpSession::find(idp, session_cookie).await?;
    let now = idp.clock.now().unix_timestamp();
    let usable = session.filter(|s| {
        req.prompt != Prompt::Login
            && req.max_age.is_none_or(|max| {
                now.saturating_sub(s.auth_time) <= i64::try_from(max).unwrap_or(i64::MAX)
            })
    });
    if let Some(session) = &usable
        && req.acr_min.is_none_or(|min| session.loa >= min)
    {
        // Without interaction the session answers at once; with it, the person is offered to
        // continue as who they are logged in as, or to use another method.
        if req.prompt == Prompt::None {
            let service = service_name.or_else(|| {
                idp.clients
                    .get(&req.client_id)
                    .map(|c| c.client_name.clone())
            });
            return Ok(AuthorizeOutcome::Completed {
                completion: answer_request(idp, &req, session).await?,
                service,
            });
        }
        let lang = Lang::negotiate(req.ui_locales.as_deref(), accept_language);
        let person = session.person;
        let mut tx = LoginTx::new(Purpose::Oidc(Box::new(req)), browser_cookie, lang);
        tx.service_name = service_name;
        tx.person = Some(person);
        tx.offer_session = true;
        tx.save(idp).await?;
        return Ok(AuthorizeOutcome::Login(Box::new(tx)));
    }
    if req.prompt == Prompt::None {
        let code = if usable.is_some() {
            ErrorCode::InteractionRequired
        } else {
            ErrorCode::LoginRequired
        };
        let url = error_redirect(
            &req.redirect_uri,
            &OAuthError::new(code, "the person must log in"),
            req.state.as_deref(),
            &idp.config.issuer,
        )
        .map_err(|e| IdpError::BadRequest(e.to_string()))?;
        return Ok(AuthorizeOutcome::Redirect(url));
    }
    let lang = Lang::negotiate(req.ui_locales.as_deref(), accept_language);
    let mut tx = LoginTx::new(Purpose::Oidc(Box::new(req)), browser_cookie, lang);
    tx.service_name = service_name;
    tx.save(idp).await?;
    Ok(AuthorizeOutcome::Login(Box::new(tx)))
}

/// The session a transaction offers to continue with ([`LoginTx::offer_session`]), when it still
/// satisfies the request: the same person, fresh enough for `max_age`, at the level asked for.
pub async fn offered_session(
    idp: &Idp,
    tx: &LoginTx,
    session_cookie: Option<&str>,
) -> Result<Option<IdpSession>, IdpError> {
    let (true, Some(person), Purpose::Oidc(req)) = (tx.offer_session, tx.person, &tx.purpose)
    else {
        return Ok(None);
    };
    let now = idp.clock.now().unix_timestamp();
    Ok(IdpSession::find(idp, session_cookie).await?.filter(|s| {
        s.person == person
            && req.acr_min.is_none_or(|min| s.loa >= min)
            && req.max_age.is_none_or(|max| {
                now.saturating_sub(s.auth_time) <= i64::try_from(max).unwrap_or(i64::MAX)
            })
    }))
}

/// The person chose to continue with their session: ends the transaction and answers the client
/// from the session (audited). `None` when the session no longer satisfies the request.
pub async fn continue_session(
    idp: &Idp,
    tx: &LoginTx,
    session_cookie: Option<&str>,
    ip: &str,
) -> Result<Option<Completion>, IdpError> {
    let Some(session) = offered_session(idp, tx, session_cookie).await? else {
        return Ok(None);
    };
    let Purpose::Oidc(req) = &tx.purpose else {
        return Ok(None);
    };
    if !tx.finish(idp).await? {
        return Err(IdpError::TxExpired);
    }
    idp.audit(
        idp.event("login.session_continued", AuditOutcome::Success)
            .person(session.person)
            .client(req.client_id.clone())
            .ip(ip)
            .detail("method", session.method.as_str())
            .detail("loa", session.loa.as_word()),
    )
    .await?;
    Ok(Some(answer_request(idp, req, &session).await?))
}

/// A successful token response.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// The opaque access token.
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

/// The claims of the authenticator's ID tokens: only what the broker reads (the level is `acr`;
/// the identity-proofing and authenticator levels are in userinfo only).
#[derive(Debug, Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    acr: &'static str,
    amr: &'a [String],
    cpr: &'a str,
    given_name: &'a str,
    family_name: &'a str,
    birthdate: &'a str,
    /// The session's `sid` towards this client (OIDC Front/Back-Channel Logout): its `logout_hint`.
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
}

/// What the authenticator says about a person (ID token and userinfo).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct PersonClaims {
    /// CPR number.
    pub cpr: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub birthdate: String,
    /// Achieved level (URI).
    pub loa: String,
    /// Identity-proofing level (URI).
    pub ial: String,
    /// Authenticator level (URI).
    pub aal: String,
}

/// Handles a token request (`authorization_code` grant).
pub async fn token(
    idp: &Idp,
    authorization: Option<&str>,
    form: &RawParams,
    ip: &str,
) -> Result<TokenResponse, OAuthError> {
    let client = match authenticate_client(idp, authorization, form) {
        Ok(client) => client,
        Err(e) => {
            let event = idp
                .event("token.rejected", AuditOutcome::Failure)
                .ip(ip)
                .detail("error", e.code.as_str())
                .detail("reason", e.description.clone());
            audit_unauthenticated(idp, ip, event).await?;
            return Err(e);
        }
    };
    let result = token_inner(idp, client, form).await;
    let event = match &result {
        Ok((_, grant)) => idp
            .event("token.issued", AuditOutcome::Success)
            .person(grant.person),
        Err(e) => idp
            .event("token.rejected", AuditOutcome::Failure)
            .detail("error", e.code.as_str())
            .detail("reason", e.description.clone()),
    };
    idp.audit(event.client(client.client_id.clone()).ip(ip))
        .await?;
    result.map(|(response, _)| response)
}

/// The client a back-channel request authenticates as with its secret.
fn authenticate_client<'a>(
    idp: &'a Idp,
    authorization: Option<&str>,
    form: &RawParams,
) -> Result<&'a ClientRegistration, OAuthError> {
    let presented = PresentedCredentials::from_request(authorization, form)?;
    let client_id = presented
        .client_id()
        .ok_or_else(|| OAuthError::invalid_client("client_id is missing"))?;
    let client = idp
        .clients
        .get(client_id)
        .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    authenticate_with_secret(client, &presented)?;
    Ok(client)
}

async fn token_inner(
    idp: &Idp,
    client: &ClientRegistration,
    form: &RawParams,
) -> Result<(TokenResponse, IdpGrant), OAuthError> {
    let grants = Grants::new(idp.ephemeral.as_ref(), GRANTS);
    let grant = grants
        .redeem_authorization_code::<IdpGrant>(
            &client.client_id,
            form,
            ACCESS_TOKEN_TTL + USED_CODE_MEMORY,
        )
        .await?;
    let payload = grant.payload;
    let person = idp
        .persons
        .person(payload.person)
        .await?
        .filter(|p| p.status == PersonStatus::Active)
        .ok_or_else(|| OAuthError::invalid_grant("the person is no longer active"))?;
    let person_claims = PersonClaims {
        cpr: person.cpr.as_str().to_owned(),
        given_name: person.given_name.clone(),
        family_name: person.family_name.clone(),
        birthdate: person
            .birthdate
            .format(&time::macros::format_description!("[year]-[month]-[day]"))
            .unwrap_or_default(),
        loa: payload.loa.as_uri().to_owned(),
        ial: payload.ial.as_uri().to_owned(),
        aal: payload.aal.as_uri().to_owned(),
    };
    let now = idp.clock.now().unix_timestamp();
    let claims = IdTokenClaims {
        iss: &idp.config.issuer,
        sub: payload.person.to_string(),
        aud: &client.client_id,
        exp: now + ID_TOKEN_TTL,
        iat: now,
        auth_time: payload.auth_time,
        nonce: payload.nonce.as_deref(),
        acr: payload.loa.as_uri(),
        amr: &payload.amr,
        cpr: &person_claims.cpr,
        given_name: &person_claims.given_name,
        family_name: &person_claims.family_name,
        birthdate: &person_claims.birthdate,
        sid: payload.sid.as_deref(),
    };
    let key = idp
        .keys
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
            payload: UserinfoRecord {
                sub: payload.person.to_string(),
                claims: person_claims,
            },
        })
        .await?;
    let response = TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: eid_oidc::grant::ACCESS_TOKEN_TTL.as_secs(),
        id_token,
        scope: payload.scopes.join(" "),
    };
    Ok((response, payload))
}

/// What userinfo returns for an access token.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct UserinfoRecord {
    /// The person's UUID.
    pub sub: String,
    /// The person's claims.
    #[serde(flatten)]
    pub claims: PersonClaims,
}

/// Handles a userinfo request with a bearer token.
pub async fn userinfo(
    idp: &Idp,
    authorization: Option<&str>,
) -> Result<UserinfoRecord, OAuthError> {
    let token = eid_oidc::client_auth::bearer_token(authorization)?;
    let record = Grants::new(idp.ephemeral.as_ref(), GRANTS)
        .access_token::<UserinfoRecord>(token)
        .await?
        .ok_or_else(|| {
            OAuthError::new(ErrorCode::InvalidToken, "unknown, expired or revoked token")
        })?;
    Ok(record.payload)
}

/// The discovery document.
pub fn discovery(idp: &Idp) -> serde_json::Value {
    let iss = &idp.config.issuer;
    serde_json::json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "jwks_uri": format!("{iss}/jwks"),
        "end_session_endpoint": format!("{iss}/logout"),
        "pushed_authorization_request_endpoint": format!("{iss}/par"),
        "require_pushed_authorization_requests": false,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid"],
        "acr_values_supported": eid_core::Loa::ALL.iter().map(|l| l.as_uri()).collect::<Vec<_>>(),
        "claims_supported": ["sub", "acr", "amr", "auth_time", "cpr", "given_name", "family_name", "birthdate", "loa", "ial", "aal", "sid"],
        "prompt_values_supported": ["none", "login"],
        "ui_locales_supported": ["da", "en"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
    })
}

/// The request behind a transaction, when it is an OIDC one.
pub fn oidc_request(tx: &LoginTx) -> Option<&AuthorizeRequest> {
    match &tx.purpose {
        Purpose::Oidc(req) => Some(req),
        Purpose::Account => None,
    }
}
