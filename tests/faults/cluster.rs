//! The cluster under test: three `eidbroker serve` nodes (the debug binary) on their own loopback
//! addresses, HAProxy in front with `deploy/haproxy.cfg`, and stores of the suite's own, so that
//! they can be broken without disturbing other tests ([`Backends`]): either one `redis-server` and
//! a fresh database on the machine's PostgreSQL, or Redis under Sentinel (a primary, a replica,
//! three sentinels) and a PostgreSQL primary with a synchronous standby, the nodes given both
//! hosts with `target_session_attrs=read-write`.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use eid_store::testing::TempPostgresDb;
use eid_store::testing::pg_pair::{Node as PgNode, PgPair};
use eid_store::testing::redis_topology::{RedisProcess, SentinelTopology};
use eid_testkit::cluster::{
    NodeSpec, Process, cluster_config, free_port, free_port_base, set_server_state,
};

/// Where HAProxy serves the public listeners (the host of the public URLs, `localhost`).
pub const LB_ADDR: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// HAProxy's source address towards the nodes: the nodes' only trusted proxy.
pub const LB_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// The nodes' addresses.
pub const NODES: [Ipv4Addr; 3] = [
    Ipv4Addr::new(127, 0, 4, 1),
    Ipv4Addr::new(127, 0, 4, 2),
    Ipv4Addr::new(127, 0, 4, 3),
];
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The stores a cluster runs on.
pub enum Backends {
    /// One `redis-server` and a fresh database on the PostgreSQL server at this URL.
    Single(String),
    /// Redis under Sentinel and a PostgreSQL primary with a synchronous standby.
    Replicated,
}

/// The cluster's Redis.
pub enum Redis {
    /// One server of the suite's own; `None` while it is down.
    Single { server: Option<Process>, port: u16 },
    /// Under Sentinel; `returned` holds old primaries started again after a failover.
    Sentinel {
        topology: SentinelTopology,
        returned: Vec<RedisProcess>,
    },
}

impl Redis {
    fn url(&self) -> String {
        match self {
            Redis::Single { port, .. } => format!("redis://127.0.0.1:{port}"),
            Redis::Sentinel { topology, .. } => topology.url(),
        }
    }
}

/// The cluster's PostgreSQL.
pub enum Postgres {
    /// A database of its own on a shared server.
    Single(TempPostgresDb),
    /// A primary and a standby; `promoted` once the standby is the primary.
    Pair { pair: PgPair, promoted: bool },
}

impl Postgres {
    /// The URL the nodes are given: for a pair, both hosts, the writable one chosen.
    fn nodes_url(&self) -> String {
        match self {
            Postgres::Single(db) => db.url.clone(),
            Postgres::Pair { pair, .. } => pair.url(
                &[PgNode::Primary, PgNode::Replica],
                "target_session_attrs=read-write",
            ),
        }
    }

    /// A URL of the server that takes writes now (for the checks after the run).
    pub fn primary_url(&self) -> String {
        match self {
            Postgres::Single(db) => db.url.clone(),
            Postgres::Pair { pair, promoted } => {
                let node = if *promoted {
                    PgNode::Replica
                } else {
                    PgNode::Primary
                };
                pair.url(&[node], "")
            }
        }
    }
}

/// The running cluster; everything is stopped on drop.
pub struct Cluster {
    pub spec: NodeSpec,
    pub nodes: [Option<Process>; 3],
    pub redis: Redis,
    pub _haproxy: Process,
    pub postgres: Postgres,
    pub dir: PathBuf,
}

