//! The delegation registry's model: powers of attorney between persons (borgerfuldmagt), business
//! rights an organisation gives its employees (erhvervsrettigheder) and business powers between
//! organisations (erhvervsfuldmagt), with the port ([`DelegationRepository`]) the stores implement.
//!
//! All three are one [`MandateRecord`]: a principal, an agent, scopes (relying parties or service
//! areas), privileges, an access level, a validity period and a [`MandateState`]. History is never
//! deleted: every change of state is a new [`StateChange`] row with its author and time, and the
//! current state is kept on the record for indexed lookups. Which mandate an agent may use *now* is
//! [`DelegationRepository::usable`], the one indexed query behind
//! [`MandateLookup`](crate::mandate::MandateLookup).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::identity::PersonKey;
use crate::mandate::{Access, Mandate, MandateKind, ServiceRef};
use crate::person::{Cpr, is_hidden};
use crate::ports::StoreError;

/// A CVR number: the eight digits that identify a Danish organisation. Parsed once; the digits
/// are public (not personal data), so `Debug` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cvr(String);

/// A string that is not a CVR number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a CVR number is eight digits, the first not 0")]
pub struct CvrError;

impl Cvr {
    /// Parses eight ASCII digits, the first not `0` (spaces around are ignored; a `DK` prefix, as in
    /// an EU VAT number, is accepted).
    pub fn parse(input: &str) -> Result<Cvr, CvrError> {
        let s = input.trim();
        let s = s
            .strip_prefix("DK")
            .or_else(|| s.strip_prefix("dk"))
            .unwrap_or(s);
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0') {
            return Err(CvrError);
        }
        Ok(Cvr(s.to_owned()))
    }

    /// The eight digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Cvr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Cvr {
    type Error = CvrError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Cvr::parse(&value)
    }
}

impl From<Cvr> for String {
    fn from(value: Cvr) -> Self {
        value.0
    }
}

/// The identifier of a mandate in the registry (also [`Mandate::id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MandateId(pub Uuid);

impl MandateId {
    /// A fresh, time-ordered id.
    pub fn new() -> MandateId {
        MandateId(Uuid::now_v7())
    }

    /// Parses the hyphenated form; `None` for anything else (ids come from forms and URLs).
    pub fn parse(input: &str) -> Option<MandateId> {
        (input.len() == 36)
            .then(|| Uuid::parse_str(input).ok())
            .flatten()
            .map(MandateId)
    }
}

impl Default for MandateId {
    fn default() -> Self {
        MandateId::new()
    }
}

impl fmt::Display for MandateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// What a mandate covers: one relying party (by its id), or a named service area that relying
/// parties declare (`RelyingParty::service_areas`), such as `housing-benefit`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Scope {
    /// One relying party: its OIDC client id or SAML entity ID.
    Service(String),
    /// A service area.
    Area(String),
}

/// A scope that cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a scope names a service or area in 1 to 200 printable characters")]
pub struct ScopeError;

impl Scope {
    /// The longest name, in bytes.
    pub const MAX_LEN: usize = 200;

    /// A relying-party scope, checked.
    pub fn service(id: &str) -> Result<Scope, ScopeError> {
        checked_name(id).map(Scope::Service)
    }

    /// A service-area scope, checked.
    pub fn area(name: &str) -> Result<Scope, ScopeError> {
        checked_name(name).map(Scope::Area)
    }

    /// The name (relying-party id or area), as [`Mandate::scopes`] carries it.
    pub fn name(&self) -> &str {
        match self {
            Scope::Service(n) | Scope::Area(n) => n,
        }
    }

    /// The stored key, `rp:<id>` or `area:<name>` (what the lookup index compares).
    pub fn key(&self) -> String {
        match self {
            Scope::Service(n) => format!("rp:{n}"),
            Scope::Area(n) => format!("area:{n}"),
        }
    }

    /// Parses a stored key.
    pub fn from_key(key: &str) -> Result<Scope, ScopeError> {
        if let Some(n) = key.strip_prefix("rp:") {
            Scope::service(n)
        } else if let Some(n) = key.strip_prefix("area:") {
            Scope::area(n)
        } else {
            Err(ScopeError)
        }
    }

    /// Whether this scope covers `service`.
    pub fn covers(&self, service: ServiceRef<'_>) -> bool {
        match self {
            Scope::Service(id) => id == service.id,
            Scope::Area(a) => service.areas.iter().any(|s| s == a),
        }
    }

