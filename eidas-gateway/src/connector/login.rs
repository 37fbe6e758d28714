//! The login up to the proxy service: the authorization request from the broker (pushed with
//! `service_name`, RFC 9126, or not), the country chooser, and the signed eIDAS AuthnRequest in an
//! auto-submitting HTTP-POST form. A pending login lives in the ephemeral store under an opaque
//! handle, bound to the browser that started it; the `RelayState` is another opaque handle.

use std::time::Duration;

use eid_core::{AuditOutcome, Lang};
use eid_oidc::authorize::{AuthorizeRejection, error_redirect, validate};
use eid_oidc::client_auth::PresentedCredentials;
use eid_oidc::params::{MAX_SERVICE_NAME_CHARS, valid_service_name};
use eid_oidc::random::{digest_key, token256};
use eid_oidc::{AuthorizeRequest, ClientRegistration, ErrorCode, OAuthError, Prompt, RawParams};
use eid_saml::binding::{MessageKind, PostForm, RelayState};
use eid_saml::eidas::{
    AuthnRequestOut, EidasLoa, LEGAL_MINIMUM, NATURAL_MINIMUM, NodeRole, RequestedAttribute,
};
use serde::{Deserialize, Serialize};
use url::Url;

use super::error::ConnectorError;
use super::{Connector, Country, LEGAL_PERSON_SCOPE};

/// How long a login may take from the authorization request to the Response.
pub const LOGIN_TTL: Duration = Duration::from_secs(600);
/// Lifetime of a pushed request: it is used once, at once, by the browser the broker redirects.
pub const PAR_TTL: Duration = Duration::from_secs(60);
/// Prefix of pushed request URIs (RFC 9126).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// Most audit events per client network and minute for refusals before the client was
/// authenticated (at `/par` and `/token`); beyond it they are only logged.
pub const UNAUTHENTICATED_AUDITS_PER_MINUTE: u64 = 10;

/// A login waiting for the person's choice of country.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The broker's request.
    pub req: AuthorizeRequest,
    /// The service the person logs in to, as the broker pushed it.
    pub service_name: Option<String>,
    /// The page language.
    pub lang: Lang,
    /// A digest of the browser cookie of the browser that started it.
    pub browser: String,
    /// Whether the legal-person minimum data set is asked for too.
    pub legal: bool,
}

/// A login whose AuthnRequest was sent, waiting for the Response (under its `RelayState`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRequest {
    /// The login.
    pub login: PendingLogin,
    /// The chosen country.
    pub country: String,
    /// The AuthnRequest's ID: the Response's `InResponseTo`.
    pub request_id: String,
    /// The level asked for.
    pub loa: EidasLoa,
    /// The attributes asked for with `isRequired`.
    pub required: Vec<String>,
    /// When the request was sent (Unix seconds): with `ForceAuthn="true"` the person must
    /// authenticate after it.
    #[serde(default)]
    pub sent_at: i64,
}

/// Why a login ended without an identity, as the citizen's page says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The person cancelled or declined (`RequestDenied`).
    Cancelled,
    /// Authentication failed in the country (`AuthnFailed`, and other requester errors).
    Failed,
    /// The country's eID cannot reach the level asked for (`NoAuthnContext`).
    LevelNotReached,
    /// The country's service cannot be reached or reports an error of its own (`Responder`).
    Unavailable,
    /// The Response could not be accepted (signature, times, attributes, identifier).
    Refused,
}

/// A page that ends a login without an identity, with the way back to the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailurePage {
    /// What happened.
    pub failure: Failure,
    /// The country's name.
    pub country: String,
    /// The page language.
    pub lang: Lang,
    /// The error response to the broker (`access_denied` or `temporarily_unavailable`).
    pub back: Url,
}

/// The next page of a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStep {
    /// The country chooser.
    Chooser {
        /// The pending login's handle (in the form).
        handle: String,
        /// The service's name, if the broker pushed one.
        service_name: Option<String>,
        /// The page language.
        lang: Lang,
        /// The way back to the service (`access_denied`).
        back: Url,
    },
    /// The auto-submitting form carrying the AuthnRequest to the proxy service.
    Post {
        /// The form.
        form: PostForm,
        /// The page language.
        lang: Lang,
    },
    /// The login ended.
    Failed(FailurePage),
}

/// The answer to an authorization request.
#[derive(Debug)]
pub enum AuthorizeOutcome {
    /// The client or redirect URI could not be verified: show the error, never redirect.
    ShowError(OAuthError),
    /// An error for the verified redirect URI.
    Redirect(Url),
    /// The login goes on.
    Step(LoginStep),
}

