//! Powers of attorney between persons (and from a person to an organisation): grant with the
//! sign step, request and approval, acceptance, decline, revocation, listings.

use eid_core::{
    Access, Author, Cpr, Cvr, MandateId, MandateKind, MandateRecord, MandateState, Party, PartyKey,
    RegisteredPerson, Scope, Side, StateChange,
};
use time::OffsetDateTime;

use super::draft::{Confirmation, GrantDraft};
use super::error::RegistryError;
use super::rules;
use super::{Authenticated, MandateView, Registry, Standing};

/// Who is to hold a power of attorney.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentRef {
    /// A person, named by CPR number.
    Person(Cpr),
    /// An organisation, by CVR number (its employees with a right for the scope use it).
    Organisation(Cvr),
}

/// A power of attorney the caller wants to give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantInput {
    /// Who is to hold it.
    pub agent: AgentRef,
    /// What it covers (1 to [`rules::MAX_SCOPES`]).
    pub scopes: Vec<Scope>,
    /// Read or act.
    pub access: Access,
    /// From when (`None`: now; never earlier than now).
    pub valid_from: Option<OffsetDateTime>,
    /// Until when; at most the configured maximum after the start.
    pub valid_until: OffsetDateTime,
}

/// A power of attorney the caller asks another person to give them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInput {
    /// Who is asked to give it (CPR number).
    pub principal: Cpr,
    /// What it is to cover.
    pub scopes: Vec<Scope>,
    /// Read or act.
    pub access: Access,
    /// From when (`None`: from the approval).
    pub valid_from: Option<OffsetDateTime>,
    /// Until when.
    pub valid_until: OffsetDateTime,
}

fn author(p: &RegisteredPerson) -> Author {
    Author {
        key: p.key.clone(),
        name: p.name.clone(),
    }
}

impl Registry {
    fn view(&self, record: MandateRecord, now: OffsetDateTime) -> MandateView {
        MandateView {
            state: record.state_at(now),
            record,
        }
    }

    /// Checks a power of attorney the caller wants to give and returns the draft to show; the
    /// draft waits [`draft_ttl`](super::RegistrySettings::draft_ttl) for [`Registry::confirm`].
    /// Needs a fresh login at Substantial; the caller must be 15 or older and legally competent;
    /// the agent must be in the register (or a registered organisation), not the caller, and 15
    /// or older and competent; the period at most the configured maximum.
    pub async fn prepare_grant(
        &self,
        auth: &Authenticated,
        input: GrantInput,
    ) -> Result<GrantDraft, RegistryError> {
        let r = self.prepare_grant_inner(auth, input).await;
        self.refused(Some(auth), "grant", None, r).await
    }

    async fn prepare_grant_inner(
        &self,
        auth: &Authenticated,
        input: GrantInput,
    ) -> Result<GrantDraft, RegistryError> {
        let now = self.now();
        rules::fresh_login(auth, &self.settings, now)?;
        let (person, me) = self.caller(auth).await?;
        rules::may_be_party(&person, now)?;
        let scopes = rules::scopes(input.scopes, false)?;
        let valid_from = rules::validity(
            input.valid_from,
            input.valid_until,
            now,
            self.settings.max_validity,
        )?;
        let agent = match input.agent {
            AgentRef::Person(cpr) => {
                let (agent, party) = self.person_by_cpr(&cpr).await?;
                if agent.id == person.id {
                    return Err(RegistryError::AgentIsGrantor);
                }
                rules::may_be_party(&agent, now).map_err(|_| RegistryError::PartyNotEligible)?;
                Party::Person(party)
            }
            AgentRef::Organisation(cvr) => {
                let org = self
                    .deps
                    .store
                    .organisation(&cvr)
                    .await?
                    .ok_or(RegistryError::OrganisationUnknown)?;
                Party::Organisation(org.as_ref())
            }
        };
        let mut draft = GrantDraft {
            id: MandateId::new(),
            approves_revision: None,
            principal: me,
            agent,
            needs_acceptance: rules::needs_acceptance(&self.settings, &scopes),
            scopes,
            access: input.access,
            valid_from,
            valid_until: input.valid_until,
            prepared_at: now,
            digest: String::new(),
        };
        draft.digest = draft.compute_digest();
        self.keep_draft(&draft).await?;
        Ok(draft)
    }

