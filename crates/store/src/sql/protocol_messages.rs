//! [`ProtocolMessageLog`] on [`SqlDurable`]: table `protocol_messages`, written together with the
//! audit events in one transaction ([`append_with_messages`], behind
//! [`AuditLog::append_with_messages`](eid_core::AuditLog::append_with_messages)).
//!
//! Identifiers are stored as [`AuditText`] (escaped and bounded, so no peer or ID can fail a
//! batch); the content is stored exactly, and a content no backend can store (over
//! [`MAX_CONTENT_BYTES`], or with a NUL) fails its batch, which the writer then splits.

use super::{Backend, SqlDurable, from_micros, map_err, micros};
use crate::audit_text::AuditText;
use async_trait::async_trait;
use eid_core::protocol_message::{
    Binding, Direction, MAX_CONTENT_BYTES, MAX_MESSAGE_ID_BYTES, MAX_PEER_BYTES, MessageKind,
};
use eid_core::{AuditEvent, MessageQuery, ProtocolMessage, ProtocolMessageLog, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use uuid::Uuid;

/// Byte budget of the session reference (a digest: 43 characters).
const MAX_SESSION_BYTES: usize = 128;

/// A batch as one JSON array parameter, as the audit log does (see its `INSERT_SQLITE`); re-adding
/// a stored id is a no-op.
const INSERT_SQLITE: &str = "INSERT INTO protocol_messages (id, at_us, direction, kind, binding, \
     peer, message_id, in_response_to, session, sent_encrypted, audit_event, content) \
     SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
     json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), \
     json_extract(value, '$[6]'), json_extract(value, '$[7]'), json_extract(value, '$[8]'), \
     json_extract(value, '$[9]'), json_extract(value, '$[10]'), json_extract(value, '$[11]') \
     FROM json_each($1) WHERE true ORDER BY key ON CONFLICT (id) DO NOTHING";

/// [`INSERT_SQLITE`] for PostgreSQL.
const INSERT_POSTGRES: &str = "INSERT INTO protocol_messages (id, at_us, direction, kind, binding, \
     peer, message_id, in_response_to, session, sent_encrypted, audit_event, content) \
     SELECT r->>0, (r->>1)::bigint, r->>2, r->>3, r->>4, r->>5, r->>6, r->>7, r->>8, \
     (r->>9)::bigint, r->>10, r->>11 \
     FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS b(r, n) \
     ORDER BY n ON CONFLICT (id) DO NOTHING";

const SELECT_SINCE: &str = "SELECT id, at_us, direction, kind, binding, peer, message_id, \
     in_response_to, session, sent_encrypted, audit_event, content FROM protocol_messages \
     WHERE at_us >= $1 ORDER BY at_us, seq LIMIT $2";

const SELECT_PEER_SINCE: &str = "SELECT id, at_us, direction, kind, binding, peer, message_id, \
     in_response_to, session, sent_encrypted, audit_event, content FROM protocol_messages \
     WHERE peer = $1 AND at_us >= $2 ORDER BY at_us, seq LIMIT $3";

/// Oldest first: the retention task's order, and one index range per statement.
const DELETE_BEFORE: &str = "DELETE FROM protocol_messages WHERE seq IN (SELECT seq FROM \
     protocol_messages WHERE at_us < $1 ORDER BY at_us, seq LIMIT $2)";

fn batch_json(messages: &[ProtocolMessage]) -> Result<String, StoreError> {
    let text = |s: &str, max| AuditText::new(s, max).into_string();
    let mut rows = Vec::with_capacity(messages.len());
    for m in messages {
        if m.content.len() > MAX_CONTENT_BYTES || m.content.contains('\0') {
            return Err(StoreError::Backend(format!(
                "protocol message {} cannot be stored (over {MAX_CONTENT_BYTES} bytes or a NUL)",
                m.id
            )));
        }
        rows.push((
            m.id,
            micros(m.at),
            m.direction.as_str(),
            m.kind.as_str(),
            m.binding.as_str(),
            text(&m.peer, MAX_PEER_BYTES),
            text(&m.message_id, MAX_MESSAGE_ID_BYTES),
            m.in_response_to
                .as_deref()
                .map(|i| text(i, MAX_MESSAGE_ID_BYTES)),
            m.session.as_deref().map(|s| text(s, MAX_SESSION_BYTES)),
            i64::from(m.sent_encrypted),
            m.audit_event,
            &m.content,
        ));
    }
    serde_json::to_string(&rows)
        .map_err(|err| StoreError::Backend(format!("message batch not serialisable: {err}")))
}