fn login_key(handle: &str) -> String {
    format!("eidas-connector:login:{}", digest_key(handle))
}

/// The key of a sent request under its `RelayState`.
pub(crate) fn sent_key(relay_state: &str) -> String {
    format!("eidas-connector:sent:{}", digest_key(relay_state))
}

fn par_key(client_id: &str, id: &str) -> String {
    let bound = format!("{}:{client_id}:{id}", client_id.len());
    format!("eidas-connector:par:{}", digest_key(&bound))
}

/// What identifies a browser in a pending login: a digest of its binding cookie.
pub fn browser_digest(cookie: &str) -> String {
    digest_key(&format!("eidas-connector-browser:{cookie}"))
}

/// The client a back-channel request authenticates as: the broker, with its secret by
/// `client_secret_basic` or `client_secret_post`.
pub(crate) fn authenticate_client<'a>(
    conn: &'a Connector,
    authorization: Option<&str>,
    form: &RawParams,
) -> Result<&'a ClientRegistration, OAuthError> {
    let presented = PresentedCredentials::from_request(authorization, form)?;
    let secret = match &presented {
        PresentedCredentials::Basic { secret, .. } | PresentedCredentials::Post { secret, .. } => {
            secret
        }
        PresentedCredentials::Assertion { .. } => {
            return Err(OAuthError::invalid_client(
                "client assertions are not accepted here",
            ));
        }
    };
    if presented.client_id() != Some(conn.client.client_id.as_str()) {
        return Err(OAuthError::invalid_client("unknown client"));
    }
    if !conn.client.secret_matches(secret) {
        return Err(OAuthError::invalid_client("client authentication failed"));
    }
    Ok(&conn.client)
}

/// Audits a refusal of a request whose client was not authenticated, within
/// [`UNAUTHENTICATED_AUDITS_PER_MINUTE`] per client network; beyond it the refusal is only logged.
pub(crate) async fn audit_unauthenticated(
    conn: &Connector,
    ip: &str,
    event: eid_core::AuditEvent,
) -> Result<(), eid_core::StoreError> {
    let minute = conn.common.clock.now().unix_timestamp().div_euclid(60);
    let network = ip
        .parse::<std::net::IpAddr>()
        .map_or_else(|_| ip.to_owned(), eid_web::client_addr::network_bucket);
    let count = conn
        .common
        .ephemeral
        .incr(
            &format!("eidas-connector:audit-unauthenticated:{network}:{minute}"),
            Duration::from_secs(120),
        )
        .await?;
    if count > UNAUTHENTICATED_AUDITS_PER_MINUTE
        || conn.common.audit.record_detached(event).is_err()
    {
        tracing::info!("connector: refusal of an unauthenticated request not audited (budget)");
    }
    Ok(())
}

/// Handles a pushed authorization request (RFC 9126) from the broker, authenticated with its
/// secret; `service_name` is accepted here only. Answers the `request_uri` and its lifetime.
pub async fn push(
    conn: &Connector,
    authorization: Option<&str>,
    form: &RawParams,
    ip: &str,
) -> Result<(String, u64), OAuthError> {
    let client = match authenticate_client(conn, authorization, form) {
        Ok(client) => client,
        Err(e) => {
            let event = conn
                .event("par.rejected", AuditOutcome::Failure)
                .ip(ip)
                .detail("error", e.code.as_str())
                .detail("reason", e.description.clone());
            audit_unauthenticated(conn, ip, event).await?;
            return Err(e);
        }
    };
    let result = push_checked(conn, client, form).await;
    if let Err(e) = &result {
        conn.audit(
            conn.event("par.rejected", AuditOutcome::Failure)
                .client(client.client_id.clone())
                .ip(ip)
                .detail("error", e.code.as_str())
                .detail("reason", e.description.clone()),
        )
        .await?;
    }
    result
}

