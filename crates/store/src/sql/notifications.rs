//! [`NotificationOutbox`] on [`SqlDurable`]: table `notifications`.

use super::{SqlDurable, from_micros, map_err, micros};
use crate::notifications::{Notification, NotificationOutbox, valid_kind};
use async_trait::async_trait;
use eid_core::StoreError;
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use uuid::Uuid;

const INSERT: &str = "INSERT INTO notifications (id, person, kind, details, created_at_us, \
     sent_at_us) VALUES ($1, $2, $3, $4, $5, $6)";

const SELECT_PENDING: &str = "SELECT id, person, kind, details, created_at_us, sent_at_us \
     FROM notifications WHERE sent_at_us IS NULL ORDER BY created_at_us, id LIMIT $1";

const SELECT_FOR_PERSON: &str = "SELECT id, person, kind, details, created_at_us, sent_at_us \
     FROM notifications WHERE person = $1 ORDER BY created_at_us DESC, id DESC LIMIT $2";

const MARK_SENT: &str =
    "UPDATE notifications SET sent_at_us = $2 WHERE id = $1 AND sent_at_us IS NULL";

fn decode(row: &AnyRow) -> Result<Notification, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("notifications.{what}"));
    let id: String = row.try_get(0).map_err(map_err)?;
    let person: String = row.try_get(1).map_err(map_err)?;
    let details: String = row.try_get(3).map_err(map_err)?;
    let created_at_us: i64 = row.try_get(4).map_err(map_err)?;
    let sent_at_us: Option<i64> = row.try_get(5).map_err(map_err)?;
    Ok(Notification {
        id: Uuid::parse_str(&id).map_err(|_| corrupt("id"))?,
        person: Uuid::parse_str(&person).map_err(|_| corrupt("person"))?,
        kind: row.try_get(2).map_err(map_err)?,
        details: serde_json::from_str(&details).map_err(|_| corrupt("details"))?,
        created_at: from_micros(created_at_us).ok_or_else(|| corrupt("created_at_us"))?,
        sent_at: sent_at_us
            .map(|us| from_micros(us).ok_or_else(|| corrupt("sent_at_us")))
            .transpose()?,
    })
}

fn limit(n: u32) -> i64 {
    i64::from(n)
}

#[async_trait]
impl NotificationOutbox for SqlDurable {
    async fn enqueue(&self, n: &Notification) -> Result<(), StoreError> {
        if !valid_kind(&n.kind) {
            return Err(StoreError::Backend(
                "notification kind is not printable ASCII".into(),
            ));
        }
        // serde_json escapes every control character (NUL included) in its output.
        let details = serde_json::to_string(&n.details)
            .map_err(|e| StoreError::Backend(format!("notification details: {e}")))?;
        let details = &details;
        self.retrying("enqueue_notification", || async move {
            sqlx::query(INSERT)
                .bind(n.id.to_string())
                .bind(n.person.to_string())
                .bind(n.kind.clone())
                .bind(details.clone())
                .bind(micros(n.created_at))
                .bind(n.sent_at.map(micros))
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn pending(&self, n: u32) -> Result<Vec<Notification>, StoreError> {
        self.with_timeout("pending_notifications", async {
            let rows = sqlx::query(SELECT_PENDING)
                .bind(limit(n))
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
            rows.iter().map(decode).collect()
        })
        .await
    }

    async fn mark_sent(&self, id: Uuid, at: OffsetDateTime) -> Result<bool, StoreError> {
        self.retrying("mark_notification_sent", || async move {
            let done = sqlx::query(MARK_SENT)
                .bind(id.to_string())
                .bind(micros(at))
                .execute(&self.pool)
                .await
                .map_err(map_err)?
                .rows_affected();
            Ok(done == 1)
        })
        .await
    }

    async fn for_person(&self, person: Uuid, n: u32) -> Result<Vec<Notification>, StoreError> {
        self.with_timeout("notifications_for_person", async {
            let rows = sqlx::query(SELECT_FOR_PERSON)
                .bind(person.to_string())
                .bind(limit(n))
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
            rows.iter().map(decode).collect()
        })
        .await
    }
}
