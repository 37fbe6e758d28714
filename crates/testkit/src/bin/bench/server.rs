//! The broker under test as an operator runs it: `eidbroker serve` in its own process, every thread
//! pinned to one core with `taskset` (threads inherit the affinity of the process start), a fresh
//! data directory on the real disk, production logging as configured. Plus what `/proc` says about
//! it and about the redis-server and postgres processes that share the machine.

use anyhow::{Context, bail};
use eid_testkit::cluster::move_ports;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to start the broker.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub bin: PathBuf,
    pub config: PathBuf,
    pub data_dir: PathBuf,
    pub port_base: u16,
    pub cpu: String,
    pub ephemeral: Option<String>,
    pub durable: Option<String>,
    pub redis_prefix: String,
    /// TOML appended to the configuration (e.g. the SAML scenario's service provider).
    pub extra_config: Option<String>,
}

impl ServerSpec {
    /// The broker's public URL.
    pub fn broker_url(&self) -> String {
        format!("http://localhost:{}", self.port_base)
    }

    /// The authenticator's public URL.
    pub fn idp_url(&self) -> String {
        format!("http://localhost:{}", self.port_base.saturating_add(1))
    }

    /// The configuration file to start with: the given one, or a copy (written to the data dir)
    /// whose demo listeners, public URLs and upstream issuer are moved to another port base and
    /// that ends with `extra_config`.
    fn config_file(&self) -> anyhow::Result<PathBuf> {
        if self.port_base == 8080 && self.extra_config.is_none() {
            return Ok(self.config.clone());
        }
        let text = std::fs::read_to_string(&self.config)
            .with_context(|| format!("reading {}", self.config.display()))?;
        let mut text = move_ports(text, self.port_base)?;
        text.push_str(self.extra_config.as_deref().unwrap_or(""));
        let path = self.data_dir.join("eidbroker.toml");
        std::fs::write(&path, text)?;
        Ok(path)
    }

    /// Starts `eidbroker serve` pinned to `self.cpu`, with the stores named on the command line
    /// (memory and SQLite otherwise), and waits until the broker and the authenticator answer.
    pub async fn start(&self, label: &str) -> anyhow::Result<Server> {
        self.start_with(label, self.ephemeral.as_deref(), self.durable.as_deref())
            .await
    }

    /// Starts with the given stores (`None`: the configuration's).
    pub async fn start_with(
        &self,
        label: &str,
        ephemeral: Option<&str>,
        durable: Option<&str>,
    ) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&self.data_dir)?;
        let config = self.config_file()?;
        let log_path = self.data_dir.join(format!("eidbroker-{label}.log"));
        let log = std::fs::File::create(&log_path)?;
        let mut cmd = Command::new("taskset");
        cmd.arg("-c")
            .arg(&self.cpu)
            .arg(&self.bin)
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env("EIDBROKER_DATA_DIR", &self.data_dir)
            .env("EIDBROKER_STORE__REDIS_KEY_PREFIX", &self.redis_prefix)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(e) = ephemeral.filter(|e| *e != "memory") {
            cmd.env("EIDBROKER_STORE__EPHEMERAL", e);
            // Outside the single-node demo the pairwise secret must be named: the one a first
            // start on the memory store generated in the data directory.
            let secret = self.data_dir.join("broker").join("pairwise.secret");
            if secret.is_file() {
                cmd.env("EIDBROKER_BROKER__PAIRWISE_SECRET_FILE", secret);
            }
            // The same for the eIDAS proxy service's pseudonym secret.
            let pseudonyms = self.data_dir.join("eidas-gateway").join("pseudonym.secret");
            if pseudonyms.is_file() {
                cmd.env(
                    "EIDBROKER_EIDAS_GATEWAY__PROXY__PSEUDONYM_SECRET_FILE",
                    pseudonyms,
                );
            }
        }
        if let Some(d) = durable {
            cmd.env("EIDBROKER_STORE__DURABLE", d);
        }
        let child = cmd
            .spawn()
            .context("starting taskset (util-linux) with the broker")?;
        let mut server = Server {
            child,
            log: log_path,
        };
        let probe = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        for url in [self.broker_url(), self.idp_url()] {
            let url = format!("{url}/.well-known/openid-configuration");
            loop {
                if let Ok(r) = probe.get(&url).send().await
                    && r.status().is_success()
                {
                    break;
                }
                if let Ok(Some(status)) = server.child.try_wait() {
                    bail!(
                        "eidbroker exited ({status}) before answering; see {}",
                        server.log.display()
                    );
                }
                if Instant::now() > deadline {
                    server.stop();
                    bail!("no answer from {url} within 60 s");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(server)
    }
}

/// A running broker process (stopped on drop).
#[derive(Debug)]
pub struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Its process id (taskset execs the broker, so this is the broker's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it as an operator would (SIGTERM), then SIGKILL after 10 s.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` times.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of a process, all its threads, in ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    stat_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// utime + stime from the text of `/proc/<pid>/stat`.
fn stat_ticks(stat: &str) -> Option<u64> {
    // The command name may hold spaces and parentheses: fields count from after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of proc(5); `rest` starts at field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Total CPU ticks of every process whose command name is `comm` (e.g. all postgres backends).
pub fn cpu_ticks_of(comm: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == comm)
        })
        .filter_map(cpu_ticks)
        .sum()
}

/// VmRSS of a process in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The file system type `path` lives on (from /proc/self/mountinfo: the longest mount point
/// that is a prefix of the path).
pub fn fs_type(path: &Path) -> Option<String> {
    let path = path.canonicalize().ok()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let mount = left.split(' ').nth(4)?;
            let fstype = right.split(' ').next()?;
            path.starts_with(mount)
                .then(|| (mount.len(), fstype.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (tokio (rt) 1) S 1 4242 4242 0 -1 4194560 120 0 0 0 700 55 0 0 20 0 9 0";
        assert_eq!(stat_ticks(stat), Some(755));
        assert_eq!(stat_ticks("4242 (x) S 1"), None);
        assert_eq!(stat_ticks("garbage"), None);
    }
}
