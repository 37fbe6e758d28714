//! The person log's statements: their shape, their plans on both databases, and the retention
//! delete's two forms.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::sql::Backend;
use crate::testing::{TempPostgresDb, postgres_url_or_skip};
use eid_core::my_log::Section;
use eid_core::{AuditEvent, AuditLog, AuditOutcome};
use uuid::Uuid;

fn at(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).unwrap()
}

/// Every filter at once.
fn full_query(person: Uuid, section: Section) -> PersonLogQuery {
    PersonLogQuery {
        person,
        since: Some(at(1_000_000)),
        until: Some(at(9_000_000_000_000_000)),
        client: Some("rp-1'; DROP TABLE audit_events; --".to_owned()),
        section: Some(section),
        before: Some(LogCursor {
            at_us: 8_000_000_000_000_000,
            seq: 77,
        }),
        limit: 50,
    }
}

/// Shapes to check: unfiltered, each filter, all filters with each section.
fn shapes(person: Uuid) -> Vec<PersonLogQuery> {
    let newest = PersonLogQuery::newest(person, 50);
    let full = full_query(person, Section::Logins);
    let mut shapes = vec![
        newest.clone(),
        PersonLogQuery {
            before: full.before,
            ..newest.clone()
        },
        PersonLogQuery {
            since: full.since,
            until: full.until,
            ..newest.clone()
        },
        PersonLogQuery {
            client: Some("rp-1".into()),
            ..newest.clone()
        },
    ];
    for section in Section::ALL {
        shapes.push(PersonLogQuery {
            section: Some(section),
            ..newest.clone()
        });
        shapes.push(full_query(person, section));
    }
    shapes
}

#[test]
fn every_value_is_bound_and_no_value_is_in_the_text() {
    let person = Uuid::new_v4();
    for section in Section::ALL {
        let st = page_statement(&full_query(person, section), 50);
        let sql = st.as_sql();
        assert!(!sql.contains("DROP"), "{sql}");
        assert!(!sql.contains(&person.to_string()), "{sql}");
        assert!(!sql.contains("login.success"), "{sql}");
        assert!(!sql.contains("authenticator."), "{sql}");
        assert!(!sql.contains("'"), "{sql}");
        let placeholders = sql.matches('$').count();
        assert_eq!(placeholders, st.args.len(), "{sql}");
        assert!(sql.contains(&format!("${}", st.args.len())), "{sql}");
        assert_eq!(st.args.last(), Some(&Arg::Int(51)), "limit + 1");
    }
    let st = delete_by_kinds_statement(&["a'b".to_owned(), "c".to_owned()], "success", at(5), 10);
    assert!(!st.as_sql().contains("a'b"));
    assert_eq!(st.as_sql().matches('$').count(), st.args.len());
}

#[test]
fn a_selector_becomes_the_condition_selector_matches_describes() {
    let mut st = Statement::new("");
    push_selector(&mut st, &Section::Changes.selector());
    assert_eq!(
        st.as_sql(),
        " AND outcome = $1 AND (kind IN ($2) OR substr(kind, 1, CAST($3 AS INTEGER)) = $4 OR \
         substr(kind, 1, CAST($5 AS INTEGER)) = $6)"
    );
    assert_eq!(
        st.args[2],
        Arg::Int(14),
        "\"authenticator.\" has 14 characters"
    );
    let mut st = Statement::new("");
    push_selector(&mut st, &Section::Other.selector());
    assert!(
        st.as_sql()
            .starts_with(" AND outcome = $1 AND NOT (kind IN (")
    );
    let mut st = Statement::new("");
    push_selector(&mut st, &Section::Refused.selector());
    assert_eq!(st.as_sql(), " AND outcome = $1");
    assert_eq!(st.args, [Arg::Text("failure".into())]);
    let mut st = Statement::new("");
    let nothing = Selector {
        outcome: AuditOutcome::Success,
        kinds: Vec::new(),
        prefixes: Vec::new(),
        any_kind: false,
        negate: false,
    };
    push_selector(&mut st, &nothing);
    assert_eq!(st.as_sql(), " AND outcome = $1 AND (1 = 0)");
}

/// 20,000 events of 400 persons (one with 2,000), over 50 kinds and 20 clients.
async fn fill(db: &SqlDurable, long_history: Uuid) {
    let kinds: Vec<&str> = Section::ALL
        .iter()
        .flat_map(|s| s.selector().kinds)
        .chain([
            "login.failure",
            "logout.frontchannel",
            "authenticator.added",
        ])
        .collect();
    let persons: Vec<Uuid> = (0..400).map(|_| Uuid::new_v4()).collect();
    for chunk in 0..20 {
        let events: Vec<AuditEvent> = (0..1000)
            .map(|i| {
                let n = chunk * 1000 + i;
                let person = if n % 10 == 0 {
                    long_history
                } else {
                    persons[n % persons.len()]
                };
                let outcome = if n % 7 == 0 {
                    AuditOutcome::Failure
                } else {
                    AuditOutcome::Success
                };
                AuditEvent::new(
                    at(1_700_000_000_000_000 + n as i64 * 1_000_000),
                    "broker",
                    kinds[n % kinds.len()],
                    outcome,
                )
                .person(person)
                .client(format!("rp-{}", n % 20))
            })
            .collect();
        db.append(&events).await.unwrap();
    }
}

