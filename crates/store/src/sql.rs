//! Durable storage over SQL: SQLite (embedded default, one file in WAL mode) and PostgreSQL
//! (production), through one implementation on sqlx's `Any` driver.
//!
//! Portable conventions, so the same query text runs on both: times are `BIGINT` unix microseconds,
//! UUIDs and JSON are `TEXT`, placeholders are `$1`-style (sqlx's SQLite driver maps `$N` to the
//! N-th argument). The schema lives in `migrations/sqlite/` and `migrations/postgres/`, embedded in
//! the binary and applied by [`SqlDurable::migrate`] (never implicitly by [`SqlDurable::connect`]).

mod audit;
mod authenticators;
mod delegation;
pub mod failover;
mod notifications;
mod person_log;
mod persons;
mod protocol_messages;
mod relying_parties;
mod saml_service_providers;

use async_trait::async_trait;
use eid_core::{DurableHealth, StoreError};
use failover::{Failover, PgHosts, Supervisor};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Connection, Executor, SqlSafeStr};
use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::watch;

/// Upper bound on [`DurableHealth::ping`].
pub const PING_TIMEOUT: Duration = Duration::from_millis(1500);
/// Upper bound on opening the pool in [`SqlDurable::connect`].
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a query waits for a free pooled connection.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Upper bound on one repository operation (so a hung network never blocks a caller forever).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// Waits before the retries of a write that provably never ran (see [`SqlDurable::retrying`]).
pub const RETRY_BACKOFF: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
];
/// No retry starts later than this after the first attempt did.
pub const RETRY_BUDGET: Duration = Duration::from_secs(2);

tokio::task_local! {
    /// Set by [`map_err`] within [`SqlDurable::retrying`]: whether the last database error proves
    /// that the attempt had no effect ([`never_ran`]).
    static NEVER_RAN: Arc<AtomicBool>;
}

/// Which database a [`SqlDurable`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (`sqlite://path`), in WAL mode.
    Sqlite,
    /// A PostgreSQL server (`postgres://…` or `postgresql://…`).
    Postgres,
}

impl Backend {
    /// The backend named by a database URL's scheme.
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Backend(format!(
                "unsupported database url {} (expected sqlite:// or postgres://)",
                crate::redact_url(url)
            )))
        }
    }

    /// Lower-case name (`sqlite`, `postgres`).
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// One embedded migration: version, name, SQL.
type Embedded = (i64, &'static str, &'static str);

/// The SQLite schema, in order. Keep in step with `migrations/sqlite/` (a unit test checks).
const SQLITE_MIGRATIONS: &[Embedded] = &[
    (
        1,
        "audit",
        include_str!("../migrations/sqlite/0001_audit.sql"),
    ),
    (
        2,
        "persons",
        include_str!("../migrations/sqlite/0002_persons.sql"),
    ),
    (
        3,
        "relying_parties",
        include_str!("../migrations/sqlite/0003_relying_parties.sql"),
    ),
    (
        4,
        "notifications",
        include_str!("../migrations/sqlite/0004_notifications.sql"),
    ),
    (
        5,
        "authenticator_labels",
        include_str!("../migrations/sqlite/0005_authenticator_labels.sql"),
    ),
    (
        6,
        "saml_service_providers",
        include_str!("../migrations/sqlite/0006_saml_service_providers.sql"),
    ),
    (
        7,
        "protocol_messages",
        include_str!("../migrations/sqlite/0007_protocol_messages.sql"),
    ),
    (
        8,
        "delegation",
        include_str!("../migrations/sqlite/0008_delegation.sql"),
    ),
];

