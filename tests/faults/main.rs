//! The fault suite (issue 19): three `eidbroker serve` nodes behind HAProxy on loopback, sharing a
//! Redis of the suite's own and a fresh PostgreSQL database, under a bounded load of logins and
//! token grants, with faults injected one after the other: (a) `kill -9` of a node, (b) Redis
//! restarted empty, (c) a node's clock a minute ahead; then the same on Redis Sentinel and a
//! PostgreSQL primary with a synchronous standby: (d) `kill -9` of the Redis primary (Sentinel
//! failover), (e) PostgreSQL stopped for 5 s and started, (f) the PostgreSQL primary killed and
//! its standby promoted. It prints a table per fault (requests by
//! kind, error window, recovery) and asserts, for every fault: no audited release lost, every
//! non-2xx a clean 503 or a protocol error (a request cut off by the killed node only in (a)),
//! recovery within 10 s of the fault's end; and after the run: every release audited, no code or
//! refresh token spent without an answer, no session moved to another person.
//!
//! `cargo test --test faults -- --nocapture` shows the table. It skips (prints `SKIP`) when
//! haproxy, redis-server or PostgreSQL is missing, unless `REQUIRE_SERVICES` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod checks;
mod cluster;
mod faults;
mod load;
mod record;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use checks::{Row, Window};
use cluster::{Backends, Cluster, Postgres};
use eid_testkit::cluster::{libfaketime, on_path};
use faults::Fault;
use load::{Person, Shared, Worker};

/// Load with no fault before the first one, and after each fault's end before the next.
const STEADY: Duration = Duration::from_secs(6);
const AFTER: Duration = Duration::from_secs(12);
/// The demo configuration's admin token (config/default.toml).
const ADMIN_TOKEN: &str = "demo-admin-token-for-localhost-only";
const USERS: [&str; 4] = ["anna", "karen", "mikkel", "peter"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cluster_behind_the_load_balancer_survives_each_fault_by_itself() {
    let Some(postgres) = eid_store::testing::postgres_url_or_skip() else {
        return;
    };
    for tool in ["haproxy", "redis-server"] {
        if !on_path(tool) {
            eid_store::testing::skip(&format!("{tool} not installed"));
            return;
        }
    }
    let mut schedule = vec![Fault::KillNode(1), Fault::RedisRestartedEmpty];
    if libfaketime().is_some() {
        schedule.push(Fault::ClockSkew(2));
    } else {
        // The other faults still run; the clock fault needs Debian's faketime package.
        eid_store::testing::skip("faketime not installed: the clock fault is left out");
    }
    let mut problems = run_phase(Backends::Single(postgres), &schedule).await;
    problems.extend(
        run_phase(
            Backends::Replicated,
            &[
                Fault::RedisFailover,
                Fault::PostgresRestart,
                Fault::PostgresFailover,
            ],
        )
        .await,
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Starts a cluster on `backends`, runs the load with `schedule`'s faults one after the other,
/// prints the table and returns what went wrong (nothing: the cluster, its database and logs are
/// removed; else they are kept for a look).
async fn run_phase(backends: Backends, schedule: &[Fault]) -> Vec<String> {
    let mut cluster = Cluster::start(backends).await.unwrap();
    println!(
        "cluster: {} (logs in {})",
        cluster.url(0),
        cluster.dir.display()
    );
    register_cc_client(&cluster.url(0)).await;

    // The demo service's registered redirect URI (config/demo/relying-parties.toml is not moved to
    // the cluster's ports; the workers stop at the redirect and never call it).
    let shared = Shared::new(cluster.url(0), "http://localhost:8090/callback".to_owned());
    let workers: Vec<_> = persons()
        .into_iter()
        .enumerate()
        .map(|(i, p)| tokio::spawn(Worker::new(i, p, shared.clone()).run()))
        .collect();

    tokio::time::sleep(STEADY).await;
    let mut windows = vec![Window {
        name: "baseline (no fault)".to_owned(),
        start: Duration::ZERO,
        end: Duration::ZERO,
        until: shared.now(),
        cuts_allowed: false,
    }];
    for fault in schedule {
        let start = shared.now();
        fault.inject(&mut cluster, &shared).await.unwrap();
        let end = shared.now();
        tokio::time::sleep(AFTER).await;
        windows.push(Window {
            name: fault.name(),
            start,
            end,
            until: shared.now(),
            cuts_allowed: fault.cuts_requests(),
        });
    }
    shared.stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let spoofing = forged_forwarded_for(&cluster).await;
    // Client-credentials events are queued, not awaited: give the audit writer a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let db = cluster.postgres.primary_url();
    let audited = audited_releases(&db).await;
    let cc_addresses = audited_cc_addresses(&db).await;
    let log = std::mem::take(&mut *shared.log.lock().unwrap());

    let rows: Vec<Row> = windows.iter().map(|w| Row::of(w, &log.responses)).collect();
    println!("\n{}", checks::table(&rows));
    for row in &rows {
        if !row.details.is_empty() {
            println!("{}: {:?}", row.window.name, row.details);
        }
    }
    let killed = |at: Duration| {
        windows
            .iter()
            .any(|w| w.cuts_allowed && at >= w.start && at < w.until)
    };
    let (spent, cut) = checks::unanswered(&log.grants, killed);
    let released: usize = log.releases.values().sum();
    println!(
        "releases received {released}, audited {}; codes and refresh tokens used {}, cut on the killed node {cut}; \
         ID tokens checked {}",
        audited.values().sum::<usize>(),
        log.grants.len(),
        log.identities.len()
    );

    let mut problems: Vec<String> = rows.iter().flat_map(Row::problems).collect();
    problems.extend(checks::unaudited(&log.releases, &audited));
    problems.extend(spent);
    problems.extend(checks::moved_sessions(&log.identities));
    if released == 0 || log.identities.is_empty() {
        problems.push("no release was received: the load did not run".to_owned());
    }
    problems.extend(spoofing_problems(&spoofing, &cc_addresses));
    if !problems.is_empty() {
        // The nodes' logs stay in `cluster.dir` for a look.
        return problems;
    }
    // Passed: stop everything, then drop the database and the logs.
    let Cluster {
        postgres,
        dir,
        nodes,
        redis,
        _haproxy,
        ..
    } = cluster;
    drop((nodes, redis, _haproxy));
    if let Postgres::Single(db) = postgres {
        db.drop_db().await.ok();
    }
    let _ = std::fs::remove_dir_all(dir);
    problems
}

/// The workers' persons with their stable ids (config/demo/persons.toml).
fn persons() -> Vec<Person> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/demo/persons.toml"
    ))
    .unwrap();
    let table: toml::Table = text.parse().unwrap();
    let all = table["person"].as_array().unwrap();
    USERS
        .iter()
        .map(|user| {
            let p = all
                .iter()
                .find(|p| p["user_id"].as_str() == Some(user))
                .unwrap();
            Person {
                user: (*user).to_owned(),
                id: p["id"].as_str().unwrap().to_owned(),
            }
        })
        .collect()
}

