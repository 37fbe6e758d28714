//! Which Redis deployment the configured URL names, parsed once.
//!
//! - `redis://[user:password@]host[:port][/db]` (and `rediss://`): one server.
//! - `redis+sentinel://[user:password@]host[:port][,host[:port]…]/master[/db]`: sentinels (port
//!   26379 by default) that name the primary of `master`; the credentials are used for the
//!   sentinels and for the data nodes alike.
//! - `redis+cluster://[user:password@]host[:port][,host[:port]…]`: seed nodes of a cluster (port
//!   6379 by default; a cluster has only database 0).
//!
//! `url::Url` refuses a comma-separated host list, so the two multi-host forms are split here and
//! each host becomes a `redis://` URL of its own, which the redis crate then parses (it decodes
//! percent-encoded credentials). Messages never contain the credentials.

use redis::{ConnectionInfo, IntoConnectionInfo};

/// The scheme of a Sentinel URL.
pub const SENTINEL_SCHEME: &str = "redis+sentinel://";
/// The scheme of a Cluster URL.
pub const CLUSTER_SCHEME: &str = "redis+cluster://";
/// The port of a sentinel named without one.
pub const SENTINEL_DEFAULT_PORT: u16 = 26379;
/// The port of a cluster node named without one.
pub const REDIS_DEFAULT_PORT: u16 = 6379;

/// Why a Redis URL or a key prefix is refused (without the URL's credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRedisUrl(String);

fn invalid(why: impl Into<String>) -> InvalidRedisUrl {
    InvalidRedisUrl(why.into())
}

/// A parsed ephemeral-store URL.
pub(crate) enum Topology {
    /// One server, through redis' own URL parser.
    Standalone(redis::Client),
    /// The primary that the sentinels name `master`.
    Sentinel {
        sentinels: Vec<ConnectionInfo>,
        master: String,
        db: i64,
    },
    /// A cluster, discovered from any of its seed nodes.
    Cluster { nodes: Vec<ConnectionInfo> },
}

impl Topology {
    /// Parses `url`; the key prefix is checked too, since a cluster needs one without braces.
    pub(crate) fn parse(url: &str, key_prefix: &str) -> Result<Topology, InvalidRedisUrl> {
        if let Some(rest) = url.strip_prefix(SENTINEL_SCHEME) {
            let parts = split_multi_host(rest, "redis+sentinel")?;
            let mut path = parts.path.strip_prefix('/').unwrap_or("").split('/');
            let master = path.next().unwrap_or("");
            if master.is_empty() {
                return Err(invalid(
                    "redis+sentinel:// needs the master's name as its path: \
                     redis+sentinel://host:26379,host:26379/mymaster[/db]",
                ));
            }
            let db = match path.next() {
                None | Some("") => 0,
                Some(db) => db
                    .parse::<i64>()
                    .ok()
                    .filter(|db| *db >= 0)
                    .ok_or_else(|| invalid(format!("bad database number {db:?} in the path")))?,
            };
            if path.next().is_some() {
                return Err(invalid(
                    "redis+sentinel:// path is /master[/db], nothing more",
                ));
            }
            let sentinels = node_infos(&parts, SENTINEL_DEFAULT_PORT)?;
            Ok(Topology::Sentinel {
                sentinels,
                master: master.to_owned(),
                db,
            })
        } else if let Some(rest) = url.strip_prefix(CLUSTER_SCHEME) {
            let parts = split_multi_host(rest, "redis+cluster")?;
            if !matches!(parts.path, "" | "/") {
                return Err(invalid(
                    "redis+cluster:// takes no path: a cluster has only database 0",
                ));
            }
            if key_prefix.contains(['{', '}']) {
                return Err(invalid(
                    "on a Redis Cluster the key prefix must not contain `{` or `}`: \
                     the store decides the hash tags",
                ));
            }
            Ok(Topology::Cluster {
                nodes: node_infos(&parts, REDIS_DEFAULT_PORT)?,
            })
        } else if url.starts_with("redis://") || url.starts_with("rediss://") {
            redis::Client::open(url)
                .map(Topology::Standalone)
                .map_err(|e| {
                    invalid(format!(
                        "invalid redis url {}: {:?}",
                        crate::redact_url(url),
                        e.kind()
                    ))
                })
        } else {
            Err(invalid(format!(
                "expected a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL, got {}",
                crate::redact_url(url)
            )))
        }
    }

    /// Whether this is a Redis Cluster (keys of one operation must share a slot).
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Topology::Cluster { .. })
    }
}

/// Checks an ephemeral-store URL and key prefix as [`crate::RedisEphemeral::new_lazy`] would,
/// without building a store (for configuration validation).
pub fn check_url(url: &str, key_prefix: &str) -> Result<(), InvalidRedisUrl> {
    Topology::parse(url, key_prefix).map(|_| ())
}

/// The parts of a multi-host URL after its scheme.
struct MultiHost<'a> {
    /// `user:password` as written (percent-encoded), if any.
    userinfo: Option<&'a str>,
    hosts: Vec<(&'a str, Option<u16>)>,
    path: &'a str,
}

