//! `bench --cluster URL`: full logins a second through a deployment already running, such as
//! `deploy/local-cluster.sh` with one, two or three nodes in rotation (issue 19's capacity
//! figures). Nothing is started or pinned here; the CPU every `eidbroker`, `haproxy`,
//! `redis-server` and `postgres` process used during the run is read from /proc.

use crate::logins::{self, Rp};
use crate::r3;
use crate::server::{clock_ticks, cpu_ticks, cpu_ticks_of};
use serde_json::json;
use std::time::Instant;

/// The processes whose CPU is reported, by their `comm`.
const PROCESSES: [&str; 4] = ["eidbroker", "haproxy", "redis-server", "postgres"];

/// Makes `count` logins, `parallel` at a time, at `broker` and prints one JSON line.
pub async fn run(broker: &str, rp: &Rp, count: usize, parallel: usize) -> anyhow::Result<()> {
    // Each run its own source addresses (127.<random 1-250>.1.x): the broker admits 300
    // fresh-browser logins per address in five minutes, and runs follow one another.
    let mut byte = [0u8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut byte)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    let net = [127, byte[0] % 250 + 1];
    let sample = || {
        let mut cpu: Vec<u64> = PROCESSES.iter().map(|p| cpu_ticks_of(p)).collect();
        cpu.push(cpu_ticks(std::process::id()).unwrap_or(0));
        (Instant::now(), cpu)
    };
    let (t0, before) = sample();
    let sessions =
        logins::login_many_from(broker, rp, &logins::USERS, count, parallel, net).await?;
    let (t1, after) = sample();
    let wall = t1.duration_since(t0).as_secs_f64().max(1e-9);
    let ticks = clock_ticks();
    let secs: Vec<f64> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| a.saturating_sub(*b) as f64 / ticks)
        .collect();
    let n = sessions.len() as f64;
    let total: f64 = secs.iter().sum();
    println!(
        "{}",
        json!({
            "scenario": "cluster_logins", "url": broker, "logins": sessions.len(),
            "concurrency": parallel, "seconds": r3(wall), "logins_per_s": r3(n / wall),
            "eidbroker_cpu_s": r3(secs[0]), "haproxy_cpu_s": r3(secs[1]),
            "redis_cpu_s": r3(secs[2]), "postgres_cpu_s": r3(secs[3]), "load_cpu_s": r3(secs[4]),
            "eidbroker_cpu_ms_per_login": r3(secs[0] * 1000.0 / n.max(1.0)),
            "all_cpu_ms_per_login": r3(total * 1000.0 / n.max(1.0)),
        })
    );
    Ok(())
}
