//! Several `eidbroker serve` nodes out of process behind HAProxy (`deploy/haproxy.cfg`), with a
//! `redis-server` of their own, as an operator runs them: the fault suite's cluster. Each node runs
//! every component on its own loopback address with the load balancer's ports, so the demo
//! configuration's public URLs (moved to a free port base) are HAProxy's; the nodes share Redis,
//! PostgreSQL, one key directory and the pairwise and pseudonym secrets, and believe
//! `X-Forwarded-For` only from HAProxy's source address.

use anyhow::{Context, bail};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The demo listeners' ports and where each moves with a port base (broker first).
pub const DEMO_PORTS: [(u16, u16); 5] = [(8080, 0), (8081, 1), (8082, 2), (8083, 3), (8090, 10)];

/// The configuration text with the demo listeners' ports moved to `base` + their offset.
pub fn move_ports(mut text: String, base: u16) -> anyhow::Result<String> {
    for (port, offset) in DEMO_PORTS {
        let moved = base.checked_add(offset).context("port base too high")?;
        for host in ["localhost", "127.0.0.1"] {
            text = text.replace(&format!("{host}:{port}\""), &format!("{host}:{moved}\""));
            text = text.replace(&format!("{host}:{port}/"), &format!("{host}:{moved}/"));
        }
    }
    Ok(text)
}

/// The demo configuration as every node of a cluster reads it: public URLs on `base`, and `proxy`
/// the only trusted proxy of the broker, the authenticator and the eIDAS gateway.
pub fn cluster_config(demo: &str, base: u16, proxy: Ipv4Addr) -> anyhow::Result<String> {
    let text = move_ports(demo.to_owned(), base)?;
    let mut out = String::with_capacity(text.len() + 100);
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line == "[broker]" || line == "[idp]" || line == "[eidas_gateway]" {
            out.push_str(&format!("trusted_proxies = [\"{proxy}\"]\n"));
        }
    }
    if out.matches("trusted_proxies").count() != 3 {
        bail!("the configuration lacks a [broker], [idp] or [eidas_gateway] section");
    }
    Ok(out)
}

/// Whether every port `base..=base+10` is free on each of `addrs`.
fn ports_free(addrs: &[Ipv4Addr], base: u16) -> bool {
    DEMO_PORTS.iter().all(|(_, offset)| {
        addrs.iter().all(|a| {
            base.checked_add(*offset)
                .is_some_and(|p| TcpListener::bind(SocketAddr::from((*a, p))).is_ok())
        })
    })
}

/// A port base whose eleven ports are free on all `addrs` (the kernel's pick of an ephemeral port
/// on the first address, tried up to 50 times).
pub fn free_port_base(addrs: &[Ipv4Addr]) -> anyhow::Result<u16> {
    let first = addrs.first().copied().unwrap_or(Ipv4Addr::LOCALHOST);
    for _ in 0..50 {
        let port = TcpListener::bind((first, 0))?.local_addr()?.port();
        if port < 65000 && ports_free(addrs, port) {
            return Ok(port);
        }
    }
    bail!("no free port base on {addrs:?}")
}

/// A free port on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// How one node is started.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// The `eidbroker` binary.
    pub bin: PathBuf,
    /// The cluster's configuration file ([`cluster_config`]).
    pub config: PathBuf,
    /// The shared data directory (keys, secrets).
    pub data_dir: PathBuf,
    /// The port base of the public URLs, which the node listens on too.
    pub port_base: u16,
    /// Environment for every node (stores, secrets).
    pub env: Vec<(String, String)>,
    /// Where the logs go.
    pub log_dir: PathBuf,
}

impl NodeSpec {
    /// Starts the node on `addr`; with `clock_offset` (e.g. `"+60s"`) its clock runs that far
    /// off through libfaketime (what `faketime -f` does, without a wrapper process in between).
    pub fn start(
        &self,
        label: &str,
        addr: Ipv4Addr,
        clock_offset: Option<&str>,
    ) -> anyhow::Result<Process> {
        let listen = |offset: u16| format!("{addr}:{}", self.port_base.saturating_add(offset));
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--config")
            .arg(&self.config)
            .arg("serve")
            .env("EIDBROKER_DATA_DIR", &self.data_dir)
            .env("EIDBROKER_BROKER__LISTEN", listen(0))
            .env("EIDBROKER_IDP__LISTEN", listen(1))
            .env("EIDBROKER_DELEGATION__LISTEN", listen(2))
            .env("EIDBROKER_EIDAS_GATEWAY__LISTEN", listen(3))
            .env("EIDBROKER_DEMO_RP__LISTEN", listen(10))
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(offset) = clock_offset {
            cmd.env(
                "LD_PRELOAD",
                libfaketime().context("libfaketime not found")?,
            )
            .env("FAKETIME", offset);
        }
        Process::spawn(cmd, &self.log_dir.join(format!("{label}.log")))
    }

    /// Waits until the node on `addr` answers `/readyz` on its broker and authenticator.
    pub async fn wait_ready(&self, addr: Ipv4Addr, node: &mut Process) -> anyhow::Result<()> {
        let base = self.port_base;
        let urls = [0, 1].map(|o| format!("http://{addr}:{}/readyz", base.saturating_add(o)));
        wait_for(&urls, node, Duration::from_secs(60)).await
    }
}

