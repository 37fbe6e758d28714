//! The ephemeral-store behaviour suite against memory and Redis, plus Redis fail-fast checks.
//!
//! Standalone Redis only: the tests that read raw keys or kill connections over a plain
//! connection would meet `MOVED` on a cluster and the wrong node behind sentinels. Sentinel and
//! Cluster have their own tests in `ephemeral_topologies.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_core::{EphemeralStore, StoreError};
use eid_store::testing::{redis_url_or_skip, unique_prefix};
use eid_store::{MemoryEphemeral, RedisEphemeral, suite};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A port nothing listens on.
const CLOSED: &str = "redis://127.0.0.1:1";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_ephemeral_behaviour() {
    suite::ephemeral_behaviour(Arc::new(MemoryEphemeral::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_ephemeral_behaviour() {
    let Some(url) = redis_url_or_skip() else {
        return;
    };
    let store = RedisEphemeral::connect(&url, &unique_prefix())
        .await
        .expect("connect");
    suite::ephemeral_behaviour(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_lazy_ephemeral_behaviour() {
    let Some(url) = redis_url_or_skip() else {
        return;
    };
    let store = RedisEphemeral::new_lazy(&url, &unique_prefix()).expect("valid url");
    suite::ephemeral_behaviour(Arc::new(store)).await;
}

/// Standalone only: reads the raw key over a plain connection.
#[tokio::test]
async fn redis_prefixes_isolate_stores() {
    let Some(url) = redis_url_or_skip() else {
        return;
    };
    let a = RedisEphemeral::connect(&url, &unique_prefix())
        .await
        .unwrap();
    let b = RedisEphemeral::connect(&url, &unique_prefix())
        .await
        .unwrap();
    a.put("k", b"from a", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(b.get("k").await.unwrap(), None);
    assert_eq!(a.get("k").await.unwrap().as_deref(), Some(&b"from a"[..]));

    // The key really is stored as prefix + key.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let raw: Option<Vec<u8>> = redis::cmd("GET")
        .arg(format!("{}k", a.prefix()))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(raw.as_deref(), Some(&b"from a"[..]));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{}k", a.prefix()))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 30_000, "stored with a PX ttl, got {ttl}");
    assert!(a.delete("k").await.unwrap());
}

/// Standalone only: reads the raw key's TTL over a plain connection.
#[tokio::test]
async fn redis_incr_sets_ttl_on_first_increment_only() {
    let Some(url) = redis_url_or_skip() else {
        return;
    };
    let store = RedisEphemeral::connect(&url, &unique_prefix())
        .await
        .unwrap();
    assert_eq!(store.incr("c", Duration::from_secs(30)).await.unwrap(), 1);
    assert_eq!(store.incr("c", Duration::from_secs(300)).await.unwrap(), 2);
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{}c", store.prefix()))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 30_000, "first window kept, got {ttl} ms");
    store.delete("c").await.unwrap();
}

#[tokio::test]
async fn redis_connect_fails_fast_when_unreachable() {
    let started = Instant::now();
    let result = RedisEphemeral::connect(CLOSED, "eid:").await;
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
}

#[tokio::test]
async fn redis_lazy_store_fails_fast_when_unreachable() {
    let store = RedisEphemeral::new_lazy(CLOSED, "eid:").expect("valid url");
    for _ in 0..3 {
        let started = Instant::now();
        let ping = store.ping().await;
        assert!(matches!(ping, Err(StoreError::Unavailable(_))), "{ping:?}");
        let get = store.get("k").await;
        assert!(matches!(get, Err(StoreError::Unavailable(_))), "{get:?}");
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
        let started = Instant::now();
        let _ = store.ping().await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn redis_error_messages_hide_credentials() {
    let store = RedisEphemeral::new_lazy("redis://user:hunter2@127.0.0.1:1/0", "eid:").unwrap();
    let err = store.ping().await.unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!format!("{store:?}").contains("hunter2"));
    let err = RedisEphemeral::connect("redis://user:hunter2@127.0.0.1:1/0", "eid:")
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn redis_lazy_construction_needs_no_runtime() {
    // The serve path may build its stores before entering the runtime.
    let store = RedisEphemeral::new_lazy(CLOSED, "eid:").unwrap();
    assert_eq!(store.prefix(), "eid:");
    assert!(RedisEphemeral::new_lazy("not a url", "eid:").is_err());
}

/// A `redis-server` child process on a free port, killed when dropped.
struct OwnRedis {
    child: std::process::Child,
}

impl OwnRedis {
    fn start(port: u16) -> Option<OwnRedis> {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        Some(OwnRedis { child })
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_until_up(store: &RedisEphemeral) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match store.ping().await {
            Ok(()) => return,
            Err(e) => assert!(Instant::now() < deadline, "store did not recover: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A node started while Redis is down comes up, fails fast meanwhile, and recovers by itself when
/// Redis appears; it also survives Redis restarting. Uses its own `redis-server` on a free port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lazy_store_recovers_when_redis_comes_back() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let store = RedisEphemeral::new_lazy(&url, &unique_prefix()).unwrap();
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));

    let Some(server) = OwnRedis::start(port) else {
        eid_store::testing::skip("redis-server binary not found; recovery not tested");
        return;
    };
    wait_until_up(&store).await;
    store.put("k", b"v", Duration::from_secs(30)).await.unwrap();
    assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));

    // Redis goes away: calls fail fast.
    drop(server);
    for _ in 0..3 {
        let started = Instant::now();
        let result = store.get("k").await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }

    // Redis comes back (empty: no persistence): the same store works again.
    let _server = OwnRedis::start(port).unwrap();
    wait_until_up(&store).await;
    store.put("k", b"w", Duration::from_secs(30)).await.unwrap();
    assert_eq!(store.take("k").await.unwrap().as_deref(), Some(&b"w"[..]));
}

/// Waits until a server accepts commands on `url` (probing with a connection of its own).
async fn wait_for_server(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let client = redis::Client::open(url).unwrap();
    loop {
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await
            && redis::cmd("PING")
                .query_async::<()>(&mut conn)
                .await
                .is_ok()
        {
            return;
        }
        assert!(Instant::now() < deadline, "redis-server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Redis restarts while a node is idle: the node's first command afterwards (a read) succeeds,
/// rather than failing with "broken pipe" as it did on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_first_read_after_a_restart_succeeds() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let Some(server) = OwnRedis::start(port) else {
        eid_store::testing::skip("redis-server binary not found; restart not tested");
        return;
    };
    wait_for_server(&url).await;
    let store = RedisEphemeral::connect(&url, &unique_prefix())
        .await
        .unwrap();
    store.put("k", b"v", Duration::from_secs(30)).await.unwrap();

    drop(server);
    let _server = OwnRedis::start(port).unwrap();
    wait_for_server(&url).await;
    // The restarted Redis is empty (no persistence).
    assert_eq!(
        store.get("k").await.unwrap(),
        None,
        "first command after the restart"
    );
    store.ping().await.expect("and the next");
}

/// Kills the server side of the store's connection, as a Redis restart does (standalone only:
/// `CLIENT ID` and `CLIENT KILL` name one node's connections).
async fn kill_connection(url: &str, store: &RedisEphemeral) -> u64 {
    let id = store.connection_id().await.unwrap();
    let client = redis::Client::open(url).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(killed, 1, "the store's connection {id} was killed");
    id
}

/// After Redis drops the connection (a restart, `CLIENT KILL`), the first read does not fail: it
/// is sent again on a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_first_read_after_a_dropped_connection_succeeds() {
    let Some(url) = redis_url_or_skip() else {
        return;
    };
    let store = RedisEphemeral::connect(&url, &unique_prefix())
        .await
        .unwrap();
    store
        .put("k", b"kept", Duration::from_secs(30))
        .await
        .unwrap();
    for round in 0..3 {
        let old = kill_connection(&url, &store).await;
        assert_eq!(
            store.get("k").await.unwrap().as_deref(),
            Some(&b"kept"[..]),
            "round {round}: GET right after the kill"
        );
        assert_ne!(store.connection_id().await.unwrap(), old);
        kill_connection(&url, &store).await;
        store.ping().await.expect("PING right after the kill");
    }
    // Writes work again on the new connection.
    assert_eq!(store.incr("n", Duration::from_secs(30)).await.unwrap(), 1);
    assert!(store.delete("k").await.unwrap());
}
