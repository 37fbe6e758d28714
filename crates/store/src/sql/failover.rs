//! PostgreSQL failover, as libpq does it: a URL may list several hosts
//! (`postgres://u:pw@h1:5432,h2:5433/db?target_session_attrs=read-write`), and the store uses the
//! first one, in list order, that accepts a connection (`any`, libpq's default) or that also
//! accepts writes (`read-write`: `SHOW transaction_read_only` is `off`).
//!
//! sqlx knows neither host lists nor `target_session_attrs` (it ignores the latter), so this module
//! splits the list into single-host URLs and keeps one of them as the pool's connect options:
//! - with `read-write`, a guard on every new connection refuses a read-only server (a standby), so
//!   no write ever goes to one;
//! - with more than one host, a supervisor task checks the current server every
//!   [`CHECK_INTERVAL`] (one query on a connection of its own) and at once when an operation fails
//!   with `Unavailable` (one check at a time, each probe bounded by [`PROBE_TIMEOUT`]); when it no
//!   longer matches, it scans the list in order and switches the pool to the first match.
//!   Connections opened before a switch are dropped when next acquired.
//!
//! Unlike libpq, which tries the list in order for every new connection, the store stays on the
//! current server while it matches: a recovered first host does not win the pool back, so a
//! returning old primary that still accepts writes (split brain) is not written to.
//!
//! Reads never go to a replica: every query, read or write, goes to the selected server.

use super::map_err;
use eid_core::StoreError;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Connection};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// Upper bound on one probe of one host (connect, and for `read-write` one `SHOW`).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the supervisor checks the current server when nothing has failed (one query on the
/// connection it keeps open, so a server that stopped is noticed without waiting for a failure).
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How soon the supervisor scans again when no listed server matched (a promotion under way).
const RESCAN_DELAY: Duration = Duration::from_millis(250);
/// Least time between two checks, so a burst of failing operations causes one check, not many.
const MIN_GAP: Duration = Duration::from_millis(100);

/// libpq's `target_session_attrs`, as far as the store implements it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAttrs {
    /// Any server that accepts a connection (libpq's default).
    Any,
    /// A server that accepts writes: `SHOW transaction_read_only` is `off`.
    ReadWrite,
}

impl fmt::Display for SessionAttrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionAttrs::Any => "any",
            SessionAttrs::ReadWrite => "read-write",
        })
    }
}

/// A PostgreSQL URL split into one single-host URL per listed host, in list order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgHosts {
    urls: Vec<String>,
    attrs: SessionAttrs,
}

impl PgHosts {
    /// Parses `postgres[ql]://[userinfo@]host[:port][,host[:port]…][/db][?query]`. The
    /// `target_session_attrs` parameter (`any` or `read-write`) is taken out of the query; any
    /// other value is refused. A URL with one host and no `target_session_attrs` is kept as it is.
    pub fn parse(url: &str) -> Result<PgHosts, StoreError> {
        let bad = |why: String| {
            StoreError::Backend(format!(
                "bad PostgreSQL url {}: {why}",
                crate::redact_url(url)
            ))
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("no scheme".to_owned()))?;
        if scheme != "postgres" && scheme != "postgresql" {
            return Err(bad("expected postgres:// or postgresql://".to_owned()));
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, host_list) = match authority.rfind('@') {
            Some(i) => authority.split_at(i + 1),
            None => ("", authority),
        };
        let (path, query) = match tail.split_once('?') {
            Some((path, query)) => (path, query),
            None => (tail, ""),
        };
        let mut attrs = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key != "target_session_attrs" {
                kept.push(pair);
                continue;
            }
            attrs = Some(match value {
                "any" => SessionAttrs::Any,
                "read-write" => SessionAttrs::ReadWrite,
                other => {
                    return Err(bad(format!(
                        "target_session_attrs={other:?} is not supported (use any or read-write)"
                    )));
                }
            });
        }
        let hosts: Vec<&str> = host_list.split(',').collect();
        if hosts.len() == 1 && attrs.is_none() {
            // As before multi-host support: the URL goes to sqlx untouched.
            return Ok(PgHosts {
                urls: vec![url.to_owned()],
                attrs: SessionAttrs::Any,
            });
        }
        if hosts.len() > 1 {
            for host in &hosts {
                check_host(host).map_err(&bad)?;
            }
        }
        let query = if kept.is_empty() {
            String::new()
        } else {
            format!("?{}", kept.join("&"))
        };
        let urls = hosts
            .iter()
            .map(|host| format!("{scheme}://{userinfo}{host}{path}{query}"))
            .collect();
        Ok(PgHosts {
            urls,
            attrs: attrs.unwrap_or(SessionAttrs::Any),
        })
    }

    /// One URL per host, in list order (they hold the credentials: never log them unredacted).
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// What a server must offer to be used.
    pub fn attrs(&self) -> SessionAttrs {
        self.attrs
    }
}

