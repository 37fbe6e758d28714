//! [`AuthenticatorRepository`] on [`SqlDurable`]: table `authenticators`.

use super::{Backend, SqlDurable, from_micros, map_err, micros};
use async_trait::async_trait;
use eid_core::ports::RemoveOutcome;
use eid_core::{Authenticator, AuthenticatorKind, AuthenticatorRepository, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use uuid::Uuid;

const INSERT: &str = "INSERT INTO authenticators (id, person, kind, label, secret, created_at_us, \
     last_used_us) VALUES ($1, $2, $3, $4, $5, $6, $7)";

const SELECT_FOR_PERSON: &str = "SELECT id, person, kind, label, secret, created_at_us, \
     last_used_us FROM authenticators WHERE person = $1 ORDER BY created_at_us, id";

/// PostgreSQL only: serialises removals of one person's authenticators. Under READ COMMITTED the
/// guarded delete alone is not enough: two removals of a person's last two authenticators would
/// each count two in their own snapshot and both delete. Once the lock is granted, the delete's
/// fresh snapshot sees what the previous holder committed. `NO KEY UPDATE` does not block the
/// key-share locks that inserting authenticators (the foreign key) takes.
const LOCK_PERSON_PG: &str = "SELECT id FROM persons WHERE id = $1 FOR NO KEY UPDATE";

/// Deletes the authenticator unless it is the person's last. On SQLite this one statement takes
/// the database's write lock before it reads, so it is atomic on its own.
const DELETE_UNLESS_LAST: &str = "DELETE FROM authenticators WHERE id = $2 AND person = $1 \
     AND (SELECT COUNT(*) FROM authenticators WHERE person = $1) > 1";

const COUNT_ONE: &str = "SELECT COUNT(*) FROM authenticators WHERE id = $2 AND person = $1";

const RENAME: &str = "UPDATE authenticators SET label = $3 WHERE id = $2 AND person = $1";

const RECORD_USE: &str = "UPDATE authenticators SET last_used_us = $2 WHERE id = $1";

const RECORD_USE_WITH_SECRET: &str =
    "UPDATE authenticators SET last_used_us = $2, secret = $3 WHERE id = $1";

fn decode(row: &AnyRow) -> Result<Authenticator, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("authenticators.{what}"));
    let id: String = row.try_get(0).map_err(map_err)?;
    let person: String = row.try_get(1).map_err(map_err)?;
    let kind: String = row.try_get(2).map_err(map_err)?;
    let created_at_us: i64 = row.try_get(5).map_err(map_err)?;
    let last_used_us: Option<i64> = row.try_get(6).map_err(map_err)?;
    Ok(Authenticator {
        id: Uuid::parse_str(&id).map_err(|_| corrupt("id"))?,
        person: Uuid::parse_str(&person).map_err(|_| corrupt("person"))?,
        kind: AuthenticatorKind::from_stored(&kind).ok_or_else(|| corrupt("kind"))?,
        label: row.try_get(3).map_err(map_err)?,
        secret: row.try_get(4).map_err(map_err)?,
        created_at: from_micros(created_at_us).ok_or_else(|| corrupt("created_at_us"))?,
        last_used_at: last_used_us
            .map(|us| from_micros(us).ok_or_else(|| corrupt("last_used_us")))
            .transpose()?,
    })
}

/// Adding an authenticator for a person not in the register fails (foreign key), as does
/// [`record_use`](AuthenticatorRepository::record_use) of an id that is not stored (for example one
/// removed meanwhile): both with [`StoreError::Backend`]. A duplicate id is `Conflict`.
#[async_trait]
impl AuthenticatorRepository for SqlDurable {
    async fn add_authenticator(&self, a: &Authenticator) -> Result<(), StoreError> {
        self.retrying("add_authenticator", || async move {
            sqlx::query(INSERT)
                .bind(a.id.to_string())
                .bind(a.person.to_string())
                .bind(a.kind.as_str())
                .bind(a.label.clone())
                .bind(a.secret.clone())
                .bind(micros(a.created_at))
                .bind(a.last_used_at.map(micros))
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn authenticators(&self, person: Uuid) -> Result<Vec<Authenticator>, StoreError> {
        self.with_timeout("authenticators", async {
            let rows = sqlx::query(SELECT_FOR_PERSON)
                .bind(person.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
            rows.iter().map(decode).collect()
        })
        .await
    }

    async fn remove_authenticator(
        &self,
        person: Uuid,
        id: Uuid,
    ) -> Result<RemoveOutcome, StoreError> {
        let (person, id) = (person.to_string(), id.to_string());
        let person = &person;
        let id = &id;
        self.retrying("remove_authenticator", || async move {
            let mut tx = self.pool.begin().await.map_err(map_err)?;
            if self.backend == Backend::Postgres {
                sqlx::query(LOCK_PERSON_PG)
                    .bind(person.clone())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
            let deleted = sqlx::query(DELETE_UNLESS_LAST)
                .bind(person.clone())
                .bind(id.clone())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected();
            let outcome = if deleted == 1 {
                RemoveOutcome::Removed
            } else {
                // Still in the transaction (and holding the lock), so this cannot have changed.
                let exists: i64 = sqlx::query(COUNT_ONE)
                    .bind(person.clone())
                    .bind(id.clone())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .try_get(0)
                    .map_err(map_err)?;
                if exists > 0 {
                    RemoveOutcome::RefusedLast
                } else {
                    RemoveOutcome::NotFound
                }
            };
            tx.commit().await.map_err(map_err)?;
            Ok(outcome)
        })
        .await
    }

    async fn rename_authenticator(
        &self,
        person: Uuid,
        id: Uuid,
        label: &str,
    ) -> Result<bool, StoreError> {
        self.retrying("rename_authenticator", || async move {
            let done = sqlx::query(RENAME)
                .bind(person.to_string())
                .bind(id.to_string())
                .bind(label.to_owned())
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    async fn record_use(
        &self,
        id: Uuid,
        at: OffsetDateTime,
        new_secret: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        self.retrying("record_use", || async move {
            let query = match new_secret {
                None => sqlx::query(RECORD_USE)
                    .bind(id.to_string())
                    .bind(micros(at)),
                Some(secret) => sqlx::query(RECORD_USE_WITH_SECRET)
                    .bind(id.to_string())
                    .bind(micros(at))
                    .bind(secret.to_vec()),
            };
            let done = query.execute(&self.pool).await.map_err(map_err)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Backend(format!(
                    "record_use: no authenticator {id}"
                )));
            }
            Ok(())
        })
        .await
    }
}
