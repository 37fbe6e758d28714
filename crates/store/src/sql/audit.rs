//! [`AuditLog`] on [`SqlDurable`]: table `audit_events`. Text is stored as
//! [`AuditText`](crate::audit_text::AuditText): escaped and bounded, so no event can fail a batch.

use super::{SqlDurable, from_micros, map_err, micros, with_timeout};
use crate::audit_text::{
    AuditText, MAX_CLIENT_BYTES, MAX_IP_BYTES, MAX_NAME_BYTES, storable_details,
};
use async_trait::async_trait;
use eid_core::{AuditEvent, AuditLog, AuditOutcome, StoreError};
use sqlx::any::{Any, AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Row, SqlSafeStr, SqlStr};
use std::sync::OnceLock;
use time::OffsetDateTime;
use uuid::Uuid;

const COLUMNS: &str = "id, at_us, component, kind, outcome, person, client, ip, details";
const PARAMS_PER_ROW: usize = 9;

/// Batches are inserted in multi-row statements of these sizes (largest first), so a batch costs a
/// few round trips and at most four distinct prepared statements. 64 rows × 9 parameters stays far
/// below both SQLite's and PostgreSQL's parameter limits.
const CHUNK_SIZES: [usize; 4] = [64, 16, 4, 1];

const SELECT_FOR_PERSON: &str = "SELECT id, at_us, component, kind, outcome, person, client, ip, \
     details FROM audit_events WHERE person = $1 ORDER BY at_us DESC, seq DESC LIMIT $2";

const SELECT_BY_KIND_SINCE: &str = "SELECT id, at_us, component, kind, outcome, person, client, \
     ip, details FROM audit_events WHERE kind = $1 AND at_us >= $2 \
     ORDER BY at_us DESC, seq DESC LIMIT $3";

/// `INSERT … VALUES ($1…$9), ($10…$18), … ON CONFLICT (id) DO NOTHING` for `rows` rows.
///
/// Re-appending an event with an id already stored is a no-op, so a caller may safely retry a
/// batch whose commit outcome it did not learn.
fn insert_sql(rows: usize) -> String {
    let mut sql = format!("INSERT INTO audit_events ({COLUMNS}) VALUES ");
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..PARAMS_PER_ROW {
            if col > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(row * PARAMS_PER_ROW + col + 1).to_string());
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (id) DO NOTHING");
    sql
}

/// The insert statement for a chunk of `CHUNK_SIZES[i]` rows, built once per process.
fn insert_statement(i: usize) -> SqlStr {
    static STATEMENTS: OnceLock<Vec<SqlStr>> = OnceLock::new();
    let all = STATEMENTS.get_or_init(|| {
        CHUNK_SIZES
            .iter()
            .map(|&n| AssertSqlSafe(std::sync::Arc::<str>::from(insert_sql(n))).into_sql_str())
            .collect()
    });
    // `i` always indexes CHUNK_SIZES, which has as many entries as `all`.
    all[i].clone()
}

fn bind_event<'q>(
    q: Query<'q, Any, AnyArguments>,
    e: &AuditEvent,
) -> Result<Query<'q, Any, AnyArguments>, StoreError> {
    let details = storable_details(&e.details)
        .map_err(|err| StoreError::Backend(format!("audit details not serialisable: {err}")))?;
    let text = |s: &str, max| AuditText::new(s, max).into_string();
    Ok(q.bind(e.id.to_string())
        .bind(micros(e.at))
        .bind(text(&e.component, MAX_NAME_BYTES))
        .bind(text(&e.kind, MAX_NAME_BYTES))
        .bind(e.outcome.as_str())
        .bind(e.person.map(|p| p.to_string()))
        .bind(e.client.as_deref().map(|c| text(c, MAX_CLIENT_BYTES)))
        .bind(e.ip.as_deref().map(|ip| text(ip, MAX_IP_BYTES)))
        .bind(details))
}

fn decode(row: &AnyRow) -> Result<AuditEvent, StoreError> {
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
        with_timeout("audit append", async {
            let mut tx = self.pool.begin().await.map_err(map_err)?;
            let mut rest = events;
            while !rest.is_empty() {
                let (i, &size) = CHUNK_SIZES
                    .iter()
                    .enumerate()
                    .find(|&(_, &n)| n <= rest.len())
                    .unwrap_or((CHUNK_SIZES.len() - 1, &1));
                let (chunk, tail) = rest.split_at(size);
                let mut q = sqlx::query(insert_statement(i));
                for event in chunk {
                    q = bind_event(q, event)?;
                }
                q.execute(&mut *tx).await.map_err(map_err)?;
                rest = tail;
            }
            tx.commit().await.map_err(map_err)
        })
        .await
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
    fn insert_sql_numbers_parameters_row_by_row() {
        assert_eq!(
            insert_sql(2),
            "INSERT INTO audit_events (id, at_us, component, kind, outcome, person, client, ip, \
             details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9), ($10, $11, $12, $13, $14, $15, \
             $16, $17, $18) ON CONFLICT (id) DO NOTHING"
        );
    }

    #[test]
    fn micros_round_trip() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).unwrap();
        assert_eq!(micros(t), 1_700_000_000_123_456);
        assert_eq!(from_micros(micros(t)), Some(t));
        assert_eq!(from_micros(i64::MAX), None);
    }
}