async fn push_checked(
    conn: &Connector,
    client: &ClientRegistration,
    form: &RawParams,
) -> Result<(String, u64), OAuthError> {
    if form.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request(
            "request_uri is not allowed in a pushed request",
        ));
    }
    if form.get("client_id") != Some(client.client_id.as_str()) {
        return Err(OAuthError::invalid_request(
            "client_id must be the authenticated client",
        ));
    }
    match validate(form, |_| Some(client)) {
        Ok(_) => {}
        Err(AuthorizeRejection::ShowError(e) | AuthorizeRejection::Redirect { error: e, .. }) => {
            return Err(e);
        }
    }
    if form
        .get("service_name")
        .is_some_and(|name| !valid_service_name(name))
    {
        return Err(OAuthError::invalid_request(format!(
            "service_name must be at most {MAX_SERVICE_NAME_CHARS} printable characters"
        )));
    }
    let kept = form
        .pairs()
        .filter(|(k, _)| {
            !matches!(
                *k,
                "client_secret" | "client_assertion" | "client_assertion_type"
            )
        })
        .fold(
            url::form_urlencoded::Serializer::new(String::new()),
            |mut s, (k, v)| {
                s.append_pair(k, v);
                s
            },
        )
        .finish();
    let id = token256();
    conn.common
        .ephemeral
        .put(&par_key(&client.client_id, &id), kept.as_bytes(), PAR_TTL)
        .await?;
    Ok((format!("{REQUEST_URI_PREFIX}{id}"), PAR_TTL.as_secs()))
}

/// The pushed parameters a `request_uri` stands for (taken once, by its own client only).
async fn resolve_par(
    conn: &Connector,
    params: &RawParams,
) -> Result<Option<RawParams>, OAuthError> {
    let Some(request_uri) = params.get("request_uri") else {
        return Ok(None);
    };
    let unknown = || {
        OAuthError::new(
            ErrorCode::InvalidRequestUri,
            "request_uri unknown, expired or used",
        )
    };
    let id = request_uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .ok_or_else(unknown)?;
    let client_id = params.get("client_id").ok_or_else(unknown)?;
    let stored = conn
        .common
        .ephemeral
        .take(&par_key(client_id, id))
        .await?
        .ok_or_else(unknown)?;
    let stored = RawParams::parse(&String::from_utf8_lossy(&stored))?;
    if stored.get("client_id") != Some(client_id) {
        return Err(unknown());
    }
    Ok(Some(stored))
}

/// Handles an authorization request from the browser: validates it (the broker's registration,
/// exact redirect URI, S256 PKCE), then shows the country chooser, or goes straight to the
/// country the request names (`country`, when it is offered).
pub async fn authorize(
    conn: &Connector,
    params: &RawParams,
    browser: &str,
    accept_language: Option<&str>,
    ip: &str,
) -> Result<AuthorizeOutcome, ConnectorError> {
    let rejected = |e: &OAuthError| {
        conn.event("authorize.rejected", AuditOutcome::Failure)
            .ip(ip)
            .detail("error", e.code.as_str())
            .detail("reason", e.description.clone())
    };
    let pushed = match resolve_par(conn, params).await {
        Ok(pushed) => pushed,
        Err(e) => {
            conn.audit(rejected(&e)).await?;
            return Ok(AuthorizeOutcome::ShowError(e));
        }
    };
    // The service's name only from a pushed request, which its client authenticated.
    let service_name = pushed
        .as_ref()
        .and_then(|p| p.get("service_name"))
        .filter(|name| valid_service_name(name))
        .map(str::to_owned);
    let params = pushed.as_ref().unwrap_or(params);
    let req = match validate(params, |id| {
        (id == conn.client.client_id).then_some(&conn.client)
    }) {
        Ok(req) => req,
        Err(AuthorizeRejection::ShowError(e)) => {
            conn.audit(rejected(&e)).await?;
            return Ok(AuthorizeOutcome::ShowError(e));
        }
        Err(AuthorizeRejection::Redirect {
            redirect_uri,
            state,
            error,
        }) => {
            conn.audit(rejected(&error).client(conn.client.client_id.clone()))
                .await?;
            let url = error_redirect(&redirect_uri, &error, state.as_deref(), &conn.issuer)
                .map_err(|e| ConnectorError::BadRequest(e.description))?;
            return Ok(AuthorizeOutcome::Redirect(url));
        }
    };
    if req.prompt == Prompt::None {
        // Every eIDAS login authenticates the person anew (ForceAuthn): nothing without
        // interaction.
        let error = OAuthError::new(ErrorCode::LoginRequired, "the person must log in");
        conn.audit(rejected(&error).client(req.client_id.clone()))
            .await?;
        let url = error_redirect(
            &req.redirect_uri,
            &error,
            req.state.as_deref(),
            &conn.issuer,
        )
        .map_err(|e| ConnectorError::BadRequest(e.description))?;
        return Ok(AuthorizeOutcome::Redirect(url));
    }
    let lang = Lang::negotiate(req.ui_locales.as_deref(), accept_language);
    let legal = req.scopes.iter().any(|s| s == LEGAL_PERSON_SCOPE);
    let login = PendingLogin {
        req,
        service_name,
        lang,
        browser: browser_digest(browser),
        legal,
    };
    if let Some(code) = params.get("country") {
        match conn.country(code) {
            Some(country) => {
                let country = country.clone();
                return Ok(AuthorizeOutcome::Step(
                    send_request(conn, login, &country, ip).await?,
                ));
            }
            None => {
                tracing::info!("connector: the request names a country not offered; chooser shown")
            }
        }
    }
    let handle = token256();
    let stored =
        serde_json::to_vec(&login).map_err(|e| ConnectorError::Unavailable(e.to_string()))?;
    conn.common
        .ephemeral
        .put(&login_key(&handle), &stored, LOGIN_TTL)
        .await?;
    Ok(AuthorizeOutcome::Step(LoginStep::Chooser {
        back: back_to_client(conn, &login.req, Failure::Cancelled)?,
        handle,
        service_name: login.service_name,
        lang,
    }))
}

