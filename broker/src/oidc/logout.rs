//! Logout (OIDC RP-Initiated Logout 1.0, Back-Channel Logout 1.0).
//!
//! A request ends the SSO session only when it is the browser's own session asking: the session
//! cookie is present *and* a valid `id_token_hint` names that session (its audience is a relying
//! party of the session and its `sid` is the session's `sid` towards that relying party). Anything
//! else — no cookie (a relying party calling server-side), no hint (a link on any web page: logout
//! CSRF), or a hint of another session — gets a confirmation page and ends nothing until the person
//! confirms with a CSRF-protected form. The hint alone never ends a session, and no answer carries
//! anything about the person: the upstream's logout is a redirect with `client_id` and the
//! upstream's opaque `sid` of the login as `logout_hint`, never the upstream's ID token (which
//! holds the CPR number).
//!
//! Ending the session removes its `sid`, which ends every code and token issued from it (they are
//! honoured only while [`SsoSession::is_alive`]), sends a logout token to every relying party of the
//! session that registered a back-channel URI, and continues in the logout chain
//! ([`crate::logout`]): SAML services through the browser, then the upstream session.

use eid_core::{AuditOutcome, Lang};
use eid_oidc::RawParams;
use eid_oidc::logout::{Hint, LogoutParams, hint_from_claims};
use eid_oidc::random::token256;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use url::Url;

use super::BrokerError;
use crate::core::SsoSession;
use crate::core::release::subject_for;
use crate::logout::{Finish, LogoutStep};
use crate::registry::RegisteredSp;
use crate::saml::slo::front;
use crate::state::Broker;

/// The back-channel logout event (OIDC Back-Channel Logout 1.0).
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a relying party may take to accept a logout token.
pub use crate::adapters::BACKCHANNEL_TIMEOUT;

/// Why a logout request is refused (shown on an error page; never a redirect).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutRejection {
    /// A parameter is over-long or malformed, or the hint's claims are malformed or another
    /// issuer's.
    #[error(transparent)]
    Request(#[from] eid_oidc::logout::LogoutRejection),
    /// The hint's signature does not verify with the broker's keys.
    #[error("id_token_hint is not an ID token of this broker")]
    HintNotOurs,
    /// `client_id` and the hint's audience differ.
    #[error("client_id differs from the hint")]
    ClientMismatch,
    /// The return address is not registered for the client.
    #[error("post_logout_redirect_uri is not registered for the client")]
    UnregisteredRedirect,
    /// The confirmation form was not sent from the broker's own page in this browser.
    #[error("the confirmation form has expired or was sent from elsewhere")]
    Csrf,
}

/// Where to send the browser after logout.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogoutContinuation {
    /// The relying party asking, when known.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The relying party's registered post-logout redirect URI.
    pub post_logout_redirect_uri: Option<String>,
    /// Its state.
    pub state: Option<String>,
}

/// A logout request after every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    /// The verified hint, if one was sent.
    pub hint: Option<Hint>,
    /// Where the browser goes afterwards.
    pub continuation: LogoutContinuation,
}

/// The outcome of a logout request.
#[derive(Debug)]
pub enum LogoutOutcome {
    /// Ask the person to confirm; nothing has been ended.
    Confirm(LogoutContinuation),
    /// The session is ended (or there was none): the browser's next step in the logout chain.
    Step(LogoutStep),
    /// The request cannot be honoured as asked: show an error, end nothing.
    Refused(LogoutRejection),
}

impl LogoutOutcome {
    /// Whether the browser's session cookie is to be removed (only once a session was ended, or
    /// there was none to end).
    pub fn ends_session(&self) -> bool {
        !matches!(self, LogoutOutcome::Confirm(_) | LogoutOutcome::Refused(_))
    }
}

/// Checks a request against the broker's keys and registrations.
pub fn validate(broker: &Broker, params: &LogoutParams) -> Result<LogoutRequest, LogoutRejection> {
    let hint = match &params.id_token_hint {
        Some(raw) => {
            let verified = broker
                .keys
                .current()
                .verify_jws(raw, broker.clock.now())
                .map_err(|_| LogoutRejection::HintNotOurs)?;
            Some(hint_from_claims(&verified.payload, &broker.config.issuer)?)
        }
        None => None,
    };
    let client_id = match (&params.client_id, hint.as_ref().map(|h| &h.client_id)) {
        (Some(a), Some(b)) if a != b => return Err(LogoutRejection::ClientMismatch),
        (Some(a), _) | (None, Some(a)) => Some(a.clone()),
        (None, None) => None,
    };
    if let Some(uri) = &params.post_logout_redirect_uri {
        let registered = client_id
            .as_deref()
            .and_then(|id| broker.registry.get(id))
            .is_some_and(|rp| rp.client.has_post_logout_redirect_uri(uri));
        if !registered {
            return Err(LogoutRejection::UnregisteredRedirect);
        }
    }
    Ok(LogoutRequest {
        hint,
        continuation: LogoutContinuation {
            client_id,
            post_logout_redirect_uri: params.post_logout_redirect_uri.clone(),
            state: params.state.clone(),
        },
    })
}

