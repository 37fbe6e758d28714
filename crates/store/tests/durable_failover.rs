//! PostgreSQL failover of the durable store, against a primary and a streaming replica started by
//! each test ([`PgPair`]): a libpq-style host list with `target_session_attrs=read-write` follows a
//! promoted replica, skips a standby listed first, rides out a restart of the primary, never uses a
//! standby for writes, and retries a write that a read-only server refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_core::{
    AuditEvent, AuditLog, AuditOutcome, DurableHealth, RelyingPartyRepository, StoreError,
};
use eid_store::SqlDurable;
use eid_store::suite::minimal_registration as registration;
use eid_store::testing::pg_pair::{Node, PgPair};
use sqlx::{Connection, Executor};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use uuid::Uuid;

const READ_WRITE: &str = "target_session_attrs=read-write";
/// Writes succeed again within this long after a failover or restart.
const RECOVERY_BOUND: Duration = Duration::from_secs(5);

/// What the writes of a test left behind: the RPs upserted and the audit events acknowledged.
#[derive(Default)]
struct Written {
    rps: Vec<String>,
    events: Vec<Uuid>,
}

impl Written {
    /// One RP upsert and one audit append for `person`, through the store's ports.
    async fn round(&mut self, db: &SqlDurable, person: Uuid) -> Result<(), StoreError> {
        let client_id = format!("rp-{}", self.rps.len());
        db.upsert_relying_party(&registration(&client_id)).await?;
        let event = AuditEvent::new(
            OffsetDateTime::now_utc(),
            "broker",
            "token.issued",
            AuditOutcome::Success,
        )
        .person(person);
        let id = event.id;
        db.append(&[event]).await?;
        self.rps.push(client_id);
        self.events.push(id);
        Ok(())
    }

