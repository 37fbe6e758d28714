//! Benchmark: reading one person's own log (`SqlDurable::person_log`, the one indexed query) with
//! 10 million audit events in PostgreSQL (issue 18: p99 < 10 ms).
//!
//! `cargo bench -p eid-store --bench person_log` (PostgreSQL server at `BENCH_POSTGRES_URL`,
//! default `postgres://postgres@127.0.0.1:5432/postgres`; `BENCH_QUERIES` queries per case,
//! default 1000). It uses the database `eid_bench_person_log` (created if missing, migrated with
//! the store's migrator) and fills it once, server-side (`INSERT … SELECT generate_series`, in
//! time order as the broker writes them, so a person's events are spread over the table), when it
//! does not hold exactly 10,000,000 events: 9,800,000 events of 100,000 persons over the last two
//! years and 10 persons with 20,000 events each over ten years, of every section's kinds, 200
//! services (each person uses four), details of 60 to 200 bytes. Then `VACUUM ANALYZE`, and it
//! times sequential pages of 50 through the store, after a warm-up of 100 queries per case:
//! the first page of a random person, a deep page (10,000 events back) of a long-history
//! person, a section, a service, a period, and the same filters on the long histories; first with
//! the pages as found, then after reading the table and the person index into the OS cache
//! (`pg_prewarm`). One line per case: p50, p99, max (milliseconds) and the mean page size.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_core::AuditLog;
use eid_core::my_log::{LogCursor, PersonLogQuery, Section};
use eid_store::SqlDurable;
use sqlx::{AssertSqlSafe, Connection, Executor, Row};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use uuid::Uuid;

const DATABASE: &str = "eid_bench_person_log";
const EVENTS: i64 = 10_000_000;
const PERSONS: i64 = 100_000;
const LONG_PERSONS: i64 = 10;
const LONG_EACH: i64 = 20_000;
const TYPICAL: i64 = EVENTS - LONG_PERSONS * LONG_EACH;
/// 2026-12-01T00:00:00Z: the end of the filled history.
const NOW_US: i64 = 1_796_083_200_000_000;
const DAY_US: i64 = 86_400_000_000;
const TYPICAL_SPAN_US: i64 = 730 * DAY_US;
const LONG_SPAN_US: i64 = 3650 * DAY_US;
/// One fill statement covers this much time (about 490,000 events in the last two years).
const WINDOW_US: i64 = 36 * DAY_US + DAY_US / 2;
const SERVICES: i64 = 200;
const PAGE: u32 = 50;

/// Event `n` of a series whose person number is `p` and time `at` (SQL expressions over `n`):
/// the columns of `audit_events` in insert order.
fn columns(n: &str, p: &str, at: &str) -> String {
    format!(
        "FROM generate_series({{from}}::bigint, {{to}}::bigint) AS {n}, \
         LATERAL (SELECT ({p})::bigint AS p, ({at})::bigint AS at_us, \
                  (hashint8({n})::bigint & 2147483647) AS h, md5({n}::text) AS m) AS v, \
         LATERAL (SELECT CASE \
             WHEN h % 100 < 25 THEN 'login.success' \
             WHEN h % 100 < 30 THEN 'login.session_continued' \
             WHEN h % 100 < 50 THEN 'token.issued' \
             WHEN h % 100 < 58 THEN 'userinfo.released' \
             WHEN h % 100 < 63 THEN 'saml.response_issued' \
             WHEN h % 100 < 65 THEN 'connector.login' \
             WHEN h % 100 < 70 THEN 'logout.frontchannel' \
             WHEN h % 100 < 76 THEN 'login.failure' \
             WHEN h % 100 < 79 THEN 'form.csrf_rejected' \
             WHEN h % 100 < 81 THEN 'authorize.rejected' \
             WHEN h % 100 < 83 THEN 'authenticator.added' \
             WHEN h % 100 < 84 THEN 'authenticator.removed' \
             WHEN h % 100 < 85 THEN 'delegation.granted' \
             WHEN h % 100 < 86 THEN 'activation.success' \
             WHEN h % 100 < 88 THEN 'representation.acted_for' \
             WHEN h % 100 < 89 THEN 'representation.acted_as' \
             WHEN h % 100 < 95 THEN 'logout.backchannel' \
             ELSE 'proxy.response_sent' END AS kind) AS k"
    )
}