/// The PostgreSQL schema, in order. Keep in step with `migrations/postgres/` (a unit test checks).
const POSTGRES_MIGRATIONS: &[Embedded] = &[
    (
        1,
        "audit",
        include_str!("../migrations/postgres/0001_audit.sql"),
    ),
    (
        2,
        "persons",
        include_str!("../migrations/postgres/0002_persons.sql"),
    ),
    (
        3,
        "relying_parties",
        include_str!("../migrations/postgres/0003_relying_parties.sql"),
    ),
    (
        4,
        "notifications",
        include_str!("../migrations/postgres/0004_notifications.sql"),
    ),
    (
        5,
        "authenticator_labels",
        include_str!("../migrations/postgres/0005_authenticator_labels.sql"),
    ),
    (
        6,
        "saml_service_providers",
        include_str!("../migrations/postgres/0006_saml_service_providers.sql"),
    ),
    (
        7,
        "protocol_messages",
        include_str!("../migrations/postgres/0007_protocol_messages.sql"),
    ),
    (
        8,
        "delegation",
        include_str!("../migrations/postgres/0008_delegation.sql"),
    ),
    (
        9,
        "registry_notify",
        include_str!("../migrations/postgres/0009_registry_notify.sql"),
    ),
];

/// Durable repositories (audit log, person register, authenticators, relying-party registry,
/// delegation registry) over a pooled SQLite or PostgreSQL connection.
/// Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct SqlDurable {
    pool: AnyPool,
    /// Where audit batches are appended: on an SQLite file, a pool of its own with one connection,
    /// so that its page cache stays warm (SQLite drops a connection's cache whenever another one
    /// wrote, and the writes here would otherwise rotate over the pool's connections, each reading
    /// back the index pages the previous one changed); elsewhere the shared pool.
    appender: AnyPool,
    backend: Backend,
    redacted_url: String,
    /// PostgreSQL only: the selected server of the URL's host list.
    failover: Option<Arc<Failover>>,
    /// With several hosts: the task that switches servers (ends with the last clone).
    _supervisor: Option<Arc<Supervisor>>,
}

impl std::fmt::Debug for SqlDurable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlDurable")
            .field("backend", &self.backend)
            .field("url", &self.redacted_url)
            .finish_non_exhaustive()
    }
}

