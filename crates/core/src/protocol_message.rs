//! Signed protocol messages kept as evidence (NemLog-in's logging rule: 180 days by default).
//!
//! Every signed SAML message the broker receives (after its signature verified) or sends (signed
//! by us) is kept in the form its signature covers, so that it can be verified again later with
//! the signer's published key. Messages ride to the durable store with the audit event of the same
//! act ([`AuditLog::append_with_messages`](crate::AuditLog::append_with_messages)), in the same
//! commit. A released assertion names its person (and may hold the CPR number): the log is
//! evidence, with the audit log's protection.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Largest content kept: above every inbound bound of the SAML bindings (16 KiB queries, 96 KiB
/// posted requests, SOAP bodies) and far above our own assertions.
pub const MAX_CONTENT_BYTES: usize = 256 * 1024;
/// Byte budget of the peer's entity ID as stored.
pub const MAX_PEER_BYTES: usize = 1024;
/// Byte budget of a message ID (and `InResponseTo`) as stored.
pub const MAX_MESSAGE_ID_BYTES: usize = 256;

/// Whether we received the message or sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the peer, its signature verified with the peer's metadata keys.
    Received,
    /// To the peer, signed by us.
    Sent,
}

/// What kind of message it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A service's `AuthnRequest`.
    AuthnRequest,
    /// Our signed `Assertion` (kept as signed, before it was encrypted for the service).
    Assertion,
    /// A `LogoutRequest`.
    LogoutRequest,
    /// A `LogoutResponse`.
    LogoutResponse,
}

/// The binding that carried the message, which says what [`ProtocolMessage::content`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Binding {
    /// HTTP-Redirect: the content is the query parameters the detached signature covers, then
    /// the signature, exactly as they travelled (`SAMLRequest=…&RelayState=…&SigAlg=…&Signature=…`,
    /// still percent-encoded); a valid query string that verifies again as it is.
    Redirect,
    /// HTTP-POST: the content is the decoded XML with its enveloped signature.
    Post,
    /// SOAP: the content is the signed XML message from the envelope's body.
    Soap,
}

impl Direction {
    /// Stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Received => "received",
            Direction::Sent => "sent",
        }
    }

    /// Parses the stored name.
    pub fn from_stored(s: &str) -> Option<Self> {
        [Direction::Received, Direction::Sent]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

impl MessageKind {
    /// Stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::AuthnRequest => "authn_request",
            MessageKind::Assertion => "assertion",
            MessageKind::LogoutRequest => "logout_request",
            MessageKind::LogoutResponse => "logout_response",
        }
    }

    /// Parses the stored name.
    pub fn from_stored(s: &str) -> Option<Self> {
        [
            MessageKind::AuthnRequest,
            MessageKind::Assertion,
            MessageKind::LogoutRequest,
            MessageKind::LogoutResponse,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl Binding {
    /// Stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Binding::Redirect => "redirect",
            Binding::Post => "post",
            Binding::Soap => "soap",
        }
    }

    /// Parses the stored name.
    pub fn from_stored(s: &str) -> Option<Self> {
        [Binding::Redirect, Binding::Post, Binding::Soap]
            .into_iter()
            .find(|b| b.as_str() == s)
    }
}

/// Why a message cannot be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnkeptMessage {
    /// The content is larger than [`MAX_CONTENT_BYTES`].
    #[error("the message is larger than {MAX_CONTENT_BYTES} bytes")]
    TooLarge,
    /// The content holds a NUL character (no XML or query does; no database stores it as text).
    #[error("the message holds a NUL character")]
    Nul,
}