/// Whether a hint names this session: issued to one of its relying parties, with the session's
/// `sid` towards that relying party.
fn hint_names(session: &SsoSession, hint: &Hint) -> bool {
    session.rps.contains(&hint.client_id)
        && hint.sid.as_deref() == Some(session.sid_for(&hint.client_id).as_str())
}

/// Handles RP-initiated logout (`GET|POST /logout`); a refused request is audited.
///
/// The session ends directly only when the browser's own session cookie is present and the hint
/// names that session: then the relying party that holds the person's ID token asks, in the
/// person's browser, and a confirmation would add nothing (RP-Initiated Logout 1.0 §2 leaves the
/// choice to the OP). Any other request is answered with [`LogoutOutcome::Confirm`].
pub async fn logout(
    broker: &Broker,
    params: &RawParams,
    session_cookie: Option<&str>,
    lang: Lang,
) -> Result<LogoutOutcome, BrokerError> {
    let request = match LogoutParams::from_raw_without_logout_hint(params)
        .map_err(LogoutRejection::from)
        .and_then(|p| validate(broker, &p))
    {
        Ok(r) => r,
        Err(why) => return refused(broker, params.get("client_id"), why).await,
    };
    let session = SsoSession::find(broker.ephemeral.as_ref(), session_cookie).await?;
    match (session, session_cookie, &request.hint) {
        (Some(session), Some(cookie), Some(hint)) if hint_names(&session, hint) => {
            end(broker, cookie, &request.continuation, lang).await
        }
        _ => Ok(LogoutOutcome::Confirm(request.continuation)),
    }
}

/// Handles the confirmation form (`POST /logout/confirm`): with a valid CSRF token for this
/// browser, ends the browser's session (if any) and continues as the request asked.
pub async fn confirm(
    broker: &Broker,
    form: &RawParams,
    session_cookie: Option<&str>,
    browser_cookie: Option<&str>,
    lang: Lang,
) -> Result<LogoutOutcome, BrokerError> {
    if !eid_web::browser::csrf_matches(form.get("csrf"), browser_cookie) {
        return refused(broker, None, LogoutRejection::Csrf).await;
    }
    let request = match LogoutParams::from_raw_without_logout_hint(form)
        .map_err(LogoutRejection::from)
        .and_then(|p| {
            validate(
                broker,
                &LogoutParams {
                    id_token_hint: None,
                    ..p
                },
            )
        }) {
        Ok(r) => r,
        Err(why) => return refused(broker, form.get("client_id"), why).await,
    };
    match session_cookie {
        Some(cookie) => end(broker, cookie, &request.continuation, lang).await,
        None => finish(&request.continuation).map(LogoutOutcome::Step),
    }
}

async fn refused(
    broker: &Broker,
    client_id: Option<&str>,
    why: LogoutRejection,
) -> Result<LogoutOutcome, BrokerError> {
    let mut event = broker
        .event("logout.refused", AuditOutcome::Failure)
        .detail("reason", why.to_string());
    // Only registered client ids reach the audit log.
    if let Some(rp) = client_id.and_then(|id| broker.registry.get(id)) {
        event = event.client(rp.rp.id.clone());
    }
    broker.audit(event).await?;
    Ok(LogoutOutcome::Refused(why))
}

/// Ends the session of a cookie: audit, then the logout chain (back-channel logouts, services
/// through the browser, the upstream's logout).
async fn end(
    broker: &Broker,
    cookie: &str,
    continuation: &LogoutContinuation,
    lang: Lang,
) -> Result<LogoutOutcome, BrokerError> {
    let Some(session) = SsoSession::end_by_cookie(broker.ephemeral.as_ref(), cookie).await? else {
        return finish(continuation).map(LogoutOutcome::Step);
    };
    broker
        .audit(
            broker
                .event("logout", AuditOutcome::Success)
                .person(session.identity.audit_id)
                .detail("relying_parties", session.rps.len())
                .detail(
                    "initiated_by",
                    continuation.client_id.clone().unwrap_or_default(),
                ),
        )
        .await?;
    let finish = Finish::Oidc(continuation.clone());
    crate::logout::after_end(broker, std::slice::from_ref(&session), None, finish, lang)
        .await
        .map(LogoutOutcome::Step)
}

/// Where the browser goes once every session is ended: the relying party's post-logout URI (with
/// its `state`), or our logged-out page.
pub fn finish(continuation: &LogoutContinuation) -> Result<LogoutStep, BrokerError> {
    match &continuation.post_logout_redirect_uri {
        Some(uri) => {
            let mut url = Url::parse(uri).map_err(|e| BrokerError::BadRequest(e.to_string()))?;
            if let Some(state) = &continuation.state {
                url.query_pairs_mut().append_pair("state", state);
            }
            Ok(LogoutStep::Redirect(url.into()))
        }
        None => Ok(LogoutStep::LoggedOut),
    }
}

#[derive(Serialize)]
struct LogoutToken<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    sub: String,
    sid: String,
    events: serde_json::Value,
}

