//! Why the registry refused an operation. Each refusal has a stable [`reason`](RegistryError::reason)
//! (audited, and the key of the portal's and the API's message) and says what the person can do
//! next; none names another person's data.

use eid_core::{Loa, MandateState, StoreError};

/// A refused or failed registry operation.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The caller is not a person of the national register (only they can give or hold mandates).
    #[error("only persons in the Danish person register can use the registry")]
    NotInRegister,
    /// The session acts on behalf of someone else: an agent cannot pass on what they hold.
    #[error("a mandate cannot be passed on: log in as yourself")]
    ReDelegation,
    /// The login is too old or too weak for this change: log in again at `required` or higher.
    #[error("log in again (at least {required:?}) to make this change")]
    LoginNotFresh {
        /// The lowest level that will do.
        required: Loa,
    },
    /// The grantor is under 15.
    #[error("you must be 15 or older to give a power of attorney")]
    UnderAge,
    /// The grantor is not legally competent.
    #[error("the person register does not allow you to give a power of attorney")]
    NotLegallyCompetent,
    /// No person in the register has the CPR number given for the other party.
    #[error("no person with this CPR number was found: check the number")]
    PersonUnknown,
    /// The other party may not hold (or give) a power of attorney (under 15, not competent).
    #[error("this person cannot be party to a power of attorney")]
    PartyNotEligible,
    /// The agent named is the grantor.
    #[error("you cannot give a power of attorney to yourself")]
    AgentIsGrantor,
    /// No organisation with this CVR number in the registry.
    #[error("no organisation with this CVR number is registered")]
    OrganisationUnknown,
    /// The two organisations of a business power are the same.
    #[error("an organisation cannot give a business power to itself")]
    SameOrganisation,
    /// The caller holds no current administrator right of the organisation.
    #[error("you are not an administrator of this organisation")]
    NotAdministrator,
    /// The validity period is longer than the configured maximum.
    #[error("a power of attorney can last at most {max_days} days: choose an earlier end date")]
    ValidityTooLong {
        /// The maximum, in days.
        max_days: i64,
    },
    /// The validity period is empty, ends in the past, or starts too far ahead.
    #[error("choose an end date after the start date, and a start date no earlier than today")]
    InvalidValidity,
    /// No scope, too many, or a malformed one.
    #[error("choose between 1 and {max} services or areas")]
    InvalidScopes {
        /// The most allowed.
        max: usize,
    },
    /// Too many privileges, or a malformed one.
    #[error("a right has at most {max} privileges, each a URI")]
    InvalidPrivileges {
        /// The most allowed.
        max: usize,
    },
    /// The draft to confirm is unknown, expired or already used: start again.
    #[error("this confirmation has expired or was already used: start again")]
    DraftUnknown,
    /// The confirmation does not match the draft shown (changed in between): start again.
    #[error("what you confirmed is not what was prepared: start again")]
    DraftMismatch,
    /// No such mandate that the caller is a party of (never tells which).
    #[error("no such power of attorney or right was found")]
    NotFound,
    /// The caller is a party but not the one who may do this (the principal accepting, …).
    #[error("only the other party can do this")]
    WrongParty,
    /// The mandate is not in a state that allows this.
    #[error("this cannot be done now: the mandate is {}", .0.as_str())]
    WrongState(MandateState),
    /// The mandate changed meanwhile: reload and try again.
    #[error("it changed meanwhile: reload the page and try again")]
    Changed,
    /// The store failed (not the caller's fault; not audited as a refusal).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RegistryError {
    /// Stable name of the reason (audit `reason`, message keys, API error codes).
    pub fn reason(&self) -> &'static str {
        match self {
            RegistryError::NotInRegister => "not_in_register",
            RegistryError::ReDelegation => "re_delegation",
            RegistryError::LoginNotFresh { .. } => "login_not_fresh",
            RegistryError::UnderAge => "under_age",
            RegistryError::NotLegallyCompetent => "not_legally_competent",
            RegistryError::PersonUnknown => "person_unknown",
            RegistryError::PartyNotEligible => "party_not_eligible",
            RegistryError::AgentIsGrantor => "agent_is_grantor",
            RegistryError::OrganisationUnknown => "organisation_unknown",
            RegistryError::SameOrganisation => "same_organisation",
            RegistryError::NotAdministrator => "not_administrator",
            RegistryError::ValidityTooLong { .. } => "validity_too_long",
            RegistryError::InvalidValidity => "invalid_validity",
            RegistryError::InvalidScopes { .. } => "invalid_scopes",
            RegistryError::InvalidPrivileges { .. } => "invalid_privileges",
            RegistryError::DraftUnknown => "draft_unknown",
            RegistryError::DraftMismatch => "draft_mismatch",
            RegistryError::NotFound => "not_found",
            RegistryError::WrongParty => "wrong_party",
            RegistryError::WrongState(_) => "wrong_state",
            RegistryError::Changed => "changed",
            RegistryError::Store(_) => "store",
        }
    }

    /// Whether the caller's input or standing caused it (a 4xx), rather than the store (a 5xx).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, RegistryError::Store(_))
    }
}