async fn plan(db: &SqlDurable, st: &Statement) -> String {
    let (prefix, column) = match db.backend() {
        Backend::Sqlite => ("EXPLAIN QUERY PLAN ", 3),
        Backend::Postgres => ("EXPLAIN ", 0),
    };
    let rows = st
        .prefixed(prefix)
        .query()
        .fetch_all(db.pool())
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String, _>(column).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every shape of page reads the person index, no other index and not the whole table. On
/// SQLite in its order (no sort); PostgreSQL may choose to sort a person's few matching rows
/// instead (its cost model), never to read another index.
async fn assert_pages_use_the_person_index(db: &SqlDurable) {
    let person = Uuid::new_v4();
    fill(db, person).await;
    if db.backend() == Backend::Postgres {
        sqlx::query("ANALYZE audit_events")
            .execute(db.pool())
            .await
            .unwrap();
    }
    for query in shapes(person) {
        let st = page_statement(&query, 50);
        let plan = plan(db, &st).await;
        assert!(
            plan.contains("audit_events_person_at"),
            "{}\n{plan}",
            st.as_sql()
        );
        for bad in ["Seq Scan", "TEMP B-TREE", "SCAN audit_events", "kind_at"] {
            assert!(!plan.contains(bad), "{bad}: {}\n{plan}", st.as_sql());
        }
    }
    // And the statement runs: the long history, a page at a time.
    let page = db
        .person_log(&PersonLogQuery::newest(person, 500))
        .await
        .unwrap();
    assert_eq!(page.events.len(), 500);
}

#[tokio::test]
async fn sqlite_plans_every_page_through_the_person_index() {
    let db = SqlDurable::connect_and_migrate("sqlite::memory:")
        .await
        .unwrap();
    assert_pages_use_the_person_index(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_plans_every_page_through_the_person_index() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let db = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        assert_pages_use_the_person_index(&db).await;
        db.close().await;
    }
    temp.drop_db().await.unwrap();
}

/// The kinds walk finds each kind once, and stops at its bound.
async fn assert_kinds_walk(db: &SqlDurable) {
    let kinds = |max| async move {
        kinds_statement(max)
            .query()
            .fetch_all(db.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String, _>(0).unwrap())
            .collect::<Vec<_>>()
    };
    assert!(kinds(10).await.is_empty(), "an empty log has no kinds");
    let events: Vec<AuditEvent> = ["b", "a", "c", "a", "b", "a"]
        .into_iter()
        // Far in the future: no retention cut of these tests reaches them.
        .map(|k| AuditEvent::new(at(i64::MAX / 2000), "x", k, AuditOutcome::Success))
        .collect();
    db.append(&events).await.unwrap();
    assert_eq!(kinds(10).await, ["a", "b", "c"]);
    assert_eq!(kinds(2).await, ["a", "b"]);
}

/// Deleting by named kinds and by a scan of the time order delete the same events.
async fn assert_both_deletes_agree(db: &SqlDurable) {
    let person = Uuid::new_v4();
    let kinds = [
        ("login.success", AuditOutcome::Success),
        ("login.success", AuditOutcome::Failure),
        ("authenticator.added", AuditOutcome::Success),
        ("logout.frontchannel", AuditOutcome::Success),
        ("token.issued", AuditOutcome::Success),
    ];
    let events: Vec<AuditEvent> = (0..100)
        .map(|i| {
            let (kind, outcome) = kinds[i % kinds.len()];
            AuditEvent::new(at(1_000 + (i as i64 % 13)), "x", kind, outcome).person(person)
        })
        .collect();
    db.append(&events).await.unwrap();
    let remaining = |section: Section| async move {
        let page = db
            .person_log(&PersonLogQuery {
                section: Some(section),
                ..PersonLogQuery::newest(person, 500)
            })
            .await
            .unwrap();
        page.events.len() as u64
    };
    for section in Section::ALL {
        let selector = section.selector();
        let held = remaining(section).await;
        let cut = at(1_007);
        let expired = events
            .iter()
            .filter(|e| e.at < cut && selector.matches(&e.kind, e.outcome))
            .count() as u64;
        // Kinds named one by one for half, then a scan (no kinds named) for the rest.
        let first = expired / 2;
        let by_kinds = db
            .delete_selected_before(&selector, cut, first as u32, MAX_KINDS)
            .await
            .unwrap();
        let by_scan = db
            .delete_selected_before(&selector, cut, 1000, 0)
            .await
            .unwrap();
        assert_eq!((by_kinds, by_scan), (first, expired - first), "{section:?}");
        assert_eq!(remaining(section).await, held - expired, "{section:?}");
    }
}

#[tokio::test]
async fn sqlite_retention_statements() {
    let db = SqlDurable::connect_and_migrate("sqlite::memory:")
        .await
        .unwrap();
    assert_kinds_walk(&db).await;
    assert_both_deletes_agree(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_retention_statements() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let db = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        assert_kinds_walk(&db).await;
        assert_both_deletes_agree(&db).await;
        db.close().await;
    }
    temp.drop_db().await.unwrap();
}
