//! Shared vocabulary of the eID broker.
//!
//! Everything here is plain data and traits: no HTTP, no storage drivers, no XML. Components and stores
//! depend on this crate; it depends on none of them.

pub mod audit;
pub mod clock;
pub mod delegation;
pub mod eidas;
pub mod identity;
pub mod lang;
pub mod loa;
pub mod mandate;
pub mod my_log;
pub mod person;
pub mod ports;
pub mod protocol_message;
pub mod relying_party;
pub mod saml_registration;

pub use audit::{AuditEvent, AuditOutcome};
pub use clock::{Clock, FixedClock, SystemClock};
pub use delegation::{
    Author, Cvr, CvrError, DelegationRepository, MandateId, MandateRecord, MandateState, Notice,
    Organisation, OrganisationRef, Party, PartyKey, Privilege, PrivilegeError, RegisteredPerson,
    Scope, ScopeError, Side, StateChange,
};
pub use eidas::{EidasIdentity, EidasValueError, LegalPerson, PersonIdentifier};
pub use identity::{Identity, PersonKey};
pub use lang::Lang;
pub use loa::{Loa, LoaParseError};
pub use mandate::{Access, Mandate, MandateKind, MandateLookup, NoMandates, Principal, ServiceRef};
pub use person::{Authenticator, AuthenticatorKind, Cpr, LabelError, Person, PersonStatus};
pub use ports::SamlServiceProviderRepository;
pub use ports::{
    AuditLog, AuthenticatorRepository, DurableHealth, EphemeralStore, PersonRepository,
    ProtocolMessageLog, RelyingPartyRepository, StoreError, Taken,
};
pub use protocol_message::{MessageQuery, ProtocolMessage};
pub use relying_party::{
    Attribute, ClientAuthMethod, GrantType, InvalidRegistration, OidcClient, Protocol,
    RelyingParty, RpRegistration, SigningAlg, SubjectType,
};
pub use saml_registration::{MetadataUrl, SamlSpRegistration, StoredSamlSp};
