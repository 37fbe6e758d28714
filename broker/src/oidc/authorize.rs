//! Authorization: the relying party's request (direct or pushed), single sign-on or the round trip
//! to an upstream, and the answer with a code.

use eid_core::AuditOutcome;
use eid_oidc::authorize::{AuthorizeRejection, error_redirect, success_redirect, validate};
use eid_oidc::{AuthorizeRequest, ErrorCode, OAuthError, Prompt, RawParams};
use eid_core::Lang;
use std::net::IpAddr;
use std::time::Duration;
use url::Url;

use super::BrokerError;
use super::audit::{audit_refusal, truncated};
use super::pending::{Admission, PendingLogin};
use super::tokens::issue_code;
use crate::core::decision::{AfterLogin, after_login};
use crate::core::{AuthnRequest, Decision, SsoSession, decide};
use crate::registry::RegisteredRp;
use crate::state::Broker;
use crate::upstream::{UpstreamError, UpstreamRequest};

/// Prefix of pushed request URIs (RFC 9126).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// Lifetime of a pushed request.
pub const PAR_TTL: Duration = Duration::from_secs(60);

/// The answer to an authorization request.
#[derive(Debug)]
pub enum AuthorizeOutcome {
    /// The client or redirect URI could not be verified: show this error, never redirect.
    ShowError(OAuthError),
    /// Send the browser back to the client (a code, or an error).
    Redirect(Url),
    /// The person must log in: show the identity chooser for this pending login.
    Choose(Box<PendingLogin>),
}

/// A session cookie to set after a login (rotated at every login).
pub type NewSessionCookie = Option<String>;

fn redirect_error(
    broker: &Broker,
    req: &AuthorizeRequest,
    code: ErrorCode,
    why: &str,
) -> Result<Url, BrokerError> {
    error_redirect(
        &req.redirect_uri,
        &OAuthError::new(code, why),
        req.state.as_deref(),
        &broker.config.issuer,
    )
    .map_err(|e| BrokerError::BadRequest(e.to_string()))
}

pub use super::audit::{UNREGISTERED_AUDITS_PER_MINUTE, UNREGISTERED_CLIENT_KEPT};

/// Audits a refused authorization request ([`audit_refusal`]: only a registered client is named
/// and waited for; unregistered ones are budgeted, detached and truncated).
async fn audit_rejection(
    broker: &Broker,
    client: Option<&str>,
    e: &OAuthError,
) -> Result<(), BrokerError> {
    let event = broker
        .event("authorize.rejected", AuditOutcome::Failure)
        .detail("error", e.code.as_str())
        .detail("reason", e.description.clone());
    Ok(audit_refusal(broker, client, event).await?)
}

