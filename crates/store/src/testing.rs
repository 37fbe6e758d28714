//! Helpers for tests that need the real Redis and PostgreSQL servers.
//!
//! The service rule ([`skip`]): a test that needs a server (or a browser) it cannot reach prints
//! `SKIP <test>: …` and returns, unless the environment variable `REQUIRE_SERVICES` is set to a
//! non-empty value, in which case it fails. The line goes straight to the process's stderr, so it
//! shows in a normal `cargo test` run even though the test passes (libtest captures only the
//! `print!` macros); `cargo test 2>&1 | grep -c '^SKIP'` counts the skipped tests. CI sets
//! `REQUIRE_SERVICES=1` and fails on any `SKIP` line, so a missing server never turns into a
//! silently green run.
//!
//! The default URLs can be overridden with `EID_TEST_REDIS_URL` and `EID_TEST_POSTGRES_URL`.

// These are test helpers: failing the calling test (by panicking) is their purpose.
#![allow(clippy::panic)]

pub mod pg_pair;

use eid_core::StoreError;
use sqlx::{AssertSqlSafe, Connection, Executor};
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;
use uuid::Uuid;

/// The Redis used by tests unless `EID_TEST_REDIS_URL` says otherwise.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// The PostgreSQL server used by tests unless `EID_TEST_POSTGRES_URL` says otherwise (trust auth).
pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Whether `REQUIRE_SERVICES` is set to a non-empty value.
pub fn services_required() -> bool {
    std::env::var_os("REQUIRE_SERVICES").is_some_and(|v| !v.is_empty())
}

/// Applies the service rule for the server of `kind` (`"redis"`, `"postgres"`): returns the URL to
/// use (`EID_TEST_<KIND>_URL` if set, else `default_url`) when its TCP port accepts a connection;
/// otherwise prints `SKIP: <kind> not reachable at <url>` and returns `None`, or panics when
/// [`services_required`].
pub fn service_url_or_skip(kind: &str, default_url: &str) -> Option<String> {
    let var = format!("EID_TEST_{}_URL", kind.to_ascii_uppercase());
    let url = std::env::var(&var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default_url.to_owned());
    match probe(&url) {
        Ok(()) => Some(url),
        Err(why) => {
            let shown = crate::redact_url(&url);
            skip(&format!("{kind} not reachable at {shown} ({why})"));
            None
        }
    }
}

