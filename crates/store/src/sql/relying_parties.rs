//! [`RelyingPartyRepository`] on [`SqlDurable`]: table `relying_parties`, one JSON document per
//! client id.

use super::{SqlDurable, map_err, micros, storable_key, unstorable};
use async_trait::async_trait;
use eid_core::{RelyingPartyRepository, RpRegistration, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

/// Inserts, or replaces the whole document of the same client id.
const UPSERT: &str = "INSERT INTO relying_parties (client_id, document, updated_at_us) \
     VALUES ($1, $2, $3) ON CONFLICT (client_id) DO UPDATE SET document = excluded.document, \
     updated_at_us = excluded.updated_at_us";

const SELECT_ONE: &str = "SELECT client_id, document FROM relying_parties WHERE client_id = $1";

/// Bytewise order on both backends (the PostgreSQL column is `COLLATE "C"`).
const SELECT_ALL: &str = "SELECT client_id, document FROM relying_parties ORDER BY client_id";

const DELETE: &str = "DELETE FROM relying_parties WHERE client_id = $1";

/// The registration of a row; `Corrupt` (naming the client id) if the document does not decode or
/// names another client id.
fn decode(row: &AnyRow) -> Result<RpRegistration, StoreError> {
    let client_id: String = row.try_get(0).map_err(map_err)?;
    let document: String = row.try_get(1).map_err(map_err)?;
    let rp: RpRegistration = serde_json::from_str(&document).map_err(|e| {
        StoreError::Corrupt(format!(
            "relying_parties.document of client {client_id:?}: {e}"
        ))
    })?;
    if rp.client_id != client_id {
        return Err(StoreError::Corrupt(format!(
            "relying_parties.document of client {client_id:?} names client {:?}",
            rp.client_id
        )));
    }
    Ok(rp)
}

#[async_trait]
impl RelyingPartyRepository for SqlDurable {
    async fn upsert_relying_party(&self, rp: &RpRegistration) -> Result<(), StoreError> {
        if !storable_key(&rp.client_id) {
            return Err(unstorable("client id"));
        }
        let document = serde_json::to_string(rp).map_err(|e| {
            StoreError::Backend(format!(
                "relying party {:?} not storable: {e}",
                rp.client_id
            ))
        })?;
        let document = &document;
        self.retrying("upsert_relying_party", || async move {
            sqlx::query(UPSERT)
                .bind(rp.client_id.clone())
                .bind(document.clone())
                .bind(micros(OffsetDateTime::now_utc()))
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn relying_party(&self, client_id: &str) -> Result<Option<RpRegistration>, StoreError> {
        if !storable_key(client_id) {
            return Ok(None);
        }
        self.with_timeout("relying_party", async {
            let row = sqlx::query(SELECT_ONE)
                .bind(client_id.to_owned())
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
            row.as_ref().map(decode).transpose()
        })
        .await
    }

    async fn relying_parties(&self) -> Result<Vec<RpRegistration>, StoreError> {
        self.with_timeout("relying_parties", async {
            let rows = sqlx::query(SELECT_ALL)
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
            rows.iter().map(decode).collect()
        })
        .await
    }

    async fn delete_relying_party(&self, client_id: &str) -> Result<bool, StoreError> {
        if !storable_key(client_id) {
            return Ok(false);
        }
        self.retrying("delete_relying_party", || async move {
            let done = sqlx::query(DELETE)
                .bind(client_id.to_owned())
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }
}
