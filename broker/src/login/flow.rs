//! The upstream round trip of a login, for every frontend: its start at the only upstream that
//! fits or at the person's choice of identity provider, the callback, the core's completion of the login, and the frontend's answer.

use eid_core::AuditOutcome;

use super::frontend::{Answer, FrontendRequest, Refusal};
use super::pending::PendingLogin;
use super::represent::PendingChoice;
use crate::core::decision::AfterLogin;
use crate::core::{Completed, LoginStep, Rejection, SsoSession, complete};
use crate::oidc::BrokerError;
use crate::oidc::audit::truncated;
use crate::ports::UpstreamKind;
use crate::state::Broker;
use eid_core::{Lang, RelyingParty};
use eid_oidc::rp::{UpstreamError, UpstreamRequest};

/// How an upstream's `access_denied` says the person did not reach the requested level (the
/// authenticator's `error_description` starts so).
const LEVEL_NOT_REACHED: &str = "level of assurance not reached";

/// A session cookie to set after a login (rotated at every login).
pub type NewSessionCookie = Option<String>;

/// How a login that needs an upstream begins.
#[derive(Debug)]
pub enum Begun {
    /// One upstream fits: the browser goes straight to it, without the identity chooser.
    Upstream(url::Url),
    /// Several fit: the person chooses on the identity chooser (the pending login is saved).
    Choose(Box<PendingLogin>),
    /// None fits: the frontend's refusal (audited as `login.refused`).
    Refused(Answer),
}

/// Begins a login that needs an upstream ([`crate::login::fit::fitting`]): starts the only
/// upstream that fits just as if the person had chosen it, offers the chooser when several fit, and
/// refuses the login when none does.
pub async fn begin(
    broker: &Broker,
    mut pending: PendingLogin,
    ip: &str,
) -> Result<Begun, BrokerError> {
    let fitting: Vec<String> = pending
        .fitting_upstreams(broker)
        .iter()
        .map(|u| u.name().to_owned())
        .collect();
    match fitting.as_slice() {
        [] => {
            broker
                .audit(
                    broker
                        .event("login.refused", AuditOutcome::Failure)
                        .client(pending.authn.rp.clone())
                        .ip(ip)
                        .detail("reason", "no identity provider fits the login"),
                )
                .await?;
            Ok(Begun::Refused(
                pending.frontend.refuse(broker, Refusal::NoUpstream)?,
            ))
        }
        [only] => Ok(Begun::Upstream(
            start_upstream(broker, &mut pending, only).await?,
        )),
        _ => {
            pending.save(broker).await?;
            Ok(Begun::Choose(Box::new(pending)))
        }
    }
}

/// The person chose `upstream` on the identity chooser: where to send the browser.
///
/// The chooser offers only the upstreams that fit, so another name is a forged form: it is refused
/// and audited, and ends the login (so that one login yields at most one such audit event).
pub async fn choose_upstream(
    broker: &Broker,
    pending: &mut PendingLogin,
    upstream: &str,
    ip: &str,
) -> Result<url::Url, BrokerError> {
    let fits = pending
        .fitting_upstreams(broker)
        .iter()
        .any(|u| u.name() == upstream);
    if !fits {
        let upstream = truncated(upstream, 64);
        broker
            .audit(
                broker
                    .event("login.start_rejected", AuditOutcome::Failure)
                    .client(pending.authn.rp.clone())
                    .ip(ip)
                    .detail("upstream", upstream.to_owned())
                    .detail("reason", "the identity provider does not fit the login"),
            )
            .await?;
        pending.finish(broker).await?;
        return Err(BrokerError::BadRequest(format!(
            "identity provider {upstream:?} does not fit the login"
        )));
    }
    start_upstream(broker, pending, upstream).await
}

