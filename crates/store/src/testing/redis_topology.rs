//! Redis Sentinel and Redis Cluster topologies started by the tests themselves, from Debian's
//! `redis-server`, on free loopback ports in a temporary directory.
//!
//! - [`SentinelTopology`]: a primary, one replica and three sentinels (quorum 2, a primary is down
//!   after 1 s), ready when the replica is in sync and every sentinel knows the replica and the
//!   other two sentinels (a failover needs a majority to elect a leader).
//! - [`ClusterTopology`]: three primaries owning slots 0–5460, 5461–10922 and 10923–16383, joined
//!   with `CLUSTER MEET` (every node gets its own bus port: the default port+10000 may be taken or
//!   out of range), optionally with a replica of the first primary for a failover.
//!
//! Every process is killed when its handle is dropped, and the directory removed. A missing
//! `redis-server` follows the service rule ([`super::skip`]): `start` returns `None` after
//! printing `SKIP`, or fails the test when `REQUIRE_SERVICES` is set.
//!
//! Settings that keep the tests fast: `repl-diskless-sync-delay 0` (the default 5 s delays every
//! replica's first sync), no persistence, node timeouts of 1 s.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The name the sentinels monitor the primary under.
pub const MASTER_NAME: &str = "mymaster";
/// How long a topology may take to become ready before the test fails.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// The slot ranges of the three cluster primaries.
pub const SHARDS: [(u16, u16); 3] = [(0, 5460), (5461, 10922), (10923, 16383)];

/// A free TCP port on 127.0.0.1 (free when asked; another process may take it later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Whether `redis-server` can be run; applies the service rule when it cannot.
fn redis_server_or_skip() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        super::skip("redis-server binary not found");
    }
    found
}

/// A directory of its own under the system's temp dir, removed when dropped.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(kind: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("eid-{kind}-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("create the topology's temp dir");
        TempDir(path)
    }

    fn sub(&self, name: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(&path).expect("create a node's dir");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One `redis-server` process, killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct RedisProcess {
    child: Child,
    /// Its client port.
    pub port: u16,
}

impl RedisProcess {
    /// Starts `redis-server` on `port` with its own `dir`, no persistence and `extra` arguments
    /// (`extra` may start with a config file).
    fn spawn(port: u16, dir: &Path, leading: &[&str], extra: &[String]) -> RedisProcess {
        let log = dir.join("redis.log");
        let child = Command::new("redis-server")
            .args(leading)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(&log)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        RedisProcess { child, port }
    }

    /// Spawns on a free port and waits until it listens there; a port taken meanwhile (by another
    /// test's server or an outgoing connection) makes redis-server exit, and it is tried again on
    /// another port. `args` gives the extra arguments for a port, and a value to keep.
    fn spawn_listening<T>(
        dir: &Path,
        leading: &[&str],
        mut args: impl FnMut(u16) -> (Vec<String>, T),
    ) -> (RedisProcess, T) {
        for _ in 0..5 {
            let port = free_port();
            let (extra, kept) = args(port);
            let mut process = RedisProcess::spawn(port, dir, leading, &extra);
            if process.wait_listening() {
                return (process, kept);
            }
        }
        panic!("redis-server did not start on any of five free ports (see its log in {dir:?})");
    }

    /// Whether the process listens on its port (false once it has exited).
    fn wait_listening(&mut self) -> bool {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return false;
            }
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                // A bind failure exits at once: still running now means the port is its own.
                std::thread::sleep(Duration::from_millis(30));
                return matches!(self.child.try_wait(), Ok(None));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the process with SIGKILL (no shutdown, no goodbye to clients).
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends `cmd` to the server on `port` over a connection of its own, with short timeouts.
pub async fn query<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(Duration::from_millis(2000)));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    cmd.query_async(&mut conn).await
}

/// `INFO <section>` of the server on `port` as text ("" when it does not answer).
pub async fn info(port: u16, section: &str) -> String {
    query::<String>(port, redis::cmd("INFO").arg(section))
        .await
        .unwrap_or_default()
}