/// The person chose a country on the chooser (form fields `login`, `csrf`, `country`): checks
/// the form's CSRF token and the browser, ends the chooser (once) and sends the AuthnRequest.
pub async fn choose(
    conn: &Connector,
    form: &RawParams,
    browser: Option<&str>,
    ip: &str,
) -> Result<LoginStep, ConnectorError> {
    if !eid_web::browser::csrf_matches(form.get("csrf"), browser) {
        conn.audit(
            conn.event("connector.choice_rejected", AuditOutcome::Failure)
                .ip(ip)
                .detail("reason", "CSRF token missing or wrong"),
        )
        .await?;
        return Err(ConnectorError::Csrf);
    }
    let stored = match form.get("login") {
        Some(handle) => conn.common.ephemeral.get(&login_key(handle)).await?,
        None => None,
    };
    let (Some(handle), Some(stored)) = (form.get("login"), stored) else {
        conn.audit(
            conn.event("connector.choice_rejected", AuditOutcome::Failure)
                .ip(ip)
                .detail("reason", "login unknown, expired or finished"),
        )
        .await?;
        return Err(ConnectorError::Expired);
    };
    let key = login_key(handle);
    let login: PendingLogin =
        serde_json::from_slice(&stored).map_err(|_| ConnectorError::Expired)?;
    if browser.map(browser_digest).as_deref() != Some(login.browser.as_str()) {
        conn.audit(
            conn.event("connector.choice_rejected", AuditOutcome::Failure)
                .client(login.req.client_id.clone())
                .ip(ip)
                .detail("reason", "login started in another browser"),
        )
        .await?;
        return Err(ConnectorError::WrongBrowser);
    }
    let Some(country) = form.get("country").and_then(|c| conn.country(c)).cloned() else {
        conn.audit(
            conn.event("connector.choice_rejected", AuditOutcome::Failure)
                .client(login.req.client_id.clone())
                .ip(ip)
                .detail("reason", "country not offered"),
        )
        .await?;
        return Err(ConnectorError::BadRequest("country not offered".into()));
    };
    if conn.common.ephemeral.take(&key).await?.is_none() {
        return Err(ConnectorError::Expired);
    }
    send_request(conn, login, &country, ip).await
}

/// The level to ask the country for: the broker's minimum, as eIDAS (substantial by default).
pub fn requested_loa(req: &AuthorizeRequest) -> EidasLoa {
    req.acr_min
        .map_or(EidasLoa::Substantial, EidasLoa::from_nsis)
}

/// The attributes to ask for: the natural-person minimum data set, and the legal-person one when
/// asked for; all required.
pub fn requested_attributes(legal: bool) -> Vec<RequestedAttribute> {
    let legal_set: &[&eid_saml::eidas::AttributeDef] = if legal { &LEGAL_MINIMUM } else { &[] };
    NATURAL_MINIMUM
        .iter()
        .chain(legal_set)
        .map(|def| RequestedAttribute {
            name: def.name.to_owned(),
            required: true,
        })
        .collect()
}