/// One entry of a host list: `host`, `host:port` or `[v6]:port`, with a port in 1..=65535.
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("empty host in the host list".to_owned());
    }
    if host.contains(|c: char| c.is_whitespace() || c == '@') {
        return Err(format!("bad host {host:?} in the host list"));
    }
    let port = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[i + 1..],
        _ => return Ok(()),
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("bad port {port:?} in the host list")),
    }
}

/// Whether the server of `conn` accepts writes (libpq's `read-write` test).
async fn is_read_write(conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    let read_only: String = sqlx::query_scalar("SHOW transaction_read_only")
        .fetch_one(&mut *conn)
        .await?;
    Ok(read_only == "off")
}

/// Why a host was not chosen.
#[derive(Debug)]
enum Refusal {
    /// It is up but read-only (a standby, or `default_transaction_read_only`).
    ReadOnly,
    /// It could not be reached or did not answer within [`PROBE_TIMEOUT`].
    Unreachable(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::ReadOnly => f.write_str("read-only"),
            Refusal::Unreachable(why) => f.write_str(why),
        }
    }
}

/// Connects to `url` and checks the server against `attrs`, within [`PROBE_TIMEOUT`]; the
/// connection if it matches.
async fn probe(url: &str, attrs: SessionAttrs) -> Result<AnyConnection, Refusal> {
    let opened = async {
        let mut conn = AnyConnection::connect(url).await?;
        let ok = matches(&mut conn, attrs).await?;
        Ok::<_, sqlx::Error>((conn, ok))
    };
    match tokio::time::timeout(PROBE_TIMEOUT, opened).await {
        Ok(Ok((conn, true))) => Ok(conn),
        Ok(Ok((conn, false))) => {
            let _ = conn.close().await;
            Err(Refusal::ReadOnly)
        }
        Ok(Err(e)) => Err(Refusal::Unreachable(map_err(e).to_string())),
        Err(_) => Err(Refusal::Unreachable(format!(
            "no answer within {PROBE_TIMEOUT:?}"
        ))),
    }
}

/// Whether the server of `conn` answers and matches `attrs`.
async fn matches(conn: &mut AnyConnection, attrs: SessionAttrs) -> Result<bool, sqlx::Error> {
    match attrs {
        SessionAttrs::Any => conn.ping().await.map(|()| true),
        SessionAttrs::ReadWrite => is_read_write(conn).await,
    }
}

/// Whether the server of an open connection still matches, within [`PROBE_TIMEOUT`].
async fn still_matches(conn: &mut AnyConnection, attrs: SessionAttrs) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, matches(conn, attrs)).await,
        Ok(Ok(true))
    )
}

/// The selected server of one store, shared by its pool's callbacks and its supervisor.
#[derive(Debug)]
pub(crate) struct Failover {
    hosts: PgHosts,
    /// Wakes the supervisor (one stored permit: a burst of kicks causes one check).
    kick: Notify,
    /// Index of the selected host in [`PgHosts::urls`].
    current: watch::Sender<usize>,
    /// Reference point of `switched_at_us`.
    base: Instant,
    /// Microseconds after `base` of the last switch; 0 before the first.
    switched_at_us: AtomicU64,
}

impl Failover {
    /// State for `hosts`, starting at the first host.
    pub(crate) fn new(hosts: PgHosts) -> Failover {
        Failover {
            hosts,
            kick: Notify::new(),
            current: watch::Sender::new(0),
            base: Instant::now(),
            switched_at_us: AtomicU64::new(0),
        }
    }

    /// Whether a supervisor is needed (there is something to switch to).
    pub(crate) fn has_alternatives(&self) -> bool {
        self.hosts.urls.len() > 1
    }

    /// The single-host URL of the selected server (with credentials).
    pub(crate) fn current_url(&self) -> String {
        let i = *self.current.borrow();
        self.hosts.urls.get(i).cloned().unwrap_or_default()
    }

    /// Tells of every switch: the new index into the host list.
    pub(crate) fn subscribe(&self) -> watch::Receiver<usize> {
        self.current.subscribe()
    }

