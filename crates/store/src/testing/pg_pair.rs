//! A PostgreSQL primary and a streaming replica of it, started by a test on free loopback ports in a
//! temporary directory, for failover tests: [`PgPair::start`], then [`stop_primary`],
//! [`promote`], [`restart_primary`], [`kill_primary`]; [`make_synchronous`] for no loss on a
//! failover. Both servers are killed and their directory removed on drop.
//!
//! Built from the local PostgreSQL binaries (`pg_config --bindir`, else the newest
//! `/usr/lib/postgresql/*/bin`), with `fsync = off` and `--no-sync`: about two seconds. PostgreSQL
//! refuses to run as root, so as root every command runs as the `postgres` user through
//! `runuser -u postgres --`.
//!
//! [`stop_primary`]: PgPair::stop_primary
//! [`promote`]: PgPair::promote
//! [`restart_primary`]: PgPair::restart_primary
//! [`kill_primary`]: PgPair::kill_primary
//! [`make_synchronous`]: PgPair::make_synchronous

// A test helper: failing the calling test is its purpose.
#![allow(clippy::expect_used)]

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One server of a [`PgPair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// Started first; the replica streams from it.
    Primary,
    /// A hot standby of the primary until [`PgPair::promote`].
    Replica,
}

impl Node {
    fn dir_name(self) -> &'static str {
        match self {
            Node::Primary => "primary",
            Node::Replica => "replica",
        }
    }
}

/// A running primary and replica; see the module documentation.
#[derive(Debug)]
pub struct PgPair {
    bin: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
    primary_port: u16,
    replica_port: u16,
}

/// The directory of `initdb`, `pg_ctl` and `pg_basebackup`, if PostgreSQL is installed.
fn find_bindir() -> Option<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "pg_basebackup"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_all(&dir) {
            return Some(dir);
        }
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|d| has_all(d))
        .collect();
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

/// Whether this process runs as root (PostgreSQL refuses to).
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl PgPair {
    /// Starts the pair, or applies the service rule ([`super::skip`]) and returns `None` when the
    /// PostgreSQL binaries are not installed. Panics if they are but the pair does not start.
    pub fn start() -> Option<PgPair> {
        let Some(bin) = find_bindir() else {
            super::skip("PostgreSQL binaries (initdb, pg_ctl, pg_basebackup) not installed");
            return None;
        };
        let as_postgres = is_root();
        let mktemp = if as_postgres {
            Command::new("runuser")
                .args([
                    "-u",
                    "postgres",
                    "--",
                    "mktemp",
                    "-d",
                    "/tmp/eid-pgpair.XXXXXX",
                ])
                .output()
        } else {
            Command::new("mktemp")
                .args(["-d", "/tmp/eid-pgpair.XXXXXX"])
                .output()
        };
        let out = mktemp.expect("run mktemp");
        assert!(out.status.success(), "mktemp: {out:?}");
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let (primary_port, replica_port) = (free_port(), free_port());
        let pair = PgPair {
            bin,
            dir,
            as_postgres,
            primary_port,
            replica_port,
        };
        pair.init();
        Some(pair)
    }

    fn init(&self) {
        let primary = self.data_dir(Node::Primary);
        let replica = self.data_dir(Node::Replica);
        self.run(
            "initdb",
            &[
                "-D",
                path_str(&primary),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             wal_level = replica\nmax_wal_senders = 4\nfsync = off\nfull_page_writes = off\n",
            self.primary_port,
            self.dir.display()
        );
        append(&primary.join("postgresql.conf"), &conf);
        self.pg_ctl(Node::Primary, &["-w", "start"]);
        let port = self.primary_port.to_string();
        self.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                path_str(&replica),
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ],
        );
        append(
            &replica.join("postgresql.conf"),
            // A standby retries a lost primary every 5 s by default: with a synchronous standby,
            // the primary's commits wait that long after each restart of the primary.
            &format!(
                "port = {}\nwal_retrieve_retry_interval = '200ms'\n",
                self.replica_port
            ),
        );
        self.pg_ctl(Node::Replica, &["-w", "start"]);
    }

    /// The port of `node`.
    pub fn port(&self, node: Node) -> u16 {
        match node {
            Node::Primary => self.primary_port,
            Node::Replica => self.replica_port,
        }
    }

    /// `postgres://postgres@127.0.0.1:<port>,…/postgres?<query>` listing `nodes` in that order
    /// (`query` may be empty).
    pub fn url(&self, nodes: &[Node], query: &str) -> String {
        let hosts: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", self.port(*n)))
            .collect();
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!("postgres://postgres@{}/postgres{query}", hosts.join(","))
    }

    /// Stops the primary (fast shutdown: its sessions are ended, all WAL reaches the replica).
    pub fn stop_primary(&self) {
        self.pg_ctl(Node::Primary, &["-m", "fast", "-w", "stop"]);
    }

    /// Starts the primary again after [`stop_primary`](Self::stop_primary).
    pub fn start_primary(&self) {
        self.pg_ctl(Node::Primary, &["-w", "start"]);
    }

    /// Kills the primary: immediate shutdown, which ends every session at once and skips the
    /// checkpoint, as a crash does.
    pub fn kill_primary(&self) {
        self.pg_ctl(Node::Primary, &["-m", "immediate", "-w", "stop"]);
    }

    /// Makes the replica synchronous: from now on a commit on the primary returns only once the
    /// replica has it, so a failover loses nothing acknowledged.
    pub fn make_synchronous(&self) {
        append(
            &self.data_dir(Node::Primary).join("postgresql.conf"),
            "synchronous_standby_names = '*'\n",
        );
        self.pg_ctl(Node::Primary, &["reload"]);
    }

    /// Restarts the primary (fast shutdown, then start).
    pub fn restart_primary(&self) {
        self.pg_ctl(Node::Primary, &["-m", "fast", "-w", "restart"]);
    }

    /// Promotes the replica to a primary, waiting until it accepts writes.
    pub fn promote(&self) {
        self.pg_ctl(Node::Replica, &["-w", "promote"]);
    }

    fn data_dir(&self, node: Node) -> PathBuf {
        self.dir.join(node.dir_name())
    }

    fn pg_ctl(&self, node: Node, args: &[&str]) {
        let data = self.data_dir(node);
        let log = self.dir.join(format!("{}.log", node.dir_name()));
        let mut all = vec!["-D", path_str(&data), "-l", path_str(&log)];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all);
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program).args(args);
            c
        } else {
            let mut c = Command::new(program);
            c.args(args);
            c
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let out = self
            .command(program, args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        if !out.status.success() {
            let logs: String = [Node::Primary, Node::Replica]
                .iter()
                .map(|n| {
                    let log = self.dir.join(format!("{}.log", n.dir_name()));
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(15).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    format!("--- {} ---\n{}\n", n.dir_name(), tail.join("\n"))
                })
                .collect();
            panic!(
                "{program} {args:?} failed: {}\n{}{}\n{logs}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out
    }
}

impl Drop for PgPair {
    fn drop(&mut self) {
        for node in [Node::Replica, Node::Primary] {
            let data = self.data_dir(node);
            let _ = self
                .command(
                    "pg_ctl",
                    &["-D", path_str(&data), "-m", "immediate", "-w", "stop"],
                )
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {path:?}"))
}

fn append(file: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(file)
        .unwrap_or_else(|e| panic!("open {file:?}: {e}"));
    f.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("write {file:?}: {e}"));
}
