//! The end of an SSO session, whichever relying party asked for it (OIDC RP-initiated logout, a
//! SAML service's LogoutRequest in the browser): the logout chain.
//!
//! Once the session is ended, every other relying party that can be reached by back channel hears
//! of it at once ([`send_logouts`]). Then the browser carries a signed LogoutRequest to each SAML
//! service of the session that registered only a Redirect or POST endpoint, one after the other
//! ([`crate::saml::slo::front`]), then goes to the upstream's logout, and lands where the asking
//! relying party wants it: its post-logout address (or our logged-out page), or for a SAML
//! service our LogoutResponse, `PartialLogout` when any relying party was not reached.
//!
//! The chain lives in the ephemeral store for [`CHAIN_TTL`] under a fresh id at each step, so
//! each step can be taken once. A service's LogoutResponse finds the chain through the ID of our
//! request it answers, not through a cookie: a cross-site POST carries no `SameSite=Lax`
//! cookie. The upstream's return finds it through the logout cookie, as before.

use eid_core::{AuditOutcome, Lang};
use eid_oidc::random::{digest_key, token256};
use eid_saml::messages::StatusCode;
use eid_saml::person_name_id;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;
use uuid::Uuid;

use crate::core::SsoSession;
use crate::core::release::subject_for;
use crate::oidc::BrokerError;
use crate::oidc::logout::{LogoutContinuation, send_logouts};
use crate::saml::slo::front::{self, FrontTarget, ResponseIncoming};
use crate::saml::slo::{SamlAnswer, SloOutcome};
use crate::saml::{PostPage, SsoRejection};
use crate::state::Broker;

/// How long a logout chain waits for the browser to come back (from a service, or from the
/// upstream's logout).
pub const CHAIN_TTL: Duration = Duration::from_secs(600);
/// The most services one chain visits through the browser; any more count as not reached.
pub const MAX_BY_BROWSER: usize = 16;
/// Where the upstream's logout sends the browser back.
pub const UPSTREAM_RETURN_PATH: &str = "/logout/done";

/// Where the browser goes next.
#[derive(Debug)]
pub enum LogoutStep {
    /// To this URL: a SAML message by HTTP-Redirect, or the relying party's post-logout address.
    Redirect(String),
    /// A SAML message by HTTP-POST.
    Post(Box<PostPage>),
    /// To the upstream's logout; `continuation` (the logout cookie) names the chain on return.
    Upstream {
        /// The upstream's logout URL.
        url: String,
        /// The chain's id.
        continuation: String,
    },
    /// Our logged-out page.
    LoggedOut,
}

/// The answer to the relying party that asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    /// An OIDC relying party: its post-logout redirect URI, or our logged-out page.
    Oidc(LogoutContinuation),
    /// A SAML service: our signed LogoutResponse.
    Saml(SamlAnswer),
}

/// A logout on its way through the browser.
#[derive(Debug, Serialize, Deserialize)]
struct LogoutChain {
    /// The person's audit key.
    person: Option<Uuid>,
    /// Services still to be told through the browser, in order.
    pending: VecDeque<FrontTarget>,
    /// Whether every relying party so far heard of the logout.
    complete: bool,
    /// The upstream's logout URL, until the browser is sent there.
    upstream: Option<String>,
    /// The answer at the end.
    finish: Finish,
    /// The language of our pages.
    lang: Lang,
}

fn chain_key(id: &str) -> String {
    format!("broker:logout:{}", digest_key(id))
}

/// Our URL the upstream's logout returns to.
pub fn upstream_return_url(broker: &Broker) -> String {
    format!("{}{UPSTREAM_RETURN_PATH}", broker.config.issuer)
}

/// Continues after `sessions` ended (each audited by the caller): tells every other relying
/// party by back channel, then through the browser (see the module documentation). `except` is
/// the relying party that asked, left out.
pub async fn after_end(
    broker: &Broker,
    sessions: &[SsoSession],
    except: Option<&str>,
    finish: Finish,
    lang: Lang,
) -> Result<LogoutStep, BrokerError> {
    let mut complete = true;
    let mut pending = VecDeque::new();
    for session in sessions {
        let notified = send_logouts(broker, session, except).await;
        complete &= notified.reached_all;
        for sp in notified.by_browser {
            if pending.len() == MAX_BY_BROWSER {
                complete = false;
                audit(broker, Some(session.identity.audit_id), &sp.rp.id, false).await;
                continue;
            }
            pending.push_back(FrontTarget {
                sp: sp.rp.id.clone(),
                name_id: person_name_id(&subject_for(&sp.rp, session, &broker.pairwise)),
                session_index: session.sid_for(&sp.rp.id),
            });
        }
    }
    // One browser, one upstream session: the first session's (the one this browser is in).
    let upstream = match sessions.first() {
        Some(session) => match broker.upstreams.get(&session.identity.person.upstream) {
            // The upstream's opaque `sid` names its session; its ID token (personal data) stays
            // here.
            Some(client) => client
                .end_session_url(
                    session.identity.upstream_sid.as_deref(),
                    Some(&upstream_return_url(broker)),
                )
                .await
                .map(String::from),
            None => None,
        },
        None => None,
    };
    let chain = LogoutChain {
        person: sessions.first().map(|s| s.identity.audit_id),
        pending,
        complete,
        upstream,
        finish,
        lang,
    };
    advance(broker, chain).await
}