    async fn keep_draft(&self, draft: &GrantDraft) -> Result<(), RegistryError> {
        let json = serde_json::to_vec(draft)
            .map_err(|e| eid_core::StoreError::Backend(format!("draft: {e}")))?;
        let ttl = std::time::Duration::try_from(self.settings.draft_ttl)
            .unwrap_or(std::time::Duration::from_secs(900));
        self.deps
            .drafts
            .put(&GrantDraft::key(draft.id), &json, ttl)
            .await?;
        Ok(())
    }

    /// The principal's step to approve a request: the request as a draft to show and confirm
    /// with [`Registry::confirm`] (the same sign step as a grant, exactly as requested).
    pub async fn prepare_approval(
        &self,
        auth: &Authenticated,
        request: MandateId,
    ) -> Result<GrantDraft, RegistryError> {
        let r = self.prepare_approval_inner(auth, request).await;
        self.refused(Some(auth), "approve", Some(request), r).await
    }

    async fn prepare_approval_inner(
        &self,
        auth: &Authenticated,
        id: MandateId,
    ) -> Result<GrantDraft, RegistryError> {
        let now = self.now();
        rules::fresh_login(auth, &self.settings, now)?;
        let (person, me) = self.caller(auth).await?;
        let (m, standing) = self.visible(id, &me, now).await?;
        if standing != Standing::Principal {
            return Err(RegistryError::WrongParty);
        }
        self.expect_state(&m, &[MandateState::Requested], now)
            .await?;
        rules::may_be_party(&person, now)?;
        self.agent_still_eligible(&m, now).await?;
        let valid_until = m.valid_until.ok_or(RegistryError::InvalidValidity)?;
        let mut draft = GrantDraft {
            id: m.id,
            approves_revision: Some(m.revision),
            principal: me,
            agent: m.agent,
            scopes: m.scopes,
            access: m.access,
            valid_from: m.valid_from,
            valid_until,
            needs_acceptance: false,
            prepared_at: now,
            digest: String::new(),
        };
        draft.digest = draft.compute_digest();
        self.keep_draft(&draft).await?;
        Ok(draft)
    }

    /// Re-checks a person agent against the register (15 or older, competent) at a grant.
    async fn agent_still_eligible(
        &self,
        m: &MandateRecord,
        now: OffsetDateTime,
    ) -> Result<(), RegistryError> {
        if let Party::Person(a) = &m.agent {
            let agent = self
                .deps
                .persons
                .person(a.id)
                .await?
                .ok_or(RegistryError::PartyNotEligible)?;
            rules::may_be_party(&agent, now).map_err(|_| RegistryError::PartyNotEligible)?;
        }
        Ok(())
    }

    /// The sign step: creates the power of attorney of a draft the caller prepared (pending the
    /// agent's acceptance, or active), or activates the request it approves. The draft is used
    /// once; it must be the caller's, unexpired, and its digest must match. The rules are
    /// checked again (fresh login, the caller's age and competence, the agent's).
    pub async fn confirm(
        &self,
        auth: &Authenticated,
        confirmation: &Confirmation,
    ) -> Result<MandateView, RegistryError> {
        let r = self.confirm_inner(auth, confirmation).await;
        self.refused(Some(auth), "confirm", Some(confirmation.draft), r)
            .await
    }

