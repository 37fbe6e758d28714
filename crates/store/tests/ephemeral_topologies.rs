//! The ephemeral store on Redis Sentinel and Redis Cluster, each started by the test itself from
//! `redis-server` on loopback ports (`eid_store::testing::redis_topology`): the behaviour suite,
//! failover, slot placement, and the rules that keep a take-once from running twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_core::{EphemeralStore, StoreError, Taken};
use eid_store::testing::redis_topology::{ClusterTopology, SentinelTopology, query};
use eid_store::testing::unique_prefix;
use eid_store::{RedisEphemeral, suite};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LONG: Duration = Duration::from_secs(60);
/// How soon after the kill of a primary the store must work again.
const RECOVERY_BOUND: Duration = Duration::from_secs(10);

/// Runs the behaviour suite on a connected and on a lazy store, at the same time.
async fn both_suites(url: &str) {
    let connected = RedisEphemeral::connect(url, &unique_prefix())
        .await
        .expect("connect");
    let lazy = RedisEphemeral::new_lazy(url, &unique_prefix()).expect("valid url");
    tokio::join!(
        suite::ephemeral_behaviour(Arc::new(connected)),
        suite::ephemeral_behaviour(Arc::new(lazy)),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sentinel_ephemeral_behaviour() {
    let Some(topology) = SentinelTopology::start().await else {
        return;
    };
    both_suites(&topology.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_ephemeral_behaviour() {
    let Some(topology) = ClusterTopology::start(false).await else {
        return;
    };
    both_suites(&topology.url()).await;
}

/// Calls `op` until it succeeds, asserting that every failure meanwhile is `Unavailable` (never a
/// wrong answer or a backend error); returns the time of the first success.
async fn until_available<T, F, Fut>(what: &str, started: Instant, mut op: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut errors = 0;
    loop {
        match op().await {
            Ok(value) => return (value, started.elapsed()),
            Err(StoreError::Unavailable(_)) => errors += 1,
            Err(other) => {
                panic!("{what}: during the switch an error other than Unavailable: {other:?}")
            }
        }
        assert!(
            started.elapsed() < RECOVERY_BOUND,
            "{what}: not back within {RECOVERY_BOUND:?} ({errors} errors)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The primary is killed mid-use: every error meanwhile is `Unavailable`, the store follows the
/// sentinels to the promoted replica within [`RECOVERY_BOUND`], the data replicated before the
/// kill is there, and a server that comes back empty at the old address gets no writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sentinel_failover_reaches_the_promoted_replica() {
    let Some(mut topology) = SentinelTopology::start().await else {
        return;
    };
    let store = RedisEphemeral::connect(&topology.url(), &unique_prefix())
        .await
        .unwrap();
    for i in 0..20 {
        store
            .put(&format!("before-{i}"), format!("v{i}").as_bytes(), LONG)
            .await
            .unwrap();
    }
    // Replicated before the kill (replication is asynchronous: a write the replica never saw is
    // lost in a failover, which is Redis' documented limit, not the store's).
    let primary = topology.primary.as_ref().unwrap().port;
    let acked: i64 = query(primary, redis::cmd("WAIT").arg(1).arg(2000))
        .await
        .unwrap();
    assert_eq!(acked, 1, "the replica acknowledged the writes");

    let old_port = topology.kill_primary();
    let killed = Instant::now();
    // Concurrent use while the switch happens: one task per operation kind.
    let (write_back, read_back) = tokio::join!(
        until_available("put", killed, || store.put("after", b"new", LONG)),
        until_available("get", killed, || store.get("before-7")),
    );
    let (_, write_took) = write_back;
    let (value, read_took) = read_back;
    assert_eq!(value.as_deref(), Some(&b"v7"[..]), "replicated data kept");
    eprintln!("sentinel failover: writes back after {write_took:?}, reads after {read_took:?}");

    let new_port = topology.primary_port_by_sentinels().await.unwrap();
    assert_eq!(new_port, topology.replica.port, "the replica was promoted");
    // The old address comes back as an empty primary (as a crashed server restarting does): the
    // store keeps writing to the promoted replica, never to the old address.
    let _restarted = topology.restart_empty_at(old_port);
    let up = Instant::now();
    while query::<String>(old_port, &redis::cmd("PING"))
        .await
        .is_err()
    {
        assert!(
            up.elapsed() < Duration::from_secs(5),
            "restart did not come up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..20 {
        store.put(&format!("later-{i}"), b"x", LONG).await.unwrap();
        assert_eq!(
            store.get(&format!("before-{i}")).await.unwrap(),
            Some(format!("v{i}").into_bytes())
        );
    }
    // The scripts run on the new primary, whose script cache is empty (EVAL after NOSCRIPT).
    assert_eq!(store.incr("counter", LONG).await.unwrap(), 1);
    assert_eq!(
        store
            .take_once("before-3", "before-3-used", None, LONG)
            .await
            .unwrap(),
        Taken::First(b"v3".to_vec())
    );
    let later = format!("{}later-19", store.prefix());
    let on_new: Option<Vec<u8>> = query(new_port, redis::cmd("GET").arg(&later))
        .await
        .unwrap();
    assert_eq!(
        on_new.as_deref(),
        Some(&b"x"[..]),
        "written to the new primary"
    );
    let dbsize: i64 = query(old_port, &redis::cmd("DBSIZE")).await.unwrap();
    assert_eq!(dbsize, 0, "nothing written to the old address");
}

/// The keys of a store spread over all three shards, and `take_once` works for a key and
/// tombstone whose plain names hash to different slots: the store puts the tombstone in the key's
/// slot. A replay is recognised, also with a marker.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_keys_spread_over_shards_and_take_once_colocates_its_tombstone() {
    let Some(topology) = ClusterTopology::start(false).await else {
        return;
    };
    let store = RedisEphemeral::connect(&topology.url(), &unique_prefix())
        .await
        .unwrap();
    let mut shards = [0usize; 3];
    for i in 0..30 {
        let key = format!("k{i}");
        store.put(&key, b"v", LONG).await.unwrap();
        let slot = topology
            .keyslot(format!("{}{key}", store.prefix()).as_bytes())
            .await;
        shards[ClusterTopology::shard_of(slot)] += 1;
    }
    assert!(
        shards.iter().all(|n| *n > 0),
        "keys on every shard: {shards:?}"
    );

    let mut tested = 0;
    for i in 0..20 {
        let (key, tomb) = (format!("broker:rt:d{i}"), format!("broker:rt-used:d{i}"));
        let plain_key = topology
            .keyslot(format!("{}{key}", store.prefix()).as_bytes())
            .await;
        let plain_tomb = topology
            .keyslot(format!("{}{tomb}", store.prefix()).as_bytes())
            .await;
        if plain_key == plain_tomb {
            continue;
        }
        tested += 1;
        store.put(&key, b"grant", LONG).await.unwrap();
        assert_eq!(
            store.take_once(&key, &tomb, None, LONG).await.unwrap(),
            Taken::First(b"grant".to_vec())
        );
        assert_eq!(store.get(&key).await.unwrap(), None);
        assert_eq!(
            store.take_once(&key, &tomb, None, LONG).await.unwrap(),
            Taken::Again(b"grant".to_vec()),
            "a replay is recognised"
        );
        store.put(&key, b"again", LONG).await.unwrap();
        // The tombstone is also found before the key is set again.
        assert_eq!(
            store
                .take_once(&key, &format!("{tomb}-m"), Some(b"m"), LONG)
                .await
                .unwrap(),
            Taken::First(b"again".to_vec())
        );
        assert_eq!(
            store
                .take_once(&key, &format!("{tomb}-m"), Some(b"m"), LONG)
                .await
                .unwrap(),
            Taken::Again(b"m".to_vec())
        );
    }
    assert!(tested >= 10, "only {tested} pairs in different slots");
}

/// A prefix with braces would decide the slot of every key (and break the tombstone's
/// co-location): refused on a cluster, at construction.
#[test]
fn cluster_refuses_a_prefix_with_braces() {
    for prefix in ["eid:{x}:", "eid{", "eid}"] {
        let err = RedisEphemeral::new_lazy("redis+cluster://127.0.0.1:1,127.0.0.1:2", prefix)
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Backend(m) if m.contains("prefix")),
            "{err:?}"
        );
    }
    RedisEphemeral::new_lazy("redis+cluster://127.0.0.1:1", "eid:").unwrap();
    RedisEphemeral::new_lazy("redis+sentinel://127.0.0.1:1/m", "eid:{x}:").unwrap();
}

/// A TCP proxy in front of one cluster node that, when armed, drops the connection instead of
/// passing on the next reply: the command ran, its answer never arrives.
struct ReplyDroppingProxy {
    armed: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl ReplyDroppingProxy {
    fn start(listener: TcpListener, target: u16) -> ReplyDroppingProxy {
        let armed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&armed);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let flag = Arc::clone(&flag);
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        while let Ok(n @ 1..) = cr.read(&mut buf).await {
                            if sw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    };
                    let down = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        while let Ok(n @ 1..) = sr.read(&mut buf).await {
                            if flag.swap(false, Ordering::SeqCst) {
                                break; // the reply is lost with the connection
                            }
                            if cw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    };
                    // Either direction ending closes both (the halves drop here).
                    tokio::select! { () = up => {}, () = down => {} }
                });
            }
        });
        ReplyDroppingProxy { armed, task }
    }

    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }
}