fn split_multi_host<'a>(rest: &'a str, scheme: &str) -> Result<MultiHost<'a>, InvalidRedisUrl> {
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    if path.contains(['?', '#']) || hosts.contains(['?', '#']) {
        return Err(invalid(format!("{scheme}:// takes no query or fragment")));
    }
    if hosts.is_empty() {
        return Err(invalid(format!(
            "{scheme}:// needs at least one host: {scheme}://host:port,host:port…"
        )));
    }
    let hosts = hosts
        .split(',')
        .map(|h| host_port(h, scheme))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MultiHost {
        userinfo,
        hosts,
        path,
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn host_port<'a>(text: &'a str, scheme: &str) -> Result<(&'a str, Option<u16>), InvalidRedisUrl> {
    let bad = |why: &str| invalid(format!("{scheme}:// host {text:?}: {why}"));
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let (inside, after) = v6.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
        if inside.is_empty() {
            return Err(bad("empty IPv6 address"));
        }
        match after {
            "" => (&text[..inside.len() + 2], None),
            p => (
                &text[..inside.len() + 2],
                Some(p.strip_prefix(':').ok_or_else(|| bad("expected `:port`"))?),
            ),
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err(bad("empty host (is there a stray comma?)"));
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '/' | '@' | '%' | '\\'))
    {
        return Err(bad("not a host name or address"));
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
        ),
    };
    Ok((host, port))
}

/// One `redis://[userinfo@]host:port` connection info per host, parsed by the redis crate.
fn node_infos(
    parts: &MultiHost<'_>,
    default_port: u16,
) -> Result<Vec<ConnectionInfo>, InvalidRedisUrl> {
    parts
        .hosts
        .iter()
        .map(|(host, port)| {
            let port = port.unwrap_or(default_port);
            let url = match parts.userinfo {
                Some(userinfo) => format!("redis://{userinfo}@{host}:{port}"),
                None => format!("redis://{host}:{port}"),
            };
            url.as_str().into_connection_info().map_err(|e| {
                invalid(format!(
                    "host {host}:{port} (credentials not shown): {:?}",
                    e.kind()
                ))
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use redis::ConnectionAddr;

    fn addrs(infos: &[ConnectionInfo]) -> Vec<String> {
        infos
            .iter()
            .map(|i| match i.addr() {
                ConnectionAddr::Tcp(h, p) => format!("{h}:{p}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn err(url: &str) -> String {
        match Topology::parse(url, "eid:") {
            Ok(_) => panic!("{url} accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn sentinel_urls_name_hosts_master_and_db() {
        let Topology::Sentinel {
            sentinels,
            master,
            db,
        } = Topology::parse(
            "redis+sentinel://u:p%40ss@10.0.0.1:26380,sentinel-b,[::1]:5000/mymaster/3",
            "eid:",
        )
        .unwrap()
        else {
            panic!("not sentinel");
        };
        assert_eq!(
            addrs(&sentinels),
            ["10.0.0.1:26380", "sentinel-b:26379", "::1:5000"]
        );
        assert_eq!((master.as_str(), db), ("mymaster", 3));
        let auth = sentinels[0].redis_settings();
        assert_eq!(
            (auth.username(), auth.password()),
            (Some("u"), Some("p@ss"))
        );
        assert!(matches!(
            Topology::parse("redis+sentinel://h/m", "eid:").unwrap(),
            Topology::Sentinel { db: 0, .. }
        ));
    }

    #[test]
    fn cluster_urls_name_seed_nodes() {
        let Topology::Cluster { nodes } =
            Topology::parse("redis+cluster://a:7000,b:7001,c", "eid:").unwrap()
        else {
            panic!("not cluster");
        };
        assert_eq!(addrs(&nodes), ["a:7000", "b:7001", "c:6379"]);
        assert!(
            Topology::parse("redis+cluster://a:7000/", "eid:")
                .unwrap()
                .is_cluster()
        );
    }

    #[test]
    fn malformed_multi_host_urls_are_refused_with_the_reason() {
        for (url, why) in [
            ("redis+sentinel://h1,h2", "master's name"),
            ("redis+sentinel:///m", "at least one host"),
            ("redis+sentinel://h1,,h2/m", "stray comma"),
            ("redis+sentinel://h1:0/m", "port"),
            ("redis+sentinel://h1:x/m", "port"),
            ("redis+sentinel://h1:70000/m", "port"),
            ("redis+sentinel://h1/m/x", "database"),
            ("redis+sentinel://h1/m/-1", "database"),
            ("redis+sentinel://h1/m/0/x", "nothing more"),
            ("redis+sentinel://h1/m?password=x", "query"),
            ("redis+sentinel://[::1/m", "unclosed"),
            ("redis+sentinel://[::1]x/m", ":port"),
            ("redis+cluster://a:1,b:2/1", "no path"),
            ("redis+cluster://a:1,", "stray comma"),
            ("redis+cluster://a b:1", "not a host"),
            ("redis+cluster://", "at least one host"),
            ("memcached://x", "expected a redis://"),
        ] {
            let e = err(url);
            assert!(e.contains(why), "{url}: {e}");
        }
    }

    #[test]
    fn messages_never_show_credentials() {
        for url in [
            "redis+sentinel://user:hunter2@h1,,h2/m",
            "redis+cluster://user:hunter2@a:x",
            "redis+cluster://user:hunter2@a:1/2",
            "redis://user:hunter2@[::1/0",
            "http://user:hunter2@h",
        ] {
            let e = err(url);
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn a_cluster_refuses_a_prefix_with_braces_other_topologies_do_not_care() {
        for prefix in ["eid:{x}:", "{", "a}"] {
            let e = Topology::parse("redis+cluster://a:1", prefix)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("key prefix"), "{e}");
            assert!(Topology::parse("redis+sentinel://a/m", prefix).is_ok());
            assert!(Topology::parse("redis://a", prefix).is_ok());
        }
        assert!(check_url("redis+cluster://a:1", "eid:").is_ok());
    }
}
