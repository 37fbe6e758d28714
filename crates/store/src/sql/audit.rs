//! [`AuditLog`] on [`SqlDurable`]: table `audit_events`. Text is stored as
//! [`AuditText`](crate::audit_text::AuditText): escaped and bounded, so no event can fail a batch.

use super::{Backend, SqlDurable, from_micros, map_err, micros};
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

/// Rows per statement of an SQLite append ([`sqlite_insert`]): a batch is one statement of the
/// smallest size that holds it, or, when larger than the last, statements of the last size in
/// one transaction. Two sizes keep two prepared statements in the connection's cache.
const SQLITE_ROWS: [usize; 2] = [8, 64];

/// The SQLite append of `rows` rows as bound parameters (nine per row, in the order of
/// [`bind_sqlite_row`]), each row led by its position so that rows are inserted in batch order.
/// A row whose id is NULL is padding and inserts nothing, so a batch smaller than the statement
/// binds NULLs for the rest. Binding the values costs far less than [`INSERT_SQLITE`]'s JSON: there
/// SQLite parses the batch, renders each row back to text and parses it again for its nine
/// `json_extract`s (8 % of the core under client-credentials load).
fn sqlite_insert(rows: usize) -> String {
    use std::fmt::Write;
    let mut sql = String::from(
        "INSERT INTO audit_events (id, at_us, component, kind, outcome, person, client, ip, \
         details) SELECT column2, column3, column4, column5, column6, column7, column8, column9, \
         column10 FROM (VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        let _ = write!(sql, "({i},?,?,?,?,?,?,?,?,?)");
    }
    sql.push_str(") WHERE column2 IS NOT NULL ORDER BY column1 ON CONFLICT (id) DO NOTHING");
    sql
}

static SQLITE_INSERTS: std::sync::LazyLock<[String; 2]> =
    std::sync::LazyLock::new(|| SQLITE_ROWS.map(sqlite_insert));

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds one row of [`sqlite_insert`], or a padding row for `None`.
fn bind_sqlite_row<'q>(
    query: AnyQuery<'q>,
    event: Option<&AuditEvent>,
) -> Result<AnyQuery<'q>, StoreError> {
    let Some(e) = event else {
        let mut query = query;
        for _ in 0..9 {
            query = query.bind(None::<String>);
        }
        return Ok(query);
    };
    let (id, at_us, component, kind, outcome, person, client, ip, details) = stored_row(e)?;
    Ok(query
        .bind(id.to_string())
        .bind(at_us)
        .bind(component)
        .bind(kind)
        .bind(outcome)
        .bind(person.map(|p| p.to_string()))
        .bind(client)
        .bind(ip)
        .bind(details))
}

/// One statement appending `events` (at most the largest of [`SQLITE_ROWS`]).
fn sqlite_append_query(events: &[AuditEvent]) -> Result<AnyQuery<'static>, StoreError> {
    let size = SQLITE_ROWS
        .iter()
        .position(|&rows| events.len() <= rows)
        .unwrap_or(SQLITE_ROWS.len() - 1);
    let mut query = sqlx::query(SQLITE_INSERTS[size].as_str());
    for i in 0..SQLITE_ROWS[size] {
        query = bind_sqlite_row(query, events.get(i))?;
    }
    Ok(query)
}

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
    // A tuple serialises as a JSON array, without building a `Value` tree.
    let rows = events
        .iter()
        .map(stored_row)
        .collect::<Result<Vec<_>, _>>()?;
    serde_json::to_string(&rows)
        .map_err(|err| StoreError::Backend(format!("audit batch not serialisable: {err}")))
}

/// An event's columns as stored, in insert order: id, at_us, component, kind, outcome, person,
/// client, ip, details.
type StoredRow = (
    Uuid,
    i64,
    String,
    String,
    &'static str,
    Option<Uuid>,
    Option<String>,
    Option<String>,
    String,
);

/// The columns of `e` as stored: text as [`AuditText`] (escaped and bounded), details bounded.
fn stored_row(e: &AuditEvent) -> Result<StoredRow, StoreError> {
    let text = |s: &str, max| AuditText::new(s, max).into_string();
    let details = storable_details(&e.details)
        .map_err(|err| StoreError::Backend(format!("audit details not serialisable: {err}")))?;
    Ok((
        e.id,
        micros(e.at),
        text(&e.component, MAX_NAME_BYTES),
        text(&e.kind, MAX_NAME_BYTES),
        e.outcome.as_str(),
        e.person,
        e.client.as_deref().map(|c| text(c, MAX_CLIENT_BYTES)),
        e.ip.as_deref().map(|ip| text(ip, MAX_IP_BYTES)),
        details,
    ))
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

impl SqlDurable {
    /// Appends `events` to an SQLite log as bound rows: one statement (one implicit transaction,
    /// one commit) when the batch fits the largest statement, else its chunks in one transaction.
    async fn append_sqlite(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let largest = SQLITE_ROWS[SQLITE_ROWS.len() - 1];
        if events.len() <= largest {
            sqlite_append_query(events)?
                .execute(self.appender())
                .await
                .map_err(map_err)?;
            return Ok(());
        }
        let mut tx = self.appender().begin().await.map_err(map_err)?;
        for chunk in events.chunks(largest) {
            sqlite_append_query(chunk)?
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }
}

#[async_trait]
impl AuditLog for SqlDurable {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        if self.backend == Backend::Sqlite {
            return self
                .with_timeout("audit append", self.append_sqlite(events))
                .await;
        }
        let rows = batch_json(events)?;
        let rows = &rows;
        self.retrying("audit append", || async move {
            sqlx::query(INSERT_POSTGRES)
                .bind(rows.clone())
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
        self.with_timeout("audit for_person", async {
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
        self.with_timeout("audit by_kind_since", async {
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
