//! Shared vocabulary of the eID broker.
//!
//! Everything here is plain data and traits: no HTTP, no storage drivers, no XML. Components and stores
//! depend on this crate; it depends on none of them.

pub mod audit;
pub mod clock;
pub mod lang;
pub mod loa;
pub mod person;
pub mod ports;
pub mod relying_party;

pub use audit::{AuditEvent, AuditOutcome};
pub use clock::{Clock, FixedClock, SystemClock};
pub use lang::Lang;
pub use loa::{Loa, LoaParseError};
pub use person::{Authenticator, AuthenticatorKind, Cpr, Person, PersonStatus};
pub use ports::{
    AuditLog, AuthenticatorRepository, DurableHealth, EphemeralStore, PersonRepository,
    RelyingPartyRepository, StoreError, Taken,
};
pub use relying_party::{RelyingParty, SubjectType};
