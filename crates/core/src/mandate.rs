//! Mandates: the right of one party to act for another at a relying party (a power of attorney
//! between persons, a business right an organisation gives an employee, a business power between
//! organisations), and the port through which the broker finds them.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::identity::PersonKey;
use crate::ports::StoreError;

/// Whom a mandate lets its holder act for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Principal {
    /// A person.
    Person {
        /// Their key at the broker.
        person: PersonKey,
        /// Their name, as shown on the choice page.
        name: String,
    },
    /// An organisation.
    Organisation {
        /// Its CVR number.
        cvr: String,
        /// Its name.
        name: String,
    },
}

/// What a mandate allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Reading only.
    Read,
    /// Acting (applying, signing, changing).
    Act,
}

/// A current mandate of an agent at one relying party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mandate {
    /// Its identifier in the registry (for audit and revocation).
    pub id: String,
    /// Whom it lets the agent act for.
    pub principal: Principal,
    /// What it allows.
    pub access: Access,
    /// When it ends, if it does.
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_until: Option<OffsetDateTime>,
}

/// The back-channel to the mandate registry: which mandates a person holds for a relying party.
#[async_trait]
pub trait MandateLookup: Send + Sync {
    /// The mandates `agent` may use at relying party `rp` at `at`: active, not expired, in scope.
    async fn mandates(
        &self,
        agent: &PersonKey,
        rp: &str,
        at: OffsetDateTime,
    ) -> Result<Vec<Mandate>, StoreError>;
}

/// The lookup of a broker without a mandate registry: nobody acts for anyone.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMandates;

#[async_trait]
impl MandateLookup for NoMandates {
    async fn mandates(
        &self,
        _agent: &PersonKey,
        _rp: &str,
        _at: OffsetDateTime,
    ) -> Result<Vec<Mandate>, StoreError> {
        Ok(Vec::new())
    }
}