    /// Rounds until one succeeds; every failure meanwhile must be `Unavailable`. Panics after
    /// [`RECOVERY_BOUND`]. Returns how long it took and how many rounds failed.
    async fn until_recovered(&mut self, db: &SqlDurable, person: Uuid) -> (Duration, u32) {
        let started = Instant::now();
        let mut failed = 0;
        loop {
            match self.round(db, person).await {
                Ok(()) => return (started.elapsed(), failed),
                Err(StoreError::Unavailable(_)) => failed += 1,
                Err(other) => panic!("a write failed with {other:?}, not Unavailable"),
            }
            assert!(
                started.elapsed() < RECOVERY_BOUND,
                "writes did not recover within {RECOVERY_BOUND:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every acknowledged write is in `db`.
    async fn assert_present(&self, db: &SqlDurable, person: Uuid) {
        let stored: Vec<String> = db
            .relying_parties()
            .await
            .unwrap()
            .into_iter()
            .map(|rp| rp.client_id)
            .collect();
        for rp in &self.rps {
            assert!(stored.contains(rp), "{rp} is missing");
        }
        let events: Vec<Uuid> = db
            .for_person(person, 1000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        for id in &self.events {
            assert!(events.contains(id), "audit event {id} is missing");
        }
    }
}

/// Whether `db` now uses the server of `node`.
fn uses(db: &SqlDurable, pair: &PgPair, node: Node) -> bool {
    let url = db.postgres_url().unwrap();
    url.contains(&format!("127.0.0.1:{}/", pair.port(node)))
}

/// Waits until the replica has the schema (it streams from the primary).
async fn until_replicated(replica: &SqlDurable) {
    let started = Instant::now();
    while replica.relying_parties().await.is_err() {
        assert!(
            started.elapsed() < RECOVERY_BOUND,
            "schema never replicated"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_follow_a_promoted_replica_and_fail_meanwhile_only_as_unavailable() {
    let Some(pair) = PgPair::start() else { return };
    let url = pair.url(&[Node::Primary, Node::Replica], READ_WRITE);
    let db = SqlDurable::connect_and_migrate(&url).await.unwrap();
    assert!(uses(&db, &pair, Node::Primary));
    let mut switches = db.postgres_switches().unwrap();
    let person = Uuid::new_v4();
    let mut written = Written::default();
    for _ in 0..5 {
        written.round(&db, person).await.unwrap();
    }

    pair.stop_primary();
    pair.promote();
    let (took, failed) = written.until_recovered(&db, person).await;
    eprintln!("failover: writes recovered after {took:?} ({failed} rounds Unavailable)");

    assert!(uses(&db, &pair, Node::Replica));
    assert!(switches.has_changed().unwrap(), "no switch was announced");
    assert_eq!(*switches.borrow_and_update(), 1);
    for _ in 0..3 {
        written.round(&db, person).await.unwrap();
    }
    written.assert_present(&db, person).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_listed_first_is_skipped() {
    let Some(pair) = PgPair::start() else { return };
    let url = pair.url(&[Node::Replica, Node::Primary], READ_WRITE);
    let db = SqlDurable::connect_and_migrate(&url).await.unwrap();
    assert!(uses(&db, &pair, Node::Primary));
    let person = Uuid::new_v4();
    let mut written = Written::default();
    written.round(&db, person).await.unwrap();

    // Opened lazily it starts on the first host; the guard refuses it and the supervisor moves on.
    let lazy = SqlDurable::connect_lazy(&url).unwrap();
    written.until_recovered(&lazy, person).await;
    assert!(uses(&lazy, &pair, Node::Primary));
    written.assert_present(&db, person).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_primary_is_used_again_by_itself() {
    let Some(pair) = PgPair::start() else { return };
    let url = pair.url(&[Node::Primary, Node::Replica], READ_WRITE);
    let db = SqlDurable::connect_and_migrate(&url).await.unwrap();
    let person = Uuid::new_v4();
    let mut written = Written::default();
    written.round(&db, person).await.unwrap();

    pair.restart_primary();
    let (took, failed) = written.until_recovered(&db, person).await;
    eprintln!("restart: writes recovered after {took:?} ({failed} rounds Unavailable)");
    assert!(uses(&db, &pair, Node::Primary), "the standby is never used");
    written.assert_present(&db, person).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_is_never_used_when_read_write_is_asked() {
    let Some(pair) = PgPair::start() else { return };
    let standby_rw = pair.url(&[Node::Replica], READ_WRITE);
    match SqlDurable::connect(&standby_rw).await {
        Err(StoreError::Unavailable(why)) => assert!(why.contains("read-write"), "{why}"),
        other => panic!("connected to a standby: {other:?}"),
    }
    // Lazily, the pool never hands out a connection to it (the after_connect guard).
    let lazy = SqlDurable::connect_lazy(&standby_rw).unwrap();
    assert!(
        sqlx::query("SELECT 1").execute(lazy.pool()).await.is_err(),
        "a connection to a standby was used"
    );
    // Without target_session_attrs (libpq's `any`), one host is used as before: the standby.
    let any = SqlDurable::connect(&pair.url(&[Node::Replica], ""))
        .await
        .unwrap();
    any.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_refused_as_read_only_is_unavailable_and_retried_on_the_new_primary() {
    let Some(pair) = PgPair::start() else { return };
    let pair = Arc::new(pair);
    let url = pair.url(&[Node::Primary, Node::Replica], READ_WRITE);
    let db = SqlDurable::connect_and_migrate(&url).await.unwrap();
    let person = Uuid::new_v4();
    let mut written = Written::default();
    written.round(&db, person).await.unwrap();

    // A write on a standby fails with SQLSTATE 25006, which is Unavailable (a 503), not Backend.
    let standby = SqlDurable::connect(&pair.url(&[Node::Replica], ""))
        .await
        .unwrap();
    until_replicated(&standby).await;
    match standby
        .upsert_relying_party(&registration("on-standby"))
        .await
    {
        Err(StoreError::Unavailable(why)) => assert!(why.contains("read-only"), "{why}"),
        other => panic!("a write on a standby gave {other:?}"),
    }

    // The primary turns read-only under the pool's open connections (25006 on the next write),
    // while the replica is promoted: the write is retried and lands on the new primary.
    let mut admin = sqlx::AnyConnection::connect(&pair.url(&[Node::Primary], ""))
        .await
        .unwrap();
    admin
        .execute("ALTER SYSTEM SET default_transaction_read_only = on")
        .await
        .unwrap();
    admin.execute("SELECT pg_reload_conf()").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let promoting = {
        let pair = Arc::clone(&pair);
        tokio::task::spawn_blocking(move || pair.promote())
    };
    let started = Instant::now();
    written.round(&db, person).await.unwrap();
    eprintln!(
        "read-only primary: the write succeeded after {:?}",
        started.elapsed()
    );
    promoting.await.unwrap();
    assert!(uses(&db, &pair, Node::Replica));
    written.assert_present(&db, person).await;
    let _ = admin.close().await;
}
