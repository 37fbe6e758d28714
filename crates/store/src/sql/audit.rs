//! [`AuditLog`] on [`SqlDurable`]: table `audit_events`. Text is stored as
//! [`AuditText`](crate::audit_text::AuditText): escaped and bounded, so no event can fail a batch.

use super::{Backend, SqlDurable, from_micros, map_err, micros, with_timeout};
use crate::audit_text::{
    AuditText, MAX_CLIENT_BYTES, MAX_IP_BYTES, MAX_NAME_BYTES, storable_details,
};
use async_trait::async_trait;
use eid_core::my_log::{LogPage, PersonLogQuery, Selector};
use eid_core::{AuditEvent, AuditLog, AuditOutcome, ProtocolMessage, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use uuid::Uuid;

/// One statement inserts a whole batch: the rows travel as one JSON array parameter (each row an
/// array: id, at_us, component, kind, outcome, person, client, ip, details) that the database unpacks itself. A batch of any size is then one
/// round trip (one hop to SQLite's worker thread, one message to PostgreSQL) and, run outside an
/// explicit transaction, one implicit transaction: one commit, one WAL sync. Rows are inserted in
/// array order, so `seq` follows the batch. Re-appending an event whose id is already stored is a
/// no-op (`ON CONFLICT (id) DO NOTHING`), so a caller may safely retry a batch whose commit outcome
/// it did not learn.
pub(super) const INSERT_SQLITE: &str = "INSERT INTO audit_events (id, at_us, component, kind, outcome, \
     person, client, ip, details) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), \
     json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]'), \
     json_extract(value, '$[5]'), json_extract(value, '$[6]'), json_extract(value, '$[7]'), \
     json_extract(value, '$[8]') FROM json_each($1) WHERE true ORDER BY key \
     ON CONFLICT (id) DO NOTHING";

/// [`INSERT_SQLITE`] for PostgreSQL.
pub(super) const INSERT_POSTGRES: &str = "INSERT INTO audit_events (id, at_us, component, kind, outcome, \
     person, client, ip, details) SELECT r->>0, (r->>1)::bigint, r->>2, r->>3, r->>4, r->>5, \
     r->>6, r->>7, r->>8 FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS b(r, n) \
     ORDER BY n ON CONFLICT (id) DO NOTHING";

/// The columns [`decode`] reads, in its order.
pub(super) const SELECT_COLUMNS: &str =
    "id, at_us, component, kind, outcome, person, client, ip, details";

const SELECT_FOR_PERSON: &str = "SELECT id, at_us, component, kind, outcome, person, client, ip, \
     details FROM audit_events WHERE person = $1 ORDER BY at_us DESC, seq DESC LIMIT $2";

const SELECT_BY_KIND_SINCE: &str = "SELECT id, at_us, component, kind, outcome, person, client, \
     ip, details FROM audit_events WHERE kind = $1 AND at_us >= $2 \
     ORDER BY at_us DESC, seq DESC LIMIT $3";

/// The rows of a batch as one JSON array of arrays, in the order [`INSERT_SQLITE`] reads them.
/// Text columns are [`AuditText`] (escaped and bounded), so the database stores exactly what a
/// per-row insert would.
pub(super) fn batch_json(events: &[AuditEvent]) -> Result<String, StoreError> {
    let text = |s: &str, max| AuditText::new(s, max).into_string();
    let mut rows = Vec::with_capacity(events.len());
    for e in events {
        let details = storable_details(&e.details)
            .map_err(|err| StoreError::Backend(format!("audit details not serialisable: {err}")))?;
        // A tuple serialises as a JSON array, without building a `Value` tree.
        rows.push((
            e.id,
            micros(e.at),
            text(&e.component, MAX_NAME_BYTES),
            text(&e.kind, MAX_NAME_BYTES),
            e.outcome.as_str(),
            e.person,
            e.client.as_deref().map(|c| text(c, MAX_CLIENT_BYTES)),
            e.ip.as_deref().map(|ip| text(ip, MAX_IP_BYTES)),
            details,
        ));
    }
    serde_json::to_string(&rows)
        .map_err(|err| StoreError::Backend(format!("audit batch not serialisable: {err}")))
}

/// One event from a row whose first columns are [`SELECT_COLUMNS`].
pub(super) fn decode(row: &AnyRow) -> Result<AuditEvent, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("audit_events.{what}"));
    let id: String = row.try_get(0).map_err(map_err)?;
    let at_us: i64 = row.try_get(1).map_err(map_err)?;
    let outcome: String = row.try_get(4).map_err(map_err)?;
    let person: Option<String> = row.try_get(5).map_err(map_err)?;
    let details: String = row.try_get(8).map_err(map_err)?;
    Ok(AuditEvent {
        id: Uuid::parse_str(&id).map_err(|_| corrupt("id"))?,
        at: from_micros(at_us).ok_or_else(|| corrupt("at_us"))?,
        component: row.try_get(2).map_err(map_err)?,
        kind: row.try_get(3).map_err(map_err)?,
        outcome: AuditOutcome::from_stored(&outcome).ok_or_else(|| corrupt("outcome"))?,
        person: person
            .map(|p| Uuid::parse_str(&p))
            .transpose()
            .map_err(|_| corrupt("person"))?,
        client: row.try_get(6).map_err(map_err)?,
        ip: row.try_get(7).map_err(map_err)?,
        details: serde_json::from_str(&details).map_err(|_| corrupt("details"))?,
    })
}

#[async_trait]
impl AuditLog for SqlDurable {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let rows = batch_json(events)?;
        let sql = match self.backend {
            Backend::Sqlite => INSERT_SQLITE,
            Backend::Postgres => INSERT_POSTGRES,
        };
        with_timeout("audit append", async {
            sqlx::query(sql)
                .bind(rows)
                .execute(self.appender())
                .await
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn append_with_messages(
        &self,
        events: &[AuditEvent],
        messages: &[ProtocolMessage],
    ) -> Result<(), StoreError> {
        if messages.is_empty() {
            return self.append(events).await;
        }
        super::protocol_messages::append_with_messages(self, events, messages).await
    }

    async fn for_person(&self, person: Uuid, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        with_timeout("audit for_person", async {
            let rows = sqlx::query(SELECT_FOR_PERSON)
                .bind(person.to_string())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
            rows.iter().map(decode).collect()
        })
        .await
    }

    async fn person_log(&self, query: &PersonLogQuery) -> Result<LogPage, StoreError> {
        self.read_person_log(query).await
    }

    async fn delete_events_before(
        &self,
        selector: &Selector,
        before: OffsetDateTime,
        max: u32,
    ) -> Result<u64, StoreError> {
        self.delete_selected_before(selector, before, max, super::person_log::MAX_KINDS)
            .await
    }

    async fn by_kind_since(
        &self,
        kind: &str,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        with_timeout("audit by_kind_since", async {
            // The kind as stored (so a kind with a control character finds its events, and a NUL
            // never reaches PostgreSQL).
            let rows = sqlx::query(SELECT_BY_KIND_SINCE)
                .bind(AuditText::new(kind, MAX_NAME_BYTES).into_string())
                .bind(micros(since))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
            rows.iter().map(decode).collect()
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).unwrap();
        assert_eq!(micros(t), 1_700_000_000_123_456);
        assert_eq!(from_micros(micros(t)), Some(t));
        assert_eq!(from_micros(i64::MAX), None);
    }
}
