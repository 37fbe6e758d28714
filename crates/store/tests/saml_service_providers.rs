//! The SAML service-provider registry suite against an SQLite file, in-memory SQLite (the embedded
//! memory backend) and PostgreSQL, plus what the port cannot see: undecodable stored documents.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_core::{SamlServiceProviderRepository, SamlSpRegistration, StoreError};
use eid_store::testing::{TempPostgresDb, postgres_url_or_skip};
use eid_store::{SqlDurable, suite};
use uuid::Uuid;

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("eid.db").display())
}

/// The suite twice: a second run in the same database must not trip over the first one's data.
async fn suite_twice(db: &SqlDurable) {
    for _ in 0..2 {
        suite::saml_service_provider_repository_behaviour(db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_saml_service_provider_repository_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqlDurable::connect_and_migrate(&sqlite_url(&dir))
        .await
        .unwrap();
    suite_twice(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_saml_service_provider_repository_behaviour() {
    let db = SqlDurable::connect_and_migrate("sqlite::memory:")
        .await
        .unwrap();
    suite_twice(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_saml_service_provider_repository_behaviour() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let db = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        suite_twice(&db).await;
        db.close().await;
    }
    temp.drop_db().await.unwrap();
}

/// Two pools on one PostgreSQL database (as two broker nodes) run the suite concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_saml_suite_runs_concurrently_from_two_nodes() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let a = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        let b = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        tokio::join!(
            suite::saml_service_provider_repository_behaviour(&a),
            suite::saml_service_provider_repository_behaviour(&b),
        );
        a.close().await;
        b.close().await;
    }
    temp.drop_db().await.unwrap();
}

fn registration(entity_id: &str) -> SamlSpRegistration {
    SamlSpRegistration {
        entity_id: entity_id.to_owned(),
        name: "Test".to_owned(),
        sector: "sector".to_owned(),
        release: Vec::new(),
        aes_cbc: false,
        accepts_representation: false,
        requires_cpr: false,
        service_areas: Vec::new(),
        metadata: "<EntityDescriptor/>".to_owned(),
        metadata_url: None,
    }
}

fn assert_corrupt_naming<T: std::fmt::Debug>(result: Result<T, StoreError>, entity_id: &str) {
    match result {
        Err(StoreError::Corrupt(message)) => assert!(
            message.contains(entity_id),
            "{message:?} should name {entity_id:?}"
        ),
        other => panic!("{entity_id}: expected Corrupt, got {other:?}"),
    }
}

/// A stored document that does not decode (not JSON, an unknown field, a missing required field,
/// another entity ID inside) is `Corrupt` naming the entity ID, for `saml_sp` and `saml_sps`; it
/// can still be deleted, after which the list decodes again.
async fn undecodable_documents_are_corrupt(db: &SqlDurable) {
    let tag = Uuid::new_v4().simple().to_string();
    let good = registration(&format!("good-{tag}"));
    db.upsert_saml_sp(&good).await.unwrap();

    let mut unknown_field = serde_json::to_value(registration(&format!("unknown-{tag}"))).unwrap();
    unknown_field["surprise"] = serde_json::json!(true);
    let mut missing_field = serde_json::to_value(registration(&format!("missing-{tag}"))).unwrap();
    missing_field.as_object_mut().unwrap().remove("metadata");
    let bad = [
        (format!("not-json-{tag}"), "{not json".to_owned()),
        (format!("unknown-{tag}"), unknown_field.to_string()),
        (format!("missing-{tag}"), missing_field.to_string()),
        (
            format!("other-{tag}"),
            serde_json::to_string(&registration("someone-else")).unwrap(),
        ),
    ];
    for (entity_id, document) in &bad {
        sqlx::query(
            "INSERT INTO saml_service_providers (entity_id, document, revision, updated_at_us) \
             VALUES ($1, $2, 1, 0)",
        )
        .bind(entity_id.clone())
        .bind(document.clone())
        .execute(db.pool())
        .await
        .unwrap();
    }
    for (entity_id, _) in &bad {
        assert_corrupt_naming(db.saml_sp(entity_id).await, entity_id);
    }
    assert_eq!(
        db.saml_sp(&good.entity_id)
            .await
            .unwrap()
            .unwrap()
            .registration,
        good
    );
    // The list fails on the first corrupt row in entity ID order: `missing-…`.
    assert_corrupt_naming(db.saml_sps().await, &format!("missing-{tag}"));
    for (entity_id, _) in &bad {
        assert!(db.delete_saml_sp(entity_id).await.unwrap());
    }
    let listed: Vec<_> = db
        .saml_sps()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.registration)
        .collect();
    assert_eq!(listed, vec![good]);
}

#[tokio::test]
async fn sqlite_undecodable_saml_documents_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqlDurable::connect_and_migrate(&sqlite_url(&dir))
        .await
        .unwrap();
    undecodable_documents_are_corrupt(&db).await;
}

#[tokio::test]
async fn postgres_undecodable_saml_documents_are_corrupt() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let db = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        undecodable_documents_are_corrupt(&db).await;
        db.close().await;
    }
    temp.drop_db().await.unwrap();
}
