//! The "Who are you acting for?" step of a login, for every frontend: the choice offered (kept in
//! the ephemeral store, bound to the browser, single use, CSRF-protected), the person's answer
//! (re-checked with the registry before anything is released), and the audit of each use of a
//! mandate on both persons' logs.
//!
//! The choice is per login at one relying party: single sign-on at another one offers it again
//! (nothing is remembered for another service).

use eid_core::{AuditEvent, AuditOutcome, Lang, Mandate, PersonKey, Principal};
use eid_oidc::random::{digest_key, token256};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::frontend::{Answer, FrontendRequest, Refusal};
use crate::core::SsoSession;
use crate::core::representation::{Choice, Recheck, recheck};
use crate::oidc::BrokerError;
use crate::ports::UpstreamKind;
use crate::state::Broker;

/// How long the choice page waits for the person.
pub const CHOICE_TTL: Duration = Duration::from_secs(600);

/// A login waiting for the person to choose whom they act for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingChoice {
    /// Identifier (in the form).
    pub id: String,
    /// Digest of the browser cookie it is bound to.
    pub browser: String,
    /// CSRF token of its form.
    pub csrf: String,
    /// Page language.
    pub lang: Lang,
    /// The relying party's id.
    pub rp: String,
    /// The frontend's request, to answer once the person has chosen.
    pub frontend: FrontendRequest,
    /// The session to answer from, as this login proves it (its level and time).
    pub answering: SsoSession,
    /// The mandates offered: a choice of any other is forged.
    pub offered: Vec<Mandate>,
}

fn key(id: &str) -> String {
    format!("broker:choice:{id}")
}

/// What the person's answer on the choice page leads to.
#[derive(Debug)]
pub enum ChoiceOutcome {
    /// The frontend's answer (the person themselves, the principal, or a refusal).
    Answer(Answer),
    /// A choice the page never offered (a forged form): refused, audited, the login ended.
    Forged,
}

impl PendingChoice {
    /// Offers `mandates` to the browser with cookie `browser_cookie`, for the request `frontend`
    /// of relying party `rp`, to be answered from `answering`; saved.
    pub async fn offer(
        broker: &Broker,
        frontend: FrontendRequest,
        rp: &str,
        answering: SsoSession,
        mandates: Vec<Mandate>,
        browser_cookie: &str,
        lang: Lang,
    ) -> Result<PendingChoice, BrokerError> {
        let choice = PendingChoice {
            id: token256(),
            browser: digest_key(browser_cookie),
            csrf: token256(),
            lang,
            rp: rp.to_owned(),
            frontend,
            answering,
            offered: mandates,
        };
        let bytes =
            serde_json::to_vec(&choice).map_err(|e| BrokerError::BadRequest(e.to_string()))?;
        broker
            .ephemeral
            .put(&key(&choice.id), &bytes, CHOICE_TTL)
            .await?;
        Ok(choice)
    }

    /// The pending choice `id` of this browser, its CSRF token checked; left in place.
    pub async fn load_for_form(
        broker: &Broker,
        id: &str,
        browser_cookie: Option<&str>,
        csrf: Option<&str>,
    ) -> Result<PendingChoice, BrokerError> {
        if id.is_empty() || id.len() > 64 {
            return Err(BrokerError::Expired);
        }
        let bytes = broker
            .ephemeral
            .get(&key(id))
            .await?
            .ok_or(BrokerError::Expired)?;
        let choice: PendingChoice =
            serde_json::from_slice(&bytes).map_err(|_| BrokerError::Expired)?;
        let browser = browser_cookie.map(digest_key).unwrap_or_default();
        if !bool::from(browser.as_bytes().ct_eq(choice.browser.as_bytes())) {
            return Err(BrokerError::Expired);
        }
        match csrf {
            Some(c) if bool::from(c.as_bytes().ct_eq(choice.csrf.as_bytes())) => Ok(choice),
            _ => Err(BrokerError::Csrf),
        }
    }