/// Registers the client-credentials service through the admin API (via the load balancer).
async fn register_cc_client(broker: &str) {
    let body = serde_json::json!({
        "client_id": load::CC.0, "client_name": "Fault suite", "client_secret": load::CC.1,
        "redirect_uris": [], "token_endpoint_auth_method": "client_secret_basic",
        "sector": "faults.example", "allowed_claims": [], "grant_types": ["client_credentials"],
    });
    let response = reqwest::Client::new()
        .put(format!("{broker}/admin/relying-parties/{}", load::CC.0))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
}

/// Addresses a forged `X-Forwarded-For` claims: one sent straight to a node, one through the
/// load balancer (each a client-credentials grant, audited with the client's address).
const FORGED: [&str; 2] = ["203.0.113.7", "203.0.113.8"];
/// The address the suite sends the second one from.
const VIA_LB_FROM: &str = "127.0.1.250";

/// Sends the forged requests; their statuses.
async fn forged_forwarded_for(cluster: &Cluster) -> Vec<u16> {
    let direct = reqwest::Client::new();
    let via_lb = reqwest::Client::builder()
        .local_address(VIA_LB_FROM.parse::<std::net::IpAddr>().ok())
        .build()
        .unwrap();
    let mut statuses = Vec::new();
    for (client, url, forged) in [
        (&direct, cluster.node_broker(0), FORGED[0]),
        (&via_lb, cluster.url(0), FORGED[1]),
    ] {
        let response = client
            .post(format!("{url}/token"))
            .header("x-forwarded-for", forged)
            .basic_auth(load::CC.0, Some(load::CC.1))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    statuses
}

/// A forged address believed, or the real one not audited.
fn spoofing_problems(statuses: &[u16], addresses: &BTreeMap<String, usize>) -> Vec<String> {
    let mut out = Vec::new();
    if statuses.iter().any(|s| *s != 200) {
        out.push(format!(
            "forged X-Forwarded-For requests answered {statuses:?}"
        ));
    }
    for forged in FORGED {
        if addresses.contains_key(forged) {
            out.push(format!("a forged X-Forwarded-For ({forged}) was believed"));
        }
    }
    for real in ["127.0.0.1", VIA_LB_FROM] {
        if !addresses.contains_key(real) {
            out.push(format!(
                "no audit row names the client at {real}: {addresses:?}"
            ));
        }
    }
    out
}

async fn audit_rows(db: &str, sql: &'static str) -> Vec<(Option<String>, Option<String>, String)> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(db).await.unwrap();
    sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap()
}

/// `token.issued` events naming a person, by (person, grant type).
async fn audited_releases(db: &str) -> BTreeMap<(String, String), usize> {
    let rows = audit_rows(
        db,
        "SELECT person, ip, details FROM audit_events \
         WHERE kind = 'token.issued' AND outcome = 'success' AND component = 'broker' \
         AND client = 'demo-rp'",
    )
    .await;
    let mut out = BTreeMap::new();
    for (person, _, details) in rows {
        let details: serde_json::Value = serde_json::from_str(&details).unwrap_or_default();
        let grant_type = details["grant_type"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        *out.entry((person.unwrap_or_default(), grant_type))
            .or_insert(0) += 1;
    }
    out
}

/// The addresses the client-credentials grants of the suite's service were audited with.
async fn audited_cc_addresses(db: &str) -> BTreeMap<String, usize> {
    let rows = audit_rows(
        db,
        "SELECT person, ip, details FROM audit_events \
         WHERE kind = 'token.issued' AND client = 'faults-cc'",
    )
    .await;
    let mut out = BTreeMap::new();
    for (_, ip, _) in rows {
        *out.entry(ip.unwrap_or_default()).or_insert(0) += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use record::Kind;

    #[test]
    fn a_forged_address_believed_or_a_real_one_missing_is_found() {
        let real = BTreeMap::from([("127.0.0.1".to_owned(), 1), (VIA_LB_FROM.to_owned(), 1)]);
        assert!(spoofing_problems(&[200, 200], &real).is_empty());
        let mut believed = real.clone();
        believed.insert(FORGED[1].to_owned(), 1);
        assert_eq!(spoofing_problems(&[200, 200], &believed).len(), 1);
        let missing = BTreeMap::from([(FORGED[0].to_owned(), 1)]);
        assert_eq!(spoofing_problems(&[200, 200], &missing).len(), 3);
        assert_eq!(spoofing_problems(&[200, 401], &real).len(), 1);
    }

    #[test]
    fn only_the_load_balancers_own_502_is_a_cut_and_only_a_503_with_retry_after_is_clean() {
        assert_eq!(Kind::of_status(502, false, false), Kind::Cut);
        assert_eq!(Kind::of_status(502, false, true), Kind::Other);
        assert_eq!(Kind::of_status(503, true, true), Kind::Unavailable);
        assert_eq!(Kind::of_status(503, false, true), Kind::Other);
        assert_eq!(Kind::of_status(500, true, true), Kind::Other);
        assert_eq!(Kind::of_status(400, false, true), Kind::Protocol);
        assert_eq!(Kind::of_status(302, false, true), Kind::Ok);
    }

    /// The rules of deploy/haproxy.cfg that the design depends on, read from the file itself.
    #[test]
    fn the_load_balancer_is_round_robin_unsticky_retries_only_failed_connections_and_checks_readyz()
    {
        let cfg =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/haproxy.cfg"))
                .unwrap();
        let lines: Vec<&str> = cfg
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        for needed in [
            "balance roundrobin",
            "retry-on conn-failure",
            "option forwardfor",
            "option httpchk GET /readyz",
            "default-server inter 1s fall 2 rise 2 source \"${LB_SOURCE}\"",
        ] {
            assert!(lines.contains(&needed), "{needed}");
        }
        for sticky in [
            "cookie",
            "stick",
            "balance source",
            "hash-type",
            "retry-on all",
        ] {
            assert!(!lines.iter().any(|l| l.starts_with(sticky)), "{sticky}");
        }
        for backend in ["broker", "idp"] {
            assert!(lines.contains(&format!("backend {backend}").as_str()));
        }
    }
}
