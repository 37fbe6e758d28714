//! The protocol-message suite (writing with audit events, reading, retention) against the three
//! durable backends: SQLite in memory (the tests' and demos' store), an SQLite file and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_store::testing::{TempPostgresDb, postgres_url_or_skip};
use eid_store::{SqlDurable, suite};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_protocol_message_log_behaviour() {
    let db = Arc::new(
        SqlDurable::connect_and_migrate("sqlite::memory:")
            .await
            .unwrap(),
    );
    suite::protocol_message_log_behaviour(db.clone()).await;
    suite::protocol_message_log_behaviour(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_protocol_message_log_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("eid.db").display());
    let db = Arc::new(SqlDurable::connect_and_migrate(&url).await.unwrap());
    suite::protocol_message_log_behaviour(db.clone()).await;
    suite::protocol_message_log_behaviour(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_protocol_message_log_behaviour() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let db = Arc::new(SqlDurable::connect_and_migrate(&temp.url).await.unwrap());
        suite::protocol_message_log_behaviour(db.clone()).await;
        suite::protocol_message_log_behaviour(db.clone()).await;
        db.close().await;
    }
    temp.drop_db().await.unwrap();
}