/// One kept message. No column holds a CPR number; the content of a released assertion may.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolMessage {
    /// Unique id of the row (time-ordered).
    pub id: Uuid,
    /// When it was received or sent.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Received or sent.
    pub direction: Direction,
    /// What it is.
    pub kind: MessageKind,
    /// How it travelled (and so what `content` holds).
    pub binding: Binding,
    /// The peer's entity ID (the service provider).
    pub peer: String,
    /// The message's `ID`.
    pub message_id: String,
    /// Its `InResponseTo`, if any.
    pub in_response_to: Option<String>,
    /// A reference to the broker's SSO session (a one-way digest of its id, never the id), when
    /// the message belongs to one.
    pub session: Option<String>,
    /// Whether it was sent encrypted for the peer (the content is then the signed plaintext, the
    /// form our published key verifies).
    pub sent_encrypted: bool,
    /// The audit event it was recorded with.
    pub audit_event: Option<Uuid>,
    /// The message as its signature covers it (see [`Binding`]).
    pub content: String,
}

impl ProtocolMessage {
    /// A message at `at`, checked to be storable: at most [`MAX_CONTENT_BYTES`], no NUL.
    /// (Identifiers are bounded when stored.)
    pub fn new(
        at: OffsetDateTime,
        direction: Direction,
        kind: MessageKind,
        binding: Binding,
        peer: &str,
        message_id: &str,
        content: String,
    ) -> Result<ProtocolMessage, UnkeptMessage> {
        if content.len() > MAX_CONTENT_BYTES {
            return Err(UnkeptMessage::TooLarge);
        }
        if content.contains('\0') {
            return Err(UnkeptMessage::Nul);
        }
        Ok(ProtocolMessage {
            // Time-ordered, like audit events: a batch lands at the end of the id index.
            id: Uuid::now_v7(),
            at,
            direction,
            kind,
            binding,
            peer: peer.to_owned(),
            message_id: message_id.to_owned(),
            in_response_to: None,
            session: None,
            sent_encrypted: false,
            audit_event: None,
            content,
        })
    }

    /// Names the message this one answers.
    pub fn in_response_to(mut self, id: impl Into<String>) -> Self {
        self.in_response_to = Some(id.into());
        self
    }

    /// Names the session reference.
    pub fn session(mut self, reference: impl Into<String>) -> Self {
        self.session = Some(reference.into());
        self
    }

    /// Notes that it was sent encrypted for the peer.
    pub fn sent_encrypted(mut self) -> Self {
        self.sent_encrypted = true;
        self
    }
}

/// Which kept messages to read (operators' view), oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageQuery {
    /// Only those exchanged with this peer (entity ID), if given.
    pub peer: Option<String>,
    /// Only those at or after this instant.
    pub since: OffsetDateTime,
    /// At most this many.
    pub limit: u32,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn message(content: String) -> Result<ProtocolMessage, UnkeptMessage> {
        ProtocolMessage::new(
            at(),
            Direction::Received,
            MessageKind::AuthnRequest,
            Binding::Post,
            "https://sp.example",
            "_1",
            content,
        )
    }

    #[test]
    fn content_is_bounded_and_free_of_nul() {
        assert!(message("x".repeat(MAX_CONTENT_BYTES)).is_ok());
        assert_eq!(
            message("x".repeat(MAX_CONTENT_BYTES + 1)),
            Err(UnkeptMessage::TooLarge)
        );
        assert_eq!(message("<a>\0</a>".into()), Err(UnkeptMessage::Nul));
    }

    #[test]
    fn stored_names_round_trip() {
        for d in [Direction::Received, Direction::Sent] {
            assert_eq!(Direction::from_stored(d.as_str()), Some(d));
        }
        for k in [
            MessageKind::AuthnRequest,
            MessageKind::Assertion,
            MessageKind::LogoutRequest,
            MessageKind::LogoutResponse,
        ] {
            assert_eq!(MessageKind::from_stored(k.as_str()), Some(k));
        }
        for b in [Binding::Redirect, Binding::Post, Binding::Soap] {
            assert_eq!(Binding::from_stored(b.as_str()), Some(b));
            assert_eq!(
                serde_json::to_value(b).unwrap(),
                serde_json::json!(b.as_str())
            );
        }
        assert_eq!(Direction::from_stored("in"), None);
    }
}