/// The value of `field` in INFO-style `field:value` lines.
pub fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// Polls `check` every 50 ms until it holds; fails the test after [`READY_WITHIN`].
async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + READY_WITHIN;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what} not ready within {READY_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A primary, a replica and three sentinels.
#[derive(Debug)]
pub struct SentinelTopology {
    /// The primary at start (`None` once killed).
    pub primary: Option<RedisProcess>,
    /// The replica at start.
    pub replica: RedisProcess,
    /// The three sentinels.
    pub sentinels: Vec<RedisProcess>,
    dir: TempDir,
}

impl SentinelTopology {
    /// Starts the topology and waits until a failover could happen; `None` if skipped.
    pub async fn start() -> Option<SentinelTopology> {
        if !redis_server_or_skip() {
            return None;
        }
        let dir = TempDir::new("sentinel");
        let (primary, ()) =
            RedisProcess::spawn_listening(&dir.sub("primary"), &[], |_| (Vec::new(), ()));
        let primary_port = primary.port;
        let (replica, ()) = RedisProcess::spawn_listening(&dir.sub("replica"), &[], |_| {
            let args = ["--replicaof", "127.0.0.1", &primary_port.to_string()].map(str::to_owned);
            (args.to_vec(), ())
        });
        let mut sentinels = Vec::with_capacity(3);
        for i in 0..3 {
            let sdir = dir.sub(&format!("sentinel{i}"));
            // Sentinel rewrites its config file, so each has a writable one of its own.
            let conf = sdir.join("sentinel.conf");
            let mut text = String::new();
            let _ = writeln!(
                text,
                "sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} 2"
            );
            let _ = writeln!(text, "sentinel down-after-milliseconds {MASTER_NAME} 1000");
            let _ = writeln!(text, "sentinel failover-timeout {MASTER_NAME} 3000");
            let _ = writeln!(text, "sentinel parallel-syncs {MASTER_NAME} 1");
            std::fs::write(&conf, text).expect("write sentinel.conf");
            let conf = conf.to_string_lossy().into_owned();
            let (sentinel, ()) = RedisProcess::spawn_listening(&sdir, &[conf.as_str()], |_| {
                (vec!["--sentinel".to_owned()], ())
            });
            sentinels.push(sentinel);
        }
        let topology = SentinelTopology {
            primary: Some(primary),
            replica,
            sentinels,
            dir,
        };
        topology.wait_ready().await;
        Some(topology)
    }

    async fn wait_ready(&self) {
        let replica = self.replica.port;
        wait_for("the replica's sync", || async move {
            info_field(&info(replica, "replication").await, "master_link_status") == Some("up")
        })
        .await;
        for sentinel in &self.sentinels {
            let port = sentinel.port;
            wait_for(
                "a sentinel's view of the replica and the others",
                || async move {
                    let Ok(fields) = query::<Vec<String>>(
                        port,
                        redis::cmd("SENTINEL").arg("MASTER").arg(MASTER_NAME),
                    )
                    .await
                    else {
                        return false;
                    };
                    let field = |name: &str| {
                        fields
                            .chunks(2)
                            .find(|kv| kv[0] == name)
                            .and_then(|kv| kv.get(1))
                            .cloned()
                    };
                    field("num-slaves").as_deref() == Some("1")
                        && field("num-other-sentinels").as_deref() == Some("2")
                },
            )
            .await;
        }
    }

    /// The store URL: `redis+sentinel://127.0.0.1:S1,…/mymaster`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!("redis+sentinel://{}/{MASTER_NAME}", hosts.join(","))
    }

    /// Kills the primary with SIGKILL; returns its port.
    pub fn kill_primary(&mut self) -> u16 {
        let primary = self.primary.take().expect("the primary is still running");
        let port = primary.port;
        primary.kill();
        port
    }

    /// Restarts a server on `port` with no data and no `--replicaof`: an empty, writable primary
    /// at the old primary's address, as a crashed primary coming back looks until the sentinels
    /// demote it.
    pub fn restart_empty_at(&mut self, port: u16) -> RedisProcess {
        RedisProcess::spawn(port, &self.dir.sub(&format!("restarted{port}")), &[], &[])
    }

    /// The primary's port according to the first sentinel that answers.
    pub async fn primary_port_by_sentinels(&self) -> Option<u16> {
        for s in &self.sentinels {
            if let Ok((_, port)) = query::<(String, u16)>(
                s.port,
                redis::cmd("SENTINEL")
                    .arg("GET-MASTER-ADDR-BY-NAME")
                    .arg(MASTER_NAME),
            )
            .await
            {
                return Some(port);
            }
        }
        None
    }
}

/// One cluster node and its bus port.
#[derive(Debug)]
pub struct ClusterNode {
    /// The process (`None` once killed).
    pub process: Option<RedisProcess>,
    /// Its client port.
    pub port: u16,
    /// Its cluster bus port.
    pub bus_port: u16,
}

/// Three primaries, optionally with a replica of the first.
#[derive(Debug)]
pub struct ClusterTopology {
    /// Primaries 0..3 own [`SHARDS`] in order; a fourth node, if any, replicates primary 0.
    pub nodes: Vec<ClusterNode>,
    _dir: TempDir,
}

impl ClusterTopology {
    /// Starts the cluster and waits for `cluster_state:ok` on every node; `None` if skipped.
    pub async fn start(with_replica: bool) -> Option<ClusterTopology> {
        Self::start_with(with_replica, None).await
    }

