//! Redis [`EphemeralStore`] for production (many stateless nodes share one Redis).
//!
//! Built on redis' [`ConnectionManager`] (one multiplexed connection, reconnected on failure). Every
//! call fails fast when Redis is down: connection attempts time out after
//! [`CONNECTION_TIMEOUT`], responses after [`RESPONSE_TIMEOUT`], and each operation as a whole after
//! [`OPERATION_TIMEOUT`], so a request never hangs on the store.
//!
//! - `take` is `GETDEL` (atomic take-once; Redis ≥ 6.2).
//! - `put_if_absent` is `SET key value PX ttl NX`.
//! - `incr` runs `INCR` and, for the first increment, `PEXPIRE` in one Lua script, so no counter can
//!   be left without a TTL (a fixed window).
//!
//! After Redis restarts (or drops the connection), the first command finds the old connection dead;
//! the manager then reconnects. So that this command does not fail, an operation that lost its
//! connection is sent once more on the new one when that cannot change its effect or its answer
//! ([`Replay`]): always for the reads (`GET`, `PING`); for the writes, which may have executed before
//! the connection failed, only when no connection could be made at all.

use async_trait::async_trait;
use eid_core::{EphemeralStore, StoreError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, RedisWrite, ToRedisArgs, ToSingleRedisArg};
use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long one connection attempt may take.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_millis(500);
/// How long Redis may take to answer one command.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(1000);
/// Upper bound on one store operation, reconnecting included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(1500);
/// Upper bound on [`RedisEphemeral::connect`].
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(2000);

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
    client: redis::Client,
    config: ConnectionManagerConfig,
    /// Set at construction by [`RedisEphemeral::connect`], on first use by the lazy variant.
    manager: OnceCell<ConnectionManager>,
    prefix: Box<str>,
    /// The URL without credentials, for messages.
    redacted_url: String,
    incr_script: redis::Script,
    take_once_script: redis::Script,
}

impl std::fmt::Debug for RedisEphemeral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEphemeral")
            .field("url", &self.inner.redacted_url)
            .field("prefix", &self.inner.prefix)
            .field("connected", &self.inner.manager.initialized())
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

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(250))
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
}

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

/// Maps a redis error: connection trouble is `Unavailable`, anything else `Backend`.
fn map_err(e: RedisError) -> StoreError {
    if e.is_io_error()
        || e.is_timeout()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
    {
        StoreError::Unavailable(format!("redis: {e}"))
    } else {
        StoreError::Backend(format!("redis: {e}"))
    }
}

impl RedisEphemeral {
    fn build(url: &str, key_prefix: &str) -> Result<Inner, StoreError> {
        let redacted_url = crate::redact_url(url);
        let client = redis::Client::open(url).map_err(|e| {
            StoreError::Backend(format!("invalid redis url {redacted_url}: {:?}", e.kind()))
        })?;
        Ok(Inner {
            client,
            config: manager_config(),
            manager: OnceCell::new(),
            prefix: Box::from(key_prefix),
            redacted_url,
            incr_script: redis::Script::new(INCR_SCRIPT),
            take_once_script: redis::Script::new(TAKE_ONCE_SCRIPT),
        })
    }

    /// Connects now; fails within [`CONNECT_TIMEOUT`] if Redis cannot be reached.
    ///
    /// `url` is a redis URL (`redis://[:password@]host:port[/db]`, `rediss://` for TLS is not
    /// compiled in); every key is stored as `key_prefix` + key (e.g. `eid:`).
    pub async fn connect(url: &str, key_prefix: &str) -> Result<Self, StoreError> {
        let inner = Self::build(url, key_prefix)?;
        let manager = tokio::time::timeout(
            CONNECT_TIMEOUT,
            ConnectionManager::new_with_config(inner.client.clone(), inner.config.clone()),
        )
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
        let inner = Inner {
            manager: OnceCell::new_with(Some(manager)),
            ..inner
        };
        Ok(RedisEphemeral {
            inner: Arc::new(inner),
        })
    }

    /// Creates the store without connecting: the connection is made on first use, and while Redis
    /// is unreachable every call fails fast with [`StoreError::Unavailable`] and later calls try
    /// again, so a node started while Redis is down recovers by itself. Only an invalid URL errors.
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

    async fn manager(&self) -> Result<ConnectionManager, StoreError> {
        let inner = &self.inner;
        // `new_lazy_with_config` needs a Tokio runtime (it spawns a task), hence the deferral to
        // the first call. It does not connect: the manager connects on the first command and
        // reconnects after I/O errors on its own.
        let manager = inner
            .manager
            .get_or_try_init(|| async {
                ConnectionManager::new_lazy_with_config(inner.client.clone(), inner.config.clone())
                    .map_err(map_err)
            })
            .await?;
        Ok(manager.clone())
    }

    /// Runs one operation with the overall [`OPERATION_TIMEOUT`], sending it a second time on a
    /// fresh connection when it lost its connection and `replay` allows.
    async fn run<T, F, Fut>(&self, op: &'static str, replay: Replay, f: F) -> Result<T, StoreError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let attempts = async {
            // The manager reconnects after a dropped connection; the second attempt waits for it.
            match f(self.manager().await?).await {
                Err(e) if replay.again_after(&e) => {
                    tracing::debug!(op, error = %e, "redis connection lost; sending again");
                    f(self.manager().await?).await.map_err(map_err)
                }
                result => result.map_err(map_err),
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
        let n = self
            .run("INCR", Replay::IfNeverSent, |mut conn| async move {
                script
                    .key(key)
                    .arg(ttl_millis(ttl))
                    .invoke_async::<i64>(&mut conn)
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
        let (key, tombstone) = (self.key(key), self.key(tombstone));
        let script = &self.inner.take_once_script;
        let (state, value) = self
            .run("TAKE_ONCE", Replay::IfNeverSent, |mut conn| async move {
                script
                    .key(key)
                    .key(tombstone)
                    .arg(ttl_millis(memory))
                    .arg(if marker.is_some() { "1" } else { "0" })
                    .arg(marker.unwrap_or_default())
                    .invoke_async::<(i64, Vec<u8>)>(&mut conn)
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
