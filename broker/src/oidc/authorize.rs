//! Authorization: the relying party's request (direct or pushed), single sign-on or the round trip
//! to an upstream, and the answer with a code.

use eid_core::{AuditOutcome, Lang, Mandate};
use eid_oidc::authorize::{AuthorizeRejection, error_redirect, success_redirect, validate};
use eid_oidc::{AuthorizeRequest, ErrorCode, OAuthError, Prompt, RawParams};
use std::net::IpAddr;
use std::time::Duration;
use url::Url;

use super::BrokerError;
use super::audit::audit_refusal;
use super::tokens::{CodeRequest, issue_code};
use crate::core::{
    AuthnRequest, Decision, LoginStep, Rejection, SsoSession, decide, next_step, only_raises_level,
};
use crate::login::flow::{self, Begun};
use crate::login::pending::{Admission, PendingLogin};
use crate::login::{Answer, ExplainedRefusal, FrontendRequest, PendingChoice};
use crate::registry::RegisteredRp;
use crate::state::Broker;

/// Prefix of pushed request URIs (RFC 9126).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// Lifetime of a pushed request.
pub const PAR_TTL: Duration = Duration::from_secs(60);

/// The answer to an authorization request.
#[derive(Debug)]
pub enum AuthorizeOutcome {
    /// The client or redirect URI could not be verified: show this error, never redirect.
    ShowError(OAuthError),
    /// Send the browser back to the client (a code, or an error), or to the only upstream that
    /// fits the login ([`flow::begin`]).
    Redirect(Url),
    /// The person must log in and several upstreams fit: show the identity chooser for this
    /// pending login.
    Choose(Box<PendingLogin>),
    /// The person holds mandates at this relying party: show the page to choose whom they act
    /// for.
    ChooseRepresentation(Box<PendingChoice>),
    /// Tell the person why the login ends; the page's button redirects to the client.
    Explain(Box<ExplainedRefusal>),
}

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
    // A broker extension: the person's country for an eIDAS login; anything else is ignored.
    let country = params
        .get("country")
        .filter(|c| eid_core::eidas::valid_country(c))
        .map(str::to_owned);
    // The legal person the person represents, for a service registered for the eIDAS claims.
    let legal_person = rp.rp.may_receive(eid_core::Attribute::Eidas)
        && req
            .scopes
            .iter()
            .any(|s| s == eid_oidc::rp::LEGAL_PERSON_SCOPE);
    if rp.oidc.require_par && !via_par {
        let e = OAuthError::invalid_request("this client must use pushed authorization requests");
        audit_rejection(broker, Some(&req.client_id), &e).await?;
        return Ok(AuthorizeOutcome::Redirect(redirect_error(
            broker,
            &req,
            e.code,
            &e.description,
        )?));
    }
    if !rp.oidc.allows(eid_core::GrantType::AuthorizationCode) {
        let e = OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "client may not use the code flow",
        );
        audit_rejection(broker, Some(&req.client_id), &e).await?;
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
    };
    let session = SsoSession::find(broker.ephemeral.as_ref(), session_cookie).await?;
    match decide(&authn, session.as_ref(), broker.now()) {
        Decision::UseSession => {
            let (Some(mut session), Some(cookie)) = (session, session_cookie) else {
                return Err(BrokerError::Expired);
            };
            let step = next_step(
                broker.mandates.as_ref(),
                &authn,
                &rp.rp,
                &session,
                broker.clock.now(),
            )
            .await?;
            if step == LoginStep::Rejected(Rejection::CprRequired) {
                let lang = Lang::negotiate(req.ui_locales.as_deref(), accept_language);
                let answer = flow::refuse_without_cpr(
                    broker,
                    &FrontendRequest::Oidc(Box::new(req)),
                    &rp.rp,
                    session.identity.audit_id,
                    lang,
                    &address.to_string(),
                )
                .await?;
                return Ok(outcome_of(answer));
            }
            if let LoginStep::ChooseRepresentation(mandates) = step {
                // Single sign-on too: the person chooses again at each service.
                let lang = Lang::negotiate(req.ui_locales.as_deref(), accept_language);
                let choice = PendingChoice::offer(
                    broker,
                    FrontendRequest::Oidc(Box::new(req)),
                    &rp.rp.id,
                    session,
                    mandates,
                    browser_cookie,
                    lang,
                )
                .await?;
                return Ok(AuthorizeOutcome::ChooseRepresentation(Box::new(choice)));
            }
            let (url, new_rp) = answer(broker, &rp, &req, &mut session, None).await?;
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
        Decision::Authenticate { step_up, .. } => {
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
            let session_upstream = session
                .filter(|s| only_raises_level(&authn, s, broker.now()))
                .map(|s| s.identity.person.upstream);
            let mut pending = PendingLogin::new(
                authn,
                FrontendRequest::Oidc(Box::new(req)),
                browser_cookie,
                lang,
                step_up,
            );
            pending.session_upstream = session_upstream;
            pending.country = country;
            pending.legal_person = legal_person;
            Ok(
                match flow::begin(broker, pending, &address.to_string()).await? {
                    Begun::Upstream(url) => AuthorizeOutcome::Redirect(url),
                    Begun::Choose(pending) => AuthorizeOutcome::Choose(pending),
                    Begun::Refused(answer) => outcome_of(answer),
                },
            )
        }
    }
}

/// An OIDC request's refusal as an outcome (an OIDC frontend answers only with redirects).
fn outcome_of(answer: Answer) -> AuthorizeOutcome {
    match answer {
        Answer::Redirect(url) => AuthorizeOutcome::Redirect(url),
        Answer::Explained(page) => AuthorizeOutcome::Explain(page),
        Answer::Post(_) => AuthorizeOutcome::ShowError(OAuthError::new(
            ErrorCode::ServerError,
            "an OIDC request was answered in another protocol",
        )),
    }
}

/// Issues a code from a session for a validated request (acting for `mandate`'s principal when
/// the person chose one) and records the relying party as served; returns the redirect and whether
/// the relying party is new to the session.
pub async fn answer(
    broker: &Broker,
    rp: &RegisteredRp,
    req: &AuthorizeRequest,
    session: &mut SsoSession,
    mandate: Option<&Mandate>,
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
    let request = CodeRequest {
        redirect_uri: &req.redirect_uri,
        code_challenge: &req.code_challenge,
        nonce: req.nonce.as_deref(),
        scopes: &req.scopes,
    };
    let code = issue_code(broker, rp, session, request, mandate).await?;
    let new_rp = session.served(&rp.rp.id);
    let url = success_redirect(
        &req.redirect_uri,
        &code,
        req.state.as_deref(),
        &broker.config.issuer,
    )
    .map_err(|e| BrokerError::BadRequest(e.to_string()))?;
    Ok((url, new_rp))
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
    if form.get("client_id") != Some(rp.rp.id.as_str()) {
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