impl Cluster {
    /// Starts it all and waits until the load balancer answers.
    pub async fn start(backends: Backends) -> anyhow::Result<Cluster> {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("faults-{}", std::process::id()));
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&data_dir)?;
        let mut addrs = vec![LB_ADDR];
        addrs.extend(NODES);
        let port_base = free_port_base(&addrs)?;
        let demo = std::fs::read_to_string(format!("{ROOT}/config/default.toml"))?;
        let config = dir.join("eidbroker.toml");
        std::fs::write(&config, cluster_config(&demo, port_base, LB_SOURCE)?)?;
        let mut spec = NodeSpec {
            bin: PathBuf::from(env!("CARGO_BIN_EXE_eidbroker")),
            config,
            data_dir: data_dir.clone(),
            port_base,
            env: Vec::new(),
            log_dir: dir.clone(),
        };
        // The demo's keys and secrets, made once by the single-node demo in the shared directory
        // (a real deployment makes them with `eidbroker keygen`).
        let mut seed = spec.start("seed", NODES[0], None)?;
        spec.wait_ready(NODES[0], &mut seed).await?;
        seed.stop(Duration::from_secs(10)).await;

        let (redis, postgres) = match backends {
            Backends::Single(server) => {
                let port = free_port()?;
                let redis = eid_testkit::cluster::start_redis(port, &dir)?;
                wait_for_port(port).await?;
                let db = TempPostgresDb::create(&server).await?;
                (
                    Redis::Single {
                        server: Some(redis),
                        port,
                    },
                    Postgres::Single(db),
                )
            }
            Backends::Replicated => {
                let topology = SentinelTopology::start()
                    .await
                    .context("redis-server not installed")?;
                let pair = tokio::task::block_in_place(PgPair::start)
                    .context("PostgreSQL's binaries not installed")?;
                tokio::task::block_in_place(|| pair.make_synchronous());
                (
                    Redis::Sentinel {
                        topology,
                        returned: Vec::new(),
                    },
                    Postgres::Pair {
                        pair,
                        promoted: false,
                    },
                )
            }
        };
        let secret = |path: &[&str]| path.iter().fold(data_dir.clone(), |p, s| p.join(s));
        spec.env = vec![
            ("EIDBROKER_STORE__EPHEMERAL".into(), redis.url()),
            ("EIDBROKER_STORE__REDIS_KEY_PREFIX".into(), "faults:".into()),
            ("EIDBROKER_STORE__DURABLE".into(), postgres.nodes_url()),
            (
                "EIDBROKER_BROKER__PAIRWISE_SECRET_FILE".into(),
                secret(&["broker", "pairwise.secret"]).display().to_string(),
            ),
            (
                "EIDBROKER_EIDAS_GATEWAY__PROXY__PSEUDONYM_SECRET_FILE".into(),
                secret(&["eidas-gateway", "pseudonym.secret"])
                    .display()
                    .to_string(),
            ),
        ];
        let migrated = std::process::Command::new(&spec.bin)
            .arg("--config")
            .arg(&spec.config)
            .arg("migrate")
            .env("EIDBROKER_DATA_DIR", &data_dir)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .output()?;
        anyhow::ensure!(migrated.status.success(), "eidbroker migrate: {migrated:?}");
        // The first node loads the demo data into the fresh database before the others start.
        let mut first = spec.start("node1", NODES[0], None)?;
        spec.wait_ready(NODES[0], &mut first).await?;
        let mut second = spec.start("node2", NODES[1], None)?;
        let mut third = spec.start("node3", NODES[2], None)?;
        spec.wait_ready(NODES[1], &mut second).await?;
        spec.wait_ready(NODES[2], &mut third).await?;
        let mut haproxy = eid_testkit::cluster::start_haproxy(
            &PathBuf::from(format!("{ROOT}/deploy/haproxy.cfg")),
            LB_ADDR,
            LB_SOURCE,
            NODES,
            port_base,
            &dir,
        )?;
        let lb = [0, 1].map(|o| format!("http://localhost:{}/readyz", port_base + o));
        eid_testkit::cluster::wait_for(&lb, &mut haproxy, Duration::from_secs(30)).await?;
        Ok(Cluster {
            spec,
            nodes: [Some(first), Some(second), Some(third)],
            redis,
            _haproxy: haproxy,
            postgres,
            dir,
        })
    }

    /// The public URL of the listener at `offset` from the base (0 broker, 1 authenticator,
    /// 10 demo service).
    pub fn url(&self, offset: u16) -> String {
        format!("http://localhost:{}", self.spec.port_base + offset)
    }

    /// A node's own broker URL (not through the load balancer).
    pub fn node_broker(&self, node: usize) -> String {
        format!("http://{}:{}", NODES[node], self.spec.port_base)
    }

    /// `kill -9` of a node.
    pub fn kill_node(&mut self, node: usize) {
        if let Some(mut p) = self.nodes[node].take() {
            p.kill();
        }
    }

    /// Stops a node as an operator would for a planned restart: out of the load balancer's
    /// rotation first (drain; what it holds finishes), then SIGTERM.
    pub async fn stop_node(&mut self, node: usize) -> anyhow::Result<()> {
        let socket = self.dir.join("haproxy.sock");
        set_server_state(&socket, &format!("n{}", node + 1), "drain").await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(mut p) = self.nodes[node].take() {
            p.stop(Duration::from_secs(10)).await;
        }
        Ok(())
    }

    /// (Re)starts a node, its clock `clock_offset` off if given, and waits until it is ready.
    pub async fn start_node(
        &mut self,
        node: usize,
        clock_offset: Option<&str>,
    ) -> anyhow::Result<()> {
        let label = format!(
            "node{}{}",
            node + 1,
            if clock_offset.is_some() {
                "-skewed"
            } else {
                ""
            }
        );
        let mut p = self.spec.start(&label, NODES[node], clock_offset)?;
        self.spec.wait_ready(NODES[node], &mut p).await?;
        self.nodes[node] = Some(p);
        // Back in rotation (a no-op for a node that was not drained).
        set_server_state(
            &self.dir.join("haproxy.sock"),
            &format!("n{}", node + 1),
            "ready",
        )
        .await
    }

    /// How far ahead of this machine's clock a node's clock runs, in seconds (from the `Date` of
    /// its answer), so that a clock fault is seen to take effect.
    pub async fn clock_ahead(&self, node: usize) -> Option<i64> {
        let url = format!("{}/healthz", self.node_broker(node));
        let response = reqwest::get(&url).await.ok()?;
        let date = response
            .headers()
            .get(reqwest::header::DATE)?
            .to_str()
            .ok()?;
        let format = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        let at = time::PrimitiveDateTime::parse(date, format)
            .ok()?
            .assume_utc();
        Some((at - time::OffsetDateTime::now_utc()).whole_seconds())
    }

    /// Kills the single Redis server and starts an empty one on the same port.
    pub async fn restart_redis_empty(&mut self) -> anyhow::Result<()> {
        let Redis::Single { server, port } = &mut self.redis else {
            anyhow::bail!("Redis runs under Sentinel here");
        };
        if let Some(mut p) = server.take() {
            p.kill();
        }
        *server = Some(eid_testkit::cluster::start_redis(*port, &self.dir)?);
        wait_for_port(*port).await
    }

    /// `kill -9` of the Redis primary under Sentinel; returns when the sentinels name another
    /// primary (how long that took), after starting the old one again, empty, at its address (the
    /// sentinels make it a replica of the new primary).
    pub async fn fail_over_redis(&mut self) -> anyhow::Result<Duration> {
        let Redis::Sentinel { topology, returned } = &mut self.redis else {
            anyhow::bail!("Redis runs without Sentinel here");
        };
        let started = std::time::Instant::now();
        let old = topology.kill_primary();
        loop {
            match topology.primary_port_by_sentinels().await {
                Some(port) if port != old => break,
                _ if started.elapsed() > Duration::from_secs(20) => {
                    anyhow::bail!("the sentinels named no new primary within 20 s")
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let failed_over = started.elapsed();
        returned.push(topology.restart_empty_at(old));
        Ok(failed_over)
    }

    /// The PostgreSQL pair, for a fault.
    fn pair(&mut self) -> anyhow::Result<(&PgPair, &mut bool)> {
        match &mut self.postgres {
            Postgres::Pair { pair, promoted } => Ok((pair, promoted)),
            Postgres::Single(_) => anyhow::bail!("PostgreSQL has no standby here"),
        }
    }

    /// Stops the PostgreSQL primary (fast shutdown) for `down`, then starts it again.
    pub async fn restart_postgres(&mut self, down: Duration) -> anyhow::Result<()> {
        let (pair, promoted) = self.pair()?;
        anyhow::ensure!(!*promoted, "the primary has already been replaced");
        tokio::task::block_in_place(|| pair.stop_primary());
        tokio::time::sleep(down).await;
        tokio::task::block_in_place(|| pair.start_primary());
        Ok(())
    }

    /// Kills the PostgreSQL primary (immediate shutdown: no checkpoint, sessions cut) and, after
    /// `detect` (what a failover manager takes to decide), promotes the standby. The old primary
    /// stays down.
    pub async fn fail_over_postgres(&mut self, detect: Duration) -> anyhow::Result<()> {
        let (pair, promoted) = self.pair()?;
        tokio::task::block_in_place(|| pair.kill_primary());
        tokio::time::sleep(detect).await;
        tokio::task::block_in_place(|| pair.promote());
        *promoted = true;
        Ok(())
    }
}

/// Waits until 127.0.0.1:`port` accepts connections.
async fn wait_for_port(port: u16) -> anyhow::Result<()> {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(anyhow::anyhow!("nothing listens on 127.0.0.1:{port}")).context("redis-server")
}