/// The error response to the broker for a login that ended without an identity.
pub fn back_to_client(
    conn: &Connector,
    req: &AuthorizeRequest,
    failure: Failure,
) -> Result<Url, ConnectorError> {
    let (code, why) = match failure {
        Failure::Cancelled => (ErrorCode::AccessDenied, "the person cancelled or declined"),
        Failure::Failed => (
            ErrorCode::AccessDenied,
            "authentication failed in the country",
        ),
        Failure::LevelNotReached => (
            ErrorCode::AccessDenied,
            "level of assurance not reached in the country",
        ),
        Failure::Unavailable => (
            ErrorCode::TemporarilyUnavailable,
            "the country's proxy service is not available",
        ),
        Failure::Refused => (
            ErrorCode::AccessDenied,
            "the country's response could not be accepted",
        ),
    };
    error_redirect(
        &req.redirect_uri,
        &OAuthError::new(code, why),
        req.state.as_deref(),
        &conn.issuer,
    )
    .map_err(|e| ConnectorError::BadRequest(e.description))
}

fn failed(
    conn: &Connector,
    login: &PendingLogin,
    country: &Country,
    failure: Failure,
) -> Result<LoginStep, ConnectorError> {
    Ok(LoginStep::Failed(FailurePage {
        failure,
        country: country.name.clone(),
        lang: login.lang,
        back: back_to_client(conn, &login.req, failure)?,
    }))
}

/// Builds, signs and sends (as a form) the AuthnRequest of `login` to `country`'s proxy service;
/// its Response is awaited under a fresh `RelayState`.
pub async fn send_request(
    conn: &Connector,
    login: PendingLogin,
    country: &Country,
    ip: &str,
) -> Result<LoginStep, ConnectorError> {
    let refused = |reason: String| {
        conn.event("connector.request_not_sent", AuditOutcome::Failure)
            .client(login.req.client_id.clone())
            .ip(ip)
            .detail("country", country.code.clone())
            .detail("reason", reason)
    };
    let verified = match conn.peers.by_country(&country.code).await {
        Ok(verified) => verified,
        Err(e) => {
            conn.audit(refused(e.to_string())).await?;
            return failed(conn, &login, country, Failure::Unavailable);
        }
    };
    let NodeRole::ProxyService {
        sso_url,
        loas,
        wants_requester_id,
    } = &verified.metadata.role
    else {
        conn.audit(refused(
            "the peer's metadata is not a proxy service's".into(),
        ))
        .await?;
        return failed(conn, &login, country, Failure::Unavailable);
    };
    let loa = requested_loa(&login.req);
    if !loas.is_empty() && !loas.iter().any(|l| *l >= loa) {
        conn.audit(refused(format!(
            "the country supports no level from {}",
            loa.uri()
        )))
        .await?;
        return failed(conn, &login, country, Failure::LevelNotReached);
    }
    let requested = requested_attributes(login.legal);
    let request_id = eid_saml::messages::new_message_id();
    let out = AuthnRequestOut {
        id: request_id.clone(),
        issue_instant: conn.common.clock.now(),
        issuer: conn.entity_id(),
        destination: sso_url.clone(),
        provider_name: login.service_name.clone(),
        // In our metadata, so never in the request.
        sp_type: None,
        requester_id: if *wants_requester_id {
            login.service_name.clone()
        } else {
            None
        },
        requested: requested.clone(),
        loa,
        name_id_format: None,
    };
    let xml = match out.to_signed_xml(
        &conn.node.key,
        verified.peer.algorithms.sign,
        &conn.node.certificate,
    ) {
        Ok(xml) => xml,
        Err(e) => {
            tracing::error!(error = %e, "connector: signing an AuthnRequest failed");
            conn.audit(refused(format!("signing failed: {e}"))).await?;
            return failed(conn, &login, country, Failure::Unavailable);
        }
    };
    let relay = token256();
    let relay_state =
        RelayState::new(relay.clone()).map_err(|e| ConnectorError::Unavailable(e.to_string()))?;
    let lang = login.lang;
    let client_id = login.req.client_id.clone();
    let sent = SentRequest {
        login,
        country: country.code.clone(),
        request_id,
        loa,
        required: requested
            .iter()
            .filter(|a| a.required)
            .map(|a| a.name.clone())
            .collect(),
        sent_at: conn.common.clock.now().unix_timestamp(),
    };
    let stored =
        serde_json::to_vec(&sent).map_err(|e| ConnectorError::Unavailable(e.to_string()))?;
    conn.common
        .ephemeral
        .put(&sent_key(&relay), &stored, LOGIN_TTL)
        .await?;
    conn.audit(
        conn.event("connector.request_sent", AuditOutcome::Success)
            .client(client_id)
            .ip(ip)
            .detail("country", country.code.clone())
            .detail("loa", loa.uri()),
    )
    .await?;
    Ok(LoginStep::Post {
        form: PostForm::new(sso_url, MessageKind::Request, &xml, Some(&relay_state)),
        lang,
    })
}
