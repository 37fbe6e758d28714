//! Audit events: the durable, append-only record of every security-relevant decision.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Whether the audited action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// The action was carried out.
    Success,
    /// The action was refused (bad input, failed check, policy).
    Failure,
}

impl AuditOutcome {
    /// Stable lower-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Failure => "failure",
        }
    }

    /// Parses the stored name.
    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "success" => Some(AuditOutcome::Success),
            "failure" => Some(AuditOutcome::Failure),
            _ => None,
        }
    }
}

/// One audit event. `person` indexes the event so that a citizen can read their own log.
///
/// `details` must never hold secrets (passwords, codes, tokens, keys); CPR numbers are not
/// put here either: the person is named by their stable UUID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Unique id of the event.
    pub id: Uuid,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Which component recorded it (`broker`, `idp`, …).
    pub component: String,
    /// What happened, as a dotted name: `login.password`, `token.issued`, `authorize.rejected`.
    pub kind: String,
    /// Success or failure.
    pub outcome: AuditOutcome,
    /// The person concerned, when known.
    pub person: Option<Uuid>,
    /// The relying party or client concerned, when known.
    pub client: Option<String>,
    /// The remote address, when known.
    pub ip: Option<String>,
    /// Further non-secret facts (reason of a failure, level achieved, …).
    pub details: serde_json::Value,
}

impl AuditEvent {
    /// A new event at `at`, with an empty details object.
    pub fn new(at: OffsetDateTime, component: &str, kind: &str, outcome: AuditOutcome) -> Self {
        AuditEvent {
            // Time-ordered (UUIDv7: milliseconds, then 74 random bits): consecutive events land
            // at the end of the id index instead of on a random page each, so a batch of audit
            // events dirties a few index pages, not one per event.
            id: Uuid::now_v7(),
            at,
            component: component.to_owned(),
            kind: kind.to_owned(),
            outcome,
            person: None,
            client: None,
            ip: None,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    /// Names the person concerned.
    pub fn person(mut self, person: Uuid) -> Self {
        self.person = Some(person);
        self
    }

    /// Names the client or relying party concerned.
    pub fn client(mut self, client: impl Into<String>) -> Self {
        self.client = Some(client.into());
        self
    }

    /// Records the remote address.
    pub fn ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }

    /// Adds one non-secret detail.
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if let serde_json::Value::Object(map) = &mut self.details {
            map.insert(key.to_owned(), value.into());
        }
        self
    }
}
