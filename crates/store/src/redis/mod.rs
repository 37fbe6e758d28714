//! Redis [`EphemeralStore`] for production (many stateless nodes share one Redis).
//!
//! The URL picks the topology ([`topology`]): one server (`redis://`), a primary found through
//! Redis Sentinel (`redis+sentinel://`), or a Redis Cluster (`redis+cluster://`); [`connection`]
//! holds how each connects and follows a failover. Every call fails fast when Redis is down:
//! connection attempts time out after [`CONNECTION_TIMEOUT`], responses after
//! [`RESPONSE_TIMEOUT`], and each operation as a whole after [`OPERATION_TIMEOUT`], so a request
//! never hangs on the store.
//!
//! - `take` is `GETDEL` (atomic take-once; Redis ≥ 6.2).
//! - `put_if_absent` is `SET key value PX ttl NX`.
//! - `incr` runs `INCR` and, for the first increment, `PEXPIRE` in one Lua script, so no counter can
//!   be left without a TTL (a fixed window).
//! - Scripts are sent as `EVALSHA`, and as `EVAL` (routed by key) when the node does not know them,
//!   never as a `SCRIPT LOAD` to every node, which fails while one cluster node is down.
//! - `take_once` touches two keys; on a cluster the tombstone is put in its key's slot ([`slot`]).
//!
//! After Redis restarts (or drops the connection), the first command finds the old connection dead;
//! the connection is then made again. So that this command does not fail, an operation that lost
//! its connection is sent once more on the new one when that cannot change its effect or its
//! answer ([`Replay`]): always for the reads (`GET`, `PING`); for the writes, which may have
//! executed before the connection failed, only when no connection could be made at all. A command
//! the server refused without running it (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`,
//! `READONLY`, `LOADING`) is sent again, a bounded number of times, whatever it is.
//!
//! Tests that read raw keys over a plain connection, and the bench's `SCAN`/`MEMORY USAGE`, work on
//! a standalone server only.

mod connection;
mod slot;
pub mod topology;

use async_trait::async_trait;
use connection::{Conn, Connector};
use eid_core::{EphemeralStore, StoreError};
use redis::{
    ErrorKind, FromRedisValue, RedisError, RedisWrite, ServerErrorKind, ToRedisArgs,
    ToSingleRedisArg,
};
use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
pub use topology::{InvalidRedisUrl, check_url};

/// How long one connection attempt may take.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_millis(500);
/// How long Redis may take to answer one command.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(1000);
/// Upper bound on one store operation, reconnecting included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(1500);
/// Upper bound on [`RedisEphemeral::connect`].
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(2000);
/// How often one operation is sent again after the server refused it without running it.
const MAX_REFUSALS: u32 = 4;
/// The pause before sending a refused command again (a slot map refresh, an election).
const REFUSAL_PAUSE: Duration = Duration::from_millis(60);

/// INCR, and start the window's TTL when the counter is new (or, defensively, has no TTL).
const INCR_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
";

/// Take-once in one round trip: GETDEL the value, keep it as the tombstone, or report the tombstone.
const TAKE_ONCE_SCRIPT: &str = r"
local v = redis.call('GETDEL', KEYS[1])
if v then
  if ARGV[2] == '1' then
    redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[1])
  else
    redis.call('SET', KEYS[2], v, 'PX', ARGV[1])
  end
  return {1, v}
end
local t = redis.call('GET', KEYS[2])
if t then
  return {2, t}
end
return {0, ''}
";

/// A Redis-backed ephemeral store. Cloning is cheap and shares the connection.
#[derive(Clone)]
pub struct RedisEphemeral {
    inner: Arc<Inner>,
}

struct Inner {
    connector: Connector,
    /// Keys of one `take_once` must share a slot (Redis Cluster).
    cluster: bool,
    prefix: Box<str>,
    /// The URL without credentials, for messages.
    redacted_url: String,
    incr_script: Script,
    take_once_script: Script,
}

/// A Lua script: its source, and its SHA-1 for `EVALSHA`.
struct Script {
    source: &'static str,
    hash: redis::Script,
}

impl Script {
    fn new(source: &'static str) -> Script {
        Script {
            source,
            hash: redis::Script::new(source),
        }
    }