/// Resolves a pushed request: `client_id` + `request_uri` stand for the stored parameters.
async fn resolve_par(broker: &Broker, params: &RawParams) -> Result<Option<RawParams>, OAuthError> {
    let Some(request_uri) = params.get("request_uri") else {
        return Ok(None);
    };
    let id = request_uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequestUri, "unknown request_uri"))?;
    let stored = broker
        .ephemeral
        .take(&format!("broker:par:{}", eid_oidc::random::digest_key(id)))
        .await?
        .ok_or_else(|| {
            OAuthError::new(
                ErrorCode::InvalidRequestUri,
                "request_uri unknown, expired or used",
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

/// Handles an authorization request from the browser with cookie `browser_cookie` (freshly minted
/// when it presented none) at client address `address`.
pub async fn authorize(
    broker: &Broker,
    params: &RawParams,
    session_cookie: Option<&str>,
    browser_cookie: &str,
    address: IpAddr,
    accept_language: Option<&str>,
) -> Result<AuthorizeOutcome, BrokerError> {
    let pushed = match resolve_par(broker, params).await {
        Ok(pushed) => pushed,
        Err(e) => {
            audit_rejection(broker, params.get("client_id"), &e).await?;
            return Ok(AuthorizeOutcome::ShowError(e));
        }
    };
    let via_par = pushed.is_some();
    let params = pushed.as_ref().unwrap_or(params);
    let rp = params
        .get("client_id")
        .and_then(|id| broker.registry.get(id));
    let req = match validate(params, |_| rp.as_ref().map(|r| &r.client)) {
        Ok(req) => req,
        Err(AuthorizeRejection::ShowError(e)) => {
            audit_rejection(broker, params.get("client_id"), &e).await?;
            return Ok(AuthorizeOutcome::ShowError(e));
        }
        Err(AuthorizeRejection::Redirect {
            redirect_uri,
            state,
            error,
        }) => {
            audit_rejection(broker, params.get("client_id"), &error).await?;
            let url = error_redirect(
                &redirect_uri,
                &error,
                state.as_deref(),
                &broker.config.issuer,
            )
            .map_err(|e| BrokerError::BadRequest(e.to_string()))?;
            return Ok(AuthorizeOutcome::Redirect(url));
        }
    };
    let Some(rp) = rp else {
        return Err(BrokerError::BadRequest("client vanished".into()));
    };
    if rp.rp.require_pushed_authorization_requests && !via_par {
        let e = OAuthError::invalid_request("this client must use pushed authorization requests");
        audit_rejection(broker, Some(&req.client_id), &e).await?;
        return Ok(AuthorizeOutcome::Redirect(redirect_error(
            broker,
            &req,
            e.code,
            &e.description,
        )?));
    }
    if !rp.rp.allows_grant("authorization_code") {
        let e = OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "client may not use the code flow",
        );
        return Ok(AuthorizeOutcome::Redirect(redirect_error(
            broker,
            &req,
            e.code,
            &e.description,
        )?));
    }
    let authn = AuthnRequest {
        rp: req.client_id.clone(),
        min_loa: req.acr_min,
        force: req.prompt == Prompt::Login,
        passive: req.prompt == Prompt::None,
        max_age: req.max_age,
        accepts_representation: rp.rp.accepts_representation,
    };
    let session = SsoSession::find(broker.ephemeral.as_ref(), session_cookie).await?;
    match decide(&authn, session.as_ref(), broker.now()) {
        Decision::UseSession => {
            let (Some(mut session), Some(cookie)) = (session, session_cookie) else {
                return Err(BrokerError::Expired);
            };
            let (url, new_rp) = answer(broker, &rp, &req, &mut session).await?;
            if new_rp {
                // Only a new relying party changes the session (logout must reach it).
                session
                    .save(broker.ephemeral.as_ref(), cookie, broker.config.session_ttl)
                    .await?;
            }
            broker.metrics.inc(
                "broker_sso_answers_total",
                "Requests answered from an SSO session.",
                &[],
            );
            Ok(AuthorizeOutcome::Redirect(url))
        }
        Decision::LoginRequired => {
            let url = redirect_error(
                broker,
                &req,
                ErrorCode::LoginRequired,
                "the person must log in",
            )?;
            Ok(AuthorizeOutcome::Redirect(url))
        }
        Decision::Authenticate { min_loa, step_up } => {
            let (first, whose) = match PendingLogin::admit(broker, browser_cookie, address).await? {
                Admission::Admitted => (None, ""),
                Admission::BrowserFull { first } => (Some(first), "in this browser"),
                Admission::AddressFull { first } => (Some(first), "from your network"),
            };
            if let Some(first) = first {
                let e = OAuthError::new(
                    ErrorCode::TemporarilyUnavailable,
                    format!("too many logins begun {whose}; finish one or wait a few minutes"),
                );
                if first {
                    audit_rejection(broker, Some(&req.client_id), &e).await?;
                }
                return Ok(AuthorizeOutcome::ShowError(e));
            }
            let lang = Lang::negotiate(req.ui_locales.as_deref(), accept_language);
            let pending = PendingLogin::new(req, browser_cookie, lang, min_loa, step_up);
            pending.save(broker).await?;
            Ok(AuthorizeOutcome::Choose(Box::new(pending)))
        }
    }
}

/// Issues a code from a session for a validated request and records the relying party as served;
/// returns the redirect and whether the relying party is new to the session.
pub async fn answer(
    broker: &Broker,
    rp: &RegisteredRp,
    req: &AuthorizeRequest,
    session: &mut SsoSession,
) -> Result<(Url, bool), BrokerError> {
    if req.acr_min.is_some_and(|min| session.loa < min) {
        // Never issue below the requested level.
        let url = redirect_error(
            broker,
            req,
            ErrorCode::AccessDenied,
            "level of assurance not reached",
        )?;
        return Ok((url, false));
    }
    let code = issue_code(
        broker,
        rp,
        session,
        &req.redirect_uri,
        &req.code_challenge,
        req.nonce.clone(),
        req.scopes.clone(),
    )
    .await?;
    let new_rp = session.served(&rp.rp.client_id);
    let url = success_redirect(
        &req.redirect_uri,
        &code,
        req.state.as_deref(),
        &broker.config.issuer,
    )
    .map_err(|e| BrokerError::BadRequest(e.to_string()))?;
    Ok((url, new_rp))
}

/// The person chose an upstream: the redirect to it.
pub async fn start_upstream(
    broker: &Broker,
    pending: &mut PendingLogin,
    upstream: &str,
) -> Result<Url, BrokerError> {
    let client = broker.upstreams.get(upstream).ok_or_else(|| {
        BrokerError::BadRequest(format!("unknown identity provider {upstream:?}"))
    })?;
    let request = UpstreamRequest {
        acr_min: pending.min_loa,
        force_login: pending.step_up || pending.request.prompt == Prompt::Login,
        max_age: pending.request.max_age,
        login_hint: pending.request.login_hint.clone(),
        ui_locales: Some(pending.lang.tag().to_owned()),
    };
    let (url, upstream_pending) = client
        .begin(&request)
        .await
        .map_err(|e| BrokerError::Upstream(e.to_string()))?;
    pending.index_state(broker, &upstream_pending.state).await?;
    pending.upstream = Some(upstream_pending);
    pending.save(broker).await?;
    Ok(url)
}

/// What the upstream callback leads to.
#[derive(Debug)]
pub enum CallbackOutcome {
    /// Back to the relying party (a code or an error), with the new session cookie when a login
    /// succeeded.
    Redirect(Url, NewSessionCookie),
    /// The callback itself could not be trusted (unknown state, other browser, bad response): show
    /// an error page.
    Failed(String),
}

/// Completes the upstream round trip from its callback.
///
/// The `state` is spent only once the browser is known to be the one that began the login. After
/// that the upstream's code is spent too, so a store failure from then on cannot be retried from
/// this callback: the relying party is told `temporarily_unavailable` (and may start again) rather
/// than the browser being shown a "try again" that leads to a dead login.
pub async fn upstream_callback(
    broker: &Broker,
    upstream: &str,
    params: &[(String, String)],
    session_cookie: Option<&str>,
    browser_cookie: Option<&str>,
    ip: &str,
) -> Result<CallbackOutcome, BrokerError> {
    let state = params
        .iter()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let pending = match PendingLogin::by_state(broker, state, browser_cookie).await {
        Ok(p) => p,
        Err(BrokerError::Expired) => {
            broker
                .audit(
                    broker
                        .event("upstream.callback_rejected", AuditOutcome::Failure)
                        .ip(ip)
                        .detail("upstream", truncated(upstream, 64).to_owned())
                        .detail("reason", "unknown state or another browser"),
                )
                .await?;
            return Ok(CallbackOutcome::Failed("state".into()));
        }
        Err(e) => return Err(e),
    };
    match complete_login(broker, upstream, &pending, params, session_cookie, ip).await {
        Err(e @ (BrokerError::Store(_) | BrokerError::Keys(_))) => {
            tracing::error!(error = %e, "login could not be completed after the upstream's answer");
            broker.metrics.inc(
                "broker_logins_total",
                "Logins through the broker by result and upstream.",
                &[("result", "unavailable"), ("upstream", upstream)],
            );
            Ok(CallbackOutcome::Redirect(
                redirect_error(
                    broker,
                    &pending.request,
                    ErrorCode::TemporarilyUnavailable,
                    "the login could not be completed; please start again",
                )?,
                None,
            ))
        }
        other => other,
    }
}

/// The rest of the callback once its `state` is spent: the upstream's answer, the session, the
/// code for the relying party.
async fn complete_login(
    broker: &Broker,
    upstream: &str,
    pending: &PendingLogin,
    params: &[(String, String)],
    session_cookie: Option<&str>,
    ip: &str,
) -> Result<CallbackOutcome, BrokerError> {
    let req = pending.request.as_ref();
    let client = broker.upstreams.get(upstream);
    let upstream_pending = pending.upstream.as_ref().filter(|p| p.upstream == upstream);
    let (Some(client), Some(upstream_pending)) = (client, upstream_pending) else {
        return Ok(CallbackOutcome::Failed("upstream".into()));
    };
    let identity = match client.complete(upstream_pending, params).await {
        Ok(identity) => identity,
        Err(e) => {
            broker
                .audit(
                    broker
                        .event("upstream.login_failed", AuditOutcome::Failure)
                        .client(req.client_id.clone())
                        .ip(ip)
                        .detail("upstream", upstream.to_owned())
                        .detail("reason", e.to_string()),
                )
                .await?;
            broker.metrics.inc(
                "broker_logins_total",
                "Logins through the broker by result and upstream.",
                &[("result", "failure"), ("upstream", upstream)],
            );
            pending.finish(broker).await?;
            return Ok(match e {
                // The person cancelled or could not reach the level: the relying party is told.
                UpstreamError::Refused { .. } | UpstreamError::AcrTooLow { .. } => {
                    CallbackOutcome::Redirect(
                        redirect_error(
                            broker,
                            req,
                            ErrorCode::AccessDenied,
                            "the login was not completed",
                        )?,
                        None,
                    )
                }
                other => CallbackOutcome::Failed(other.to_string()),
            });
        }
    };
    if !pending.finish(broker).await? {
        return Ok(CallbackOutcome::Failed("replayed callback".into()));
    }
    let Some(rp) = broker.registry.get(&req.client_id) else {
        return Ok(CallbackOutcome::Failed("client vanished".into()));
    };
    // Identity resolution: the same person continues their session (whose level never goes
    // down); anyone else starts a new one. The cookie rotates either way.
    let existing = SsoSession::find(broker.ephemeral.as_ref(), session_cookie).await?;
    let AfterLogin {
        mut session,
        mut this_login,
    } = after_login(existing, identity);
    // Audited before anything is released: a failure here releases nothing.
    broker
        .audit(
            broker
                .event("login.success", AuditOutcome::Success)
                .client(req.client_id.clone())
                .ip(ip)
                .detail("upstream", upstream.to_owned())
                .detail("loa", this_login.loa.as_word())
                .detail("step_up", pending.step_up),
        )
        .await?;
    let (url, _) = answer(broker, &rp, req, &mut this_login).await?;
    session.rps = this_login.rps;
    // Another person's login in this browser ends the session it replaces, with its tokens and
    // its services' back-channel logouts.
    let cookie = broker.start_session(&session, session_cookie).await?;
    broker.metrics.inc(
        "broker_logins_total",
        "Logins through the broker by result and upstream.",
        &[
            ("result", "success"),
            ("upstream", upstream),
            ("loa", this_login.loa.as_word()),
        ],
    );
    Ok(CallbackOutcome::Redirect(url, Some(cookie)))
}

/// Handles a pushed authorization request (RFC 9126): the client is authenticated by the caller.
pub async fn push(
    broker: &Broker,
    rp: &RegisteredRp,
    form: &RawParams,
    encoded: &str,
) -> Result<(String, u64), OAuthError> {
    if form.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request(
            "request_uri is not allowed in a pushed request",
        ));
    }
    if form.get("client_id") != Some(rp.rp.client_id.as_str()) {
        return Err(OAuthError::invalid_request(
            "client_id must be the authenticated client",
        ));
    }
    match validate(form, |_| Some(&rp.client)) {
        Ok(_) => {}
        Err(AuthorizeRejection::ShowError(e))
        | Err(AuthorizeRejection::Redirect { error: e, .. }) => return Err(e),
    }
    // Keep only the authorization parameters (not the client's credentials).
    let kept: String = url::form_urlencoded::parse(encoded.as_bytes())
        .filter(|(k, _)| {
            !matches!(
                k.as_ref(),
                "client_secret" | "client_assertion" | "client_assertion_type"
            )
        })
        .fold(
            url::form_urlencoded::Serializer::new(String::new()),
            |mut s, (k, v)| {
                s.append_pair(&k, &v);
                s
            },
        )
        .finish();
    let id = eid_oidc::random::token256();
    broker
        .ephemeral
        .put(
            &format!("broker:par:{}", eid_oidc::random::digest_key(&id)),
            kept.as_bytes(),
            PAR_TTL,
        )
        .await?;
    Ok((format!("{REQUEST_URI_PREFIX}{id}"), PAR_TTL.as_secs()))
}