impl SqlDurable {
    /// Opens a pool and checks that the database answers; does not migrate.
    ///
    /// `url` is `sqlite://path/to/file.db` (relative to the working directory; `sqlite:///abs/path`
    /// for an absolute path; the file is created if missing, its directory is not),
    /// `sqlite::memory:` (one private in-memory database, for tests and demos) or
    /// `postgres://user[:password]@host:port/db`. A PostgreSQL URL may list several hosts and ask
    /// for a writable server, as libpq does:
    /// `postgres://user@h1:5432,h2:5433/db?target_session_attrs=read-write` (see [`failover`]).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let (options, url, backend, failover) = Self::options(url)?;
        let redacted_url = crate::redact_url(&url);
        let opened = async {
            let url = match &failover {
                Some(failover) => failover.select().await?,
                None => url.clone(),
            };
            // One plain connection first: a refused connection fails at once here, whereas the
            // pool would keep retrying until its acquire timeout.
            let probe = sqlx::AnyConnection::connect(&url).await.map_err(map_err)?;
            let _ = probe.close().await;
            options.connect(&url).await.map_err(map_err)
        };
        let pool = tokio::time::timeout(CONNECT_TIMEOUT, opened)
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "database at {redacted_url} did not answer within {CONNECT_TIMEOUT:?}"
                ))
            })?
            .map_err(|e| with_context(e, &redacted_url))?;
        Self::assemble(pool, &url, backend, redacted_url, failover)
    }

    /// The store over `pool`, with its appender and, for a host list, its supervisor.
    fn assemble(
        pool: AnyPool,
        url: &str,
        backend: Backend,
        redacted_url: String,
        failover: Option<Arc<Failover>>,
    ) -> Result<Self, StoreError> {
        let appender = Self::open_appender(&pool, url, &redacted_url)?;
        let supervisor = failover
            .as_ref()
            .filter(|f| f.has_alternatives())
            .map(|f| Arc::new(failover::supervise(Arc::clone(f), pool.clone())));
        Ok(SqlDurable {
            pool,
            appender,
            backend,
            redacted_url,
            failover,
            _supervisor: supervisor,
        })
    }

    /// The pool audit appends go through (see the field's doc): lazy, so it connects on the first
    /// append.
    fn open_appender(pool: &AnyPool, url: &str, redacted_url: &str) -> Result<AnyPool, StoreError> {
        // Not through `options` for PostgreSQL: that would build a second failover state.
        if Backend::from_url(url)? != Backend::Sqlite {
            return Ok(pool.clone());
        }
        let (options, url, _, _) = Self::options(url)?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if in_memory {
            return Ok(pool.clone());
        }
        options
            .max_connections(1)
            .connect_lazy(&url)
            .map_err(|e| with_context(map_err(e), redacted_url))
    }

    /// Like [`connect`](Self::connect) but opens no connection yet: the pool connects on first use,
    /// so a node started while the database is down comes up and recovers when it returns.
    /// Must be called within a Tokio runtime. With a host list it starts on the first host and its
    /// supervisor looks for the right one at once.
    pub fn connect_lazy(url: &str) -> Result<Self, StoreError> {
        let (options, url, backend, failover) = Self::options(url)?;
        let redacted_url = crate::redact_url(&url);
        let first = failover
            .as_ref()
            .map_or_else(|| url.clone(), |f| f.current_url());
        let pool = options
            .connect_lazy(&first)
            .map_err(|e| with_context(map_err(e), &redacted_url))?;
        let store = Self::assemble(pool, &url, backend, redacted_url, failover)?;
        store.kick_failover();
        Ok(store)
    }

    /// [`connect`](Self::connect), then [`migrate`](Self::migrate).
    pub async fn connect_and_migrate(url: &str) -> Result<Self, StoreError> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// The pool options, the URL, the backend and (PostgreSQL) the host list's failover state.
    #[allow(clippy::type_complexity)]
    fn options(
        url: &str,
    ) -> Result<(AnyPoolOptions, String, Backend, Option<Arc<Failover>>), StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let options = AnyPoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        match backend {
            Backend::Sqlite => {
                let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                // Create the file if missing unless the caller chose a mode.
                let url = if in_memory || url.contains("mode=") {
                    url.to_owned()
                } else if url.contains('?') {
                    format!("{url}&mode=rwc")
                } else {
                    format!("{url}?mode=rwc")
                };
                let options = if in_memory {
                    // Every connection to `sqlite::memory:` is a database of its own: keep exactly
                    // one, forever (for tests and demos; nothing survives the process).
                    options
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None)
                } else {
                    options.max_connections(4)
                };
                // No ping before each use: a connection to a local file cannot have gone away,
                // and the ping is a round trip to SQLite's worker thread (per audit batch, per
                // read).
                let options = options.test_before_acquire(false);
                let options = options.after_connect(|conn, _meta| {
                    Box::pin(async move {
                        // busy_timeout first: switching to WAL needs a lock another connection may
                        // hold. (An in-memory database stays in its own journal mode.)
                        conn.execute(
                            "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                             PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                        Ok(())
                    })
                });
                Ok((options, url, backend, None))
            }
            Backend::Postgres => {
                let failover = Arc::new(Failover::new(PgHosts::parse(url)?));
                let options = failover.guard(options.max_connections(10));
                Ok((options, url.to_owned(), backend, Some(failover)))
            }
        }
    }

    /// Applies every pending embedded migration of this backend, each in its own transaction
    /// (sqlx's migrator, with its `_sqlx_migrations` table and, on PostgreSQL, an advisory lock so
    /// that nodes migrating at once do not race). Idempotent.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let embedded = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        let migrations = embedded
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*name),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations)
            .run(&self.pool)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(e) => map_err(e),
                other => StoreError::Backend(format!("migration failed: {other}")),
            })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The underlying pool, for repositories added beside this module.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool audit appends go through.
    pub(crate) fn appender(&self) -> &AnyPool {
        &self.appender
    }

    /// PostgreSQL: the single-host URL of the server in use (with a host list, the one selected
    /// now), e.g. for a `LISTEN` connection that must follow the primary; `None` on SQLite.
    /// It holds the URL's credentials: never log it (see [`crate::redact_url`]).
    pub fn postgres_url(&self) -> Option<String> {
        self.failover.as_ref().map(|f| f.current_url())
    }

    /// PostgreSQL: changes on every switch of server (the value is the new server's index in the
    /// URL's host list; [`postgres_url`](Self::postgres_url) gives its URL); `None` on SQLite.
    pub fn postgres_switches(&self) -> Option<watch::Receiver<usize>> {
        self.failover.as_ref().map(|f| f.subscribe())
    }

    /// Asks the failover supervisor (if any) to check the selected server now.
    fn kick_failover(&self) {
        if let Some(failover) = &self.failover {
            failover.kick();
        }
    }

    /// Runs a repository operation with [`OPERATION_TIMEOUT`]; an `Unavailable` outcome makes the
    /// failover supervisor check the server.
    pub(crate) async fn with_timeout<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = match tokio::time::timeout(OPERATION_TIMEOUT, fut).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!(
                "database {op} timed out after {OPERATION_TIMEOUT:?}"
            ))),
        };
        if matches!(result, Err(StoreError::Unavailable(_))) {
            self.kick_failover();
        }
        result
    }

    /// [`with_timeout`](Self::with_timeout) for a write that may be attempted again: when an
    /// attempt fails with an error that proves it had no effect ([`never_ran`]: e.g. refused by a
    /// standby, rolled back by a deadlock), it is retried after [`RETRY_BACKOFF`], at most three
    /// times and none later than [`RETRY_BUDGET`] after the first, giving the supervisor time to
    /// switch. An error after the statement may have run (an I/O error mid-query) is never retried.
    pub(crate) async fn retrying<T, F, Fut>(
        &self,
        op: &'static str,
        mut attempt: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let started = Instant::now();
        let attempts = async {
            let mut backoff = RETRY_BACKOFF.iter();
            loop {
                let never_ran = Arc::new(AtomicBool::new(false));
                let result = NEVER_RAN.scope(Arc::clone(&never_ran), attempt()).await;
                let Err(StoreError::Unavailable(why)) = result else {
                    return result;
                };
                self.kick_failover();
                match backoff.next() {
                    Some(wait)
                        if never_ran.load(Ordering::Relaxed)
                            && started.elapsed() + *wait < RETRY_BUDGET =>
                    {
                        tracing::debug!(op, "database write never ran; retrying");
                        tokio::time::sleep(*wait).await;
                    }
                    _ => return Err(StoreError::Unavailable(why)),
                }
            }
        };
        self.with_timeout(op, attempts).await
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.appender.close().await;
        self.pool.close().await;
    }
}