    /// Runs the script: `EVALSHA`, or `EVAL` when the node answers `NOSCRIPT` (the script did not
    /// run; a new primary after a failover has an empty script cache). Both route by the first key.
    /// `operands` adds the key count, the keys and the arguments.
    async fn invoke<T: FromRedisValue>(
        &self,
        conn: &mut Conn,
        operands: impl Fn(&mut redis::Cmd),
    ) -> Result<T, RedisError> {
        let call = |command: &str, script: &str| {
            let mut cmd = redis::cmd(command);
            cmd.arg(script);
            operands(&mut cmd);
            cmd
        };
        match call("EVALSHA", self.hash.get_hash())
            .query_async::<T>(conn)
            .await
        {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                call("EVAL", self.source).query_async::<T>(conn).await
            }
            result => result,
        }
    }
}

impl std::fmt::Debug for RedisEphemeral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEphemeral")
            .field("url", &self.inner.redacted_url)
            .field("prefix", &self.inner.prefix)
            .field("cluster", &self.inner.cluster)
            .field("connected", &self.inner.connector.connected())
            .finish()
    }
}

/// A key as sent to Redis: the store's prefix followed by the caller's key, written straight into
/// the command buffer (no intermediate `String`).
#[derive(Clone, Copy)]
struct PrefixedKey<'a> {
    prefix: &'a str,
    key: &'a str,
}

impl ToRedisArgs for PrefixedKey<'_> {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + RedisWrite,
    {
        let mut w = out.writer_for_next_arg();
        // Writing into the command's in-memory buffer cannot fail.
        let _ = w.write_all(self.prefix.as_bytes());
        let _ = w.write_all(self.key.as_bytes());
    }
}

impl ToSingleRedisArg for PrefixedKey<'_> {}

/// A take_once tombstone's key: `prefix + tombstone`, or on a cluster the same put in the slot of
/// the key it guards.
enum TombstoneKey<'a> {
    Plain(PrefixedKey<'a>),
    InSlot(Vec<u8>),
}

impl ToRedisArgs for TombstoneKey<'_> {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + RedisWrite,
    {
        match self {
            TombstoneKey::Plain(key) => key.write_redis_args(out),
            TombstoneKey::InSlot(bytes) => out.write_arg(bytes),
        }
    }
}

impl ToSingleRedisArg for TombstoneKey<'_> {}

fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, i64::MAX as u64)
}

/// Whether an operation may be sent again after its connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// A read: running it twice has the effect and the answer of running it once (`GET`, `PING`).
    Safe,
    /// A write that may have executed before the connection failed: a second run could change the
    /// answer (`GETDEL`, `DEL`, `SET NX`, the scripts) or undo a concurrent change (a `SET` after
    /// another node's `DEL`). Sent again only if it certainly never left.
    IfNeverSent,
}

impl Replay {
    /// Whether an attempt that failed with `e` is to be sent once more.
    fn again_after(self, e: &RedisError) -> bool {
        // No connection could be made: nothing was sent.
        if e.is_connection_refusal() {
            return true;
        }
        // A timeout has spent the budget, and the command may still run.
        let lost = (e.is_connection_dropped() || e.is_io_error()) && !e.is_timeout();
        lost && self == Replay::Safe
    }
}

/// Whether the server refused the command without running it, so that sending it again (after a
/// pause, a slot-map refresh or a new primary) cannot run it twice.
fn refused(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Server(
            ServerErrorKind::Moved
                | ServerErrorKind::Ask
                | ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::MasterDown
                | ServerErrorKind::ReadOnly
                | ServerErrorKind::BusyLoading
        )
    )
}

/// Maps a redis error: connection trouble, and a topology in the middle of a change (a refusal,
/// no primary known), is `Unavailable`; anything else `Backend`.
fn map_err(e: RedisError) -> StoreError {
    if e.is_io_error()
        || e.is_timeout()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
        || refused(&e)
        || matches!(
            e.kind(),
            ErrorKind::ClusterConnectionNotFound
                | ErrorKind::MasterNameNotFoundBySentinel
                | ErrorKind::NoValidReplicasFoundBySentinel
        )
    {
        StoreError::Unavailable(format!("redis: {e}"))
    } else {
        StoreError::Backend(format!("redis: {e}"))
    }
}

