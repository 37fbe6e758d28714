//! The change feed on PostgreSQL: a registry change committed through one store reaches a listener
//! within a second, a rolled-back one does not, a key notice is told apart, and a lost session
//! counts as a change of everything; after a failover the feed listens where the writes go.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use eid_core::RelyingPartyRepository;
use eid_store::SqlDurable;
use eid_store::change_feed::{Feed, Versions, listen, publish_keys};
use eid_store::suite::minimal_registration as registration;
use eid_store::testing::pg_pair::{Node, PgPair};
use eid_store::testing::{TempPostgresDb, postgres_url_or_skip};
use sqlx::Connection;

/// Waits up to `within` for the feed's counters to satisfy `done`.
async fn heard(feed: &mut Feed, within: Duration, done: impl Fn(&Versions) -> bool) -> bool {
    tokio::time::timeout(within, async {
        loop {
            if done(&feed.versions.borrow_and_update()) {
                return;
            }
            if feed.versions.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    })
    .await
    .is_ok()
}

/// A database with the schema, a store on it and a feed listening on it (after its first
/// subscription).
async fn setup() -> Option<(TempPostgresDb, SqlDurable, Feed)> {
    let server = postgres_url_or_skip()?;
    let db = TempPostgresDb::create(&server).await.unwrap();
    let store = SqlDurable::connect_and_migrate(&db.url).await.unwrap();
    let url = db.url.clone();
    let mut feed = listen(move || url.clone(), None);
    assert!(
        heard(&mut feed, Duration::from_secs(5), |v| v.resyncs == 1).await,
        "the feed subscribes"
    );
    Some((db, store, feed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_registry_change_reaches_a_listener_within_a_second() {
    let Some((db, store, mut feed)) = setup().await else {
        return;
    };
    // Another node's store on the same database.
    let other = SqlDurable::connect(&db.url).await.unwrap();
    let before = *feed.versions.borrow();
    other
        .upsert_relying_party(&registration("feed-new"))
        .await
        .unwrap();
    assert!(
        heard(&mut feed, Duration::from_secs(1), |v| v.registry
            > before.registry)
        .await,
        "an upsert is heard within 1 s"
    );
    let before = *feed.versions.borrow();
    assert!(store.delete_relying_party("feed-new").await.unwrap());
    assert!(
        heard(&mut feed, Duration::from_secs(1), |v| v.registry
            > before.registry)
        .await,
        "a delete is heard within 1 s"
    );
    assert_eq!(feed.versions.borrow().keys, before.keys, "not a key change");
    assert_eq!(feed.versions.borrow().resyncs, 1, "no reconnect meanwhile");
    drop(other);
    drop(feed);
    drop(store);
    db.drop_db().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_change_is_not_announced() {
    let Some((db, store, mut feed)) = setup().await else {
        return;
    };
    store
        .upsert_relying_party(&registration("feed-kept"))
        .await
        .unwrap();
    assert!(heard(&mut feed, Duration::from_secs(1), |v| v.registry >= 2).await);
    let before = *feed.versions.borrow();
    let mut conn = sqlx::postgres::PgConnection::connect(&db.url)
        .await
        .unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("DELETE FROM relying_parties")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(
        !heard(&mut feed, Duration::from_millis(500), |v| v.registry
            > before.registry)
        .await,
        "a rolled-back delete says nothing"
    );
    // The same statement committed is heard: the silence above was the rollback's.
    sqlx::query("DELETE FROM relying_parties")
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(
        heard(&mut feed, Duration::from_secs(1), |v| v.registry
            > before.registry)
        .await
    );
    conn.close().await.unwrap();
    drop(feed);
    drop(store);
    db.drop_db().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_notice_is_heard_as_a_key_change() {
    let Some((db, store, mut feed)) = setup().await else {
        return;
    };
    let before = *feed.versions.borrow();
    publish_keys(&db.url, "broker").await.unwrap();
    assert!(heard(&mut feed, Duration::from_secs(1), |v| v.keys > before.keys).await);
    assert_eq!(feed.versions.borrow().registry, before.registry);
    drop(feed);
    drop(store);
    db.drop_db().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_session_counts_as_a_change_of_everything_and_listening_resumes() {
    let Some((db, store, mut feed)) = setup().await else {
        return;
    };
    let before = *feed.versions.borrow();
    let mut admin = sqlx::postgres::PgConnection::connect(&db.url)
        .await
        .unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!killed.is_empty(), "the feed's session was found");
    assert!(
        heard(&mut feed, Duration::from_secs(5), |v| v.resyncs
            > before.resyncs
            && v.registry > before.registry
            && v.keys > before.keys)
        .await,
        "a reconnect re-reads everything: {:?}",
        feed.versions.borrow()
    );
    // And the new session hears notices again.
    let after = *feed.versions.borrow();
    store
        .upsert_relying_party(&registration("feed-after"))
        .await
        .unwrap();
    assert!(
        heard(&mut feed, Duration::from_secs(1), |v| v.registry
            > after.registry)
        .await
    );
    admin.close().await.unwrap();
    drop(feed);
    drop(store);
    db.drop_db().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failover_the_feed_listens_where_the_writes_go() {
    let Some(pair) = PgPair::start() else {
        return;
    };
    let pair = Arc::new(pair);
    let url = pair.url(
        &[Node::Primary, Node::Replica],
        "target_session_attrs=read-write",
    );
    let db = Arc::new(SqlDurable::connect_and_migrate(&url).await.unwrap());
    let source = Arc::clone(&db);
    let mut feed = listen(
        move || source.postgres_url().unwrap_or_default(),
        db.postgres_switches(),
    );
    assert!(heard(&mut feed, Duration::from_secs(5), |v| v.resyncs == 1).await);

    // The old primary stays up but read-only (its LISTEN session would live on, deaf to the
    // writes), and the replica is promoted.
    let mut admin = sqlx::postgres::PgConnection::connect(&pair.url(&[Node::Primary], ""))
        .await
        .unwrap();
    sqlx::query("ALTER SYSTEM SET default_transaction_read_only = on")
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_reload_conf()")
        .execute(&mut admin)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let promoting = Arc::clone(&pair);
    tokio::task::spawn_blocking(move || promoting.promote())
        .await
        .unwrap();
    let started = Instant::now();
    while db
        .upsert_relying_party(&registration("feed-switch"))
        .await
        .is_err()
    {
        assert!(started.elapsed() < Duration::from_secs(10), "no switch");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        heard(&mut feed, Duration::from_secs(5), |v| v.resyncs >= 2).await,
        "the feed left the old primary: {:?}",
        feed.versions.borrow()
    );
    let before = *feed.versions.borrow();
    db.upsert_relying_party(&registration("feed-heard"))
        .await
        .unwrap();
    assert!(
        heard(&mut feed, Duration::from_secs(1), |v| v.registry
            > before.registry)
        .await,
        "a change on the new primary is heard"
    );
    admin.close().await.unwrap();
}