/// A service's LogoutResponse came back through the browser: the chain goes on (refused, and
/// audited, when it answers no request we await).
pub async fn after_service(
    broker: &Broker,
    incoming: ResponseIncoming<'_>,
) -> Result<Result<LogoutStep, SsoRejection>, BrokerError> {
    let answered = match front::answered(broker, incoming).await? {
        Ok(a) => a,
        Err(rejection) => return Ok(Err(rejection)),
    };
    let Some(mut chain) = take(broker, &answered.chain).await? else {
        // The chain expired while the service had the browser: nothing is left to answer.
        return Ok(Ok(LogoutStep::LoggedOut));
    };
    chain.complete &= answered.confirmed;
    audit(broker, chain.person, &answered.sp, answered.confirmed).await;
    advance(broker, chain).await.map(Ok)
}

/// The browser is back from the upstream's logout with the chain's id from the logout cookie.
pub async fn after_upstream(
    broker: &Broker,
    continuation: Option<&str>,
) -> Result<LogoutStep, BrokerError> {
    let chain = match continuation {
        Some(id) if id.len() <= 64 => take(broker, id).await?,
        _ => None,
    };
    match chain {
        Some(chain) => advance(broker, chain).await,
        None => Ok(LogoutStep::LoggedOut),
    }
}

async fn take(broker: &Broker, id: &str) -> Result<Option<LogoutChain>, BrokerError> {
    Ok(broker
        .ephemeral
        .take(&chain_key(id))
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// Stores the chain under a fresh id (returned).
async fn save(broker: &Broker, chain: &LogoutChain) -> Result<String, BrokerError> {
    let id = token256();
    let bytes = serde_json::to_vec(chain).map_err(|e| BrokerError::BadRequest(e.to_string()))?;
    broker
        .ephemeral
        .put(&chain_key(&id), &bytes, CHAIN_TTL)
        .await?;
    Ok(id)
}

/// The next step: the next service, else the upstream, else the answer.
async fn advance(broker: &Broker, mut chain: LogoutChain) -> Result<LogoutStep, BrokerError> {
    while let Some(target) = chain.pending.pop_front() {
        let sent = match broker.registry.saml(&target.sp) {
            Some(sp) => front::request(broker, &sp, &target, chain.lang)?,
            None => None,
        };
        let Some(sent) = sent else {
            chain.complete = false;
            audit(broker, chain.person, &target.sp, false).await;
            continue;
        };
        let id = save(broker, &chain).await?;
        front::remember(broker, &sent.request_id, &id, &target.sp, CHAIN_TTL).await?;
        return Ok(sent.step);
    }
    if let Some(url) = chain.upstream.take() {
        let continuation = save(broker, &chain).await?;
        return Ok(LogoutStep::Upstream { url, continuation });
    }
    match &chain.finish {
        Finish::Oidc(continuation) => crate::oidc::logout::finish(continuation),
        Finish::Saml(answer) => {
            let status = if chain.complete {
                StatusCode::Success
            } else {
                StatusCode::PartialLogout
            };
            Ok(match answer.respond(broker, status)? {
                SloOutcome::Step(step) => step,
                // The service has no endpoint (any more) to hear it; the person is logged out.
                SloOutcome::Refused(_) | SloOutcome::Soap(_) => LogoutStep::LoggedOut,
            })
        }
    }
}

/// Audits whether a service confirmed the logout through the browser.
async fn audit(broker: &Broker, person: Option<Uuid>, sp: &str, confirmed: bool) {
    let outcome = if confirmed {
        AuditOutcome::Success
    } else {
        AuditOutcome::Failure
    };
    let mut event = broker
        .event("logout.frontchannel", outcome)
        .client(sp.to_owned());
    if let Some(person) = person {
        event = event.person(person);
    }
    let _ = broker.audit(event).await;
}
