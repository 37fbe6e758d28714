//! Storage ports: the traits the components use and the stores implement.
//!
//! Ephemeral state (sessions, codes, challenges, replay caches, rate-limit counters) goes through
//! [`EphemeralStore`]; durable data goes through repositories such as [`AuditLog`].

use async_trait::async_trait;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::protocol_message::{MessageQuery, ProtocolMessage};

/// A storage failure. Callers treat every variant as "temporarily unavailable" unless stated.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or did not answer in time.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend answered with an error.
    #[error("store error: {0}")]
    Backend(String),
    /// A stored value could not be decoded.
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    /// A uniqueness constraint was violated.
    #[error("already exists: {0}")]
    Conflict(String),
}

/// The outcome of [`EphemeralStore::take_once`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// Taken now: the value.
    First(Vec<u8>),
    /// Taken before: the value as it was (from the tombstone).
    Again(Vec<u8>),
    /// Never there, or expired.
    Missing,
}

/// Key-value state with a time to live. Every value expires; nothing here survives a restart of the
/// backend by design. Implementations must make [`take`](EphemeralStore::take) atomic: of two
/// concurrent takes of one key, at most one gets the value (single-use codes rely on it).
#[async_trait]
pub trait EphemeralStore: Send + Sync + std::fmt::Debug {
    /// Stores `value` under `key` for `ttl`, replacing any earlier value.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError>;
    /// Stores `value` only if `key` holds nothing; returns whether it was stored (replay caches).
    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    /// Reads the value under `key`, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Reads and removes the value under `key` in one atomic step.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Removes `key`; returns whether it held a value.
    async fn delete(&self, key: &str) -> Result<bool, StoreError>;
    /// Takes the value under `key` once and leaves `tombstone` for `memory`, so that a later
    /// presentation is recognised (single-use codes whose reuse revokes what they granted). The
    /// tombstone holds `marker`, or the taken value itself when `marker` is `None`; a small marker
    /// keeps a store under sustained load from holding every used value for `memory`. Of two
    /// concurrent calls at most one gets [`Taken::First`]. The default is a `take` then a `put`;
    /// a backend with round trips should do both in one.
    async fn take_once(
        &self,
        key: &str,
        tombstone: &str,
        marker: Option<&[u8]>,
        memory: Duration,
    ) -> Result<Taken, StoreError> {
        match self.take(key).await? {
            Some(value) => {
                self.put(tombstone, marker.unwrap_or(&value), memory)
                    .await?;
                Ok(Taken::First(value))
            }
            None => Ok(self
                .get(tombstone)
                .await?
                .map_or(Taken::Missing, Taken::Again)),
        }
    }
    /// Adds one to the counter under `key` and returns the new count. The first increment starts the
    /// counter's `ttl`; later increments do not extend it (a fixed window).
    async fn incr(&self, key: &str, ttl: Duration) -> Result<u64, StoreError>;
    /// Checks that the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Liveness of a durable backend.
#[async_trait]
pub trait DurableHealth: Send + Sync {
    /// Checks that the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The append-only audit log.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends events in one transaction; returns once they are durable.
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError>;
    /// Appends events and the protocol messages recorded with them in one transaction; returns
    /// once both are durable. Re-appending a message whose id is stored is a no-op, as for events.
    /// A log that keeps no protocol messages refuses a batch that has some.
    async fn append_with_messages(
        &self,
        events: &[AuditEvent],
        messages: &[ProtocolMessage],
    ) -> Result<(), StoreError> {
        if messages.is_empty() {
            self.append(events).await
        } else {
            Err(StoreError::Backend(
                "this audit log keeps no protocol messages".to_owned(),
            ))
        }
    }
    /// The newest events concerning `person`, newest first.
    async fn for_person(&self, person: Uuid, limit: u32) -> Result<Vec<AuditEvent>, StoreError>;
    /// One page of a person's own log, newest first ([`crate::my_log`]): one indexed query by
    /// person and time, the filters applied in the same query. A log that cannot be read by
    /// person says so.
    async fn person_log(
        &self,
        query: &crate::my_log::PersonLogQuery,
    ) -> Result<crate::my_log::LogPage, StoreError> {
        let _ = query;
        Err(StoreError::Backend(
            "this audit log cannot be read by person".to_owned(),
        ))
    }
    /// Deletes at most `max` events that `selector` holds and that are older than `before`,
    /// oldest first (a backend may read which kinds are stored first, then delete in one
    /// statement); returns how many it deleted (the retention task calls it until fewer than `max`
    /// go). A log that cannot delete says so.
    async fn delete_events_before(
        &self,
        selector: &crate::my_log::Selector,
        before: OffsetDateTime,
        max: u32,
    ) -> Result<u64, StoreError> {
        let _ = (selector, before, max);
        Err(StoreError::Backend(
            "this audit log cannot delete events".to_owned(),
        ))
    }
    /// The newest events of `kind` at or after `since`, newest first (operators' view).
    async fn by_kind_since(
        &self,
        kind: &str,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;
}

/// Reading and expiring the kept protocol messages (written with their audit events through
/// [`AuditLog::append_with_messages`]).
#[async_trait]
pub trait ProtocolMessageLog: Send + Sync {
    /// The messages `query` selects, oldest first (by time, then id).
    async fn protocol_messages(
        &self,
        query: &MessageQuery,
    ) -> Result<Vec<ProtocolMessage>, StoreError>;
    /// Deletes at most `max` messages older than `before`, oldest first, in one statement;
    /// returns how many it deleted. The retention task calls it until fewer than `max` go.
    async fn delete_protocol_messages_before(
        &self,
        before: OffsetDateTime,
        max: u32,
    ) -> Result<u64, StoreError>;
}

/// The person register.
#[async_trait]
pub trait PersonRepository: Send + Sync {
    /// Inserts a person, or updates names, birth date, proofing level and status of the person with
    /// the same id (idempotent demo loading). The CPR number and user ID of an existing person are
    /// not changed.
    async fn upsert_person(&self, person: &crate::person::Person) -> Result<(), StoreError>;
    /// The person with `id`.
    async fn person(&self, id: Uuid) -> Result<Option<crate::person::Person>, StoreError>;
    /// The person with this CPR number.
    async fn person_by_cpr(
        &self,
        cpr: &crate::person::Cpr,
    ) -> Result<Option<crate::person::Person>, StoreError>;
    /// The person with this user ID (case-insensitive).
    async fn person_by_user_id(
        &self,
        user_id: &str,
    ) -> Result<Option<crate::person::Person>, StoreError>;
    /// Sets the user ID at activation; `Conflict` when another person has it.
    async fn set_user_id(&self, person: Uuid, user_id: &str) -> Result<(), StoreError>;
    /// Stores the hash of a one-time activation code valid until `expires_at`, replacing any other.
    async fn set_activation_code(
        &self,
        person: Uuid,
        code_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// The person's activation code hash, if one is set and has not expired at `now`.
    async fn activation_code_hash(
        &self,
        person: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<String>, StoreError>;
    /// Deletes the person's activation code if its hash is `code_hash`; returns whether it did (so
    /// of two concurrent activations, one wins).
    async fn consume_activation_code(
        &self,
        person: Uuid,
        code_hash: &str,
    ) -> Result<bool, StoreError>;
}

/// What happened to a removal request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveOutcome {
    /// Removed.
    Removed,
    /// Refused: it is the person's last authenticator.
    RefusedLast,
    /// No such authenticator for this person.
    NotFound,
}

/// The person's enrolled authenticators.
#[async_trait]
pub trait AuthenticatorRepository: Send + Sync {
    /// Adds an authenticator.
    async fn add_authenticator(&self, a: &crate::person::Authenticator) -> Result<(), StoreError>;
    /// The person's authenticators, oldest first.
    async fn authenticators(
        &self,
        person: Uuid,
    ) -> Result<Vec<crate::person::Authenticator>, StoreError>;
    /// Removes one, in a transaction that refuses to remove the person's last authenticator.
    async fn remove_authenticator(
        &self,
        person: Uuid,
        id: Uuid,
    ) -> Result<RemoveOutcome, StoreError>;
    /// Gives the person's authenticator `id` the name `label` (already checked with
    /// [`Authenticator::normalise_label`](crate::person::Authenticator::normalise_label)); returns
    /// whether the person holds such an authenticator (another person's is never renamed).
    async fn rename_authenticator(
        &self,
        person: Uuid,
        id: Uuid,
        label: &str,
    ) -> Result<bool, StoreError>;
    /// Records a successful use and, for passkeys, the updated secret (signature counter).
    async fn record_use(
        &self,
        id: Uuid,
        at: OffsetDateTime,
        new_secret: Option<&[u8]>,
    ) -> Result<(), StoreError>;
}

/// The relying-party registry.
#[async_trait]
pub trait RelyingPartyRepository: Send + Sync {
    /// Inserts or replaces a registration (by client id).
    async fn upsert_relying_party(
        &self,
        rp: &crate::relying_party::RpRegistration,
    ) -> Result<(), StoreError>;
    /// The registration of a client id.
    async fn relying_party(
        &self,
        client_id: &str,
    ) -> Result<Option<crate::relying_party::RpRegistration>, StoreError>;
    /// Every registration, ordered by client id.
    async fn relying_parties(
        &self,
    ) -> Result<Vec<crate::relying_party::RpRegistration>, StoreError>;
    /// Removes a registration; returns whether it existed.
    async fn delete_relying_party(&self, client_id: &str) -> Result<bool, StoreError>;
}

/// The registry of SAML service providers registered at run time (admin API, metadata URLs).
#[async_trait]
pub trait SamlServiceProviderRepository: Send + Sync {
    /// Inserts or replaces a registration (by entity ID), whatever its revision. A metadata
    /// document over [`MAX_SAML_METADATA_BYTES`](crate::saml_registration::MAX_SAML_METADATA_BYTES)
    /// is refused.
    async fn upsert_saml_sp(
        &self,
        sp: &crate::saml_registration::SamlSpRegistration,
    ) -> Result<(), StoreError>;
    /// Replaces the registration of `sp.entity_id` only if its revision is still `revision`;
    /// returns whether it did (so a metadata refresh never overwrites an admin change made while
    /// it fetched, nor brings back a deleted registration).
    async fn replace_saml_sp(
        &self,
        sp: &crate::saml_registration::SamlSpRegistration,
        revision: i64,
    ) -> Result<bool, StoreError>;
    /// The registration of an entity ID.
    async fn saml_sp(
        &self,
        entity_id: &str,
    ) -> Result<Option<crate::saml_registration::StoredSamlSp>, StoreError>;
    /// Every registration, ordered by entity ID (bytewise).
    async fn saml_sps(&self) -> Result<Vec<crate::saml_registration::StoredSamlSp>, StoreError>;
    /// Removes a registration; returns whether it existed.
    async fn delete_saml_sp(&self, entity_id: &str) -> Result<bool, StoreError>;
}