impl Drop for ReplyDroppingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A take_once whose reply is lost (the connection drops after the script ran) is not sent again,
/// by the cluster client or by the store: the call fails `Unavailable`, and the next call sees the
/// tombstone. Sending it again would have answered `Again` to the one caller who redeemed it,
/// which revokes the grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_take_once_with_a_lost_reply_is_not_sent_again() {
    // Bound from the start, so that no other server or connection takes the port meanwhile.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = listener.local_addr().unwrap().port();
    // Clients reach node 1 only through the proxy.
    let Some(topology) = ClusterTopology::start_with(false, Some((1, proxy_port))).await else {
        return;
    };
    let proxy = ReplyDroppingProxy::start(listener, topology.nodes[1].port);
    let store = RedisEphemeral::connect(&topology.url(), &unique_prefix())
        .await
        .unwrap();
    let mut tag = 0;
    let key = loop {
        let key = format!("{{g{tag}}}code");
        let slot = topology
            .keyslot(format!("{}{key}", store.prefix()).as_bytes())
            .await;
        if ClusterTopology::shard_of(slot) == 1 {
            break key;
        }
        tag += 1;
    };
    let tomb = format!("{key}-used");
    // Load the script on node 1 (a missing key: nothing taken), then the grant.
    assert_eq!(
        store.take_once(&key, &tomb, None, LONG).await.unwrap(),
        Taken::Missing
    );
    store.put(&key, b"grant", LONG).await.unwrap();

    proxy.arm();
    let first = store.take_once(&key, &tomb, None, LONG).await;
    assert!(
        matches!(first, Err(StoreError::Unavailable(_))),
        "a lost reply is an error, not an answer: {first:?}"
    );
    assert_eq!(
        store.take_once(&key, &tomb, None, LONG).await.unwrap(),
        Taken::Again(b"grant".to_vec()),
        "the one run took the value"
    );
}