#[async_trait]
impl DurableHealth for SqlDurable {
    async fn ping(&self) -> Result<(), StoreError> {
        let result = self.ping_once().await;
        if result.is_err() {
            self.kick_failover();
        }
        result
    }
}

impl SqlDurable {
    async fn ping_once(&self) -> Result<(), StoreError> {
        match tokio::time::timeout(PING_TIMEOUT, self.pool.execute("SELECT 1")).await {
            Ok(result) => result
                .map(|_| ())
                .map_err(|e| with_context(map_err(e), &self.redacted_url)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "database at {} did not answer within {PING_TIMEOUT:?}",
                self.redacted_url
            ))),
        }
    }
}

/// Whether `key` can be stored as TEXT on every backend: PostgreSQL refuses the NUL character, so no
/// stored key holds one. Lookups by such a key answer "not found" instead of failing, and writes
/// refuse it on both backends alike.
pub(crate) fn storable_key(key: &str) -> bool {
    !key.contains('\0')
}

/// The error of a write whose key [`storable_key`] refuses.
pub(crate) fn unstorable(what: &str) -> StoreError {
    StoreError::Backend(format!("{what} contains a NUL character"))
}

/// `at` as unix microseconds (the stored form of every time), saturating far outside ±292,000 years.
pub(crate) fn micros(at: OffsetDateTime) -> i64 {
    let us = at.unix_timestamp_nanos() / 1_000;
    i64::try_from(us).unwrap_or(if us < 0 { i64::MIN } else { i64::MAX })
}

/// The time stored as `us` unix microseconds, in UTC; `None` if out of range.
pub(crate) fn from_micros(us: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000).ok()
}

fn with_context(e: StoreError, redacted_url: &str) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(format!("{m} (at {redacted_url})")),
        other => other,
    }
}

