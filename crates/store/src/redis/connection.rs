//! One connection per topology, and how each finds its primary again after a fault.
//!
//! - Standalone: redis' [`ConnectionManager`], which reconnects to its one address.
//! - Sentinel: a [`MultiplexedConnection`] to the primary the sentinels name. `ConnectionManager`
//!   cannot follow a failover (it reconnects to the address it was built with), so after a
//!   connection error, `READONLY` or `MASTERDOWN` the connection is dropped and the next call asks
//!   the sentinels again. Each connection has a generation number, and only a failure on the
//!   current generation drops it: many concurrent calls failing together cause one lookup.
//! - Cluster: redis' [`ClusterConnection`] with no retries of its own (`retries(0)`): it never
//!   sends a command again after a lost reply; the store resends only what the server refused
//!   without running it.

use super::topology::Topology;
use super::{CONNECTION_TIMEOUT, RESPONSE_TIMEOUT};
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, ServerErrorKind,
    Value,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::OnceCell;

/// A connection of any topology, handed to one attempt of one operation.
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Sentinel(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Sentinel(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Sentinel(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Sentinel(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// A connection and the generation it belongs to (see [`Connector::failed`]).
pub(super) struct Lease {
    pub(super) conn: Conn,
    generation: u64,
}

/// Makes and keeps the store's connection for its topology.
pub(super) enum Connector {
    Single {
        client: redis::Client,
        config: ConnectionManagerConfig,
        /// Set by `connect`, or on first use (`new_lazy_with_config` needs a Tokio runtime).
        manager: OnceCell<ConnectionManager>,
    },
    Sentinel(SentinelPrimary),
    Cluster {
        client: ClusterClient,
        /// Set on the first successful connection; until then each call tries again.
        conn: OnceCell<ClusterConnection>,
    },
}

/// The primary named by the sentinels, looked up again after it failed.
pub(super) struct SentinelPrimary {
    /// Asks the sentinels; one lookup at a time.
    sentinels: tokio::sync::Mutex<SentinelClient>,
    config: AsyncConnectionConfig,
    current: Mutex<Option<(u64, MultiplexedConnection)>>,
    generations: AtomicU64,
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(250))
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
}

fn connection_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
}

/// Whether `e` says the connection (or the node behind it) can no longer serve as the primary.
fn primary_lost(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
        )
}

impl Connector {
    pub(super) fn new(topology: Topology) -> Result<Connector, RedisError> {
        Ok(match topology {
            Topology::Standalone(client) => Connector::Single {
                client,
                config: manager_config(),
                manager: OnceCell::new(),
            },
            Topology::Sentinel {
                sentinels,
                master,
                db,
            } => {
                // The data nodes use the sentinels' credentials and the URL's database.
                let data_node = sentinels
                    .first()
                    .map(|s| s.redis_settings().clone().set_db(db))
                    .unwrap_or_default();
                let client = SentinelClient::build(
                    sentinels,
                    master,
                    Some(
                        SentinelNodeConnectionInfo::default().set_redis_connection_info(data_node),
                    ),
                    SentinelServerType::Master,
                )?;
                Connector::Sentinel(SentinelPrimary {
                    sentinels: tokio::sync::Mutex::new(client),
                    config: connection_config(),
                    current: Mutex::new(None),
                    generations: AtomicU64::new(0),
                })
            }
            Topology::Cluster { nodes } => Connector::Cluster {
                client: ClusterClient::builder(nodes)
                    // Never resend by itself: a lost reply of GETDEL or a script must not run twice.
                    .retries(0)
                    .connection_timeout(CONNECTION_TIMEOUT)
                    .response_timeout(RESPONSE_TIMEOUT)
                    .build()?,
                conn: OnceCell::new(),
            },
        })
    }

    /// Connects now (standalone: a manager that connects at once, otherwise the first lease).
    pub(super) async fn connect(&self) -> Result<(), RedisError> {
        match self {
            Connector::Single {
                client,
                config,
                manager,
            } => {
                let m = ConnectionManager::new_with_config(client.clone(), config.clone()).await?;
                // A concurrent first use may have set one already; either serves.
                let _ = manager.set(m);
                Ok(())
            }
            _ => self.lease().await.map(|_| ()),
        }
    }

    /// The connection for the next attempt, connecting (or asking the sentinels) if there is none.
    pub(super) async fn lease(&self) -> Result<Lease, RedisError> {
        match self {
            Connector::Single {
                client,
                config,
                manager,
            } => {
                let m = manager
                    .get_or_try_init(|| async {
                        ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
                    })
                    .await?;
                Ok(Lease {
                    conn: Conn::Single(m.clone()),
                    generation: 0,
                })
            }
            Connector::Sentinel(primary) => primary.lease().await,
            Connector::Cluster { client, conn } => {
                let c = conn
                    .get_or_try_init(|| client.get_async_connection())
                    .await?;
                Ok(Lease {
                    conn: Conn::Cluster(c.clone()),
                    generation: 0,
                })
            }
        }
    }

    /// Reports that an attempt on `lease` failed with `e`; on Sentinel, a lost primary is
    /// forgotten so that the next lease asks the sentinels.
    pub(super) fn failed(&self, lease: &Lease, e: &RedisError) {
        if let Connector::Sentinel(primary) = self
            && primary_lost(e)
        {
            primary.forget(lease.generation);
        }
    }

    /// Whether a connection has been made (for `Debug`).
    pub(super) fn connected(&self) -> bool {
        match self {
            Connector::Single { manager, .. } => manager.initialized(),
            Connector::Sentinel(p) => p.current().is_some(),
            Connector::Cluster { conn, .. } => conn.initialized(),
        }
    }
}

impl SentinelPrimary {
    fn current(&self) -> Option<(u64, MultiplexedConnection)> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn lease(&self) -> Result<Lease, RedisError> {
        let lease = |(generation, conn): (u64, MultiplexedConnection)| Lease {
            conn: Conn::Sentinel(conn),
            generation,
        };
        if let Some(current) = self.current() {
            return Ok(lease(current));
        }
        let mut sentinels = self.sentinels.lock().await;
        // Another call may have looked it up while this one waited.
        if let Some(current) = self.current() {
            return Ok(lease(current));
        }
        let client = sentinels.async_get_client().await?;
        let conn = client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(generation, "redis primary looked up through the sentinels");
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((generation, conn.clone()));
        Ok(lease((generation, conn)))
    }

    /// Drops the connection of `generation` if it is still the current one.
    fn forget(&self, generation: u64) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            tracing::info!(generation, "redis primary lost; asking the sentinels again");
            *current = None;
        }
    }
}