/// The SELECT list over [`columns`]'s `v` and `k`.
const SELECT: &str = "SELECT \
    substr(lpad(to_hex(at_us / 1000), 12, '0'), 1, 8) || '-' || \
      substr(lpad(to_hex(at_us / 1000), 12, '0'), 9, 4) || '-7' || substr(m, 1, 3) || '-8' || \
      substr(m, 4, 3) || '-' || substr(m, 7, 12) AS id, \
    at_us, \
    CASE WHEN kind IN ('login.failure', 'authenticator.added', 'authenticator.removed', \
      'activation.success') THEN 'idp' WHEN kind LIKE 'delegation.%' THEN 'delegation' \
      WHEN kind IN ('connector.login', 'proxy.response_sent') THEN 'eidas-gateway' \
      ELSE 'broker' END AS component, \
    kind, \
    CASE WHEN kind IN ('login.failure', 'form.csrf_rejected', 'authorize.rejected') \
      THEN 'failure' ELSE 'success' END AS outcome, \
    md5('person-' || p)::uuid::text AS person, \
    CASE WHEN kind LIKE 'authenticator.%' OR kind = 'activation.success' THEN NULL \
      ELSE 'https://rp-' || ((p + (h / 100 % 4) * 37) % 200) || '.example.dk/' END AS client, \
    '198.51.100.' || (h % 251) AS ip, \
    CASE WHEN kind IN ('login.success', 'login.session_continued', 'connector.login') \
      THEN '{\"level\":\"substantial\",\"upstream\":\"mitid\",\"method\":\"app\",\"acr\":\"https://data.gov.dk/concept/core/nsis/substantial\",\"sid\":\"' || m || '\"}' \
      WHEN kind IN ('token.issued', 'userinfo.released', 'saml.response_issued', 'proxy.response_sent') \
      THEN '{\"grant\":\"authorization_code\",\"scope\":\"openid profile\",\"attributes\":[\"name\",\"birthdate\",\"cpr\"],\"level\":\"substantial\",\"jti\":\"' || m || '\"}' \
      ELSE '{\"reason\":\"' || kind || '\",\"request\":\"' || substr(m, 1, 16) || '\"}' END AS details";

/// First and one-past-last index of a series `start + i * step` (`i < count`) inside `[t0, t1)`.
fn indexes(t0: i64, t1: i64, start: i64, step: i64, count: i64) -> (i64, i64) {
    let first = |t: i64| {
        if t <= start {
            0
        } else {
            ((t - start + step - 1) / step).min(count)
        }
    };
    (first(t0), first(t1))
}

/// The statements that fill the log, oldest window first, each in time order.
fn fill_sql() -> Vec<String> {
    let typical_step = TYPICAL_SPAN_US / TYPICAL;
    let typical_start = NOW_US - TYPICAL_SPAN_US;
    let long_step = LONG_SPAN_US / (LONG_PERSONS * LONG_EACH);
    let long_start = NOW_US - LONG_SPAN_US;
    let typical = columns(
        "j",
        &format!("(hashint8(j * 3 + 1)::bigint & 2147483647) % {PERSONS}"),
        &format!("{typical_start} + j * {typical_step}"),
    );
    let long = columns(
        "l",
        &format!("{PERSONS} + l % {LONG_PERSONS}"),
        &format!("{long_start} + l * {long_step}"),
    );
    let mut statements = Vec::new();
    let mut t0 = long_start;
    while t0 < NOW_US {
        let t1 = t0 + WINDOW_US;
        let (j0, j1) = indexes(t0, t1, typical_start, typical_step, TYPICAL);
        let (l0, l1) = indexes(t0, t1, long_start, long_step, LONG_PERSONS * LONG_EACH);
        let part = |cols: &str, a: i64, b: i64| {
            cols.replace("{from}", &a.to_string())
                .replace("{to}", &(b - 1).to_string())
        };
        let mut parts = Vec::new();
        if j1 > j0 {
            parts.push(format!("{SELECT} {}", part(&typical, j0, j1)));
        }
        if l1 > l0 {
            parts.push(format!("{SELECT} {}", part(&long, l0, l1)));
        }
        if !parts.is_empty() {
            statements.push(format!(
                "INSERT INTO audit_events (id, at_us, component, kind, outcome, person, client, \
                 ip, details) SELECT * FROM ({}) AS e ORDER BY at_us",
                parts.join(" UNION ALL ")
            ));
        }
        t0 = t1;
    }
    statements
}

