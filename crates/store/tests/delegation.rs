//! The delegation registry's store suite against an SQLite file, in-memory SQLite and PostgreSQL,
//! plus the plan of the login lookup on PostgreSQL (it must start from the agent index).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_store::testing::{TempPostgresDb, postgres_url_or_skip};
use eid_store::{SqlDurable, suite};

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("eid.db").display())
}

/// The suite twice: a second run in the same database must not trip over the first one's data.
async fn suite_twice(db: &SqlDurable) {
    for _ in 0..2 {
        suite::delegation_repository_behaviour(db, db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_delegation_repository_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqlDurable::connect_and_migrate(&sqlite_url(&dir))
        .await
        .unwrap();
    suite_twice(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_delegation_repository_behaviour() {
    let db = SqlDurable::connect_and_migrate("sqlite::memory:")
        .await
        .unwrap();
    suite_twice(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_delegation_repository_behaviour() {
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
