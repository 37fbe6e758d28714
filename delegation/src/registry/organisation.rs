//! Organisations: their first administrator (from the register, not the portal), business rights
//! their administrators assign to employees, and business powers between organisations. Only a
//! person holding a current administrator right of an organisation manages its rights and
//! powers, and an organisation can give only its own powers (never pass on one it holds).

use eid_core::{
    Access, Cpr, Cvr, MandateId, MandateKind, MandateRecord, MandateState, Organisation,
    OrganisationRef, Party, PartyKey, Privilege, Scope, Side,
};
use time::OffsetDateTime;

use super::error::RegistryError;
use super::rules;
use super::{Authenticated, MandateView, Registry};

/// A business right an administrator assigns to an employee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RightInput {
    /// The organisation (the caller must administer it).
    pub organisation: Cvr,
    /// The employee, by CPR number.
    pub employee: Cpr,
    /// Services or areas it covers (none only for an administrator right).
    pub scopes: Vec<Scope>,
    /// Privileges at those services (OIO-BPP), at most [`rules::MAX_PRIVILEGES`].
    pub privileges: Vec<Privilege>,
    /// Read or act.
    pub access: Access,
    /// Whether it makes the employee an administrator of the organisation.
    pub administrator: bool,
    /// Until when (`None`: until revoked).
    pub valid_until: Option<OffsetDateTime>,
}

/// A business power an administrator of `principal` gives another organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerInput {
    /// The organisation that gives it (the caller must administer it).
    pub principal: Cvr,
    /// The organisation that is to hold it (e.g. its accountants).
    pub agent: Cvr,
    /// Services or areas it covers.
    pub scopes: Vec<Scope>,
    /// Read or act.
    pub access: Access,
    /// Until when (`None`: until revoked).
    pub valid_until: Option<OffsetDateTime>,
}

impl Registry {
    /// Registers an organisation with its first administrator, a person of the register named
    /// by CPR number. For operators and the demo data only (the portal cannot make anyone an
    /// administrator of an organisation they do not administer). Idempotent: an organisation
    /// whose administrator already holds a current administrator right gets no second one
    /// (`None`).
    pub async fn register_organisation(
        &self,
        org: &Organisation,
        first_admin: &Cpr,
    ) -> Result<Option<MandateRecord>, RegistryError> {
        let now = self.now();
        let (_, admin) = self.person_by_cpr(first_admin).await?;
        self.deps.store.upsert_organisation(org).await?;
        if self
            .deps
            .store
            .is_administrator(&admin.key, &org.cvr, now)
            .await?
        {
            return Ok(None);
        }
        let m = MandateRecord {
            id: MandateId::new(),
            kind: MandateKind::BusinessRight,
            principal: Party::Organisation(org.as_ref()),
            agent: Party::Person(admin),
            scopes: Vec::new(),
            privileges: Vec::new(),
            access: Access::Act,
            administrator: true,
            valid_from: now,
            valid_until: None,
            state: MandateState::Active,
            created_at: now,
            revision: 1,
        };
        let (events, notices) = self.record_change("delegation.right_assigned", &m, None, now);
        self.deps.store.insert_mandate(&m, None, &notices).await?;
        self.audit(&events).await?;
        Ok(Some(m))
    }

    /// Fails unless the caller holds a current administrator right of `cvr`.
    async fn must_administer(
        &self,
        auth: &Authenticated,
        cvr: &Cvr,
        now: OffsetDateTime,
    ) -> Result<(), RegistryError> {
        if self
            .deps
            .store
            .is_administrator(&auth.person, cvr, now)
            .await?
        {
            Ok(())
        } else {
            Err(RegistryError::NotAdministrator)
        }
    }

    /// An administrator assigns a business right (or an administrator right) to an employee; it
    /// is active at once. Needs a fresh login at Substantial.
    pub async fn assign_right(
        &self,
        auth: &Authenticated,
        input: RightInput,
    ) -> Result<MandateView, RegistryError> {
        let r = self.assign_right_inner(auth, input).await;
        self.refused(Some(auth), "assign_right", None, r).await
    }

    async fn assign_right_inner(
        &self,
        auth: &Authenticated,
        input: RightInput,
    ) -> Result<MandateView, RegistryError> {
        let now = self.now();
        rules::fresh_login(auth, &self.settings, now)?;
        let (_, me) = self.caller(auth).await?;
        self.must_administer(auth, &input.organisation, now).await?;
        let org = self
            .deps
            .store
            .organisation(&input.organisation)
            .await?
            .ok_or(RegistryError::OrganisationUnknown)?;
        let scopes = rules::scopes(input.scopes, input.administrator)?;
        let privileges = rules::privileges(input.privileges)?;
        rules::open_validity(now, input.valid_until)?;
        let (_, employee) = self.person_by_cpr(&input.employee).await?;
        let m = MandateRecord {
            id: MandateId::new(),
            kind: MandateKind::BusinessRight,
            principal: Party::Organisation(org.as_ref()),
            agent: Party::Person(employee),
            scopes,
            privileges,
            access: input.access,
            administrator: input.administrator,
            valid_from: now,
            valid_until: input.valid_until,
            state: MandateState::Active,
            created_at: now,
            revision: 1,
        };
        self.create(&m, "delegation.right_assigned", &me).await?;
        Ok(MandateView {
            state: m.state_at(now),
            record: m,
        })
    }

