//! Mandates: the right of one party to act for another at a relying party (a power of attorney
//! between persons, a business right an organisation gives an employee, a business power between
//! organisations), and the port through which the broker finds them.
//!
//! This is the contract between the broker and the delegation registry: the broker asks
//! [`MandateLookup`] which mandates an authenticated person may use at a service *now*, offers them
//! as a choice, and re-checks the chosen one ([`MandateLookup::mandate`]) when the code is redeemed
//! or the assertion issued.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::identity::{Identity, PersonKey};
use crate::person::Cpr;
use crate::ports::StoreError;

/// The kind of a mandate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MandateKind {
    /// A person lets another person act for them (borgerfuldmagt).
    PowerOfAttorney,
    /// An organisation lets one of its employees use a service for it (erhvervsrettighed).
    BusinessRight,
    /// An organisation lets another organisation (e.g. its accountants) act for it
    /// (erhvervsfuldmagt); used by the agent organisation's employees who hold a right for it.
    BusinessPower,
}

impl MandateKind {
    /// Stable name (stored, audited, and the `mandate_type` of authorization details).
    pub fn as_str(self) -> &'static str {
        match self {
            MandateKind::PowerOfAttorney => "power_of_attorney",
            MandateKind::BusinessRight => "business_right",
            MandateKind::BusinessPower => "business_power",
        }
    }
}

/// Whom a mandate lets its holder act for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Principal {
    /// A person.
    Person {
        /// Their key at the broker (the principal's pairwise identifiers derive from it).
        person: PersonKey,
        /// Their CPR number, when the registry knows it (released only to services allowed CPR).
        cpr: Option<Cpr>,
        /// Their name, as shown on the choice page.
        name: String,
    },
    /// An organisation.
    Organisation {
        /// Its CVR number (eight digits).
        cvr: String,
        /// Its name.
        name: String,
    },
}

impl Principal {
    /// The name shown to the agent.
    pub fn name(&self) -> &str {
        match self {
            Principal::Person { name, .. } | Principal::Organisation { name, .. } => name,
        }
    }
}

/// What a mandate allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Reading only.
    Read,
    /// Acting (applying, signing, changing); includes reading.
    Act,
}

impl Access {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Act => "act",
        }
    }
}

/// A mandate an agent may use now at one relying party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mandate {
    /// Its identifier in the registry (for audit, revocation and the re-check).
    pub id: String,
    /// Power of attorney, business right or business power.
    pub kind: MandateKind,
    /// Whom it lets the agent act for.
    pub principal: Principal,
    /// What it allows.
    pub access: Access,
    /// The mandate's scopes that cover this relying party: its id, or service areas it declares.
    pub scopes: Vec<String>,
    /// Privileges (URIs) the mandate grants at this relying party, for OIO-BPP and
    /// authorization details; may be empty for a power of attorney that grants `access` alone.
    pub privileges: Vec<String>,
    /// When it ends, if it does.
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_until: Option<OffsetDateTime>,
}

/// The relying party a lookup is for: its id and the service areas it declares.
#[derive(Debug, Clone, Copy)]
pub struct ServiceRef<'a> {
    /// The relying party's id (OIDC client id or SAML entity ID).
    pub id: &'a str,
    /// The service areas it declares (`RelyingParty::service_areas`).
    pub areas: &'a [String],
}

/// The back-channel to the mandate registry: which mandates a person holds for a relying party.
#[async_trait]
pub trait MandateLookup: Send + Sync {
    /// The mandates `agent` may use at `service` at `at`: active, begun, not expired, in scope,
    /// the principal not the agent themselves.
    async fn mandates(
        &self,
        agent: &Identity,
        service: ServiceRef<'_>,
        at: OffsetDateTime,
    ) -> Result<Vec<Mandate>, StoreError>;

    /// The re-check of a chosen mandate: the mandate `id` if `agent` may still use it at `service`
    /// at `at`, else `None` (revoked, expired or never theirs).
    async fn mandate(
        &self,
        agent: &Identity,
        id: &str,
        service: ServiceRef<'_>,
        at: OffsetDateTime,
    ) -> Result<Option<Mandate>, StoreError> {
        Ok(self
            .mandates(agent, service, at)
            .await?
            .into_iter()
            .find(|m| m.id == id))
    }
}

/// The lookup of a broker without a mandate registry: nobody acts for anyone.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMandates;

#[async_trait]
impl MandateLookup for NoMandates {
    async fn mandates(
        &self,
        _agent: &Identity,
        _service: ServiceRef<'_>,
        _at: OffsetDateTime,
    ) -> Result<Vec<Mandate>, StoreError> {
        Ok(Vec::new())
    }
}
