//! The audit-log and health suites against SQLite and PostgreSQL, plus migration and pragma checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_core::{AuditLog, DurableHealth, StoreError};
use eid_store::testing::{TempPostgresDb, postgres_url_or_skip};
use eid_store::{Backend, SqlDurable, suite};
use sqlx::Row;
use std::time::{Duration, Instant};
use uuid::Uuid;

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("eid.db").display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_audit_log_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqlDurable::connect_and_migrate(&sqlite_url(&dir))
        .await
        .unwrap();
    assert_eq!(db.backend(), Backend::Sqlite);
    suite::durable_health_behaviour(&db).await;
    suite::audit_log_behaviour(&db).await;
    // A second run in the same database sees only its own events.
    suite::audit_log_behaviour(&db).await;
}

#[tokio::test]
async fn sqlite_connect_creates_the_file_sets_pragmas_and_does_not_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let db = SqlDurable::connect(&url).await.unwrap();
    assert!(dir.path().join("eid.db").exists());

    // Not migrated yet: the table is missing.
    let err = db.for_person(Uuid::new_v4(), 1).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");

    db.migrate().await.unwrap();
    db.migrate().await.unwrap();
    assert!(db.for_person(Uuid::new_v4(), 1).await.unwrap().is_empty());

    let pool = db.pool();
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "wal");
    let sync: i64 = sqlx::query("PRAGMA synchronous")
        .fetch_one(pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(sync, 2, "synchronous=FULL");
    let fk: i64 = sqlx::query("PRAGMA foreign_keys")
        .fetch_one(pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(fk, 1);
    let busy: i64 = sqlx::query("PRAGMA busy_timeout")
        .fetch_one(pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(busy, 5000);
    db.close().await;

    // Reopening an existing, migrated file works and keeps the schema.
    let again = SqlDurable::connect_and_migrate(&url).await.unwrap();
    assert!(
        again
            .for_person(Uuid::new_v4(), 1)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn unsupported_url_is_rejected_without_leaking_credentials() {
    let err = SqlDurable::connect("mysql://u:hunter2@localhost/db")
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test]
async fn durable_ping_fails_fast_when_unreachable() {
    let db = SqlDurable::connect_lazy("postgres://postgres:hunter2@127.0.0.1:1/none").unwrap();
    let started = Instant::now();
    let err = db.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let err = SqlDurable::connect("postgres://postgres@127.0.0.1:1/none")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_audit_log_behaviour() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let db = SqlDurable::connect(&temp.url).await.unwrap();
        assert_eq!(db.backend(), Backend::Postgres);
        db.migrate().await.unwrap();
        db.migrate().await.unwrap();
        suite::durable_health_behaviour(&db).await;
        suite::audit_log_behaviour(&db).await;
        suite::audit_log_behaviour(&db).await;
        db.close().await;
    }
    temp.drop_db().await.unwrap();
}

#[tokio::test]
async fn postgres_connect_does_not_migrate() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let db = SqlDurable::connect(&temp.url).await.unwrap();
        let err = db.for_person(Uuid::new_v4(), 1).await.unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
        let db2 = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        assert!(db.for_person(Uuid::new_v4(), 1).await.unwrap().is_empty());
        db.close().await;
        db2.close().await;
    }
    temp.drop_db().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temp_postgres_db_is_dropped_even_without_drop_db() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    let name = temp.name().to_owned();
    let db = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
    drop(temp); // as when a test panics: `Drop` cleans up, despite the open pool
    let admin = SqlDurable::connect(&server).await.unwrap();
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_one(admin.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    assert!(
        db.ping().await.is_err(),
        "the pool's sessions were terminated"
    );
}

#[tokio::test]
async fn sqlite_in_memory_database_works_for_tests() {
    let db = SqlDurable::connect_and_migrate("sqlite::memory:")
        .await
        .unwrap();
    suite::audit_log_behaviour(&db).await;
    suite::durable_health_behaviour(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_audit_writer_takes_hostile_values() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqlDurable::connect_and_migrate(&sqlite_url(&dir))
        .await
        .unwrap();
    suite::audit_writer_hostile_values_behaviour(std::sync::Arc::new(db)).await;
}

/// PostgreSQL refuses NUL in TEXT: without the escaping, the hostile events fail (and, before
/// the writer isolated them, failed every event batched with them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_audit_writer_takes_hostile_values() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let db = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        suite::audit_writer_hostile_values_behaviour(std::sync::Arc::new(db.clone())).await;
        db.close().await;
    }
    temp.drop_db().await.unwrap();
}

/// Property: any text at all, as a client id, is accepted by PostgreSQL and read back as its
/// escaped form, which unescapes to the original when it was not cut.
#[test]
fn postgres_stores_any_text() {
    use eid_core::{AuditEvent, AuditOutcome};
    use eid_store::audit_text::{AuditText, MAX_CLIENT_BYTES, unescape};
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let temp = rt.block_on(TempPostgresDb::create(&server)).unwrap();
    let db = rt
        .block_on(SqlDurable::connect_and_migrate(&temp.url))
        .unwrap();
    let mut runner = TestRunner::new(Config::with_cases(64));
    let result = runner.run(&"(\\PC|\\p{Cc}){0,600}", |raw| {
        rt.block_on(async {
            let person = Uuid::new_v4();
            let event = AuditEvent::new(
                time::OffsetDateTime::now_utc(),
                "broker",
                "prop",
                AuditOutcome::Failure,
            )
            .person(person)
            .client(raw.clone());
            db.append(std::slice::from_ref(&event))
                .await
                .map_err(|e| TestCaseError::fail(format!("refused {raw:?}: {e}")))?;
            let back = db.for_person(person, 1).await.unwrap();
            let stored = back[0].client.clone().unwrap();
            let expected = AuditText::new(&raw, MAX_CLIENT_BYTES).into_string();
            if stored != expected {
                return Err(TestCaseError::fail(format!("{stored:?} != {expected:?}")));
            }
            if stored.len() < MAX_CLIENT_BYTES / 2 && unescape(&stored).as_deref() != Some(&*raw) {
                return Err(TestCaseError::fail(format!("{stored:?} does not unescape")));
            }
            Ok(())
        })
    });
    rt.block_on(db.close());
    rt.block_on(temp.drop_db()).unwrap();
    result.unwrap();
}
