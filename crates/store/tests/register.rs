//! The person-register and authenticator suites against SQLite and PostgreSQL, plus the schema's
//! cascade from a person to their authenticators.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_core::{
    Authenticator, AuthenticatorKind, AuthenticatorRepository, Cpr, Loa, Person, PersonRepository,
    PersonStatus,
};
use eid_store::testing::{TempPostgresDb, postgres_url_or_skip};
use eid_store::{SqlDurable, suite};
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("eid.db").display())
}

/// Both suites, twice: a second run in the same database must not trip over the first one's data.
async fn both_suites_twice(db: &SqlDurable) {
    for _ in 0..2 {
        suite::person_repository_behaviour(db).await;
        suite::authenticator_repository_behaviour(Arc::new(db.clone()), Arc::new(db.clone())).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_person_and_authenticator_repository_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqlDurable::connect_and_migrate(&sqlite_url(&dir))
        .await
        .unwrap();
    both_suites_twice(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_person_and_authenticator_repository_behaviour() {
    let db = SqlDurable::connect_and_migrate("sqlite::memory:")
        .await
        .unwrap();
    both_suites_twice(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_person_and_authenticator_repository_behaviour() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let db = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        both_suites_twice(&db).await;
        db.close().await;
    }
    temp.drop_db().await.unwrap();
}

/// Two pools on one PostgreSQL database (as two broker nodes): the suites run concurrently on
/// both, and removals racing across the nodes still never remove a person's last authenticator.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_suites_run_concurrently_from_two_nodes() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let a = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        let b = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        tokio::join!(
            suite::person_repository_behaviour(&a),
            suite::person_repository_behaviour(&b),
            suite::authenticator_repository_behaviour(Arc::new(a.clone()), Arc::new(b.clone())),
            suite::authenticator_repository_behaviour(Arc::new(b.clone()), Arc::new(a.clone())),
        );
        a.close().await;
        b.close().await;
    }
    temp.drop_db().await.unwrap();
}

/// Deleting a person (an operator's action; not in the port) deletes their authenticators.
async fn deleting_a_person_deletes_their_authenticators(db: &SqlDurable) {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let person = Person {
        id: Uuid::new_v4(),
        cpr: Cpr::parse("0101011234").unwrap(),
        given_name: "Cas".to_owned(),
        family_name: "Cade".to_owned(),
        birthdate: now.date(),
        ial: Loa::Low,
        status: PersonStatus::Active,
        legally_competent: true,
        user_id: None,
        created_at: now,
    };
    db.upsert_person(&person).await.unwrap();
    let a = Authenticator {
        id: Uuid::new_v4(),
        person: person.id,
        kind: AuthenticatorKind::Password,
        label: "pw".to_owned(),
        secret: b"hash".to_vec(),
        created_at: now,
        last_used_at: None,
    };
    db.add_authenticator(&a).await.unwrap();
    assert_eq!(db.authenticators(person.id).await.unwrap(), vec![a]);
    sqlx::query("DELETE FROM persons WHERE id = $1")
        .bind(person.id.to_string())
        .execute(db.pool())
        .await
        .unwrap();
    assert!(db.authenticators(person.id).await.unwrap().is_empty());
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM authenticators WHERE person = $1")
        .bind(person.id.to_string())
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn sqlite_deleting_a_person_cascades_to_authenticators() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqlDurable::connect_and_migrate(&sqlite_url(&dir))
        .await
        .unwrap();
    deleting_a_person_deletes_their_authenticators(&db).await;
}

#[tokio::test]
async fn postgres_deleting_a_person_cascades_to_authenticators() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let db = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        deleting_a_person_deletes_their_authenticators(&db).await;
        db.close().await;
    }
    temp.drop_db().await.unwrap();
}

/// Migration 0005: the English default labels stored before people named their authenticators
/// become "no name" (''), over-long labels are cut to 40 characters, names people gave stay. Its
/// statements are run again on data written after the migration (they are idempotent).
async fn labels_migration_tidies_old_labels(db: &SqlDurable, sql: &str) {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let person = Person {
        id: Uuid::new_v4(),
        cpr: Cpr::parse("0202021234").unwrap(),
        given_name: "Lis".to_owned(),
        family_name: "Label".to_owned(),
        birthdate: now.date(),
        ial: Loa::Low,
        status: PersonStatus::Active,
        legally_competent: true,
        user_id: None,
        created_at: now,
    };
    db.upsert_person(&person).await.unwrap();
    let long = "æ".repeat(50);
    let labels = [
        "Password",
        "Code display",
        "Phone",
        "Passkey",
        "Min nøgle",
        &long,
    ];
    for (i, label) in labels.iter().enumerate() {
        db.add_authenticator(&Authenticator {
            id: Uuid::new_v4(),
            person: person.id,
            kind: AuthenticatorKind::CodeDisplay,
            label: (*label).to_owned(),
            secret: b"s".to_vec(),
            created_at: now + time::Duration::seconds(i64::try_from(i).unwrap()),
            last_used_at: None,
        })
        .await
        .unwrap();
    }
    let statements: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    for statement in statements
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(db.pool())
            .await
            .unwrap();
    }
    let after: Vec<String> = db
        .authenticators(person.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.label)
        .collect();
    assert_eq!(
        after,
        ["", "", "", "", "Min nøgle", &"æ".repeat(40)].map(str::to_owned)
    );
}

#[tokio::test]
async fn sqlite_labels_migration_tidies_old_labels() {
    let db = SqlDurable::connect_and_migrate("sqlite::memory:")
        .await
        .unwrap();
    labels_migration_tidies_old_labels(
        &db,
        include_str!("../migrations/sqlite/0005_authenticator_labels.sql"),
    )
    .await;
}

#[tokio::test]
async fn postgres_labels_migration_tidies_old_labels() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let db = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        labels_migration_tidies_old_labels(
            &db,
            include_str!("../migrations/postgres/0005_authenticator_labels.sql"),
        )
        .await;
        db.close().await;
    }
    temp.drop_db().await.unwrap();
}
