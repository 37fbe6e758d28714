//! The delegation registry: the rules for giving, requesting, accepting, declining, revoking and
//! expiring powers of attorney, and for organisations' business rights and powers, over the
//! person register, the registry's store, the audit log and the clock. No HTTP here: the portal
//! and the REST API call these methods with an [`Authenticated`] caller and show the outcome.
//!
//! Every change is audited once per person concerned (each finds it under their own key, with a
//! `counterpart`), and told to each of them through the notification outbox in the same
//! transaction as the change. Every refusal is audited as `delegation.refused` with its reason.
//!
//! - Powers of attorney: [`Registry::prepare_grant`] → [`GrantDraft`] (shown) →
//!   [`Registry::confirm`] (the "sign" step); [`Registry::request`] → the principal's
//!   [`Registry::prepare_approval`] → [`Registry::confirm`]; [`Registry::accept`],
//!   [`Registry::decline`], [`Registry::revoke`]; [`Registry::given`], [`Registry::held`],
//!   [`Registry::history`]; [`Registry::expire_due`].
//! - Organisations: [`Registry::register_organisation`] (operator and demo data only),
//!   [`Registry::assign_right`], [`Registry::grant_business_power`],
//!   [`Registry::organisation_mandates`], and the same accept/decline/revoke.

mod attorney;
mod draft;
pub mod error;
mod organisation;
pub mod rules;

pub use attorney::{AgentRef, GrantInput, RequestInput};
pub use draft::{Confirmation, GrantDraft};
pub use error::RegistryError;
pub use organisation::{PowerInput, RightInput};

use eid_core::{
    AuditEvent, AuditLog, AuditOutcome, Clock, DelegationRepository, EphemeralStore, Loa,
    MandateId, MandateRecord, MandateState, Notice, Party, Person, PersonKey, PersonRepository,
    RegisteredPerson, Scope,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The registry's settings.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// The broker's name of the national authenticator upstream ("idp" in the demo): the persons
    /// of the register are `PersonKey { upstream: this, subject: <register id> }`.
    pub national_upstream: String,
    /// How old a login may be for a change that can raise what a session may do.
    pub fresh_login: Duration,
    /// The longest a power of attorney may last.
    pub max_validity: Duration,
    /// Per scope: whether a grant waits for the agent's acceptance.
    pub acceptance: BTreeMap<Scope, bool>,
    /// For scopes not in `acceptance`.
    pub acceptance_by_default: bool,
    /// How long a prepared draft waits for its confirmation.
    pub draft_ttl: Duration,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            national_upstream: "idp".into(),
            fresh_login: Duration::minutes(5),
            max_validity: Duration::days(5 * 365),
            acceptance: BTreeMap::new(),
            acceptance_by_default: true,
            draft_ttl: Duration::minutes(15),
        }
    }
}

/// Who calls: the person logged in to the portal or the API, as the broker vouched for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// Their key at the broker.
    pub person: PersonKey,
    /// The level of that login.
    pub loa: Loa,
    /// When they authenticated.
    pub auth_time: OffsetDateTime,
    /// The mandate id when the session acts on behalf of someone (its `act` claim): such a
    /// session may change nothing here (an agent cannot pass on what they hold).
    pub acting_for: Option<String>,
}

impl Authenticated {
    /// The caller from the broker's `public` subject identifier, `<upstream>:<subject>` (what
    /// a relying party registered with `subject_type = "public"` receives as `sub`, i.e.
    /// `PersonKey::pairwise_input`): the portal and the API are such relying parties. `None` for
    /// anything else (no `:`, an empty part, over 512 bytes).
    pub fn from_public_subject(
        sub: &str,
        loa: Loa,
        auth_time: OffsetDateTime,
        acting_for: Option<String>,
    ) -> Option<Authenticated> {
        let (upstream, subject) = sub.split_once(':')?;
        if upstream.is_empty() || subject.is_empty() || sub.len() > 512 {
            return None;
        }
        Some(Authenticated {
            person: PersonKey {
                upstream: upstream.to_owned(),
                subject: subject.to_owned(),
            },
            loa,
            auth_time,
            acting_for,
        })
    }
}

/// What the registry works with.
#[derive(Clone)]
pub struct RegistryDeps {
    /// The person register.
    pub persons: Arc<dyn PersonRepository>,
    /// The registry's store (also writes the notifications).
    pub store: Arc<dyn DelegationRepository>,
    /// Where drafts wait for their confirmation.
    pub drafts: Arc<dyn EphemeralStore>,
    /// The audit log.
    pub audit: Arc<dyn AuditLog>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

/// A mandate as a party sees it: the record and its state now (expiry derived).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MandateView {
    /// The record.
    pub record: MandateRecord,
    /// Its state now.
    pub state: MandateState,
}