    /// The stored keys of every scope that would cover `service` (its id and each area).
    pub fn keys_covering(service: ServiceRef<'_>) -> Vec<String> {
        let mut keys = vec![format!("rp:{}", service.id)];
        keys.extend(service.areas.iter().map(|a| format!("area:{a}")));
        keys.sort();
        keys.dedup();
        keys
    }
}

fn checked_name(name: &str) -> Result<String, ScopeError> {
    if name.is_empty()
        || name.len() > Scope::MAX_LEN
        || name.trim() != name
        || name.chars().any(is_hidden)
    {
        return Err(ScopeError);
    }
    Ok(name.to_owned())
}

/// A privilege: a URI defined by the service's owner (OIO-BPP `Privilege`), such as
/// `urn:dk:demo:privilege:apply`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Privilege(String);

/// A string that is not a privilege URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a privilege is an absolute URI (scheme:rest) of at most 200 printable ASCII characters")]
pub struct PrivilegeError;

impl Privilege {
    /// The longest privilege, in bytes.
    pub const MAX_LEN: usize = 200;

    /// Parses an absolute URI: a scheme (a letter, then letters, digits, `+-.`), `:`, and a
    /// non-empty rest, all printable ASCII without spaces, quotes or angle brackets (it goes into
    /// XML and JSON).
    pub fn parse(input: &str) -> Result<Privilege, PrivilegeError> {
        let (scheme, rest) = input.split_once(':').ok_or(PrivilegeError)?;
        let scheme_ok = scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        let rest_ok = !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'<' | b'>' | b'\\'));
        if !scheme_ok || !rest_ok || input.len() > Self::MAX_LEN {
            return Err(PrivilegeError);
        }
        Ok(Privilege(input.to_owned()))
    }

    /// The URI.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Privilege {
    type Error = PrivilegeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Privilege::parse(&value)
    }
}

impl From<Privilege> for String {
    fn from(value: Privilege) -> Self {
        value.0
    }
}

/// Where a mandate stands. `Expired` is also derived: a mandate past its `valid_until` counts as
/// expired whatever its stored state ([`MandateState::at`]); the store writes it lazily.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MandateState {
    /// The agent asked for it; waits for the principal's approval (signed like a grant).
    Requested,
    /// The principal granted it; waits for the agent's acceptance.
    Pending,
    /// In force (from `valid_from`).
    Active,
    /// The other party said no (agent to a grant, principal to a request). Final.
    Declined,
    /// Withdrawn by either party. Final.
    Revoked,
    /// Past its `valid_until`. Final.
    Expired,
}

impl MandateState {
    /// Every state.
    pub const ALL: [MandateState; 6] = [
        MandateState::Requested,
        MandateState::Pending,
        MandateState::Active,
        MandateState::Declined,
        MandateState::Revoked,
        MandateState::Expired,
    ];

    /// Stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MandateState::Requested => "requested",
            MandateState::Pending => "pending",
            MandateState::Active => "active",
            MandateState::Declined => "declined",
            MandateState::Revoked => "revoked",
            MandateState::Expired => "expired",
        }
    }

    /// Parses the stored name.
    pub fn from_stored(s: &str) -> Option<MandateState> {
        MandateState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether no further change is possible.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            MandateState::Declined | MandateState::Revoked | MandateState::Expired
        )
    }

    /// The state at `now` of a mandate stored in `self` that ends at `valid_until`: a mandate
    /// that is not final counts as expired from `valid_until` on.
    pub fn at(self, valid_until: Option<OffsetDateTime>, now: OffsetDateTime) -> MandateState {
        match valid_until {
            Some(until) if now >= until && !self.is_final() => MandateState::Expired,
            _ => self,
        }
    }
}

/// A person as the registry names them: their key at the broker (upstream, subject), their id in
/// the person register (audit and notification key), and, for display and SAML, CPR number and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredPerson {
    /// The register's id (the national authenticator's `sub`).
    pub id: Uuid,
    /// The broker's key of this person: (national upstream, `id`).
    pub key: PersonKey,
    /// CPR number.
    pub cpr: Cpr,
    /// Full name.
    pub name: String,
}

/// An organisation as a party of a mandate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganisationRef {
    /// Its CVR number.
    pub cvr: Cvr,
    /// Its name.
    pub name: String,
}