    /// [`ClusterTopology::start`], with node `announced.0` telling clients to reach it at port
    /// `announced.1` (`cluster-announce-port`), where a test may put a proxy in front of it.
    pub async fn start_with(
        with_replica: bool,
        announced: Option<(usize, u16)>,
    ) -> Option<ClusterTopology> {
        if !redis_server_or_skip() {
            return None;
        }
        let dir = TempDir::new("cluster");
        let count = if with_replica { 4 } else { 3 };
        let nodes: Vec<ClusterNode> = (0..count)
            .map(|i| {
                let ndir = dir.sub(&format!("node{i}"));
                let (process, bus_port) = RedisProcess::spawn_listening(&ndir, &[], |_| {
                    let bus_port = free_port();
                    let mut args = Vec::new();
                    if let Some((_, announced_port)) = announced.filter(|(node, _)| *node == i) {
                        args.push("--cluster-announce-port".to_owned());
                        args.push(announced_port.to_string());
                        args.push("--cluster-announce-bus-port".to_owned());
                        args.push(bus_port.to_string());
                    }
                    args.extend([
                        "--cluster-enabled".to_owned(),
                        "yes".to_owned(),
                        "--cluster-port".to_owned(),
                        bus_port.to_string(),
                        "--cluster-config-file".to_owned(),
                        ndir.join("nodes.conf").to_string_lossy().into_owned(),
                        "--cluster-node-timeout".to_owned(),
                        "1000".to_owned(),
                    ]);
                    (args, bus_port)
                });
                ClusterNode {
                    port: process.port,
                    process: Some(process),
                    bus_port,
                }
            })
            .collect();
        let topology = ClusterTopology { nodes, _dir: dir };
        for node in &topology.nodes {
            let port = node.port;
            wait_for("a cluster node to start", || async move {
                query::<String>(port, &redis::cmd("PING")).await.is_ok()
            })
            .await;
        }
        for (node, (from, to)) in topology.nodes.iter().zip(SHARDS) {
            query::<()>(
                node.port,
                redis::cmd("CLUSTER").arg("ADDSLOTSRANGE").arg(from).arg(to),
            )
            .await
            .expect("CLUSTER ADDSLOTSRANGE");
        }
        let first = topology.nodes[0].port;
        for node in &topology.nodes[1..] {
            query::<()>(
                first,
                redis::cmd("CLUSTER")
                    .arg("MEET")
                    .arg("127.0.0.1")
                    .arg(node.port)
                    .arg(node.bus_port),
            )
            .await
            .expect("CLUSTER MEET");
        }
        if with_replica {
            topology.make_replica(3, 0).await;
        }
        for node in &topology.nodes {
            let port = node.port;
            wait_for("cluster_state:ok", || async move {
                query::<String>(port, redis::cmd("CLUSTER").arg("INFO"))
                    .await
                    .is_ok_and(|i| info_field(&i, "cluster_state") == Some("ok"))
            })
            .await;
        }
        // Every node must also know every other node's slots (CLUSTER SLOTS from any node).
        for node in &topology.nodes {
            let port = node.port;
            wait_for("every node to know all three shards", || async move {
                query::<Vec<redis::Value>>(port, redis::cmd("CLUSTER").arg("SLOTS"))
                    .await
                    .is_ok_and(|slots| slots.len() == 3)
            })
            .await;
        }
        Some(topology)
    }

    async fn node_id(port: u16) -> String {
        query::<String>(port, redis::cmd("CLUSTER").arg("MYID"))
            .await
            .expect("CLUSTER MYID")
    }

    /// Makes node `replica` a replica of node `primary` and waits for its sync.
    async fn make_replica(&self, replica: usize, primary: usize) {
        let id = Self::node_id(self.nodes[primary].port).await;
        let port = self.nodes[replica].port;
        let known = id.clone();
        wait_for("the replica to learn the primary's id", || {
            let known = known.clone();
            async move {
                query::<String>(port, redis::cmd("CLUSTER").arg("NODES"))
                    .await
                    .is_ok_and(|nodes| nodes.contains(&known))
            }
        })
        .await;
        query::<()>(port, redis::cmd("CLUSTER").arg("REPLICATE").arg(&id))
            .await
            .expect("CLUSTER REPLICATE");
        wait_for("the cluster replica's sync", || async move {
            info_field(&info(port, "replication").await, "master_link_status") == Some("up")
        })
        .await;
    }

    /// The store URL: `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .take(3)
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// The slot of `key` (`CLUSTER KEYSLOT`, asked of any live node).
    pub async fn keyslot(&self, key: &[u8]) -> u16 {
        for node in self.nodes.iter().filter(|n| n.process.is_some()) {
            if let Ok(slot) =
                query::<u16>(node.port, redis::cmd("CLUSTER").arg("KEYSLOT").arg(key)).await
            {
                return slot;
            }
        }
        panic!("no cluster node answered CLUSTER KEYSLOT");
    }

    /// Which of the three shards ([`SHARDS`]) owns `slot`.
    pub fn shard_of(slot: u16) -> usize {
        SHARDS
            .iter()
            .position(|(from, to)| (*from..=*to).contains(&slot))
            .expect("a slot is below 16384")
    }

    /// Kills node `i` with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        if let Some(p) = self.nodes[i].process.take() {
            p.kill();
        }
    }
}