    /// The person's answer `value` from the browser whose SSO session cookie is `session_cookie`.
    ///
    /// The choice is spent first (single use; of two concurrent answers one wins). It must be one
    /// the page offered, the browser's session must still be the one the choice was offered in,
    /// and a chosen mandate must pass the registry's re-check; then the frontend answers.
    pub async fn choose(
        self,
        broker: &Broker,
        value: &str,
        session_cookie: Option<&str>,
        ip: &str,
    ) -> Result<ChoiceOutcome, BrokerError> {
        if broker.ephemeral.take(&key(&self.id)).await?.is_none() {
            return Err(BrokerError::Expired);
        }
        let chosen = match Choice::parse(value) {
            Some(Choice::Cancel) => {
                return Ok(ChoiceOutcome::Answer(
                    self.frontend.refuse(broker, Refusal::Cancelled)?,
                ));
            }
            Some(Choice::Myself) => None,
            Some(Choice::Mandate(id)) => match self.offered.iter().find(|m| m.id == id) {
                Some(m) => Some(m.clone()),
                None => {
                    self.audit_forged(broker, value, ip).await?;
                    return Ok(ChoiceOutcome::Forged);
                }
            },
            None => {
                self.audit_forged(broker, value, ip).await?;
                return Ok(ChoiceOutcome::Forged);
            }
        };
        let Some(mut live) = SsoSession::find(broker.ephemeral.as_ref(), session_cookie).await?
        else {
            return Err(BrokerError::Expired);
        };
        if live.sid != self.answering.sid || live.identity.person != self.answering.identity.person
        {
            return Err(BrokerError::Expired);
        }
        let Some(rp) = self.frontend.relying_party(broker, &self.rp) else {
            return Err(BrokerError::BadRequest("the relying party vanished".into()));
        };
        let mandate = match chosen {
            None => None,
            Some(m) => {
                match recheck(
                    broker.mandates.as_ref(),
                    &self.answering.identity,
                    &m,
                    rp.rp(),
                    broker.clock.now(),
                )
                .await?
                {
                    Recheck::Valid(current) => Some(current),
                    Recheck::Withdrawn => {
                        let agent = self.answering.identity.audit_id;
                        audit_withdrawn(broker, agent, &m, &self.rp, "choice").await?;
                        return Ok(ChoiceOutcome::Answer(
                            self.frontend.refuse(broker, Refusal::MandateWithdrawn)?,
                        ));
                    }
                }
            }
        };
        let mut answering = self.answering;
        answering.rps = live.rps.clone();
        let answer = self
            .frontend
            .answer(broker, &rp, &mut answering, mandate.as_ref())
            .await?;
        if answering.rps != live.rps
            && let Some(cookie) = session_cookie
        {
            live.rps = answering.rps;
            live.save(broker.ephemeral.as_ref(), cookie, broker.config.session_ttl)
                .await?;
        }
        Ok(ChoiceOutcome::Answer(answer))
    }

    async fn audit_forged(
        &self,
        broker: &Broker,
        value: &str,
        ip: &str,
    ) -> Result<(), BrokerError> {
        broker
            .audit(
                broker
                    .event("representation.choice_rejected", AuditOutcome::Failure)
                    .person(self.answering.identity.audit_id)
                    .client(self.rp.clone())
                    .ip(ip)
                    .detail(
                        "choice",
                        crate::oidc::audit::truncated(value, 64).to_owned(),
                    )
                    .detail("reason", "a mandate the page did not offer"),
            )
            .await?;
        Ok(())
    }
}

/// Audits that a chosen mandate no longer passed the registry's re-check (`at`: `choice`,
/// `token`, `refresh` or `assertion`), on the agent's log.
pub async fn audit_withdrawn(
    broker: &Broker,
    agent: Uuid,
    mandate: &Mandate,
    rp: &str,
    at: &str,
) -> Result<(), eid_core::StoreError> {
    let event = broker
        .event("representation.mandate_withdrawn", AuditOutcome::Failure)
        .person(agent)
        .client(rp.to_owned());
    broker
        .audit(with_mandate(broker, event, mandate).detail("at", at.to_owned()))
        .await
}