/// The delegation registry.
#[derive(Clone)]
pub struct Registry {
    settings: Arc<RegistrySettings>,
    deps: RegistryDeps,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The component name of the registry's audit events.
pub const COMPONENT: &str = "delegation";

/// A person of the register as a party.
fn registered(person: &Person, upstream: &str) -> RegisteredPerson {
    RegisteredPerson {
        id: person.id,
        key: PersonKey {
            upstream: upstream.to_owned(),
            subject: person.id.to_string(),
        },
        cpr: person.cpr.clone(),
        name: format!("{} {}", person.given_name, person.family_name),
    }
}

impl Registry {
    /// A registry over `deps`.
    pub fn new(settings: RegistrySettings, deps: RegistryDeps) -> Registry {
        Registry {
            settings: Arc::new(settings),
            deps,
        }
    }

    /// Its settings.
    pub fn settings(&self) -> &RegistrySettings {
        &self.settings
    }

    /// Its store (for the lookup and the demo data).
    pub fn store(&self) -> &std::sync::Arc<dyn DelegationRepository> {
        &self.deps.store
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.deps.clock.now()
    }

    /// The register id of a person key of the national upstream.
    fn register_id(&self, key: &PersonKey) -> Option<Uuid> {
        (key.upstream == self.settings.national_upstream)
            .then(|| Uuid::parse_str(&key.subject).ok())
            .flatten()
    }

    /// The caller in the register.
    async fn caller(
        &self,
        auth: &Authenticated,
    ) -> Result<(Person, RegisteredPerson), RegistryError> {
        let id = self
            .register_id(&auth.person)
            .ok_or(RegistryError::NotInRegister)?;
        let person = self
            .deps
            .persons
            .person(id)
            .await?
            .ok_or(RegistryError::NotInRegister)?;
        let party = registered(&person, &self.settings.national_upstream);
        Ok((person, party))
    }

    /// The person with this CPR number in the register.
    pub(crate) async fn person_by_cpr(
        &self,
        cpr: &eid_core::Cpr,
    ) -> Result<(Person, RegisteredPerson), RegistryError> {
        let person = self
            .deps
            .persons
            .person_by_cpr(cpr)
            .await?
            .ok_or(RegistryError::PersonUnknown)?;
        let party = registered(&person, &self.settings.national_upstream);
        Ok((person, party))
    }

    /// Audits a refusal (`delegation.refused`, naming the caller when known) and returns it.
    async fn refused<T>(
        &self,
        auth: Option<&Authenticated>,
        op: &str,
        mandate: Option<MandateId>,
        result: Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let Err(err) = result else {
            return result;
        };
        if err.is_refusal() {
            let mut event = AuditEvent::new(
                self.now(),
                COMPONENT,
                "delegation.refused",
                AuditOutcome::Failure,
            )
            .detail("operation", op)
            .detail("reason", err.reason());
            if let Some(id) = auth.and_then(|a| self.register_id(&a.person)) {
                event = event.person(id);
            }
            if let Some(m) = mandate {
                event = event.detail("mandate", m.to_string());
            }
            if let Err(e) = self.deps.audit.append(&[event]).await {
                tracing::warn!(error = %e, "delegation refusal not audited");
                return Err(RegistryError::Store(e));
            }
        }
        Err(err)
    }

    /// The persons concerned by a change of `m` made by `by`: each party that is a person, and
    /// the author when they are not a party (an organisation's administrator).
    fn concerned<'a>(
        m: &'a MandateRecord,
        by: Option<&'a RegisteredPerson>,
    ) -> Vec<(&'a RegisteredPerson, &'static str, &'a Party)> {
        let mut out = Vec::new();
        if let Party::Person(p) = &m.principal {
            out.push((p, "principal", &m.agent));
        }
        if let Party::Person(a) = &m.agent {
            out.push((a, "agent", &m.principal));
        }
        if let Some(by) = by
            && !out.iter().any(|(p, _, _)| p.id == by.id)
        {
            let other = if matches!(m.principal, Party::Organisation(_)) {
                &m.agent
            } else {
                &m.principal
            };
            out.push((by, "administrator", other));
        }
        out
    }

    /// The audit events (one per person concerned) and notices of a change of `m` to `state`.
    fn record_change(
        &self,
        kind: &str,
        m: &MandateRecord,
        by: Option<&RegisteredPerson>,
        at: OffsetDateTime,
    ) -> (Vec<AuditEvent>, Vec<Notice>) {
        let mut events = Vec::new();
        let mut notices = Vec::new();
        for (person, role, other) in Self::concerned(m, by) {
            let mut event = AuditEvent::new(at, COMPONENT, kind, AuditOutcome::Success)
                .person(person.id)
                .detail("mandate", m.id.to_string())
                .detail("mandate_kind", m.kind.as_str())
                .detail("role", role)
                .detail(
                    "scopes",
                    m.scopes.iter().map(Scope::key).collect::<Vec<_>>(),
                );
            event = match other {
                Party::Person(o) => event.detail("counterpart", o.id.to_string()),
                Party::Organisation(o) => event.detail("counterpart_cvr", o.cvr.as_str()),
            };
            if let Some(cvr) = m.principal.cvr() {
                event = event.detail("organisation", cvr.as_str());
            }
            if let Some(by) = by
                && by.id != person.id
            {
                event = event.detail("by", by.id.to_string());
            }
            events.push(event);
            notices.push(Notice {
                person: person.id,
                kind: kind.to_owned(),
                details: json!({
                    "mandate": m.id.to_string(),
                    "mandate_kind": m.kind.as_str(),
                    "role": role,
                    "counterpart_name": other.name(),
                    "by_name": by.map(|b| b.name.clone()),
                }),
            });
        }
        (events, notices)
    }