impl RedisEphemeral {
    fn build(url: &str, key_prefix: &str) -> Result<Inner, StoreError> {
        let redacted_url = crate::redact_url(url);
        let topology = topology::Topology::parse(url, key_prefix)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let cluster = topology.is_cluster();
        let connector = Connector::new(topology).map_err(|e| {
            StoreError::Backend(format!("invalid redis url {redacted_url}: {:?}", e.kind()))
        })?;
        Ok(Inner {
            connector,
            cluster,
            prefix: Box::from(key_prefix),
            redacted_url,
            incr_script: Script::new(INCR_SCRIPT),
            take_once_script: Script::new(TAKE_ONCE_SCRIPT),
        })
    }

    /// Connects now; fails within [`CONNECT_TIMEOUT`] if Redis cannot be reached.
    ///
    /// `url` names the topology ([`topology`]): `redis://[:password@]host:port[/db]` (`rediss://`
    /// for TLS is not compiled in), `redis+sentinel://[user:password@]h1:p1,h2:p2/master[/db]` or
    /// `redis+cluster://[user:password@]h1:p1,h2:p2`. Every key is stored as `key_prefix` + key
    /// (e.g. `eid:`); on a cluster the prefix may not contain braces.
    pub async fn connect(url: &str, key_prefix: &str) -> Result<Self, StoreError> {
        let inner = Self::build(url, key_prefix)?;
        tokio::time::timeout(CONNECT_TIMEOUT, inner.connector.connect())
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "redis at {} did not answer within {CONNECT_TIMEOUT:?}",
                    inner.redacted_url
                ))
            })?
            .map_err(|e| match map_err(e) {
                StoreError::Unavailable(m) => {
                    StoreError::Unavailable(format!("{m} (at {})", inner.redacted_url))
                }
                other => other,
            })?;
        Ok(RedisEphemeral {
            inner: Arc::new(inner),
        })
    }

    /// Creates the store without connecting: the connection is made on first use, and while Redis
    /// is unreachable every call fails fast with [`StoreError::Unavailable`] and later calls try
    /// again, so a node started while Redis is down recovers by itself. Only an invalid URL (or a
    /// prefix with braces on a cluster) errors.
    pub fn new_lazy(url: &str, key_prefix: &str) -> Result<Self, StoreError> {
        Ok(RedisEphemeral {
            inner: Arc::new(Self::build(url, key_prefix)?),
        })
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    fn key<'a>(&'a self, key: &'a str) -> PrefixedKey<'a> {
        PrefixedKey {
            prefix: &self.inner.prefix,
            key,
        }
    }

    /// Runs one operation with the overall [`OPERATION_TIMEOUT`]: sent again on a fresh connection
    /// when it lost its connection and `replay` allows, and after a server refusal (bounded).
    async fn run<T, F, Fut>(&self, op: &'static str, replay: Replay, f: F) -> Result<T, StoreError>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let connector = &self.inner.connector;
        let attempts = async {
            let mut replayed = false;
            let mut refusals = 0;
            loop {
                // No connection to be had is connection trouble, whatever the cause.
                let lease = connector
                    .lease()
                    .await
                    .map_err(|e| StoreError::Unavailable(format!("redis: no connection: {e}")))?;
                let e = match f(lease.conn.clone()).await {
                    Ok(value) => return Ok(value),
                    Err(e) => e,
                };
                connector.failed(&lease, &e);
                if refused(&e) && refusals < MAX_REFUSALS {
                    refusals += 1;
                    tracing::debug!(op, error = %e, "redis refused the command; sending again");
                    tokio::time::sleep(REFUSAL_PAUSE).await;
                } else if !replayed && replay.again_after(&e) {
                    replayed = true;
                    tracing::debug!(op, error = %e, "redis connection lost; sending again");
                } else {
                    return Err(map_err(e));
                }
            }
        };
        match tokio::time::timeout(OPERATION_TIMEOUT, attempts).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!(
                "redis {op} at {} timed out after {OPERATION_TIMEOUT:?}",
                self.inner.redacted_url
            ))),
        }
    }

    /// The server-side id of this store's connection (`CLIENT ID`), for diagnostics and fault tests.
    pub async fn connection_id(&self) -> Result<u64, StoreError> {
        self.run("CLIENT ID", Replay::Safe, |mut conn| async move {
            redis::cmd("CLIENT")
                .arg("ID")
                .query_async::<u64>(&mut conn)
                .await
        })
        .await
    }
}