fn decode(row: &AnyRow) -> Result<ProtocolMessage, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("protocol_messages.{what}"));
    let id: String = row.try_get(0).map_err(map_err)?;
    let at_us: i64 = row.try_get(1).map_err(map_err)?;
    let direction: String = row.try_get(2).map_err(map_err)?;
    let kind: String = row.try_get(3).map_err(map_err)?;
    let binding: String = row.try_get(4).map_err(map_err)?;
    let sent_encrypted: i64 = row.try_get(9).map_err(map_err)?;
    let audit_event: Option<String> = row.try_get(10).map_err(map_err)?;
    Ok(ProtocolMessage {
        id: Uuid::parse_str(&id).map_err(|_| corrupt("id"))?,
        at: from_micros(at_us).ok_or_else(|| corrupt("at_us"))?,
        direction: Direction::from_stored(&direction).ok_or_else(|| corrupt("direction"))?,
        kind: MessageKind::from_stored(&kind).ok_or_else(|| corrupt("kind"))?,
        binding: Binding::from_stored(&binding).ok_or_else(|| corrupt("binding"))?,
        peer: row.try_get(5).map_err(map_err)?,
        message_id: row.try_get(6).map_err(map_err)?,
        in_response_to: row.try_get(7).map_err(map_err)?,
        session: row.try_get(8).map_err(map_err)?,
        sent_encrypted: match sent_encrypted {
            0 => false,
            1 => true,
            _ => return Err(corrupt("sent_encrypted")),
        },
        audit_event: audit_event
            .map(|e| Uuid::parse_str(&e))
            .transpose()
            .map_err(|_| corrupt("audit_event"))?,
        content: row.try_get(11).map_err(map_err)?,
    })
}

/// Appends `events` and `messages` in one transaction on the appender's connection: two
/// statements, one commit (one WAL sync on SQLite).
pub(super) async fn append_with_messages(
    db: &SqlDurable,
    events: &[AuditEvent],
    messages: &[ProtocolMessage],
) -> Result<(), StoreError> {
    let event_rows = super::audit::batch_json(events)?;
    let message_rows = batch_json(messages)?;
    let (insert_events, insert_messages) = match db.backend {
        Backend::Sqlite => (super::audit::INSERT_SQLITE, INSERT_SQLITE),
        Backend::Postgres => (super::audit::INSERT_POSTGRES, INSERT_POSTGRES),
    };
    let event_rows = &event_rows;
    let message_rows = &message_rows;
    db.retrying("audit append with messages", || async move {
        let mut tx = db.appender().begin().await.map_err(map_err)?;
        if !events.is_empty() {
            sqlx::query(insert_events)
                .bind(event_rows.clone())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        if !messages.is_empty() {
            sqlx::query(insert_messages)
                .bind(message_rows.clone())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    })
    .await
}

#[async_trait]
impl ProtocolMessageLog for SqlDurable {
    async fn protocol_messages(
        &self,
        query: &MessageQuery,
    ) -> Result<Vec<ProtocolMessage>, StoreError> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        self.with_timeout("protocol messages", async {
            let rows = match &query.peer {
                // The peer as stored (escaped and bounded), so any peer finds its messages.
                Some(peer) => sqlx::query(SELECT_PEER_SINCE)
                    .bind(AuditText::new(peer, MAX_PEER_BYTES).into_string())
                    .bind(micros(query.since))
                    .bind(i64::from(query.limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?,
                None => sqlx::query(SELECT_SINCE)
                    .bind(micros(query.since))
                    .bind(i64::from(query.limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?,
            };
            rows.iter().map(decode).collect()
        })
        .await
    }

    async fn delete_protocol_messages_before(
        &self,
        before: OffsetDateTime,
        max: u32,
    ) -> Result<u64, StoreError> {
        if max == 0 {
            return Ok(0);
        }
        self.with_timeout("protocol messages retention", async {
            let done = sqlx::query(DELETE_BEFORE)
                .bind(micros(before))
                .bind(i64::from(max))
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
            Ok(done.rows_affected())
        })
        .await
    }
}
