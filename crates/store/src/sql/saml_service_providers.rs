//! [`SamlServiceProviderRepository`] on [`SqlDurable`]: table `saml_service_providers`, one JSON
//! document per entity ID, with a revision counter for conditional replaces.

use super::{SqlDurable, from_micros, map_err, micros, storable_key, unstorable};
use async_trait::async_trait;
use eid_core::saml_registration::MAX_SAML_METADATA_BYTES;
use eid_core::{SamlServiceProviderRepository, SamlSpRegistration, StoreError, StoredSamlSp};
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

/// Inserts at revision 1, or replaces the whole document and counts the revision up.
const UPSERT: &str = "INSERT INTO saml_service_providers (entity_id, document, revision, updated_at_us) \
     VALUES ($1, $2, 1, $3) ON CONFLICT (entity_id) DO UPDATE SET document = excluded.document, \
     revision = saml_service_providers.revision + 1, updated_at_us = excluded.updated_at_us";

/// Replaces only over the revision the caller read.
const REPLACE: &str = "UPDATE saml_service_providers SET document = $2, revision = revision + 1, \
     updated_at_us = $3 WHERE entity_id = $1 AND revision = $4";

const SELECT_ONE: &str = "SELECT entity_id, document, revision, updated_at_us \
     FROM saml_service_providers WHERE entity_id = $1";

/// Bytewise order on both backends (the PostgreSQL column is `COLLATE "C"`).
const SELECT_ALL: &str = "SELECT entity_id, document, revision, updated_at_us \
     FROM saml_service_providers ORDER BY entity_id";

const DELETE: &str = "DELETE FROM saml_service_providers WHERE entity_id = $1";

/// The stored registration of a row; `Corrupt` (naming the entity ID) if the document does not
/// decode, names another entity ID, or the time is out of range.
fn decode(row: &AnyRow) -> Result<StoredSamlSp, StoreError> {
    let entity_id: String = row.try_get(0).map_err(map_err)?;
    let document: String = row.try_get(1).map_err(map_err)?;
    let revision: i64 = row.try_get(2).map_err(map_err)?;
    let updated_at_us: i64 = row.try_get(3).map_err(map_err)?;
    let corrupt = |what: String| {
        StoreError::Corrupt(format!(
            "saml_service_providers row of entity {entity_id:?}: {what}"
        ))
    };
    let registration: SamlSpRegistration =
        serde_json::from_str(&document).map_err(|e| corrupt(format!("document: {e}")))?;
    if registration.entity_id != entity_id {
        return Err(corrupt(format!(
            "document names entity {:?}",
            registration.entity_id
        )));
    }
    let updated_at = from_micros(updated_at_us).ok_or_else(|| corrupt("updated_at_us".into()))?;
    Ok(StoredSamlSp {
        registration,
        revision,
        updated_at,
    })
}

/// The document of a registration the store accepts.
fn document(sp: &SamlSpRegistration) -> Result<String, StoreError> {
    if !storable_key(&sp.entity_id) {
        return Err(unstorable("entity ID"));
    }
    if sp.metadata.len() > MAX_SAML_METADATA_BYTES {
        return Err(StoreError::Backend(format!(
            "metadata of {:?} is larger than {MAX_SAML_METADATA_BYTES} bytes",
            sp.entity_id
        )));
    }
    serde_json::to_string(sp).map_err(|e| {
        StoreError::Backend(format!(
            "SAML service provider {:?} not storable: {e}",
            sp.entity_id
        ))
    })
}

#[async_trait]
impl SamlServiceProviderRepository for SqlDurable {
    async fn upsert_saml_sp(&self, sp: &SamlSpRegistration) -> Result<(), StoreError> {
        let document = document(sp)?;
        let document = &document;
        self.retrying("upsert_saml_sp", || async move {
            sqlx::query(UPSERT)
                .bind(sp.entity_id.clone())
                .bind(document.clone())
                .bind(micros(OffsetDateTime::now_utc()))
                .execute(self.pool())
                .await
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn replace_saml_sp(
        &self,
        sp: &SamlSpRegistration,
        revision: i64,
    ) -> Result<bool, StoreError> {
        let document = document(sp)?;
        let document = &document;
        self.retrying("replace_saml_sp", || async move {
            let done = sqlx::query(REPLACE)
                .bind(sp.entity_id.clone())
                .bind(document.clone())
                .bind(micros(OffsetDateTime::now_utc()))
                .bind(revision)
                .execute(self.pool())
                .await
                .map_err(map_err)?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    async fn saml_sp(&self, entity_id: &str) -> Result<Option<StoredSamlSp>, StoreError> {
        if !storable_key(entity_id) {
            return Ok(None);
        }
        self.with_timeout("saml_sp", async {
            let row = sqlx::query(SELECT_ONE)
                .bind(entity_id.to_owned())
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)?;
            row.as_ref().map(decode).transpose()
        })
        .await
    }

    async fn saml_sps(&self) -> Result<Vec<StoredSamlSp>, StoreError> {
        self.with_timeout("saml_sps", async {
            let rows = sqlx::query(SELECT_ALL)
                .fetch_all(self.pool())
                .await
                .map_err(map_err)?;
            rows.iter().map(decode).collect()
        })
        .await
    }

    async fn delete_saml_sp(&self, entity_id: &str) -> Result<bool, StoreError> {
        if !storable_key(entity_id) {
            return Ok(false);
        }
        self.retrying("delete_saml_sp", || async move {
            let done = sqlx::query(DELETE)
                .bind(entity_id.to_owned())
                .execute(self.pool())
                .await
                .map_err(map_err)?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }
}