/// Polls each URL until it answers 200; fails when `process` exits or `limit` passes.
pub async fn wait_for(
    urls: &[String],
    process: &mut Process,
    limit: Duration,
) -> anyhow::Result<()> {
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + limit;
    for url in urls {
        loop {
            if let Ok(r) = probe.get(url).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Some(status) = process.exited() {
                bail!(
                    "{} exited ({status}); see {}",
                    process.label,
                    process.log.display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "no answer from {url} within {limit:?}; see {}",
                    process.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// The libfaketime the `faketime` package installs (any architecture's library directory).
pub fn libfaketime() -> Option<PathBuf> {
    let lib = Path::new("/usr/lib");
    std::fs::read_dir(lib)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("faketime").join("libfaketime.so.1"))
        .chain([lib.join("faketime").join("libfaketime.so.1")])
        .find(|p| p.is_file())
}

/// Whether `program` is on the PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// HAProxy with `deploy/haproxy.cfg` in front of three nodes (addresses and ports through the
/// environment the file names).
pub fn start_haproxy(
    config: &Path,
    lb_addr: Ipv4Addr,
    source: Ipv4Addr,
    nodes: [Ipv4Addr; 3],
    port_base: u16,
    log_dir: &Path,
) -> anyhow::Result<Process> {
    let port = |offset: u16| port_base.saturating_add(offset).to_string();
    let mut cmd = Command::new("haproxy");
    // -W: master-worker (the pid is the master's); -db: stay in the foreground.
    cmd.arg("-W")
        .arg("-db")
        .arg("-f")
        .arg(config)
        .env("LB_ADDR", lb_addr.to_string())
        .env("LB_SOURCE", source.to_string())
        .env("NODE1", nodes[0].to_string())
        .env("NODE2", nodes[1].to_string())
        .env("NODE3", nodes[2].to_string())
        .env("BROKER_PORT", port(0))
        .env("IDP_PORT", port(1))
        .env("DELEGATION_PORT", port(2))
        .env("GATEWAY_PORT", port(3))
        .env("DEMO_RP_PORT", port(10))
        .env("LB_SOCKET", log_dir.join("haproxy.sock"));
    Process::spawn(cmd, &log_dir.join("haproxy.log"))
}

/// The backends of `deploy/haproxy.cfg`, one per public listener.
pub const BACKENDS: [&str; 5] = ["broker", "idp", "delegation", "eidas-gateway", "demo-rp"];

/// Sets server `server` (`n1`…) of every backend to `state` (`drain`, `ready`) through HAProxy's
/// runtime API at `socket`: how an operator takes a node out of rotation before a planned restart.
pub async fn set_server_state(socket: &Path, server: &str, state: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for backend in BACKENDS {
        let mut api = tokio::net::UnixStream::connect(socket)
            .await
            .with_context(|| format!("HAProxy's runtime API at {}", socket.display()))?;
        api.write_all(format!("set server {backend}/{server} state {state}\n").as_bytes())
            .await?;
        let mut answer = String::new();
        api.read_to_string(&mut answer).await?;
        if !answer.trim().is_empty() {
            bail!(
                "set server {backend}/{server} state {state}: {}",
                answer.trim()
            );
        }
    }
    Ok(())
}

/// A `redis-server` of the cluster's own on `port`, keeping nothing on disk (a restart is empty).
pub fn start_redis(port: u16, log_dir: &Path) -> anyhow::Result<Process> {
    let mut cmd = Command::new("redis-server");
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(log_dir);
    Process::spawn(cmd, &log_dir.join(format!("redis-{port}.log")))
}

/// A child process, its output in a log file; killed (SIGKILL) on drop.
#[derive(Debug)]
pub struct Process {
    child: Child,
    label: String,
    log: PathBuf,
}

impl Process {
    fn spawn(mut cmd: Command, log: &Path) -> anyhow::Result<Process> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let label = cmd.get_program().to_string_lossy().into_owned();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {label}"))?;
        Ok(Process {
            child,
            label,
            log: log.to_owned(),
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, once it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// `kill -9`, and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops it as an operator would (SIGTERM), SIGKILL after `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        if self.exited().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.kill();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_listeners_move_with_the_port_base_and_nothing_else_does() {
        let text = r#"listen = "127.0.0.1:8080"
public_url = "http://localhost:8080"
issuer = "http://localhost:8081"
redirect_uris = ["http://localhost:8080/upstream/mitid/callback"]
listen = "127.0.0.1:8090"
memory_max_entries = 18080"#;
        let moved = move_ports(text.to_owned(), 18080).unwrap_or_default();
        assert!(moved.contains(r#"listen = "127.0.0.1:18080""#));
        assert!(moved.contains(r#"public_url = "http://localhost:18080""#));
        assert!(moved.contains(r#"issuer = "http://localhost:18081""#));
        assert!(moved.contains("http://localhost:18080/upstream/mitid/callback"));
        assert!(moved.contains(r#"listen = "127.0.0.1:18090""#));
        assert!(moved.contains("memory_max_entries = 18080"));
        assert!(move_ports(text.to_owned(), 65530).is_err());
    }

    #[test]
    fn the_cluster_trusts_only_the_load_balancer_in_the_broker_and_the_authenticator() {
        let demo = "[broker]\npublic_url = \"http://localhost:8080\"\n[idp]\nx = 1\n[delegation]\n\
                    [eidas_gateway]\n";
        let text = cluster_config(demo, 20000, Ipv4Addr::new(127, 0, 0, 2)).unwrap();
        assert_eq!(
            text,
            "[broker]\ntrusted_proxies = [\"127.0.0.2\"]\npublic_url = \"http://localhost:20000\"\n\
             [idp]\ntrusted_proxies = [\"127.0.0.2\"]\nx = 1\n[delegation]\n\
             [eidas_gateway]\ntrusted_proxies = [\"127.0.0.2\"]\n"
        );
        assert!(cluster_config("[broker]\n", 20000, Ipv4Addr::LOCALHOST).is_err());
    }
}