/// A primary with a replica is killed: every error meanwhile is `Unavailable`, and the cluster
/// (the replica promoted) serves the store again within [`RECOVERY_BOUND`], with the data.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_failover_of_a_primary_recovers_by_itself() {
    let Some(mut topology) = ClusterTopology::start(true).await else {
        return;
    };
    let store = RedisEphemeral::connect(&topology.url(), &unique_prefix())
        .await
        .unwrap();
    // Keys on shard 0, the one with the replica.
    let mut on_shard0 = Vec::new();
    for i in 0.. {
        let key = format!("k{i}");
        let slot = topology
            .keyslot(format!("{}{key}", store.prefix()).as_bytes())
            .await;
        if ClusterTopology::shard_of(slot) == 0 {
            store.put(&key, b"kept", LONG).await.unwrap();
            on_shard0.push(key);
            if on_shard0.len() == 5 {
                break;
            }
        }
    }
    let acked: i64 = query(topology.nodes[0].port, redis::cmd("WAIT").arg(1).arg(2000))
        .await
        .unwrap();
    assert_eq!(acked, 1, "the replica acknowledged the writes");

    topology.kill(0);
    let killed = Instant::now();
    let ((), write_took) =
        until_available("put", killed, || store.put(&on_shard0[1], b"new", LONG)).await;
    let (value, read_took) = until_available("get", killed, || store.get(&on_shard0[0])).await;
    assert_eq!(value.as_deref(), Some(&b"kept"[..]), "replicated data kept");
    eprintln!("cluster failover: writes back after {write_took:?}, reads after {read_took:?}");
    let role: Vec<redis::Value> = query(topology.nodes[3].port, &redis::cmd("ROLE"))
        .await
        .unwrap();
    assert!(
        matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master"),
        "the replica was promoted: {role:?}"
    );
}

/// Unreachable sentinels or cluster nodes fail fast, like a standalone server that is down.
#[tokio::test]
async fn unreachable_sentinels_and_cluster_nodes_fail_fast() {
    for url in [
        "redis+sentinel://127.0.0.1:1,127.0.0.1:2/mymaster",
        "redis+cluster://127.0.0.1:1,127.0.0.1:2",
    ] {
        let started = Instant::now();
        let connect = RedisEphemeral::connect(url, "eid:").await;
        assert!(
            matches!(connect, Err(StoreError::Unavailable(_))),
            "{url}: {connect:?}"
        );
        let lazy = RedisEphemeral::new_lazy(url, "eid:").unwrap();
        let ping = lazy.ping().await;
        assert!(
            matches!(ping, Err(StoreError::Unavailable(_))),
            "{url}: {ping:?}"
        );
        let take = lazy.take_once("k", "t", None, LONG).await;
        assert!(
            matches!(take, Err(StoreError::Unavailable(_))),
            "{url}: {take:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{url}: took {:?}",
            started.elapsed()
        );
    }
}
