//! The relying-party registry suite against SQLite and PostgreSQL, plus what the port cannot see:
//! undecodable stored documents and the `updated_at_us` column.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_core::{RelyingPartyRepository, RpRegistration, StoreError, SubjectType};
use eid_store::testing::{TempPostgresDb, postgres_url_or_skip};
use eid_store::{SqlDurable, suite};
use time::OffsetDateTime;
use uuid::Uuid;

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("eid.db").display())
}

/// The suite twice: a second run in the same database must not trip over the first one's data.
async fn suite_twice(db: &SqlDurable) {
    for _ in 0..2 {
        suite::relying_party_repository_behaviour(db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_relying_party_repository_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqlDurable::connect_and_migrate(&sqlite_url(&dir))
        .await
        .unwrap();
    suite_twice(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_relying_party_repository_behaviour() {
    let db = SqlDurable::connect_and_migrate("sqlite::memory:")
        .await
        .unwrap();
    suite_twice(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_relying_party_repository_behaviour() {
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
async fn postgres_relying_party_suite_runs_concurrently_from_two_nodes() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let a = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        let b = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        tokio::join!(
            suite::relying_party_repository_behaviour(&a),
            suite::relying_party_repository_behaviour(&b),
        );
        a.close().await;
        b.close().await;
    }
    temp.drop_db().await.unwrap();
}

fn registration(client_id: &str) -> RpRegistration {
    RpRegistration {
        client_id: client_id.to_owned(),
        client_name: "Test".to_owned(),
        redirect_uris: vec!["https://rp.example/cb".to_owned()],
        post_logout_redirect_uris: Vec::new(),
        backchannel_logout_uri: None,
        token_endpoint_auth_method: "client_secret_basic".to_owned(),
        client_secret_sha256: None,
        jwks: None,
        sector: "sector".to_owned(),
        subject_type: SubjectType::Pairwise,
        allowed_claims: Vec::new(),
        accepts_representation: false,
        requires_cpr: false,
        service_areas: Vec::new(),
        id_token_signed_response_alg: "ES256".to_owned(),
        grant_types: vec!["authorization_code".to_owned()],
        require_pushed_authorization_requests: false,
        offline_access: false,
    }
}

fn assert_corrupt_naming<T: std::fmt::Debug>(result: Result<T, StoreError>, client_id: &str) {
    match result {
        Err(StoreError::Corrupt(message)) => assert!(
            message.contains(client_id),
            "{message:?} should name {client_id:?}"
        ),
        other => panic!("{client_id}: expected Corrupt, got {other:?}"),
    }
}

/// A stored document that does not decode (not JSON, an unknown field, a missing required field,
/// another client id inside) is `Corrupt` naming the client id, for `relying_party` and for
/// `relying_parties`; it can still be deleted, after which the list decodes again. Needs a
/// database of its own (the corrupt rows break every listing while they exist).
async fn undecodable_documents_are_corrupt(db: &SqlDurable) {
    let tag = Uuid::new_v4().simple().to_string();
    let good = registration(&format!("good-{tag}"));
    db.upsert_relying_party(&good).await.unwrap();

    let mut unknown_field = serde_json::to_value(registration(&format!("unknown-{tag}"))).unwrap();
    unknown_field["surprise"] = serde_json::json!(true);
    let mut missing_field = serde_json::to_value(registration(&format!("missing-{tag}"))).unwrap();
    missing_field.as_object_mut().unwrap().remove("sector");
    let bad = [
        (format!("not-json-{tag}"), "{not json".to_owned()),
        (format!("unknown-{tag}"), unknown_field.to_string()),
        (format!("missing-{tag}"), missing_field.to_string()),
        (
            format!("other-{tag}"),
            serde_json::to_string(&registration("someone-else")).unwrap(),
        ),
    ];
    for (client_id, document) in &bad {
        sqlx::query(
            "INSERT INTO relying_parties (client_id, document, updated_at_us) VALUES ($1, $2, 0)",
        )
        .bind(client_id.clone())
        .bind(document.clone())
        .execute(db.pool())
        .await
        .unwrap();
    }
    for (client_id, _) in &bad {
        assert_corrupt_naming(db.relying_party(client_id).await, client_id);
    }
    assert_eq!(
        db.relying_party(&good.client_id).await.unwrap(),
        Some(good.clone())
    );
    // The list fails on the first corrupt row in client id order: `missing-…`.
    assert_corrupt_naming(db.relying_parties().await, &format!("missing-{tag}"));

    for (client_id, _) in &bad {
        assert!(db.delete_relying_party(client_id).await.unwrap());
    }
    assert_eq!(db.relying_parties().await.unwrap(), vec![good]);
}

/// `updated_at_us` is the time of the latest upsert.
async fn upsert_stamps_updated_at(db: &SqlDurable) {
    let rp = registration(&format!("stamped-{}", Uuid::new_v4().simple()));
    let stamp = || async {
        let us: i64 =
            sqlx::query_scalar("SELECT updated_at_us FROM relying_parties WHERE client_id = $1")
                .bind(rp.client_id.clone())
                .fetch_one(db.pool())
                .await
                .unwrap();
        us
    };
    let now_us = || i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000).unwrap();

    let before = now_us();
    db.upsert_relying_party(&rp).await.unwrap();
    let first = stamp().await;
    assert!((before..=now_us()).contains(&first), "{first}");

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    db.upsert_relying_party(&rp).await.unwrap();
    let second = stamp().await;
    assert!(second > first, "{second} > {first}");
    assert!(db.delete_relying_party(&rp.client_id).await.unwrap());
}

#[tokio::test]
async fn sqlite_undecodable_documents_and_updated_at() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqlDurable::connect_and_migrate(&sqlite_url(&dir))
        .await
        .unwrap();
    undecodable_documents_are_corrupt(&db).await;
    upsert_stamps_updated_at(&db).await;
}

#[tokio::test]
async fn postgres_undecodable_documents_and_updated_at() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let db = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        undecodable_documents_are_corrupt(&db).await;
        upsert_stamps_updated_at(&db).await;
        db.close().await;
    }
    temp.drop_db().await.unwrap();
}