    /// An administrator of `principal` gives another organisation a business power; it waits
    /// for acceptance by an administrator of the agent organisation when its scopes need it.
    /// Needs a fresh login at Substantial. An organisation cannot pass on a power it holds: a
    /// caller who administers only a holder of `principal`'s power is refused as re-delegation.
    pub async fn grant_business_power(
        &self,
        auth: &Authenticated,
        input: PowerInput,
    ) -> Result<MandateView, RegistryError> {
        let r = self.grant_business_power_inner(auth, input).await;
        self.refused(Some(auth), "grant_business_power", None, r)
            .await
    }

    async fn grant_business_power_inner(
        &self,
        auth: &Authenticated,
        input: PowerInput,
    ) -> Result<MandateView, RegistryError> {
        let now = self.now();
        rules::fresh_login(auth, &self.settings, now)?;
        let (_, me) = self.caller(auth).await?;
        if let Err(e) = self.must_administer(auth, &input.principal, now).await {
            if self.holds_power_of(auth, &input.principal, now).await? {
                return Err(RegistryError::ReDelegation);
            }
            return Err(e);
        }
        if input.principal == input.agent {
            return Err(RegistryError::SameOrganisation);
        }
        let principal = self
            .deps
            .store
            .organisation(&input.principal)
            .await?
            .ok_or(RegistryError::OrganisationUnknown)?;
        let agent = self
            .deps
            .store
            .organisation(&input.agent)
            .await?
            .ok_or(RegistryError::OrganisationUnknown)?;
        let scopes = rules::scopes(input.scopes, false)?;
        rules::open_validity(now, input.valid_until)?;
        let m = MandateRecord {
            id: MandateId::new(),
            kind: MandateKind::BusinessPower,
            principal: Party::Organisation(principal.as_ref()),
            agent: Party::Organisation(agent.as_ref()),
            state: if rules::needs_acceptance(&self.settings, &scopes) {
                MandateState::Pending
            } else {
                MandateState::Active
            },
            scopes,
            privileges: Vec::new(),
            access: input.access,
            administrator: false,
            valid_from: now,
            valid_until: input.valid_until,
            created_at: now,
            revision: 1,
        };
        self.create(&m, "delegation.power_granted", &me).await?;
        Ok(MandateView {
            state: m.state_at(now),
            record: m,
        })
    }

    /// Whether an organisation the caller administers holds a power usable now from `principal`.
    async fn holds_power_of(
        &self,
        auth: &Authenticated,
        principal: &Cvr,
        now: OffsetDateTime,
    ) -> Result<bool, RegistryError> {
        for org in self.administered_at(auth, now).await? {
            let held = self
                .deps
                .store
                .mandates_of(PartyKey::Organisation(&org.cvr), Side::Held, 1000)
                .await?;
            if held
                .iter()
                .any(|m| m.principal.cvr() == Some(principal) && m.usable_at(now))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn administered_at(
        &self,
        auth: &Authenticated,
        now: OffsetDateTime,
    ) -> Result<Vec<OrganisationRef>, RegistryError> {
        let mut out = Vec::new();
        for org in self.deps.store.employers(&auth.person, now).await? {
            if self
                .deps
                .store
                .is_administrator(&auth.person, &org.cvr, now)
                .await?
            {
                out.push(org);
            }
        }
        Ok(out)
    }

    /// The organisations the caller administers now.
    pub async fn administered(
        &self,
        auth: &Authenticated,
    ) -> Result<Vec<OrganisationRef>, RegistryError> {
        let r = async {
            rules::any_login(auth)?;
            self.caller(auth).await?;
            self.administered_at(auth, self.now()).await
        }
        .await;
        self.refused(Some(auth), "administered", None, r).await
    }

    /// The rights and powers an organisation gave (`Side::Given`: its employees' rights, its
    /// business powers) or holds (`Side::Held`), newest first; for its administrators only.
    pub async fn organisation_mandates(
        &self,
        auth: &Authenticated,
        cvr: &Cvr,
        side: Side,
        limit: u32,
    ) -> Result<Vec<MandateView>, RegistryError> {
        let r = async {
            rules::any_login(auth)?;
            self.caller(auth).await?;
            let now = self.now();
            self.must_administer(auth, cvr, now).await?;
            let records = self
                .deps
                .store
                .mandates_of(PartyKey::Organisation(cvr), side, limit)
                .await?;
            Ok(records
                .into_iter()
                .map(|m| MandateView {
                    state: m.state_at(now),
                    record: m,
                })
                .collect())
        }
        .await;
        self.refused(Some(auth), "organisation_mandates", None, r)
            .await
    }
}