/// The audit key of a principal person: for the national authenticator the person register's id
/// (the subject UUID, as for anyone who logs in there), otherwise derived with the broker's key
/// ([`crate::adapters::audit_id`]).
pub fn principal_audit_id(broker: &Broker, person: &PersonKey) -> Uuid {
    let kind = broker
        .upstreams
        .get(&person.upstream)
        .map_or(UpstreamKind::EuEid, |u| u.kind());
    crate::adapters::audit_id(kind, person, &broker.pairwise)
}

/// `event` with the mandate named: its id and kind, and the principal (a person by their audit key,
/// an organisation by its CVR number; never a CPR number or a name).
pub fn with_mandate(broker: &Broker, event: AuditEvent, mandate: &Mandate) -> AuditEvent {
    let event = event
        .detail("mandate", mandate.id.clone())
        .detail("mandate_kind", mandate.kind.as_str());
    match &mandate.principal {
        Principal::Person { person, .. } => event
            .detail("principal_type", "person")
            .detail("principal", principal_audit_id(broker, person).to_string()),
        Principal::Organisation { cvr, .. } => event
            .detail("principal_type", "organisation")
            .detail("principal_cvr", cvr.clone()),
    }
}

/// The audit events of one use of a mandate ([`use_events`]), written together by [`audit_use`].
#[derive(Debug, Clone)]
pub struct UseEvents {
    /// The release's own event, on the agent's log, with the mandate named.
    pub release: AuditEvent,
    /// `representation.acted_as`, on the agent's log: for whom, under which mandate.
    pub acted_as: AuditEvent,
    /// `representation.acted_for`, on the principal's log when the principal is a person: who
    /// acted, under which mandate, and which kinds of their data were released.
    pub acted_for: Option<AuditEvent>,
}

/// The audit events of one use of `mandate` by the person with audit key `agent` at `rp`, each
/// from its person's side: the release's own event and `representation.acted_as` on the agent's
/// log, and, when the principal is a person, `representation.acted_for` on the principal's log
/// naming the agent and the kinds of the principal's data released (`principal_attributes`).
pub fn use_events(
    broker: &Broker,
    release_event: AuditEvent,
    agent: Uuid,
    mandate: &Mandate,
    rp: &str,
    principal_attributes: &[&'static str],
) -> UseEvents {
    let release = with_mandate(broker, release_event.person(agent), mandate);
    let acted_as = with_mandate(
        broker,
        broker
            .event("representation.acted_as", AuditOutcome::Success)
            .person(agent)
            .client(rp.to_owned()),
        mandate,
    );
    let (acted_as, acted_for) = match &mandate.principal {
        Principal::Person { person, .. } => (
            acted_as,
            Some(
                broker
                    .event("representation.acted_for", AuditOutcome::Success)
                    .person(principal_audit_id(broker, person))
                    .client(rp.to_owned())
                    .detail("agent", agent.to_string())
                    .detail("mandate", mandate.id.clone())
                    .detail("mandate_kind", mandate.kind.as_str())
                    .detail("attributes", principal_attributes.to_vec()),
            ),
        ),
        Principal::Organisation { cvr, .. } => (acted_as.detail("organisation", cvr.clone()), None),
    };
    UseEvents {
        release,
        acted_as,
        acted_for,
    }
}

/// Writes the events of [`use_events`] together (the release's with the protocol `messages`) and
/// waits until every one is durable: nothing is released before both persons' logs hold it.
pub async fn audit_use(
    broker: &Broker,
    events: UseEvents,
    messages: Vec<eid_core::ProtocolMessage>,
) -> Result<(), eid_core::StoreError> {
    let UseEvents {
        release,
        acted_as,
        acted_for,
    } = events;
    let acted_for = async {
        match acted_for {
            Some(e) => broker.audit(e).await,
            None => Ok(()),
        }
    };
    tokio::try_join!(
        broker.audit_with(release, messages),
        broker.audit(acted_as),
        acted_for
    )?;
    Ok(())
}