    /// Asks the supervisor to check the selected server now.
    pub(crate) fn kick(&self) {
        self.kick.notify_one();
    }

    /// Adds the pool callbacks: with `read-write`, a new connection to a read-only server is
    /// refused (the pool then retries, with the options current at that time, until its acquire
    /// timeout); with several hosts, an idle connection opened before the last switch is dropped
    /// instead of being used.
    pub(crate) fn guard(self: &Arc<Self>, options: AnyPoolOptions) -> AnyPoolOptions {
        let options = if self.hosts.attrs == SessionAttrs::ReadWrite {
            let failover = Arc::clone(self);
            options.after_connect(move |conn, _meta| {
                let failover = Arc::clone(&failover);
                Box::pin(async move {
                    if is_read_write(conn).await? {
                        return Ok(());
                    }
                    failover.kick();
                    Err(sqlx::Error::Protocol(
                        "server is read-only (a standby?): not used".to_owned(),
                    ))
                })
            })
        } else {
            options
        };
        if !self.has_alternatives() {
            return options;
        }
        let failover = Arc::clone(self);
        options.before_acquire(move |_conn, meta| {
            let fresh = !failover.opened_before_switch(meta.age);
            Box::pin(async move { Ok(fresh) })
        })
    }

    /// Whether a connection of this age was opened before the last switch.
    fn opened_before_switch(&self, age: Duration) -> bool {
        let at = self.switched_at_us.load(Ordering::Acquire);
        if at == 0 {
            return false;
        }
        let since_switch = self
            .base
            .elapsed()
            .saturating_sub(Duration::from_micros(at));
        age > since_switch
    }

    /// The first host, in list order, that matches; makes it the selected one (no switch is
    /// logged: nothing used another one yet). `Unavailable` if none does.
    pub(crate) async fn select(&self) -> Result<String, StoreError> {
        if !self.has_alternatives() && self.hosts.attrs == SessionAttrs::Any {
            return Ok(self.current_url());
        }
        let mut refusals = Vec::new();
        for (i, url) in self.hosts.urls.iter().enumerate() {
            match probe(url, self.hosts.attrs).await {
                Ok(conn) => {
                    let _ = conn.close().await;
                    self.current.send_replace(i);
                    return Ok(url.clone());
                }
                Err(why) => refusals.push(format!("{}: {why}", crate::redact_url(url))),
            }
        }
        Err(StoreError::Unavailable(format!(
            "no {} PostgreSQL server among {} host(s) ({})",
            self.hosts.attrs,
            self.hosts.urls.len(),
            refusals.join("; ")
        )))
    }

    /// Checks the selected server (on `watch`, the supervisor's own connection to it, or a new
    /// one); if it no longer matches, switches the pool to the first host in list order that
    /// does. Returns whether a matching server is selected; `watch` is then connected to it.
    async fn check(&self, pool: &AnyPool, watch: &mut Option<AnyConnection>) -> bool {
        let attrs = self.hosts.attrs;
        if let Some(conn) = watch.as_mut() {
            if still_matches(conn, attrs).await {
                return true;
            }
            *watch = None;
        }
        let current = *self.current.borrow();
        let urls = &self.hosts.urls;
        if let Some(url) = urls.get(current)
            && let Ok(conn) = probe(url, attrs).await
        {
            *watch = Some(conn);
            return true;
        }
        for (i, url) in urls.iter().enumerate() {
            if i == current {
                continue;
            }
            if let Ok(conn) = probe(url, attrs).await {
                if self.switch_to(pool, i) {
                    *watch = Some(conn);
                    return true;
                }
                return false;
            }
        }
        false
    }

