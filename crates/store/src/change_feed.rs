//! Changes every node must see at once: the relying-party registry and signing keys.
//!
//! Each node keeps the registry in memory and re-reads it on a timer; the feed makes a change on
//! one node (an admin API call, a metadata refresh, an operator's SQL) reach the others within a
//! second. On PostgreSQL the registry tables carry statement triggers that `NOTIFY` [`REGISTRY`]
//! when a change commits (migration 0009); `eidbroker keygen` notifies [`KEYS`] after it wrote a
//! key. [`listen`] holds a `LISTEN` session to the current primary and counts what it hears in a
//! [`Versions`] watch: a consumer that wakes compares counters, so bursts coalesce and nothing is
//! lost between wake-ups.
//!
//! A notice is best effort: none is queued while the session is down. So every (re)connect counts
//! as a change of everything ([`Versions::resyncs`]), and the consumer's timer stays the safety net.
//! SQLite serves one node: there is no other node to tell, and [`listen`] is not started.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::StoreError;

/// Channel of registry changes (payload: the table).
pub const REGISTRY: &str = "eid_registry";
/// Channel of key changes (payload: the component).
pub const KEYS: &str = "eid_keys";

/// How long a connect or `LISTEN` may take before the feed tries again.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A silent session is checked with a query this often (a half-open TCP connection would
/// otherwise never fail: sqlx sets no keepalive).
const HEARTBEAT: Duration = Duration::from_secs(20);
/// Longest wait between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How many changes of each kind the feed has heard (each only grows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Versions {
    /// Registry changes (each (re)connect counts as one).
    pub registry: u64,
    /// Key changes (each (re)connect counts as one).
    pub keys: u64,
    /// (Re)connects: notices may have been missed before each.
    pub resyncs: u64,
}

impl Versions {
    fn heard(&mut self, channel: &str) {
        match channel {
            REGISTRY => self.registry += 1,
            KEYS => self.keys += 1,
            _ => {}
        }
    }

    fn resync(&mut self) {
        self.registry += 1;
        self.keys += 1;
        self.resyncs += 1;
    }
}

/// Waits for one kind of change: wakes when its counter in [`Versions`] moved since the last wake-up,
/// so notices that came meanwhile (during the consumer's re-read) make one more wake-up.
#[derive(Debug)]
pub struct Changes {
    versions: watch::Receiver<Versions>,
    counter: fn(&Versions) -> u64,
    seen: u64,
}

impl Changes {
    /// Watches `counter` (e.g. `|v| v.registry`) of `versions`, from its current value.
    pub fn new(versions: watch::Receiver<Versions>, counter: fn(&Versions) -> u64) -> Changes {
        let seen = counter(&versions.borrow());
        Changes {
            versions,
            counter,
            seen,
        }
    }

    /// Completes once the counter moved; `false` when the feed is gone.
    pub async fn next(&mut self) -> bool {
        loop {
            if self.versions.changed().await.is_err() {
                return false;
            }
            let now = (self.counter)(&self.versions.borrow_and_update());
            if now != self.seen {
                self.seen = now;
                return true;
            }
        }
    }
}

/// The listening task and what it heard.
#[derive(Debug)]
pub struct Feed {
    /// Counters of what was heard; `changed()` wakes on every notice.
    pub versions: watch::Receiver<Versions>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listens on PostgreSQL for [`REGISTRY`] and [`KEYS`] notices. `url` names the server to listen
/// on and is asked again before each reconnect; a change on `switches` (the durable store's
/// failover to another server, [`SqlDurable::postgres_switches`](crate::SqlDurable::postgres_switches))
/// makes the feed leave its session and listen on the new primary (a standby refuses `LISTEN`, and
/// notices are sent where the writes go). Must be called within a Tokio runtime.
pub fn listen<F>(url: F, mut switches: Option<watch::Receiver<usize>>) -> Feed
where
    F: Fn() -> String + Send + Sync + 'static,
{
    let (tx, versions) = watch::channel(Versions::default());
    let task = tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            // A switch after this point makes the session below leave (see `relay`).
            if let Some(switches) = switches.as_mut() {
                switches.mark_unchanged();
            }
            let target = url();
            match subscribe(&target).await {
                Ok(mut listener) => {
                    backoff = Duration::from_millis(100);
                    tx.send_modify(Versions::resync);
                    relay(&mut listener, &tx, switches.as_mut()).await;
                    tracing::warn!(
                        url = %crate::redact_url(&target),
                        "lost the change feed's session; reconnecting (the nodes re-read everything)"
                    );
                }
                Err(e) => {
                    tracing::warn!(url = %crate::redact_url(&target), error = %e, "cannot listen for changes; retrying");
                }
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
    Feed { versions, task }
}

async fn subscribe(url: &str) -> Result<PgListener, StoreError> {
    let connect = async {
        let mut listener = PgListener::connect(url).await?;
        // A lost session must surface as one (`Ok(None)`), not be hidden by a silent reconnect
        // that drops the notices sent meanwhile.
        listener.eager_reconnect(false);
        listener.listen_all([REGISTRY, KEYS]).await?;
        Ok::<_, sqlx::Error>(listener)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| StoreError::Unavailable("the change feed did not connect in time".into()))?
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// Counts notices until the session is lost or the store switches servers.
async fn relay(
    listener: &mut PgListener,
    tx: &watch::Sender<Versions>,
    mut switches: Option<&mut watch::Receiver<usize>>,
) {
    loop {
        let switched = async {
            match switches.as_deref_mut() {
                Some(switches) => {
                    if switches.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        let received = tokio::select! {
            received = tokio::time::timeout(HEARTBEAT, listener.try_recv()) => received,
            () = switched => return,
        };
        match received {
            Ok(Ok(Some(notice))) => tx.send_modify(|v| v.heard(notice.channel())),
            Ok(Ok(None) | Err(_)) => return,
            Err(_silent) => {
                let alive = tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    sqlx::query("SELECT 1").execute(&mut *listener),
                )
                .await;
                if !matches!(alive, Ok(Ok(_))) {
                    return;
                }
            }
        }
        if tx.is_closed() {
            return;
        }
    }
}

/// Tells every listening node that `component`'s keys changed. `url` is a PostgreSQL URL.
pub async fn publish_keys(url: &str, component: &str) -> Result<(), StoreError> {
    let notify = async {
        use sqlx::Connection;
        let mut conn = sqlx::postgres::PgConnection::connect(url).await?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(KEYS)
            .bind(component)
            .execute(&mut conn)
            .await?;
        conn.close().await
    };
    tokio::time::timeout(CONNECT_TIMEOUT, notify)
        .await
        .map_err(|_| StoreError::Unavailable("the database did not answer in time".into()))?
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}
