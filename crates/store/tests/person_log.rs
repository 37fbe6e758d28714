//! A person's own log and retention per section against the durable backends (SQLite in memory,
//! an SQLite file, PostgreSQL), and a property: any page equals filtering the events in Rust with
//! the sections' own definition ([`Selector::matches`](eid_core::my_log::Selector::matches)).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_core::my_log::{PersonLogQuery, Section};
use eid_core::{AuditEvent, AuditLog, AuditOutcome};
use eid_store::suite::my_log::{KINDS, expected, walk};
use eid_store::testing::{TempPostgresDb, postgres_url_or_skip};
use eid_store::{SqlDurable, suite};
use proptest::prelude::*;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_person_log_and_retention() {
    let db = Arc::new(
        SqlDurable::connect_and_migrate("sqlite::memory:")
            .await
            .unwrap(),
    );
    suite::person_log_behaviour(db.as_ref()).await;
    suite::person_log_behaviour(db.as_ref()).await;
    suite::section_retention_behaviour(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_person_log_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("eid.db").display());
    let db = Arc::new(SqlDurable::connect_and_migrate(&url).await.unwrap());
    suite::person_log_behaviour(db.as_ref()).await;
    suite::section_retention_behaviour(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_person_log_and_retention() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let db = Arc::new(SqlDurable::connect_and_migrate(&temp.url).await.unwrap());
        suite::person_log_behaviour(db.as_ref()).await;
        suite::person_log_behaviour(db.as_ref()).await;
        suite::section_retention_behaviour(db.clone()).await;
        db.close().await;
    }
    temp.drop_db().await.unwrap();
}

/// One generated event: person, client, kind, outcome, time (few of each, so that they collide).
type Spec = (usize, Option<usize>, usize, bool, i64);

fn event_spec() -> impl Strategy<Value = Spec> {
    (
        0..3usize,
        proptest::option::of(0..3usize),
        0..KINDS.len() + 3,
        any::<bool>(),
        0..20i64,
    )
}

/// A query of one of the persons: section, client, period, page size.
type QuerySpec = (
    usize,
    Option<usize>,
    Option<usize>,
    Option<i64>,
    Option<i64>,
    u32,
);

fn query_spec() -> impl Strategy<Value = QuerySpec> {
    (
        0..3usize,
        proptest::option::of(0..Section::ALL.len()),
        proptest::option::of(0..4usize),
        proptest::option::of(0..20i64),
        proptest::option::of(0..20i64),
        1..40u32,
    )
}

/// Kinds beyond the sections' lists (unlisted, near a prefix, near a listed kind).
const RANDOM_KINDS: [&str; 3] = ["app.pairing_failed", "delegationx", "token.issued2"];

fn events_of(base: OffsetDateTime, persons: &[Uuid], specs: &[Spec]) -> Vec<AuditEvent> {
    specs
        .iter()
        .map(|&(person, client, kind, success, at)| {
            let (kind, listed_outcome) = KINDS
                .get(kind)
                .copied()
                .unwrap_or_else(|| (RANDOM_KINDS[kind - KINDS.len()], AuditOutcome::Success));
            let outcome = if success {
                listed_outcome
            } else {
                AuditOutcome::Failure
            };
            let mut e = AuditEvent::new(
                base + time::Duration::microseconds(at),
                "broker",
                kind,
                outcome,
            )
            .person(persons[person]);
            if let Some(c) = client {
                e = e.client(format!("rp-{c}"));
            }
            e
        })
        .collect()
}

fn check(db: &SqlDurable, rt: &tokio::runtime::Runtime, specs: &[Spec], q: QuerySpec) {
    let persons: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    let base = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let events = events_of(base, &persons, specs);
    let (person, section, client, since, until, limit) = q;
    let query = PersonLogQuery {
        person: persons[person],
        since: since.map(|s| base + time::Duration::microseconds(s)),
        until: until.map(|u| base + time::Duration::microseconds(u)),
        client: client.map(|c| format!("rp-{c}")),
        section: section.map(|s| Section::ALL[s]),
        before: None,
        limit,
    };
    rt.block_on(async {
        db.append(&events).await.unwrap();
        let want = expected(&events, &query);
        let first = db.person_log(&query).await.unwrap();
        let first_ids: Vec<Uuid> = first.events.iter().map(|e| e.event.id).collect();
        let n = want.len().min(limit as usize);
        assert_eq!(first_ids, want[..n], "{query:?}");
        assert_eq!(first.next.is_some(), want.len() > n, "{query:?}");
        assert_eq!(walk(db, &query).await, want, "{query:?}");
    });
}

/// Each case: up to 60 events of three persons within 20 microseconds (so that many share one),
/// and a query of one of them.
fn run_property(db: &SqlDurable, rt: &tokio::runtime::Runtime, cases: u32) {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    });
    runner
        .run(
            &(proptest::collection::vec(event_spec(), 0..60), query_spec()),
            |(specs, q)| {
                check(db, rt, &specs, q);
                Ok(())
            },
        )
        .unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn sqlite_person_log_equals_filtering_by_the_sections_definition() {
    let rt = runtime();
    let db = rt
        .block_on(SqlDurable::connect_and_migrate("sqlite::memory:"))
        .unwrap();
    run_property(&db, &rt, 256);
}

#[test]
fn postgres_person_log_equals_filtering_by_the_sections_definition() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let rt = runtime();
    let temp = rt.block_on(TempPostgresDb::create(&server)).unwrap();
    let db = rt
        .block_on(SqlDurable::connect_and_migrate(&temp.url))
        .unwrap();
    run_property(&db, &rt, 64);
    rt.block_on(async {
        db.close().await;
        temp.drop_db().await.unwrap();
    });
}