    async fn confirm_inner(
        &self,
        auth: &Authenticated,
        confirmation: &Confirmation,
    ) -> Result<MandateView, RegistryError> {
        let now = self.now();
        rules::fresh_login(auth, &self.settings, now)?;
        let (person, me) = self.caller(auth).await?;
        let key = GrantDraft::key(confirmation.draft);
        let stored = self
            .deps
            .drafts
            .get(&key)
            .await?
            .ok_or(RegistryError::DraftUnknown)?;
        let draft: GrantDraft =
            serde_json::from_slice(&stored).map_err(|_| RegistryError::DraftUnknown)?;
        if draft.principal.key != me.key || now > draft.prepared_at + self.settings.draft_ttl {
            return Err(RegistryError::DraftUnknown);
        }
        if confirmation.digest != draft.digest || draft.compute_digest() != draft.digest {
            return Err(RegistryError::DraftMismatch);
        }
        rules::may_be_party(&person, now)?;
        // Taken only now, so a refusal above leaves the draft to confirm after a new login;
        // of two concurrent confirmations one takes it.
        if self.deps.drafts.take(&key).await?.is_none() {
            return Err(RegistryError::DraftUnknown);
        }
        match draft.approves_revision {
            Some(revision) => {
                let (m, standing) = self.visible(draft.id, &me, now).await?;
                if standing != Standing::Principal || m.revision != revision {
                    return Err(RegistryError::Changed);
                }
                self.expect_state(&m, &[MandateState::Requested], now)
                    .await?;
                self.agent_still_eligible(&m, now).await?;
                let m = self
                    .change(&m, MandateState::Active, "delegation.approved", &me, now)
                    .await?;
                Ok(self.view(m, now))
            }
            None => {
                let m = MandateRecord {
                    id: draft.id,
                    kind: MandateKind::PowerOfAttorney,
                    principal: Party::Person(me.clone()),
                    agent: draft.agent,
                    scopes: draft.scopes,
                    privileges: Vec::new(),
                    access: draft.access,
                    administrator: false,
                    valid_from: draft.valid_from,
                    valid_until: Some(draft.valid_until),
                    state: if draft.needs_acceptance {
                        MandateState::Pending
                    } else {
                        MandateState::Active
                    },
                    created_at: now,
                    revision: 1,
                };
                self.agent_still_eligible(&m, now).await?;
                self.create(&m, "delegation.granted", &me).await?;
                Ok(self.view(m, now))
            }
        }
    }

    /// Stores a new mandate with its audit events and notices.
    pub(super) async fn create(
        &self,
        m: &MandateRecord,
        kind: &str,
        by: &RegisteredPerson,
    ) -> Result<(), RegistryError> {
        let (events, notices) = self.record_change(kind, m, Some(by), m.created_at);
        self.deps
            .store
            .insert_mandate(m, Some(&author(by)), &notices)
            .await?;
        self.audit(&events).await
    }

    /// The caller asks another person for a power of attorney: stored as requested, active only
    /// once the principal approves it through the sign step. Needs a fresh login at Substantial;
    /// the caller must be 15 or older and competent.
    pub async fn request(
        &self,
        auth: &Authenticated,
        input: RequestInput,
    ) -> Result<MandateView, RegistryError> {
        let r = self.request_inner(auth, input).await;
        self.refused(Some(auth), "request", None, r).await
    }

    async fn request_inner(
        &self,
        auth: &Authenticated,
        input: RequestInput,
    ) -> Result<MandateView, RegistryError> {
        let now = self.now();
        rules::fresh_login(auth, &self.settings, now)?;
        let (person, me) = self.caller(auth).await?;
        rules::may_be_party(&person, now)?;
        let scopes = rules::scopes(input.scopes, false)?;
        let valid_from = rules::validity(
            input.valid_from,
            input.valid_until,
            now,
            self.settings.max_validity,
        )?;
        let (principal, party) = self.person_by_cpr(&input.principal).await?;
        if principal.id == person.id {
            return Err(RegistryError::AgentIsGrantor);
        }
        let m = MandateRecord {
            id: MandateId::new(),
            kind: MandateKind::PowerOfAttorney,
            principal: Party::Person(party),
            agent: Party::Person(me.clone()),
            scopes,
            privileges: Vec::new(),
            access: input.access,
            administrator: false,
            valid_from,
            valid_until: Some(input.valid_until),
            state: MandateState::Requested,
            created_at: now,
            revision: 1,
        };
        self.create(&m, "delegation.requested", &me).await?;
        Ok(self.view(m, now))
    }

    /// The agent (or an administrator of the agent organisation) accepts a pending mandate,
    /// which makes it active. Needs a fresh login at Substantial: it raises what the agent's
    /// sessions may do.
    pub async fn accept(
        &self,
        auth: &Authenticated,
        id: MandateId,
    ) -> Result<MandateView, RegistryError> {
        let r = self.accept_inner(auth, id).await;
        self.refused(Some(auth), "accept", Some(id), r).await
    }

    async fn accept_inner(
        &self,
        auth: &Authenticated,
        id: MandateId,
    ) -> Result<MandateView, RegistryError> {
        let now = self.now();
        rules::fresh_login(auth, &self.settings, now)?;
        let (person, me) = self.caller(auth).await?;
        let (m, standing) = self.visible(id, &me, now).await?;
        if standing != Standing::Agent {
            return Err(RegistryError::WrongParty);
        }
        self.expect_state(&m, &[MandateState::Pending], now).await?;
        if m.kind == MandateKind::PowerOfAttorney && matches!(m.agent, Party::Person(_)) {
            rules::may_be_party(&person, now)?;
        }
        let m = self
            .change(&m, MandateState::Active, "delegation.accepted", &me, now)
            .await?;
        Ok(self.view(m, now))
    }