#[async_trait]
impl EphemeralStore for RedisEphemeral {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let key = self.key(key);
        self.run("SET", Replay::IfNeverSent, |mut conn| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(ttl_millis(ttl))
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let key = self.key(key);
        let reply = self
            .run("SET NX", Replay::IfNeverSent, |mut conn| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("PX")
                    .arg(ttl_millis(ttl))
                    .arg("NX")
                    .query_async::<redis::Value>(&mut conn)
                    .await
            })
            .await?;
        Ok(!matches!(reply, redis::Value::Nil))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.key(key);
        self.run("GET", Replay::Safe, |mut conn| async move {
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<Vec<u8>>>(&mut conn)
                .await
        })
        .await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.key(key);
        self.run("GETDEL", Replay::IfNeverSent, |mut conn| async move {
            redis::cmd("GETDEL")
                .arg(key)
                .query_async::<Option<Vec<u8>>>(&mut conn)
                .await
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let key = self.key(key);
        let removed = self
            .run("DEL", Replay::IfNeverSent, |mut conn| async move {
                redis::cmd("DEL")
                    .arg(key)
                    .query_async::<i64>(&mut conn)
                    .await
            })
            .await?;
        Ok(removed > 0)
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        let key = self.key(key);
        let script = &self.inner.incr_script;
        let ttl = ttl_millis(ttl);
        let n = self
            .run("INCR", Replay::IfNeverSent, |mut conn| async move {
                script
                    .invoke::<i64>(&mut conn, |cmd| {
                        cmd.arg(1).arg(key).arg(ttl);
                    })
                    .await
            })
            .await?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative counter {n}")))
    }

    async fn take_once(
        &self,
        key: &str,
        tombstone: &str,
        marker: Option<&[u8]>,
        memory: Duration,
    ) -> Result<eid_core::Taken, StoreError> {
        let tombstone = if self.inner.cluster {
            TombstoneKey::InSlot(slot::tombstone_in_slot_of(
                &self.inner.prefix,
                key,
                tombstone,
            )?)
        } else {
            TombstoneKey::Plain(self.key(tombstone))
        };
        let (key, tombstone) = (self.key(key), &tombstone);
        let script = &self.inner.take_once_script;
        let memory = ttl_millis(memory);
        let has_marker = if marker.is_some() { "1" } else { "0" };
        let marker = marker.unwrap_or_default();
        let (state, value) = self
            .run("TAKE_ONCE", Replay::IfNeverSent, |mut conn| async move {
                script
                    .invoke::<(i64, Vec<u8>)>(&mut conn, |cmd| {
                        cmd.arg(2)
                            .arg(key)
                            .arg(tombstone)
                            .arg(memory)
                            .arg(has_marker)
                            .arg(marker);
                    })
                    .await
            })
            .await?;
        Ok(match state {
            1 => eid_core::Taken::First(value),
            2 => eid_core::Taken::Again(value),
            _ => eid_core::Taken::Missing,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run("PING", Replay::Safe, |mut conn| async move {
            redis::cmd("PING").query_async::<()>(&mut conn).await
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::io;

    fn io_error(kind: io::ErrorKind) -> RedisError {
        RedisError::from(io::Error::from(kind))
    }

    #[test]
    fn reads_are_sent_again_after_a_lost_connection_writes_only_if_never_sent() {
        for lost in [
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::UnexpectedEof,
        ] {
            assert!(Replay::Safe.again_after(&io_error(lost)), "{lost:?}");
            assert!(
                !Replay::IfNeverSent.again_after(&io_error(lost)),
                "{lost:?}"
            );
        }
        let refused = io_error(io::ErrorKind::ConnectionRefused);
        assert!(Replay::Safe.again_after(&refused));
        assert!(Replay::IfNeverSent.again_after(&refused));
        // A timeout has spent the budget; a server's answer is an answer.
        let timeout = io_error(io::ErrorKind::TimedOut);
        assert!(!Replay::Safe.again_after(&timeout));
        assert!(!Replay::IfNeverSent.again_after(&timeout));
        let answer = RedisError::from((redis::ErrorKind::UnexpectedReturnType, "nope"));
        assert!(!Replay::Safe.again_after(&answer));
    }
}
