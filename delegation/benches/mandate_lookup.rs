//! Benchmark: the broker's `MandateLookup` (the registry's one indexed query, through
//! `RegistryLookup` and the SQL store) with 1 million mandates in PostgreSQL.
//!
//! `cargo bench -p eid-delegation --bench mandate_lookup` (PostgreSQL at `BENCH_POSTGRES_URL`,
//! default `postgres://postgres@127.0.0.1:5432/postgres`; `BENCH_LOOKUPS` lookups, default
//! 10000 per round, 5 rounds). It creates a fresh database, migrates it, loads 900,000 powers of attorney between
//! 300,000 principals and 200,000 agents (80% active, the rest pending, revoked or expired; each
//! for one of 50 services or 20 service areas), 90,000 business rights of 10,000 organisations
//! and 10,000 business powers between them, server-side through the repository's schema
//! (`INSERT … SELECT generate_series`), analyses it, then times sequential lookups: half for a
//! random agent at the service of one of their mandates, half for a random agent at a random
//! service, in 5 rounds. It prints one JSON line (microseconds; each percentile the median of
//! the rounds', and every round's p99) and drops the database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_core::{Identity, Loa, MandateLookup, ServiceRef};
use eid_delegation::lookup::RegistryLookup;
use eid_store::SqlDurable;
use eid_store::testing::TempPostgresDb;
use std::sync::Arc;
use std::time::Instant;
use time::OffsetDateTime;

const POWERS: u32 = 900_000;
const RIGHTS: u32 = 90_000;
const BUSINESS_POWERS: u32 = 10_000;
const AGENTS: u32 = 200_000;
const PRINCIPALS: u32 = 300_000;
const ORGANISATIONS: u32 = 10_000;
const SERVICES: u32 = 50;
const ROUNDS: usize = 5;
const AREAS: u32 = 20;

fn load_sql(now_us: i64) -> Vec<String> {
    let day = 86_400_000_000i64;
    let year = 365 * day;
    let person =
        |prefix: &str, modulo: u32| format!("md5('{prefix}' || (i % {modulo}))::uuid::text");
    let org = |expr: &str| format!("(10000000 + ({expr}) % {ORGANISATIONS})::text");
    let columns = "id, kind, principal_upstream, principal_subject, principal_person, \
                   principal_cpr, principal_cvr, principal_name, agent_upstream, agent_subject, \
                   agent_person, agent_cpr, agent_cvr, agent_name, access, administrator, \
                   privileges, state, valid_from_us, valid_until_us, created_at_us, revision";
    vec![
        format!(
            "INSERT INTO delegation_organisations (cvr, name, created_at_us) \
             SELECT (10000000 + i)::text, 'Organisation ' || i, {now_us} \
             FROM generate_series(0, {}) i",
            ORGANISATIONS - 1
        ),
        // Powers of attorney: person → person.
        format!(
            "INSERT INTO delegation_mandates ({columns}) \
             SELECT md5('m' || i)::uuid::text, 'power_of_attorney', \
             'idp', {p}, {p}, '010190' || lpad((i % 10000)::text, 4, '0'), NULL, 'Principal ' || (i % {PRINCIPALS}), \
             'idp', {a}, {a}, '020290' || lpad((i % 10000)::text, 4, '0'), NULL, 'Agent ' || (i % {AGENTS}), \
             CASE WHEN i % 3 = 0 THEN 'read' ELSE 'act' END, FALSE, '[]', \
             CASE WHEN i % 10 < 8 THEN 'active' WHEN i % 10 = 8 THEN 'pending' ELSE 'revoked' END, \
             {from}, CASE WHEN i % 20 = 0 THEN {expired} ELSE {until} END, {from}, 1 \
             FROM generate_series(1, {POWERS}) i",
            p = person("p", PRINCIPALS),
            a = person("a", AGENTS),
            from = now_us - day,
            expired = now_us - day / 24,
            until = now_us + year,
        ),
        format!(
            "INSERT INTO delegation_scopes (mandate, scope) \
             SELECT md5('m' || i)::uuid::text, \
             CASE WHEN i % 4 = 0 THEN 'area:area-' || (i % {AREAS}) ELSE 'rp:svc-' || (i % {SERVICES}) END \
             FROM generate_series(1, {POWERS}) i"
        ),
        // Business rights: organisation → employee (the same agents).
        format!(
            "INSERT INTO delegation_mandates ({columns}) \
             SELECT md5('r' || i)::uuid::text, 'business_right', \
             NULL, NULL, NULL, NULL, {o}, 'Organisation ' || (i % {ORGANISATIONS}), \
             'idp', {a}, {a}, NULL, NULL, 'Agent ' || (i % {AGENTS}), \
             'act', FALSE, '[\"urn:dk:bench:privilege:apply\"]', 'active', {from}, NULL, {from}, 1 \
             FROM generate_series(1, {RIGHTS}) i",
            o = org("i"),
            a = person("a", AGENTS),
            from = now_us - day,
        ),
        format!(
            "INSERT INTO delegation_scopes (mandate, scope) \
             SELECT md5('r' || i)::uuid::text, 'rp:svc-' || (i % {SERVICES}) \
             FROM generate_series(1, {RIGHTS}) i"
        ),
        // Business powers: organisation → another organisation.
        format!(
            "INSERT INTO delegation_mandates ({columns}) \
             SELECT md5('b' || i)::uuid::text, 'business_power', \
             NULL, NULL, NULL, NULL, {p}, 'Client ' || i, \
             NULL, NULL, NULL, NULL, {a}, 'Accountants ' || i, \
             'act', FALSE, '[]', 'active', {from}, {until}, {from}, 1 \
             FROM generate_series(1, {BUSINESS_POWERS}) i",
            p = org("i"),
            a = org("i * 7 + 1"),
            from = now_us - day,
            until = now_us + year,
        ),
        format!(
            "INSERT INTO delegation_scopes (mandate, scope) \
             SELECT md5('b' || i)::uuid::text, 'rp:svc-' || (i % {SERVICES}) \
             FROM generate_series(1, {BUSINESS_POWERS}) i"
        ),
        "ANALYZE delegation_mandates".to_owned(),
        "ANALYZE delegation_scopes".to_owned(),
    ]
}