    fn switch_to(&self, pool: &AnyPool, to: usize) -> bool {
        let Some(url) = self.hosts.urls.get(to) else {
            return false;
        };
        match AnyConnectOptions::from_str(url) {
            Ok(options) => pool.set_connect_options(options),
            Err(e) => {
                tracing::error!(to = %crate::redact_url(url), error = %e, "durable store: cannot use PostgreSQL server");
                return false;
            }
        }
        let at = u64::try_from(self.base.elapsed().as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.switched_at_us.store(at, Ordering::Release);
        let from = self.current.send_replace(to);
        let from = self.hosts.urls.get(from).map(|u| crate::redact_url(u));
        tracing::warn!(
            from = from.as_deref().unwrap_or("?"),
            to = %crate::redact_url(url),
            "durable store switched PostgreSQL server"
        );
        true
    }
}

/// The supervisor task of one store; aborted when the last clone of the store is dropped.
#[derive(Debug)]
pub(crate) struct Supervisor(JoinHandle<()>);

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the supervisor of `pool` (must run within a Tokio runtime). It ends when the pool is
/// closed or the returned handle is dropped.
pub(crate) fn supervise(failover: Arc<Failover>, pool: AnyPool) -> Supervisor {
    Supervisor(tokio::spawn(async move {
        let mut wait = CHECK_INTERVAL;
        let mut lost = false;
        let mut watch = None;
        loop {
            let _ = tokio::time::timeout(wait, failover.kick.notified()).await;
            if pool.is_closed() {
                return;
            }
            let found = failover.check(&pool, &mut watch).await;
            if !found && !lost {
                tracing::warn!(
                    hosts = failover.hosts.urls.len(),
                    attrs = %failover.hosts.attrs,
                    "durable store: no listed PostgreSQL server matches; scanning again"
                );
            }
            lost = !found;
            wait = if found { CHECK_INTERVAL } else { RESCAN_DELAY };
            tokio::time::sleep(MIN_GAP).await;
        }
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn one_host_without_attrs_is_kept_as_it_is() {
        let url = "postgres://u:pw@db:5432/eid?sslmode=require";
        let hosts = PgHosts::parse(url).unwrap();
        assert_eq!(hosts.urls(), [url]);
        assert_eq!(hosts.attrs(), SessionAttrs::Any);
    }

    #[test]
    fn a_host_list_becomes_one_url_per_host_in_order() {
        let hosts = PgHosts::parse(
            "postgresql://u:p%40w@h1:5432,[::1]:5433,h3/eid?sslmode=require&target_session_attrs=read-write&application_name=x",
        )
        .unwrap();
        assert_eq!(hosts.attrs(), SessionAttrs::ReadWrite);
        assert_eq!(
            hosts.urls(),
            [
                "postgresql://u:p%40w@h1:5432/eid?sslmode=require&application_name=x",
                "postgresql://u:p%40w@[::1]:5433/eid?sslmode=require&application_name=x",
                "postgresql://u:p%40w@h3/eid?sslmode=require&application_name=x",
            ]
        );
    }

    #[test]
    fn target_session_attrs_defaults_to_any_and_is_taken_out() {
        let hosts = PgHosts::parse("postgres://u@h1,h2/db").unwrap();
        assert_eq!(hosts.attrs(), SessionAttrs::Any);
        assert_eq!(hosts.urls(), ["postgres://u@h1/db", "postgres://u@h2/db"]);
        let one = PgHosts::parse("postgres://u@h1/db?target_session_attrs=any").unwrap();
        assert_eq!(one.urls(), ["postgres://u@h1/db"]);
        let one = PgHosts::parse("postgres://u@h1?target_session_attrs=read-write").unwrap();
        assert_eq!(one.attrs(), SessionAttrs::ReadWrite);
        assert_eq!(one.urls(), ["postgres://u@h1"]);
    }

    #[test]
    fn unimplemented_session_attrs_are_refused_without_the_password() {
        for attrs in ["standby", "prefer-standby", "primary", "read-only", ""] {
            let url = format!("postgres://u:secret@h1,h2/db?target_session_attrs={attrs}");
            let err = PgHosts::parse(&url).unwrap_err().to_string();
            assert!(err.contains("target_session_attrs"), "{err}");
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn malformed_host_lists_are_refused() {
        for url in [
            "postgres://u@h1,,h2/db",
            "postgres://u@h1,/db",
            "postgres://u@,h2/db",
            "postgres://u@h1:0,h2/db",
            "postgres://u@h1:99999,h2/db",
            "postgres://u@h1:x,h2/db",
            "postgres://u@h1 ,h2/db",
            "mysql://u@h1,h2/db",
        ] {
            assert!(PgHosts::parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn connections_opened_before_a_switch_are_stale() {
        let failover = Failover::new(PgHosts::parse("postgres://u@h1,h2/db").unwrap());
        assert!(!failover.opened_before_switch(Duration::from_secs(3600)));
        failover.switched_at_us.store(
            u64::try_from(failover.base.elapsed().as_micros())
                .unwrap()
                .max(1),
            Ordering::Release,
        );
        assert!(failover.opened_before_switch(Duration::from_secs(3600)));
        assert!(!failover.opened_before_switch(Duration::ZERO));
    }
}