/// Applies the service rule for a test that cannot run because `why` (e.g. "chromium not
/// installed"): panics when [`services_required`]; otherwise prints `SKIP <test>: <why>` where it
/// shows even for a passing test, and returns so that the caller can return.
pub fn skip(why: &str) {
    if services_required() {
        panic!("{why}, and REQUIRE_SERVICES is set");
    }
    // libtest names each test's thread after the test.
    let line = skip_line(std::thread::current().name(), why);
    // Straight to the stderr handle, not `eprintln!`: libtest captures the macros' output of
    // passing tests, and a skip must be visible in a normal `cargo test` run.
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn skip_line(test: Option<&str>, why: &str) -> String {
    format!(
        "SKIP {}: {why}; set REQUIRE_SERVICES=1 to fail instead",
        test.unwrap_or("(unnamed thread)")
    )
}

/// [`service_url_or_skip`] for Redis at [`REDIS_URL`].
pub fn redis_url_or_skip() -> Option<String> {
    service_url_or_skip("redis", REDIS_URL)
}

/// [`service_url_or_skip`] for PostgreSQL at [`POSTGRES_URL`].
pub fn postgres_url_or_skip() -> Option<String> {
    service_url_or_skip("postgres", POSTGRES_URL)
}

/// `host:port` of a URL, with the scheme's default port.
fn host_port(url: &str) -> Result<String, String> {
    let (scheme, rest) = url.split_once("://").ok_or("not a URL")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    if host_port.is_empty() {
        return Err("no host".to_owned());
    }
    let has_port = match host_port.rfind(':') {
        Some(i) => !host_port[i..].contains(']'),
        None => false,
    };
    if has_port {
        return Ok(host_port.to_owned());
    }
    let port = match scheme {
        "redis" | "rediss" => 6379,
        "postgres" | "postgresql" => 5432,
        other => return Err(format!("no default port for {other}")),
    };
    Ok(format!("{host_port}:{port}"))
}

fn probe(url: &str) -> Result<(), String> {
    let target = host_port(url)?;
    let addrs = target.to_socket_addrs().map_err(|e| e.to_string())?;
    let mut last = "no address".to_owned();
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// A unique Redis key prefix (`eidtest:<random>:`), so runs against a shared Redis never collide.
pub fn unique_prefix() -> String {
    format!("eidtest:{}:", Uuid::new_v4().simple())
}

/// A freshly created, randomly named PostgreSQL database. Drop it with
/// [`TempPostgresDb::drop_db`]; if a failing test unwinds first, `Drop` drops it (blocking briefly).
#[derive(Debug)]
pub struct TempPostgresDb {
    /// URL of the new database.
    pub url: String,
    name: String,
    admin_url: String,
    dropped: bool,
}

/// `url` with its path (the database name) replaced by `/db`, keeping any query.
fn with_database(url: &str, db: &str) -> Result<String, StoreError> {
    let bad = || StoreError::Backend(format!("not a postgres url: {}", crate::redact_url(url)));
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
    Ok(format!("{scheme}://{authority}/{db}{query}"))
}

/// Runs one statement on the server's `postgres` database.
async fn admin_execute(admin_url: &str, sql: String) -> Result<(), StoreError> {
    let mut conn = sqlx::AnyConnection::connect(admin_url)
        .await
        .map_err(crate::sql::map_err)?;
    let result = conn.execute(AssertSqlSafe(sql)).await;
    let _ = conn.close().await;
    result.map(|_| ()).map_err(crate::sql::map_err)
}

impl TempPostgresDb {
    /// Creates `eid_test_<random>` on the server of `server_url` (connecting to its `postgres`
    /// database to do so).
    pub async fn create(server_url: &str) -> Result<TempPostgresDb, StoreError> {
        sqlx::any::install_default_drivers();
        let name = format!("eid_test_{}", Uuid::new_v4().simple());
        let admin_url = with_database(server_url, "postgres")?;
        let url = with_database(server_url, &name)?;
        admin_execute(&admin_url, format!("CREATE DATABASE {name}")).await?;
        Ok(TempPostgresDb {
            url,
            name,
            admin_url,
            dropped: false,
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database, disconnecting any session still using it.
    pub async fn drop_db(mut self) -> Result<(), StoreError> {
        self.dropped = true;
        admin_execute(&self.admin_url, self.drop_sql()).await
    }

    fn drop_sql(&self) -> String {
        format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)
    }
}

impl Drop for TempPostgresDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Possibly inside a runtime and unwinding: do the async work on a thread of its own.
        let admin_url = self.admin_url.clone();
        let sql = self.drop_sql();
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(admin_execute(&admin_url, sql));
            }
        })
        .join();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn host_port_defaults_and_userinfo() {
        assert_eq!(
            host_port("redis://127.0.0.1:6379").unwrap(),
            "127.0.0.1:6379"
        );
        assert_eq!(host_port("redis://:pw@cache/0").unwrap(), "cache:6379");
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5432/test").unwrap(),
            "127.0.0.1:5432"
        );
        assert_eq!(host_port("postgres://u:p@db?sslmode=x").unwrap(), "db:5432");
        assert_eq!(host_port("redis://[::1]").unwrap(), "[::1]:6379");
    }

    #[test]
    fn skip_lines_name_the_test_and_start_with_skip() {
        assert_eq!(
            skip_line(Some("flows::redis::x"), "redis not reachable"),
            "SKIP flows::redis::x: redis not reachable; set REQUIRE_SERVICES=1 to fail instead"
        );
        assert!(skip_line(None, "why").starts_with("SKIP (unnamed thread): why"));
    }

    #[test]
    fn with_database_replaces_the_path() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "postgres").unwrap(),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
        assert_eq!(
            with_database("postgres://u@h?sslmode=disable", "x").unwrap(),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}

pub mod redis_topology;