/// An organisation in the registry. Its administrators are the persons holding a current
/// administrator right of it ([`MandateRecord::administrator`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// Its CVR number.
    pub cvr: Cvr,
    /// Its name, at most [`Organisation::NAME_MAX`] characters.
    pub name: String,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Organisation {
    /// The longest name, in characters.
    pub const NAME_MAX: usize = 160;

    /// As a party.
    pub fn as_ref(&self) -> OrganisationRef {
        OrganisationRef {
            cvr: self.cvr.clone(),
            name: self.name.clone(),
        }
    }
}

/// One side of a mandate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Party {
    /// A person.
    Person(RegisteredPerson),
    /// An organisation.
    Organisation(OrganisationRef),
}

impl Party {
    /// The name shown.
    pub fn name(&self) -> &str {
        match self {
            Party::Person(p) => &p.name,
            Party::Organisation(o) => &o.name,
        }
    }

    /// The person, if it is one.
    pub fn person(&self) -> Option<&RegisteredPerson> {
        match self {
            Party::Person(p) => Some(p),
            Party::Organisation(_) => None,
        }
    }

    /// The organisation's CVR number, if it is one.
    pub fn cvr(&self) -> Option<&Cvr> {
        match self {
            Party::Person(_) => None,
            Party::Organisation(o) => Some(&o.cvr),
        }
    }
}

/// Whether `(kind, principal, agent)` is a shape the registry stores: a power of attorney from a
/// person to a person or organisation, a business right from an organisation to a person, a
/// business power from an organisation to another organisation.
pub fn valid_shape(kind: MandateKind, principal: &Party, agent: &Party) -> bool {
    match (kind, principal, agent) {
        (MandateKind::PowerOfAttorney, Party::Person(p), Party::Person(a)) => p.key != a.key,
        (MandateKind::PowerOfAttorney, Party::Person(_), Party::Organisation(_)) => true,
        (MandateKind::BusinessRight, Party::Organisation(_), Party::Person(_)) => true,
        (MandateKind::BusinessPower, Party::Organisation(p), Party::Organisation(a)) => {
            p.cvr != a.cvr
        }
        _ => false,
    }
}

/// A mandate as the registry stores it, in any state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MandateRecord {
    /// Identifier.
    pub id: MandateId,
    /// Power of attorney, business right or business power.
    pub kind: MandateKind,
    /// Who lets someone act for them.
    pub principal: Party,
    /// Who may act.
    pub agent: Party,
    /// What it covers (at least one, except an administrator right, which may have none).
    pub scopes: Vec<Scope>,
    /// Privileges it grants (business rights); empty for most powers of attorney.
    pub privileges: Vec<Privilege>,
    /// Read or act.
    pub access: Access,
    /// A business right that makes its holder an administrator of the principal organisation.
    pub administrator: bool,
    /// From when it may be used.
    #[serde(with = "time::serde::rfc3339")]
    pub valid_from: OffsetDateTime,
    /// Until when (exclusive); `None` until revoked (business rights and powers only).
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_until: Option<OffsetDateTime>,
    /// The stored state (see [`MandateRecord::state_at`]).
    pub state: MandateState,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Number of state changes so far (1 at creation); the compare-and-set token of
    /// [`DelegationRepository::change_state`].
    pub revision: i64,
}

impl MandateRecord {
    /// The state at `now` (expiry derived).
    pub fn state_at(&self, now: OffsetDateTime) -> MandateState {
        self.state.at(self.valid_until, now)
    }

    /// Whether the agent may use it at `now`: active, begun, not ended.
    pub fn usable_at(&self, now: OffsetDateTime) -> bool {
        self.state_at(now) == MandateState::Active && self.valid_from <= now
    }
}

/// Who made a change: a person (by key and name, as they were at the time), or the registry itself
/// (expiry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// Their key.
    pub key: PersonKey,
    /// Their name then.
    pub name: String,
}

/// One row of a mandate's history: the state it entered, who moved it there, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    /// 1 for the creation, then one more per change.
    pub revision: i64,
    /// The state entered.
    pub state: MandateState,
    /// Who; `None` for the registry itself.
    pub by: Option<Author>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A message to a person about a change, written to the notification outbox in the same
/// transaction as the change (the store's `notifications` table).
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// To whom (register id).
    pub person: Uuid,
    /// What happened (`delegation.granted`, …), printable ASCII.
    pub kind: String,
    /// What the message says beyond its kind (mandate id, the other party's name). Never secrets.
    pub details: serde_json::Value,
}

/// The mandates a party gives or holds, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartyKey<'a> {
    /// A person, by key.
    Person(&'a PersonKey),
    /// An organisation.
    Organisation(&'a Cvr),
}

/// Which side of a mandate a listing asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Mandates the party gave (is the principal of).
    Given,
    /// Mandates the party holds (is the agent of).
    Held,
}