/// Starts the round trip at `upstream` (one that fits): where to send the browser.
async fn start_upstream(
    broker: &Broker,
    pending: &mut PendingLogin,
    upstream: &str,
) -> Result<url::Url, BrokerError> {
    let client = broker.upstreams.get(upstream).ok_or_else(|| {
        BrokerError::BadRequest(format!(
            "unknown identity provider {:?}",
            truncated(upstream, 64)
        ))
    })?;
    let request = UpstreamRequest {
        acr_min: pending.authn.min_loa,
        force_login: pending.step_up || pending.authn.force,
        max_age: pending.authn.max_age,
        login_hint: pending.frontend.login_hint().map(str::to_owned),
        ui_locales: Some(pending.lang.tag().to_owned()),
        // The relying party's display name, for the authenticator's pages (pushed, authenticated).
        service_name: pending
            .frontend
            .service_name(broker, &pending.authn.rp)
            .filter(|name| eid_oidc::rp::valid_service_name(name)),
        // Only an eIDAS upstream is told the person's country.
        country: pending
            .country
            .clone()
            .filter(|_| client.kind() == UpstreamKind::EuEid),
        legal_person: pending.legal_person && client.kind() == UpstreamKind::EuEid,
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
    /// The frontend's answer (a code or an error for the relying party), with the new session
    /// cookie when a login succeeded.
    Answer(Answer, NewSessionCookie),
    /// The person holds mandates at the relying party: the page to choose whom they act for,
    /// with the new session cookie.
    Choose(Box<PendingChoice>, NewSessionCookie),
    /// The callback itself could not be trusted (unknown state, other browser, bad response): show
    /// an error page.
    Failed(String),
}

fn count(broker: &Broker, result: &str, upstream: &str) {
    broker.metrics.inc(
        "broker_logins_total",
        "Logins through the broker by result and upstream.",
        &[("result", result), ("upstream", upstream)],
    );
}

/// Completes the upstream round trip from its callback, from the browser at `ip` that
/// [`eid_web::user_agent::browser_label`] names `browser`.
///
/// The `state` is spent only once the browser is known to be the one that began the login. After
/// that the upstream's code is spent too, so a store failure from then on cannot be retried from
/// this callback: the relying party is told so (and may start again) rather than the browser being
/// shown a "try again" that leads to a dead login.
pub async fn upstream_callback(
    broker: &Broker,
    upstream: &str,
    params: &[(String, String)],
    session_cookie: Option<&str>,
    browser_cookie: Option<&str>,
    ip: &str,
    browser: &str,
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
    match complete_login(
        broker,
        upstream,
        &pending,
        params,
        (session_cookie, browser_cookie),
        ip,
        browser,
    )
    .await
    {
        Err(e @ (BrokerError::Store(_) | BrokerError::Keys(_))) => {
            tracing::error!(error = %e, "login could not be completed after the upstream's answer");
            count(broker, "unavailable", upstream);
            Ok(CallbackOutcome::Answer(
                pending.frontend.refuse(broker, Refusal::Unavailable)?,
                None,
            ))
        }
        other => other,
    }
}

/// The rest of the callback once its `state` is spent: the upstream's answer, the core's
/// completion of the login, the session, the frontend's answer.
async fn complete_login(
    broker: &Broker,
    upstream: &str,
    pending: &PendingLogin,
    params: &[(String, String)],
    (session_cookie, browser_cookie): (Option<&str>, Option<&str>),
    ip: &str,
    browser: &str,
) -> Result<CallbackOutcome, BrokerError> {
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
                        .client(pending.authn.rp.clone())
                        .ip(ip)
                        .detail("upstream", upstream.to_owned())
                        .detail("reason", e.to_string()),
                )
                .await?;
            count(broker, "failure", upstream);
            pending.finish(broker).await?;
            return Ok(match e {
                // The person could not reach the level (the upstream says so, or its token is
                // below it): the relying party is told which, so it can explain it.
                UpstreamError::AcrTooLow { .. } => CallbackOutcome::Answer(
                    pending.frontend.refuse(broker, Refusal::LevelNotReached)?,
                    None,
                ),
                UpstreamError::Refused {
                    ref error,
                    ref description,
                } if error == "access_denied"
                    && description
                        .as_deref()
                        .is_some_and(|d| d.starts_with(LEVEL_NOT_REACHED)) =>
                {
                    CallbackOutcome::Answer(
                        pending.frontend.refuse(broker, Refusal::LevelNotReached)?,
                        None,
                    )
                }
                // The person cancelled or the login failed otherwise: the relying party is told.
                UpstreamError::Refused { .. } => CallbackOutcome::Answer(
                    pending.frontend.refuse(broker, Refusal::NotCompleted)?,
                    None,
                ),
                other => CallbackOutcome::Failed(other.to_string()),
            });
        }
    };
    if !pending.finish(broker).await? {
        return Ok(CallbackOutcome::Failed("replayed callback".into()));
    }
    let Some(rp) = pending.frontend.relying_party(broker, &pending.authn.rp) else {
        return Ok(CallbackOutcome::Failed("client vanished".into()));
    };
    // Identity resolution: the same person continues their session (whose level never goes
    // down); anyone else starts a new one. The cookie rotates either way.
    let existing = SsoSession::find(broker.ephemeral.as_ref(), session_cookie).await?;
    let Completed { after, step } = complete(
        broker.mandates.as_ref(),
        &pending.authn,
        rp.rp(),
        existing,
        identity,
        broker.clock.now(),
    )
    .await?;
    let AfterLogin {
        mut session,
        mut this_login,
    } = after;
    // Audited before anything is released: a failure here releases nothing.
    broker
        .audit(
            broker
                .event("login.success", AuditOutcome::Success)
                .person(this_login.identity.audit_id)
                .client(pending.authn.rp.clone())
                .ip(ip)
                .detail("upstream", upstream.to_owned())
                .detail("loa", this_login.loa.as_word())
                .detail("step_up", pending.step_up)
                .detail("browser", browser.to_owned()),
        )
        .await?;
    let next = match step {
        LoginStep::Authenticated => Next::Answer(
            pending
                .frontend
                .answer(broker, &rp, &mut this_login, None)
                .await?,
        ),
        LoginStep::Rejected(Rejection::CprRequired) => Next::Answer(
            refuse_without_cpr(
                broker,
                &pending.frontend,
                rp.rp(),
                this_login.identity.audit_id,
                pending.lang,
                ip,
            )
            .await?,
        ),
        LoginStep::Rejected(Rejection::LevelNotReached { .. }) => {
            Next::Answer(pending.frontend.refuse(broker, Refusal::LevelNotReached)?)
        }
        // The person chooses whom they act for before anything is released.
        LoginStep::ChooseRepresentation(mandates) => Next::Choose(Box::new(
            PendingChoice::offer(
                broker,
                pending.frontend.clone(),
                &pending.authn.rp,
                this_login.clone(),
                mandates,
                browser_cookie.unwrap_or_default(),
                pending.lang,
            )
            .await?,
        )),
    };
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
    Ok(match next {
        Next::Answer(answer) => CallbackOutcome::Answer(answer, Some(cookie)),
        Next::Choose(choice) => CallbackOutcome::Choose(choice, Some(cookie)),
    })
}

/// Refuses relying party `rp`, which needs a CPR number, for the person `person` (an audit key)
/// who has none: audited as `login.refused`, and explained on a page in `lang` whose button sends
/// the refusal on (OIDC `access_denied`, SAML `RequestDenied`).
pub async fn refuse_without_cpr(
    broker: &Broker,
    frontend: &FrontendRequest,
    rp: &RelyingParty,
    person: uuid::Uuid,
    lang: Lang,
    ip: &str,
) -> Result<Answer, BrokerError> {
    broker
        .audit(
            broker
                .event("login.refused", AuditOutcome::Failure)
                .person(person)
                .client(rp.id.clone())
                .ip(ip)
                .detail(
                    "reason",
                    "the service requires a CPR number the person does not have",
                ),
        )
        .await?;
    frontend.refuse_explained(broker, rp, Refusal::CprRequired, lang)
}

/// What a completed login leads to, before the session is kept.
enum Next {
    Answer(Answer),
    Choose(Box<PendingChoice>),
}