/// A small xorshift generator: the bench needs spread, not cryptographic randomness.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(n)) as u32
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let server = std::env::var("BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let lookups: usize = std::env::var("BENCH_LOOKUPS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let temp = TempPostgresDb::create(&server).await.expect("PostgreSQL");
    let db = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let now_us = i64::try_from(now.unix_timestamp_nanos() / 1000).unwrap();

    let started = Instant::now();
    for sql in load_sql(now_us) {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(db.pool())
            .await
            .unwrap();
    }
    let load_secs = started.elapsed().as_secs_f64();
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM delegation_mandates")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(count, i64::from(POWERS + RIGHTS + BUSINESS_POWERS));

    // The agents' subjects, named as the loader named them.
    let subjects: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT md5('a' || k)::uuid::text FROM generate_series(0, {}) k ORDER BY k",
        AGENTS - 1
    )))
    .fetch_all(db.pool())
    .await
    .unwrap();
    let agent = |k: u32| Identity::for_test(&subjects[k as usize], Loa::Substantial, 0);
    let lookup = RegistryLookup::new(Arc::new(db.clone()));
    let services: Vec<(String, Vec<String>)> = (0..SERVICES)
        .map(|s| (format!("svc-{s}"), vec![format!("area-{}", s % AREAS)]))
        .collect();
    let seed = u64::try_from(now.unix_timestamp_nanos() & 0xffff_ffff).unwrap_or(1) | 1;
    let mut rng = Rng(seed);
    let query = |rng: &mut Rng, hit: bool| {
        if hit {
            // The service of mandate i, for its agent.
            let i = 1 + rng.below(POWERS);
            let svc = (i % SERVICES) as usize;
            let areas = vec![format!("area-{}", i % AREAS)];
            (agent(i % AGENTS), services[svc].0.clone(), areas)
        } else {
            let s = &services[rng.below(SERVICES) as usize];
            (agent(rng.below(AGENTS)), s.0.clone(), s.1.clone())
        }
    };
    for n in 0..1000 {
        let (who, id, areas) = query(&mut rng, n % 2 == 0);
        let svc = ServiceRef {
            id: &id,
            areas: &areas,
        };
        lookup.mandates(&who, svc, now).await.unwrap();
    }
    // The floor: one trivial statement through the same pool.
    let mut floor = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let t = Instant::now();
        let _: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(db.pool())
            .await
            .unwrap();
        floor.push(t.elapsed().as_secs_f64() * 1e6);
    }
    floor.sort_by(f64::total_cmp);
    // Rounds, so that a burst of load from elsewhere on a shared machine shows as one bad
    // round rather than as the figure: the median round's percentiles are reported.
    let mut rounds = Vec::new();
    let mut found = 0usize;
    let mut nonempty = 0usize;
    for _ in 0..ROUNDS {
        let mut micros = Vec::with_capacity(lookups);
        for n in 0..lookups {
            let (who, id, areas) = query(&mut rng, n % 2 == 0);
            let svc = ServiceRef {
                id: &id,
                areas: &areas,
            };
            let t = Instant::now();
            let m = lookup.mandates(&who, svc, now).await.unwrap();
            micros.push(t.elapsed().as_secs_f64() * 1e6);
            found += m.len();
            nonempty += usize::from(!m.is_empty());
        }
        micros.sort_by(f64::total_cmp);
        rounds.push((
            percentile(&micros, 0.50),
            percentile(&micros, 0.90),
            percentile(&micros, 0.99),
            micros.last().copied().unwrap_or_default(),
        ));
    }
    assert!(
        nonempty > ROUNDS * lookups / 4,
        "the lookups find mandates: {nonempty}"
    );
    let median = |f: fn(&(f64, f64, f64, f64)) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2].round()
    };
    println!(
        "{}",
        serde_json::json!({
            "bench": "mandate_lookup",
            "backend": "postgres",
            "mandates": count,
            "load_seconds": (load_secs * 10.0).round() / 10.0,
            "rounds": ROUNDS,
            "lookups_per_round": lookups,
            "with_result": nonempty,
            "mandates_found": found,
            "p50_us": median(|r| r.0),
            "p90_us": median(|r| r.1),
            "p99_us": median(|r| r.2),
            "max_us": median(|r| r.3),
            "p99_us_per_round": rounds.iter().map(|r| r.2.round()).collect::<Vec<_>>(),
            "select_1_p50_us": percentile(&floor, 0.50).round(),
            "select_1_p99_us": percentile(&floor, 0.99).round(),
        })
    );
    db.close().await;
    temp.drop_db().await.unwrap();
}
