//! The notification outbox: messages to a person about their own account ("a passkey was added to
//! your MitID"). A flow writes the message durably together with the change it reports; a sender
//! (e-Boks, e-mail, the app) delivers pending messages later and marks each one sent, so a message
//! is never lost when a sender is down. [`crate::sql::SqlDurable`] implements it (table
//! `notifications`).

use async_trait::async_trait;
use eid_core::StoreError;
use time::OffsetDateTime;
use uuid::Uuid;

/// Longest `kind` stored; a longer one is refused with [`StoreError::Backend`].
pub const MAX_KIND_LEN: usize = 64;

/// One message to a person.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Identifier.
    pub id: Uuid,
    /// To whom.
    pub person: Uuid,
    /// What happened, a stable dotted name (`authenticator.added`); printable ASCII.
    pub kind: String,
    /// What the message says beyond its kind, as a JSON object. Never secrets.
    pub details: serde_json::Value,
    /// When it was written.
    pub created_at: OffsetDateTime,
    /// When a sender delivered it; `None` while pending.
    pub sent_at: Option<OffsetDateTime>,
}

impl Notification {
    /// A new pending message.
    pub fn new(
        person: Uuid,
        kind: &str,
        details: serde_json::Value,
        at: OffsetDateTime,
    ) -> Notification {
        Notification {
            id: Uuid::new_v4(),
            person,
            kind: kind.to_owned(),
            details,
            created_at: at,
            sent_at: None,
        }
    }
}

/// Where messages to persons wait for delivery.
///
/// Contract: [`enqueue`](Self::enqueue) is durable when it returns; [`pending`](Self::pending)
/// lists unsent messages oldest first; [`mark_sent`](Self::mark_sent) marks a pending message once
/// (it answers `false` for an unknown or already sent id, so two senders cannot both claim it).
#[async_trait]
pub trait NotificationOutbox: Send + Sync {
    /// Stores a message. A duplicate id is [`StoreError::Conflict`].
    async fn enqueue(&self, notification: &Notification) -> Result<(), StoreError>;
    /// Unsent messages, oldest first, at most `limit`.
    async fn pending(&self, limit: u32) -> Result<Vec<Notification>, StoreError>;
    /// Marks a pending message sent; `false` when it is unknown or was sent already.
    async fn mark_sent(&self, id: Uuid, at: OffsetDateTime) -> Result<bool, StoreError>;
    /// A person's messages, newest first, at most `limit`.
    async fn for_person(&self, person: Uuid, limit: u32) -> Result<Vec<Notification>, StoreError>;
}

/// Whether `kind` may be stored: 1 to [`MAX_KIND_LEN`] printable ASCII characters.
pub fn valid_kind(kind: &str) -> bool {
    (1..=MAX_KIND_LEN).contains(&kind.len()) && kind.bytes().all(|b| b.is_ascii_graphic())
}