/// A small xorshift generator: the bench needs spread, not cryptographic randomness.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A random one of `of`.
fn any(rng: &mut Rng, of: &[Uuid]) -> Uuid {
    of[rng.below(of.len() as u64) as usize]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// `server` with the database `db`.
fn with_database(server: &str, db: &str) -> String {
    let (scheme, rest) = server.split_once("://").expect("a postgres:// URL");
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    format!("{scheme}://{authority}/{db}")
}

async fn open() -> SqlDurable {
    sqlx::any::install_default_drivers();
    let server = std::env::var("BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut admin = sqlx::AnyConnection::connect(&with_database(&server, "postgres"))
        .await
        .expect("PostgreSQL");
    let exists = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(DATABASE)
        .fetch_optional(&mut admin)
        .await
        .unwrap()
        .is_some();
    if !exists {
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {DATABASE}")))
            .await
            .unwrap();
    }
    admin.close().await.unwrap();
    SqlDurable::connect_and_migrate(&with_database(&server, DATABASE))
        .await
        .unwrap()
}

async fn fill(db: &SqlDurable) {
    let count: i64 = sqlx::query("SELECT count(*) FROM audit_events")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    if count == EVENTS {
        println!("{DATABASE}: {count} events already");
        return;
    }
    println!("{DATABASE}: {count} events; filling with {EVENTS}");
    let started = Instant::now();
    let mut conn = db.pool().acquire().await.unwrap();
    for sql in [
        "TRUNCATE audit_events RESTART IDENTITY",
        "SET synchronous_commit = off",
    ] {
        conn.execute(sql).await.unwrap();
    }
    let statements = fill_sql();
    let total = statements.len();
    for (i, sql) in statements.into_iter().enumerate() {
        let done = sqlx::query(AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .unwrap();
        println!(
            "  window {}/{total}: {} events, {:.0} s",
            i + 1,
            done.rows_affected(),
            started.elapsed().as_secs_f64()
        );
    }
    conn.execute("VACUUM ANALYZE audit_events").await.unwrap();
    let count: i64 = sqlx::query("SELECT count(*) FROM audit_events")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, EVENTS);
    println!(
        "filled {count} events in {:.0} s (with VACUUM ANALYZE)",
        started.elapsed().as_secs_f64()
    );
}

fn at(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).unwrap()
}

/// Times `queries` pages, after `warm_up` more; prints one line.
async fn case(
    db: &SqlDurable,
    name: &str,
    queries: usize,
    mut query: impl FnMut() -> PersonLogQuery,
) {
    let warm_up = 100;
    let mut times = Vec::with_capacity(queries);
    let mut events = 0usize;
    for i in 0..warm_up + queries {
        let q = query();
        let started = Instant::now();
        let page = db.person_log(&q).await.unwrap();
        let took = started.elapsed();
        if i >= warm_up {
            times.push(took);
            events += page.events.len();
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| {name} | {:.2} | {:.2} | {:.2} | {:.1} |",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(*times.last().unwrap()),
        events as f64 / queries as f64
    );
}

/// Every case, one table.
async fn cases(
    db: &SqlDurable,
    queries: usize,
    typical: &[Uuid],
    long: &[Uuid],
    deep: &[LogCursor],
) {
    println!("| case ({queries} pages of {PAGE}) | p50 ms | p99 ms | max ms | events/page |");
    println!("|---|---|---|---|---|");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    case(db, "first page, random person", queries, || {
        PersonLogQuery::newest(any(&mut rng, typical), PAGE)
    })
    .await;
    let mut rng = Rng(7);
    case(
        db,
        "first page, long history (20,000 events)",
        queries,
        || PersonLogQuery::newest(any(&mut rng, long), PAGE),
    )
    .await;
    let mut rng = Rng(11);
    case(
        db,
        "deep page: 10,000 events back, long history",
        queries,
        || {
            let i = rng.below(long.len() as u64) as usize;
            let before: LogCursor = deep[i];
            PersonLogQuery {
                before: Some(before),
                ..PersonLogQuery::newest(long[i], PAGE)
            }
        },
    )
    .await;
    for (name, people) in [("random person", typical), ("long history", long)] {
        let mut rng = Rng(13);
        case(
            db,
            &format!("section (each in turn), {name}"),
            queries,
            || {
                let section = Section::ALL[rng.below(6) as usize];
                PersonLogQuery {
                    section: Some(section),
                    ..PersonLogQuery::newest(any(&mut rng, people), PAGE)
                }
            },
        )
        .await;
        let mut rng = Rng(17);
        case(
            db,
            &format!("service (one of theirs), {name}"),
            queries,
            || {
                let person = rng.below(people.len() as u64) as usize;
                let p = if people.len() == long.len() {
                    PERSONS + person as i64
                } else {
                    person as i64
                };
                let service = (p + rng.below(4) as i64 * 37) % SERVICES;
                PersonLogQuery {
                    client: Some(format!("https://rp-{service}.example.dk/")),
                    ..PersonLogQuery::newest(people[person], PAGE)
                }
            },
        )
        .await;
        let mut rng = Rng(19);
        case(
            db,
            &format!("period (a month, 1–12 months ago), {name}"),
            queries,
            || {
                let months_ago = 1 + rng.below(12) as i64;
                let until = NOW_US - months_ago * 30 * DAY_US;
                PersonLogQuery {
                    since: Some(at(until - 30 * DAY_US)),
                    until: Some(at(until)),
                    ..PersonLogQuery::newest(any(&mut rng, people), PAGE)
                }
            },
        )
        .await;
    }
}

#[tokio::main]
async fn main() {
    let queries: usize = std::env::var("BENCH_QUERIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let db = open().await;
    fill(&db).await;
    let persons: Vec<Uuid> = sqlx::query(AssertSqlSafe(format!(
        "SELECT md5('person-' || p)::uuid::text FROM generate_series(0, {}) AS p ORDER BY p",
        PERSONS + LONG_PERSONS - 1
    )))
    .fetch_all(db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| Uuid::parse_str(&r.get::<String, _>(0)).unwrap())
    .collect();
    let (typical, long) = persons.split_at(PERSONS as usize);
    let mut select = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let started = Instant::now();
        sqlx::query("SELECT 1").execute(db.pool()).await.unwrap();
        select.push(started.elapsed());
    }
    select.sort();
    println!(
        "`SELECT 1` through the same pool: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&select, 0.5).as_secs_f64() * 1000.0,
        percentile(&select, 0.99).as_secs_f64() * 1000.0
    );

    // Where 10,000 events back starts in each long history.
    let mut deep = Vec::new();
    for person in long {
        let mut q = PersonLogQuery::newest(*person, 500);
        for _ in 0..20 {
            q.before = db.person_log(&q).await.unwrap().next;
        }
        deep.push(q.before.expect("20,000 events"));
    }

    println!("\nThe database's pages as found (what other processes left in the OS cache):\n");
    cases(&db, queries, typical, long, &deep).await;
    // A server in service keeps its hot tables in memory; this one shares its memory with
    // builds. Read the table and the person index into the OS cache, then measure again.
    let warmed = async {
        for sql in [
            "CREATE EXTENSION IF NOT EXISTS pg_prewarm",
            "SELECT pg_prewarm('audit_events', 'read')",
            "SELECT pg_prewarm('audit_events_person_at', 'read')",
        ] {
            sqlx::query(sql).execute(db.pool()).await?;
        }
        Ok::<_, sqlx::Error>(())
    };
    match warmed.await {
        Ok(()) => {
            println!("\nAfter reading the table and the person index into the OS cache:\n");
            cases(&db, queries, typical, long, &deep).await;
        }
        Err(e) => println!("pg_prewarm not available ({e}): no second pass"),
    }
    db.close().await;
}
