//! The faults, injected one after the other under load. Each is one entry: how it is done and
//! undone, and whether requests cut off mid-flight belong to it. (a)–(c) need a cluster on one
//! Redis and one PostgreSQL, (d)–(f) one on Redis Sentinel and a PostgreSQL pair
//! ([`crate::cluster::Backends`]).

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::cluster::Cluster;
use crate::load::Shared;

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `kill -9` of a node, restarted after a few seconds.
    KillNode(usize),
    /// The Redis server killed and started again empty.
    RedisRestartedEmpty,
    /// A node restarted with its clock a minute ahead (libfaketime), then restarted right (each
    /// restart a planned one: drained at the load balancer first).
    ClockSkew(usize),
    /// `kill -9` of the Redis primary: the sentinels promote the replica; the old primary is
    /// started again, empty, at its address.
    RedisFailover,
    /// The PostgreSQL primary stopped (fast shutdown) for 5 s and started again, the standby
    /// read-only meanwhile.
    PostgresRestart,
    /// The PostgreSQL primary killed and, 2 s later, its synchronous standby promoted.
    PostgresFailover,
}

/// How long the PostgreSQL primary stays down in [`Fault::PostgresRestart`].
const POSTGRES_DOWN: Duration = Duration::from_secs(5);
/// What a failover manager takes to decide, in [`Fault::PostgresFailover`].
const POSTGRES_DETECT: Duration = Duration::from_secs(2);

impl Fault {
    /// Its name in the table.
    pub fn name(self) -> String {
        match self {
            Fault::KillNode(n) => format!("(a) kill -9 of node {}", n + 1),
            Fault::RedisRestartedEmpty => "(b) Redis restarted empty".to_owned(),
            Fault::ClockSkew(n) => format!("(c) node {} clock +60 s", n + 1),
            Fault::RedisFailover => "(d) Redis primary failover".to_owned(),
            Fault::PostgresRestart => "(e) PostgreSQL stopped 5 s".to_owned(),
            Fault::PostgresFailover => "(f) PostgreSQL failover".to_owned(),
        }
    }

    /// Whether a request in flight may be cut off: only where a node is killed.
    pub fn cuts_requests(self) -> bool {
        matches!(self, Fault::KillNode(_))
    }

    /// Injects the fault and undoes it; returns when it is over (the cluster whole again).
    pub async fn inject(self, cluster: &mut Cluster, shared: &Shared) -> anyhow::Result<()> {
        match self {
            Fault::KillNode(n) => {
                cluster.kill_node(n);
                tokio::time::sleep(Duration::from_secs(3)).await;
                cluster.start_node(n, None).await
            }
            Fault::RedisRestartedEmpty => {
                shared.redis_epoch.fetch_add(1, Ordering::SeqCst);
                let restarted = cluster.restart_redis_empty().await;
                shared.redis_epoch.fetch_add(1, Ordering::SeqCst);
                restarted
            }
            Fault::RedisFailover => {
                // Replication is asynchronous: what the primary took last may be gone with it,
                // as in (b).
                shared.redis_epoch.fetch_add(1, Ordering::SeqCst);
                let failed_over = cluster.fail_over_redis().await;
                shared.redis_epoch.fetch_add(1, Ordering::SeqCst);
                println!("(d): the sentinels named a new primary after {failed_over:?}");
                failed_over.map(|_| ())
            }
            Fault::PostgresRestart => cluster.restart_postgres(POSTGRES_DOWN).await,
            Fault::PostgresFailover => cluster.fail_over_postgres(POSTGRES_DETECT).await,
            Fault::ClockSkew(n) => {
                cluster.stop_node(n).await?;
                cluster.start_node(n, Some("+60s")).await?;
                let ahead = cluster.clock_ahead(n).await;
                anyhow::ensure!(
                    ahead.is_some_and(|s| (55..=65).contains(&s)),
                    "the skewed node's clock is {ahead:?} s ahead, not a minute"
                );
                tokio::time::sleep(Duration::from_secs(10)).await;
                cluster.stop_node(n).await?;
                cluster.start_node(n, None).await
            }
        }
    }
}
