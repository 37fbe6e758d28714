//! The cluster under test: three `eidbroker serve` nodes (the debug binary) on their own loopback
//! addresses, HAProxy in front with `deploy/haproxy.cfg`, a `redis-server` of the suite's own (so
//! that it can be restarted empty without disturbing other tests) and a fresh database on the
//! system PostgreSQL.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
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

/// The running cluster; everything is stopped on drop.
pub struct Cluster {
    pub spec: NodeSpec,
    pub nodes: [Option<Process>; 3],
    pub redis: Option<Process>,
    pub redis_port: u16,
    pub _haproxy: Process,
    pub db: eid_store::testing::TempPostgresDb,
    pub dir: PathBuf,
}

impl Cluster {
    /// Starts it all and waits until the load balancer answers.
    pub async fn start(postgres: &str) -> anyhow::Result<Cluster> {
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

        let redis_port = free_port()?;
        let redis = eid_testkit::cluster::start_redis(redis_port, &dir)?;
        wait_for_port(redis_port).await?;
        let db = eid_store::testing::TempPostgresDb::create(postgres).await?;
        let secret = |path: &[&str]| path.iter().fold(data_dir.clone(), |p, s| p.join(s));
        spec.env = vec![
            (
                "EIDBROKER_STORE__EPHEMERAL".into(),
                format!("redis://127.0.0.1:{redis_port}"),
            ),
            ("EIDBROKER_STORE__REDIS_KEY_PREFIX".into(), "faults:".into()),
            ("EIDBROKER_STORE__DURABLE".into(), db.url.clone()),
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
            redis: Some(redis),
            redis_port,
            _haproxy: haproxy,
            db,
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

    /// Kills the Redis server and starts an empty one on the same port.
    pub async fn restart_redis_empty(&mut self) -> anyhow::Result<()> {
        if let Some(mut p) = self.redis.take() {
            p.kill();
        }
        self.redis = Some(eid_testkit::cluster::start_redis(
            self.redis_port,
            &self.dir,
        )?);
        wait_for_port(self.redis_port).await
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