    /// Says no: the agent to a pending grant, the principal to a request. Any login will do.
    pub async fn decline(
        &self,
        auth: &Authenticated,
        id: MandateId,
    ) -> Result<MandateView, RegistryError> {
        let r = self.decline_inner(auth, id).await;
        self.refused(Some(auth), "decline", Some(id), r).await
    }

    async fn decline_inner(
        &self,
        auth: &Authenticated,
        id: MandateId,
    ) -> Result<MandateView, RegistryError> {
        let now = self.now();
        rules::any_login(auth)?;
        let (_, me) = self.caller(auth).await?;
        let (m, standing) = self.visible(id, &me, now).await?;
        self.expect_state(&m, &[MandateState::Pending, MandateState::Requested], now)
            .await?;
        let allowed = match m.state {
            MandateState::Pending => standing == Standing::Agent,
            _ => standing == Standing::Principal,
        };
        if !allowed {
            return Err(RegistryError::WrongParty);
        }
        let m = self
            .change(&m, MandateState::Declined, "delegation.declined", &me, now)
            .await?;
        Ok(self.view(m, now))
    }

    /// Either party (or an administrator of an organisation party) ends a mandate that is
    /// requested, pending or active, with immediate effect: the next lookup no longer finds it.
    /// Any login will do.
    pub async fn revoke(
        &self,
        auth: &Authenticated,
        id: MandateId,
    ) -> Result<MandateView, RegistryError> {
        let r = self.revoke_inner(auth, id).await;
        self.refused(Some(auth), "revoke", Some(id), r).await
    }

    async fn revoke_inner(
        &self,
        auth: &Authenticated,
        id: MandateId,
    ) -> Result<MandateView, RegistryError> {
        let now = self.now();
        rules::any_login(auth)?;
        let (_, me) = self.caller(auth).await?;
        let (m, _) = self.visible(id, &me, now).await?;
        self.expect_state(
            &m,
            &[
                MandateState::Requested,
                MandateState::Pending,
                MandateState::Active,
            ],
            now,
        )
        .await?;
        let m = self
            .change(&m, MandateState::Revoked, "delegation.revoked", &me, now)
            .await?;
        Ok(self.view(m, now))
    }

    /// What the caller gave (powers of attorney, requests to them), newest first.
    pub async fn given(
        &self,
        auth: &Authenticated,
        limit: u32,
    ) -> Result<Vec<MandateView>, RegistryError> {
        self.listing(auth, Side::Given, limit).await
    }

    /// What the caller holds or asked for (powers of attorney, business rights), newest first.
    pub async fn held(
        &self,
        auth: &Authenticated,
        limit: u32,
    ) -> Result<Vec<MandateView>, RegistryError> {
        self.listing(auth, Side::Held, limit).await
    }

    async fn listing(
        &self,
        auth: &Authenticated,
        side: Side,
        limit: u32,
    ) -> Result<Vec<MandateView>, RegistryError> {
        let r = async {
            rules::any_login(auth)?;
            let (_, me) = self.caller(auth).await?;
            let now = self.now();
            let records = self
                .deps
                .store
                .mandates_of(PartyKey::Person(&me.key), side, limit)
                .await?;
            Ok(records.into_iter().map(|m| self.view(m, now)).collect())
        }
        .await;
        self.refused(Some(auth), "list", None, r).await
    }

    /// One mandate the caller is concerned by, with its history (oldest first).
    pub async fn history(
        &self,
        auth: &Authenticated,
        id: MandateId,
    ) -> Result<(MandateView, Vec<StateChange>), RegistryError> {
        let r = async {
            rules::any_login(auth)?;
            let (_, me) = self.caller(auth).await?;
            let now = self.now();
            let (m, _) = self.visible(id, &me, now).await?;
            let history = self.deps.store.history(id).await?;
            Ok((self.view(m, now), history))
        }
        .await;
        self.refused(Some(auth), "history", Some(id), r).await
    }
}