    async fn audit(&self, events: &[AuditEvent]) -> Result<(), RegistryError> {
        self.deps.audit.append(events).await?;
        Ok(())
    }

    /// A mandate the caller (`me`) is concerned by: a person party, or an administrator of an
    /// organisation party. Anything else is `NotFound`, whether or not it exists.
    async fn visible(
        &self,
        id: MandateId,
        me: &RegisteredPerson,
        now: OffsetDateTime,
    ) -> Result<(MandateRecord, Standing), RegistryError> {
        let m = self
            .deps
            .store
            .mandate_record(id)
            .await?
            .ok_or(RegistryError::NotFound)?;
        let standing = self.standing(&m, me, now).await?;
        if standing == Standing::None {
            return Err(RegistryError::NotFound);
        }
        Ok((m, standing))
    }

    /// The caller's side of `m`.
    async fn standing(
        &self,
        m: &MandateRecord,
        me: &RegisteredPerson,
        now: OffsetDateTime,
    ) -> Result<Standing, RegistryError> {
        Ok(if self.is_side(&m.principal, me, now).await? {
            Standing::Principal
        } else if self.is_side(&m.agent, me, now).await? {
            Standing::Agent
        } else {
            Standing::None
        })
    }

    /// Whether `me` is `party`, or administers it.
    async fn is_side(
        &self,
        party: &Party,
        me: &RegisteredPerson,
        now: OffsetDateTime,
    ) -> Result<bool, RegistryError> {
        Ok(match party {
            Party::Person(p) => p.key == me.key,
            Party::Organisation(o) => {
                self.deps
                    .store
                    .is_administrator(&me.key, &o.cvr, now)
                    .await?
            }
        })
    }

    /// Writes a change of state (compare-and-set) with its audit events and notices; a mandate
    /// found expired is first written as expired and the change refused.
    async fn change(
        &self,
        m: &MandateRecord,
        to: MandateState,
        kind: &str,
        by: &RegisteredPerson,
        now: OffsetDateTime,
    ) -> Result<MandateRecord, RegistryError> {
        let change = eid_core::StateChange {
            revision: m.revision + 1,
            state: to,
            by: Some(eid_core::Author {
                key: by.key.clone(),
                name: by.name.clone(),
            }),
            at: now,
        };
        let mut changed = m.clone();
        changed.state = to;
        changed.revision += 1;
        let (events, notices) = self.record_change(kind, &changed, Some(by), now);
        if !self
            .deps
            .store
            .change_state(m.id, m.revision, &change, &notices)
            .await?
        {
            return Err(RegistryError::Changed);
        }
        self.audit(&events).await?;
        Ok(changed)
    }

    /// Writes the expiry of every mandate whose end has come (at most `limit`), each audited and
    /// told to its parties; returns how many. Lookups never use an expired mandate whether or not
    /// this ran: it only brings the stored state and the parties' logs up to date.
    pub async fn expire_due(&self, limit: u32) -> Result<u64, RegistryError> {
        let now = self.now();
        let mut done = 0;
        for (id, revision) in self.deps.store.due_to_expire(now, limit).await? {
            if self.expire(id, revision, now).await? {
                done += 1;
            }
        }
        Ok(done)
    }

    /// Writes the expiry of one mandate at `revision`; `false` when it changed meanwhile.
    async fn expire(
        &self,
        id: MandateId,
        revision: i64,
        now: OffsetDateTime,
    ) -> Result<bool, RegistryError> {
        let Some(m) = self.deps.store.mandate_record(id).await? else {
            return Ok(false);
        };
        if m.revision != revision || m.state_at(now) != MandateState::Expired {
            return Ok(false);
        }
        let change = eid_core::StateChange {
            revision: revision + 1,
            state: MandateState::Expired,
            by: None,
            at: now,
        };
        let (events, notices) = self.record_change("delegation.expired", &m, None, now);
        if !self
            .deps
            .store
            .change_state(id, revision, &change, &notices)
            .await?
        {
            return Ok(false);
        }
        self.audit(&events).await?;
        Ok(true)
    }

    /// Refuses a change of a mandate that is not in `from`; writes a found expiry first.
    async fn expect_state(
        &self,
        m: &MandateRecord,
        from: &[MandateState],
        now: OffsetDateTime,
    ) -> Result<(), RegistryError> {
        let state = m.state_at(now);
        if state == MandateState::Expired && m.state != MandateState::Expired {
            self.expire(m.id, m.revision, now).await?;
        }
        if !from.contains(&state) {
            return Err(RegistryError::WrongState(state));
        }
        Ok(())
    }
}

/// The caller's side of a mandate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// The principal, or an administrator of the principal organisation.
    Principal,
    /// The agent, or an administrator of the agent organisation.
    Agent,
    /// Neither.
    None,
}