/// The most service areas a lookup compares (a relying party declares a handful).
pub const MAX_LOOKUP_AREAS: usize = 32;

/// The registry's storage. Contract:
///
/// - [`insert_mandate`](Self::insert_mandate) stores a new record with its first [`StateChange`]
///   (revision 1) and the notices, all in one transaction; an existing id is `Conflict`.
/// - [`change_state`](Self::change_state) moves a record to a new state only if its revision is
///   still `revision` (compare-and-set), appending the history row and the notices in the same
///   transaction; it answers `false` (and changes nothing) when the record changed meanwhile or
///   does not exist. History rows are never updated or deleted.
/// - [`usable`](Self::usable) is one indexed query: the mandates `agent` may use at `service` at
///   `at` (state active, `valid_from <= at < valid_until`), directly (powers of attorney and
///   business rights held by the person) or through their employer (business powers, and powers of
///   attorney given to the organisation, held by an organisation of which the person holds a
///   current right covering the service). Never one whose principal is the agent.
#[async_trait]
pub trait DelegationRepository: Send + Sync {
    /// Inserts or renames an organisation (by CVR number).
    async fn upsert_organisation(&self, org: &Organisation) -> Result<(), StoreError>;
    /// The organisation with this CVR number.
    async fn organisation(&self, cvr: &Cvr) -> Result<Option<Organisation>, StoreError>;
    /// Stores a new mandate (see the trait's contract).
    async fn insert_mandate(
        &self,
        mandate: &MandateRecord,
        by: Option<&Author>,
        notices: &[Notice],
    ) -> Result<(), StoreError>;
    /// Compare-and-set change of state (see the trait's contract).
    async fn change_state(
        &self,
        id: MandateId,
        revision: i64,
        change: &StateChange,
        notices: &[Notice],
    ) -> Result<bool, StoreError>;
    /// One mandate, in any state.
    async fn mandate_record(&self, id: MandateId) -> Result<Option<MandateRecord>, StoreError>;
    /// Its history, oldest first.
    async fn history(&self, id: MandateId) -> Result<Vec<StateChange>, StoreError>;
    /// The mandates `party` gave or holds, newest first, at most `limit`, in any state.
    async fn mandates_of(
        &self,
        party: PartyKey<'_>,
        side: Side,
        limit: u32,
    ) -> Result<Vec<MandateRecord>, StoreError>;
    /// Whether `person` holds an administrator right of `cvr` usable at `at`.
    async fn is_administrator(
        &self,
        person: &PersonKey,
        cvr: &Cvr,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// The organisations of which `person` holds a right usable at `at` (any scope, or
    /// administrator), by CVR number.
    async fn employers(
        &self,
        person: &PersonKey,
        at: OffsetDateTime,
    ) -> Result<Vec<OrganisationRef>, StoreError>;
    /// The mandates usable now (see the trait's contract). At most [`MAX_LOOKUP_AREAS`] areas of
    /// `service` are compared; a service declaring more is a `Backend` error.
    async fn usable(
        &self,
        agent: &PersonKey,
        service: ServiceRef<'_>,
        at: OffsetDateTime,
    ) -> Result<Vec<Mandate>, StoreError>;
    /// Ids and revisions of at most `limit` mandates that are not final but whose `valid_until`
    /// is at or before `at` (to write their expiry).
    async fn due_to_expire(
        &self,
        at: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<(MandateId, i64)>, StoreError>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    #[test]
    fn cvr_is_eight_digits_not_starting_with_zero() {
        assert_eq!(Cvr::parse("12345678").unwrap().as_str(), "12345678");
        assert_eq!(Cvr::parse(" DK12345678 ").unwrap().as_str(), "12345678");
        for bad in [
            "",
            "1234567",
            "123456789",
            "02345678",
            "1234567a",
            "1234 5678",
            "DK",
        ] {
            assert_eq!(Cvr::parse(bad), Err(CvrError), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn cvr_parse_never_panics_and_accepts_only_eight_digits(s in "\\PC{0,20}") {
            if let Ok(cvr) = Cvr::parse(&s) {
                prop_assert_eq!(cvr.as_str().len(), 8);
                prop_assert!(cvr.as_str().bytes().all(|b| b.is_ascii_digit()));
                prop_assert_eq!(Cvr::parse(cvr.as_str()), Ok(cvr.clone()));
            }
        }

        #[test]
        fn every_eight_digit_number_from_10000000_is_a_cvr(n in 10_000_000u32..=99_999_999) {
            let s = n.to_string();
            prop_assert_eq!(Cvr::parse(&s).map(String::from), Ok(s));
        }

        #[test]
        fn scope_keys_round_trip_and_parse_never_panics(s in "\\PC{0,40}") {
            if let Ok(scope) = Scope::from_key(&s) {
                prop_assert_eq!(scope.key(), s.clone());
            }
            if let Ok(scope) = Scope::area(&s) {
                prop_assert_eq!(Scope::from_key(&scope.key()), Ok(scope));
            }
        }

        #[test]
        fn privilege_parse_never_panics_and_keeps_xml_safe(s in "\\PC{0,60}") {
            if let Ok(p) = Privilege::parse(&s) {
                prop_assert!(!p.as_str().contains(['<', '>', '"', ' ']));
                prop_assert!(p.as_str().contains(':'));
            }
        }
    }

    #[test]
    fn scopes_cover_their_service_or_area() {
        let areas = vec!["housing".to_owned()];
        let svc = ServiceRef {
            id: "demo-rp",
            areas: &areas,
        };
        assert!(Scope::service("demo-rp").unwrap().covers(svc));
        assert!(Scope::area("housing").unwrap().covers(svc));
        assert!(!Scope::service("other-rp").unwrap().covers(svc));
        assert!(!Scope::area("tax").unwrap().covers(svc));
        assert_eq!(
            Scope::keys_covering(svc),
            vec!["area:housing".to_owned(), "rp:demo-rp".to_owned()]
        );
        for bad in ["", " x", "a\u{202e}b", &"x".repeat(201)] {
            assert_eq!(Scope::service(bad), Err(ScopeError));
        }
        assert_eq!(Scope::from_key("other:x"), Err(ScopeError));
    }

    #[test]
    fn privileges_are_absolute_uris() {
        assert!(Privilege::parse("urn:dk:demo:privilege:apply").is_ok());
        assert!(Privilege::parse("https://demo.example/p/read").is_ok());
        for bad in ["", "apply", ":x", "urn:", "urn:a b", "urn:<x>", "1urn:x"] {
            assert_eq!(Privilege::parse(bad), Err(PrivilegeError), "{bad}");
        }
    }

    #[test]
    fn a_mandate_past_its_end_counts_as_expired_unless_final() {
        let until = Some(datetime!(2026-06-01 00:00 UTC));
        let before = datetime!(2026-05-31 23:59 UTC);
        let after = datetime!(2026-06-01 00:00 UTC);
        assert_eq!(MandateState::Active.at(until, before), MandateState::Active);
        assert_eq!(MandateState::Active.at(until, after), MandateState::Expired);
        assert_eq!(
            MandateState::Pending.at(until, after),
            MandateState::Expired
        );
        assert_eq!(
            MandateState::Revoked.at(until, after),
            MandateState::Revoked
        );
        assert_eq!(MandateState::Active.at(None, after), MandateState::Active);
        for st in MandateState::ALL {
            assert_eq!(MandateState::from_stored(st.as_str()), Some(st));
        }
    }

    #[test]
    fn only_the_three_shapes_are_valid() {
        let person = |n: &str| {
            Party::Person(RegisteredPerson {
                id: Uuid::nil(),
                key: PersonKey {
                    upstream: "idp".into(),
                    subject: n.into(),
                },
                cpr: Cpr::parse("0101901234").unwrap(),
                name: n.into(),
            })
        };
        let org = |c: &str| {
            Party::Organisation(OrganisationRef {
                cvr: Cvr::parse(c).unwrap(),
                name: c.into(),
            })
        };
        use MandateKind::*;
        assert!(valid_shape(PowerOfAttorney, &person("a"), &person("b")));
        assert!(!valid_shape(PowerOfAttorney, &person("a"), &person("a")));
        assert!(valid_shape(PowerOfAttorney, &person("a"), &org("12345678")));
        assert!(!valid_shape(
            PowerOfAttorney,
            &org("12345678"),
            &person("a")
        ));
        assert!(valid_shape(BusinessRight, &org("12345678"), &person("a")));
        assert!(!valid_shape(BusinessRight, &person("a"), &person("b")));
        assert!(valid_shape(
            BusinessPower,
            &org("12345678"),
            &org("87654321")
        ));
        assert!(!valid_shape(
            BusinessPower,
            &org("12345678"),
            &org("12345678")
        ));
    }
}