/// Who heard of a session's end by back channel.
#[derive(Debug)]
pub struct Notified {
    /// Whether every relying party that the back channel is for was reached.
    pub reached_all: bool,
    /// The SAML services of the session that only the browser can reach (a Redirect or POST
    /// endpoint, no SOAP one): [`front::by_browser`].
    pub by_browser: Vec<Arc<RegisteredSp>>,
}

/// Tells every relying party of the session that it ended, where no browser follows (a replaced
/// session): see [`send_logouts_without_browser`].
pub async fn send_backchannel_logouts(broker: &Broker, session: &SsoSession) {
    send_logouts_without_browser(broker, session, None).await;
}

/// [`send_logouts`] where no browser follows (a SOAP LogoutRequest, a replaced session): the
/// services only the browser could reach count as not reached, and are audited so. Returns
/// whether every other relying party was reached.
pub async fn send_logouts_without_browser(
    broker: &Broker,
    session: &SsoSession,
    except: Option<&str>,
) -> bool {
    let notified = send_logouts(broker, session, except).await;
    for sp in &notified.by_browser {
        audit_delivery(broker, session, &sp.rp.id, false).await;
    }
    notified.reached_all && notified.by_browser.is_empty()
}

/// Delivers a logout token to every OIDC relying party of the session with a back-channel URI,
/// and a signed LogoutRequest by SOAP to every SAML service with a SOAP endpoint
/// ([`crate::saml::slo::soap::notify_sp`]), in parallel, each within [`BACKCHANNEL_TIMEOUT`];
/// every delivery is audited. Each carries the session's `sid` towards its relying party.
/// `except` (the relying party that asked for the logout) is left out. The SAML services that
/// only the browser can reach are returned for the logout chain.
pub async fn send_logouts(broker: &Broker, session: &SsoSession, except: Option<&str>) -> Notified {
    let others = || session.rps.iter().filter(|id| Some(id.as_str()) != except);
    let unreachable_oidc = others()
        .filter_map(|id| broker.registry.get(id))
        .filter(|rp| rp.oidc.backchannel_logout_uri.is_none())
        .count();
    let (by_browser, by_soap): (Vec<_>, Vec<_>) = others()
        .filter_map(|id| broker.registry.saml(id))
        .partition(|sp| front::by_browser(sp));
    let saml = by_soap.into_iter().map(|sp| async move {
        let delivered = crate::saml::slo::soap::notify_sp(broker, &sp, session).await;
        audit_delivery(broker, session, &sp.rp.id, delivered).await;
        delivered
    });
    let deliveries = others().filter_map(|client_id| {
        let rp = broker.registry.get(client_id)?;
        let uri = rp.oidc.backchannel_logout_uri.clone()?;
        Some(async move {
            let now = broker.now();
            let claims = LogoutToken {
                iss: &broker.config.issuer,
                aud: &rp.rp.id,
                iat: now,
                exp: now + 120,
                jti: token256(),
                sub: subject_for(&rp.rp, session, &broker.pairwise),
                sid: session.sid_for(&rp.rp.id),
                events: serde_json::json!({ BACKCHANNEL_EVENT: {} }),
            };
            let token = broker
                .keys
                .signing_key(super::tokens::signing_alg(&rp))
                .and_then(|key| key.sign_claims(Some("logout+jwt"), &claims).ok());
            let delivered = match token {
                Some(token) => {
                    tokio::time::timeout(BACKCHANNEL_TIMEOUT, broker.logout.deliver(&uri, &token))
                        .await
                        .unwrap_or(false)
                }
                None => false,
            };
            audit_delivery(broker, session, &rp.rp.id, delivered).await;
            delivered
        })
    });
    let (oidc, saml) = futures::future::join(
        futures::future::join_all(deliveries),
        futures::future::join_all(saml),
    )
    .await;
    Notified {
        reached_all: unreachable_oidc == 0 && oidc.into_iter().chain(saml).all(|d| d),
        by_browser,
    }
}

async fn audit_delivery(broker: &Broker, session: &SsoSession, rp: &str, delivered: bool) {
    let outcome = if delivered {
        AuditOutcome::Success
    } else {
        AuditOutcome::Failure
    };
    let _ = broker
        .audit(
            broker
                .event("logout.backchannel", outcome)
                .person(session.identity.audit_id)
                .client(rp.to_owned()),
        )
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_names_a_session_only_with_its_own_sid_towards_a_served_relying_party() {
        let mut session = SsoSession::for_test(eid_core::Loa::Substantial, 0);
        session.served("rp-a");
        let own = Hint {
            client_id: "rp-a".into(),
            sid: Some(session.sid_for("rp-a")),
        };
        assert!(hint_names(&session, &own));
        let other_rp = Hint {
            client_id: "rp-b".into(),
            sid: Some(session.sid_for("rp-b")),
        };
        assert!(!hint_names(&session, &other_rp), "rp-b was never served");
        let shared = Hint {
            client_id: "rp-a".into(),
            sid: Some(session.sid.clone()),
        };
        assert!(!hint_names(&session, &shared));
        let none = Hint {
            client_id: "rp-a".into(),
            sid: None,
        };
        assert!(!hint_names(&session, &none));
    }
}
