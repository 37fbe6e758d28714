//! `--memory`: idle RSS of `eidbroker serve` and what one SSO session costs.
//!
//! 1. The configuration as given (the demo: memory store): VmRSS a few seconds after start, then
//!    after N logins (the growth per login is an upper bound: it also holds the authenticator's
//!    session, allocator slack and the logins' transient state).
//! 2. With `--ephemeral redis://…`: the same logins on Redis, then for a sample of sessions the
//!    two keys a broker SSO session is stored under (`broker:sso:<digest of the cookie>`, the
//!    session, and `broker:sid:<sid>`, the digest): Redis `MEMORY USAGE`, the value's length, and
//!    what the memory store counts for them (64 bytes per entry plus key and value), plus the
//!    serialized size of each field of the session. Field names and sizes only: no values.
//!
//! Standalone Redis only (`redis://`): `SCAN`, `MEMORY USAGE` and the multi-key `DEL` go over a
//! plain connection to one server, which on a cluster holds a third of the keys and behind
//! sentinels may be a replica.

use crate::server::{self, ServerSpec};
use crate::{Options, demo_rp, logins};
use anyhow::Context;
use redis::aio::MultiplexedConnection;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// What the memory store counts per entry on top of key and value (crates/store/src/memory.rs).
const MEMORY_STORE_ENTRY_OVERHEAD: usize = 64;
/// Sessions inspected key by key.
const SAMPLE: usize = 20;

pub async fn run(spec: &ServerSpec, o: &Options, redis: Option<&str>) -> anyhow::Result<()> {
    let rp = demo_rp();
    let broker = spec.broker_url();
    {
        let server = spec.start_with("memory", None, None).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let idle = server::rss_bytes(server.pid()).context("no VmRSS")?;
        let t = Instant::now();
        let sessions = logins::login_many(&broker, &rp, &logins::USERS, o.sessions, 4).await?;
        let login_s = t.elapsed().as_secs_f64();
        let after = server::rss_bytes(server.pid()).context("no VmRSS")?;
        println!(
            "{}",
            json!({
                "memory": "rss", "store": "(config)", "idle_rss_bytes": idle, "idle_rss_mib": mib(idle),
                "budget_idle_rss_mib": 60, "sessions": sessions.len(), "logins_s": (login_s * 10.0).round() / 10.0,
                "rss_after_logins_bytes": after, "rss_after_logins_mib": mib(after),
                "rss_growth_per_login_bytes": after.saturating_sub(idle) / sessions.len().max(1) as u64,
            })
        );
    }
    let Some(url) = redis else {
        eprintln!(
            "bench: add --ephemeral redis://127.0.0.1:6379 for the bytes of a session in the store"
        );
        return Ok(());
    };
    let server = spec
        .start_with("redis", Some(url), spec.durable.as_deref())
        .await?;
    let mut con = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let used_before = used_memory(&mut con).await?;
    let keys_before = count_keys(&mut con, &spec.redis_prefix).await?;
    let sessions = logins::login_many(&broker, &rp, &logins::USERS, o.sessions, 4).await?;
    let used_after = used_memory(&mut con).await?;
    let keys_after = count_keys(&mut con, &spec.redis_prefix).await?;
    let n = sessions.len().max(1);
    let (mut redis_bytes, mut store_bytes, mut value_bytes, mut inspected) =
        (0u64, 0usize, 0usize, 0usize);
    let mut fields = serde_json::Map::new();
    for s in sessions.iter().take(SAMPLE) {
        let sso_key = format!(
            "broker:sso:{}",
            eid_oidc::random::digest_key(&s.session_cookie)
        );
        let full = format!("{}{sso_key}", spec.redis_prefix);
        let Some(value): Option<Vec<u8>> =
            redis::cmd("GET").arg(&full).query_async(&mut con).await?
        else {
            continue;
        };
        let session: Value = serde_json::from_slice(&value).unwrap_or(Value::Null);
        let sid = session["sid"].as_str().unwrap_or_default();
        let sid_key = format!("broker:sid:{sid}");
        let sid_full = format!("{}{sid_key}", spec.redis_prefix);
        let sid_len: usize = redis::cmd("STRLEN")
            .arg(&sid_full)
            .query_async(&mut con)
            .await?;
        for key in [&full, &sid_full] {
            let usage: Option<u64> = redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(key)
                .query_async(&mut con)
                .await?;
            redis_bytes += usage.unwrap_or(0);
        }
        store_bytes +=
            2 * MEMORY_STORE_ENTRY_OVERHEAD + sso_key.len() + value.len() + sid_key.len() + sid_len;
        value_bytes += value.len();
        if inspected == 0 {
            describe(&session, "", &mut fields);
        }
        inspected += 1;
    }
    let families = families(&mut con, &spec.redis_prefix, n).await?;
    drop(server);
    let per = |total: usize| (inspected > 0).then(|| total / inspected);
    println!(
        "{}",
        json!({
            "memory": "store", "store": "redis", "sessions": sessions.len(), "inspected": inspected,
            "redis_memory_usage_per_session_bytes": per(usize::try_from(redis_bytes).unwrap_or(usize::MAX)),
            "memory_store_count_per_session_bytes": per(store_bytes),
            "session_value_bytes": per(value_bytes),
            "budget_per_session_bytes": 1024,
            "redis_used_memory_growth_per_login_bytes": used_after.saturating_sub(used_before) / n as u64,
            "redis_keys_per_login": r2((keys_after.saturating_sub(keys_before)) as f64 / n as f64),
            "session_field_bytes": fields,
            "redis_keys_by_family_per_login": families,
        })
    );
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    (bytes as f64 / 1048576.0 * 10.0).round() / 10.0
}

fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The serialized size of each field (nested objects one level down as `outer.inner`).
fn describe(v: &Value, prefix: &str, out: &mut serde_json::Map<String, Value>) {
    if let Value::Object(map) = v {
        for (k, v) in map {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            let len = serde_json::to_vec(v).map_or(0, |b| b.len()) + k.len() + 4;
            out.insert(name.clone(), json!(len));
            if prefix.is_empty() && v.is_object() {
                describe(v, &name, out);
            }
        }
    }
}

async fn used_memory(con: &mut MultiplexedConnection) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(con).await?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .context("INFO memory without used_memory")
}

async fn scan(con: &mut MultiplexedConnection, prefix: &str) -> anyhow::Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(con)
            .await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// Every key of this run grouped by family (`broker:sso`, `idp:…`): keys and `MEMORY USAGE`
/// bytes per login.
async fn families(
    con: &mut MultiplexedConnection,
    prefix: &str,
    logins: usize,
) -> anyhow::Result<Value> {
    let mut by_family: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for key in scan(con, prefix).await? {
        let rest = key.strip_prefix(prefix).unwrap_or(&key);
        let family: Vec<&str> = rest
            .split(':')
            .take(2)
            .map(|s| if s.len() > 20 { "*" } else { s })
            .collect();
        let usage: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(&key)
            .query_async(con)
            .await?;
        let entry = by_family.entry(family.join(":")).or_default();
        entry.0 += 1;
        entry.1 += usage.unwrap_or(0);
    }
    let n = logins.max(1) as f64;
    Ok(Value::Object(
        by_family
            .into_iter()
            .map(|(k, (keys, bytes))| {
                (
                    k,
                    json!({"keys": r2(keys as f64 / n), "bytes": (bytes as f64 / n).round()}),
                )
            })
            .collect(),
    ))
}

async fn count_keys(con: &mut MultiplexedConnection, prefix: &str) -> anyhow::Result<usize> {
    Ok(scan(con, prefix).await?.len())
}

/// Deletes the keys of this run (its own prefix) from the shared Redis.
pub async fn purge_prefix(url: &str, prefix: &str) -> anyhow::Result<()> {
    let mut con = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    for chunk in scan(&mut con, prefix).await?.chunks(500) {
        let _: u64 = redis::cmd("DEL").arg(chunk).query_async(&mut con).await?;
    }
    Ok(())
}