/// Whether `e` proves that the statement (or its whole transaction) had no effect: no connection
/// was had (pool timeout, refused), or the server refused or rolled it back: 25006 read-only
/// transaction (a standby), 57P03 cannot connect now, 53300 too many connections, 40001
/// serialisation failure, 40P01 deadlock. Not an I/O error once sent (the outcome is unknown).
pub(crate) fn never_ran(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::ConnectionRefused,
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            Some("25006" | "57P03" | "53300" | "40001" | "40P01")
        ),
        _ => false,
    }
}

/// Maps an sqlx error: connection trouble is `Unavailable`, undecodable rows `Corrupt`, unique
/// violations `Conflict`, the rest `Backend`. Within [`SqlDurable::retrying`] it also records
/// whether the error proves the attempt [`never_ran`].
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    let _ = NEVER_RAN.try_with(|flag| flag.store(never_ran(&e), Ordering::Relaxed));
    match e {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => {
            StoreError::Unavailable(format!("database: {e}"))
        }
        E::Database(ref db) => {
            if db.is_unique_violation() {
                return StoreError::Conflict(db.message().to_owned());
            }
            let code = db.code();
            let code = code.as_deref().unwrap_or("");
            // PostgreSQL: 08 connection exception, 53 insufficient resources, 57P admin shutdown /
            // cannot connect now, 40001/40P01 serialisation failure / deadlock, 25006 read-only
            // transaction (a standby: the primary is elsewhere). SQLite: 5 BUSY, 6 LOCKED (and
            // their extended codes, which keep the low byte).
            let transient = code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || code == "40001"
                || code == "40P01"
                || code == "25006"
                || code.parse::<i64>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
            if transient {
                StoreError::Unavailable(format!("database: {e}"))
            } else {
                StoreError::Backend(format!("database: {e}"))
            }
        }
        E::ColumnDecode { .. } | E::Decode(_) | E::ColumnNotFound(_) => {
            StoreError::Corrupt(format!("database: {e}"))
        }
        other => StoreError::Backend(format!("database: {other}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// Every file in a migrations folder is embedded, in order, with the version its name says.
    fn check_embedded(dir: &str, embedded: &[Embedded]) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dir);
        let mut files: Vec<(String, String)> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".sql"))
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read_to_string(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        assert_eq!(files.len(), embedded.len(), "{dir}: files vs embedded list");
        for ((file, sql), (version, name, embedded_sql)) in files.iter().zip(embedded) {
            assert_eq!(file, &format!("{version:04}_{name}.sql"));
            assert_eq!(sql, embedded_sql, "{file}");
        }
    }

    #[test]
    fn migrations_folders_match_embedded_lists() {
        check_embedded("sqlite", SQLITE_MIGRATIONS);
        check_embedded("postgres", POSTGRES_MIGRATIONS);
    }

    #[test]
    fn only_errors_that_prove_nothing_ran_allow_a_retry() {
        use std::io::{Error, ErrorKind};
        assert!(never_ran(&sqlx::Error::PoolTimedOut));
        assert!(never_ran(&sqlx::Error::Io(Error::from(
            ErrorKind::ConnectionRefused
        ))));
        // Once a statement may have been sent, the outcome is unknown: no retry.
        for kind in [
            ErrorKind::ConnectionReset,
            ErrorKind::UnexpectedEof,
            ErrorKind::BrokenPipe,
            ErrorKind::TimedOut,
        ] {
            assert!(!never_ran(&sqlx::Error::Io(Error::from(kind))), "{kind:?}");
        }
        assert!(!never_ran(&sqlx::Error::PoolClosed));
        assert!(!never_ran(&sqlx::Error::Protocol("x".into())));
    }

    #[test]
    fn backend_from_url() {
        assert_eq!(Backend::from_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::from_url("sqlite::memory:").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_url("postgresql://u@h/db").unwrap(),
            Backend::Postgres
        );
        let err = Backend::from_url("mysql://u:secret@h/db").unwrap_err();
        assert!(!err.to_string().contains("secret"));
    }
}
