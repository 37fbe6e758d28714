//! A person's own log ([`eid_core::my_log`]): pages newest first that walk every event once,
//! filters, other persons' events never shown, bounded pages; and retention per section.

use crate::retention::{AuditEvents, Expiring, Retention, Rule};
use async_trait::async_trait;
use eid_core::my_log::{LogCursor, LogPage, MAX_PAGE, PersonLogQuery, Section};
use eid_core::{AuditEvent, AuditLog, AuditOutcome, StoreError};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// Kinds of every section (with prefixes and unlisted kinds), each with an outcome.
pub const KINDS: &[(&str, AuditOutcome)] = &[
    ("login.success", AuditOutcome::Success),
    ("connector.login", AuditOutcome::Success),
    ("token.issued", AuditOutcome::Success),
    ("saml.response_issued", AuditOutcome::Success),
    ("representation.acted_for", AuditOutcome::Success),
    ("representation.acted_as", AuditOutcome::Success),
    ("authenticator.added", AuditOutcome::Success),
    ("delegation.granted", AuditOutcome::Success),
    ("activation.success", AuditOutcome::Success),
    ("login.failure", AuditOutcome::Failure),
    ("token.issued", AuditOutcome::Failure),
    ("authenticator.added", AuditOutcome::Failure),
    ("logout.frontchannel", AuditOutcome::Success),
    ("authenticator", AuditOutcome::Success),
    ("login.success.extra", AuditOutcome::Success),
];

/// What `query` must return from `events` (appended in this order, so that events of the same
/// microsecond are ordered as in the slice): the ids, newest first, ignoring the limit and the
/// cursor.
pub fn expected(events: &[AuditEvent], query: &PersonLogQuery) -> Vec<Uuid> {
    let mut held: Vec<(usize, &AuditEvent)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            e.person == Some(query.person)
                && query.since.is_none_or(|s| e.at >= s)
                && query.until.is_none_or(|u| e.at < u)
                && query
                    .client
                    .as_ref()
                    .is_none_or(|c| e.client.as_ref() == Some(c))
                && query
                    .section
                    .is_none_or(|s| s.selector().matches(&e.kind, e.outcome))
        })
        .collect();
    held.sort_by_key(|(i, e)| std::cmp::Reverse((e.at, *i)));
    held.into_iter().map(|(_, e)| e.id).collect()
}

/// Reads every page of `query` (from its cursor on) with its limit; checks that each page is
/// newest first, bounded, and continues where the previous ended. Returns the ids in order.
pub async fn walk(log: &dyn AuditLog, query: &PersonLogQuery) -> Vec<Uuid> {
    let mut query = query.clone();
    let limit = query.limit.min(MAX_PAGE) as usize;
    let mut ids = Vec::new();
    let mut previous: Option<LogCursor> = query.before;
    loop {
        let LogPage { events, next } = log.person_log(&query).await.unwrap();
        assert!(events.len() <= limit, "a page holds at most its limit");
        for e in &events {
            assert_eq!(
                e.event.person,
                Some(query.person),
                "only the person's events"
            );
            if let Some(p) = previous {
                assert!(e.cursor < p, "newest first: {:?} after {p:?}", e.cursor);
            }
            previous = Some(e.cursor);
            ids.push(e.event.id);
        }
        match next {
            Some(cursor) => {
                assert_eq!(events.len(), limit, "only a full page has a next one");
                assert_eq!(Some(cursor), events.last().map(|e| e.cursor));
                query.before = Some(cursor);
            }
            None => return ids,
        }
        assert!(ids.len() < 100_000, "the walk ends");
    }
}

/// Events of `person` and of another person with the same times, kinds and clients: groups of
/// ten at one instant, every kind, both outcomes, three clients and none.
fn mixed_events(person: Uuid, other: Uuid, base: OffsetDateTime) -> Vec<AuditEvent> {
    let clients = [Some("rp-a"), Some("rp-b"), None, Some("rp-c")];
    let mut events = Vec::new();
    for i in 0..150usize {
        // Twelve groups of ten events at one instant, then thirty alone.
        let micros = if i < 120 { i / 10 } else { i * 3 };
        let at = base + time::Duration::microseconds(micros as i64 * 1_000);
        let (kind, outcome) = KINDS[i % KINDS.len()];
        for who in [person, other] {
            let mut e = AuditEvent::new(at, "broker", kind, outcome)
                .person(who)
                .detail("i", i);
            if let Some(c) = clients[i % clients.len()] {
                e = e.client(c);
            }
            events.push(e);
        }
    }
    events
}

/// Everything [`AuditLog::person_log`] promises, on a log others may be writing to.
pub async fn person_log_behaviour(log: &dyn AuditLog) {
    let person = Uuid::new_v4();
    let other = Uuid::new_v4();
    let base = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let events = mixed_events(person, other, base);
    // Three batches: the order of the store follows them.
    for chunk in events.chunks(110) {
        log.append(chunk).await.unwrap();
    }
    let newest = PersonLogQuery::newest(person, MAX_PAGE);
    let all = expected(&events, &newest);
    assert_eq!(all.len(), 150);

    // Newest first, in one page, with no next page: exactly the limit left is not "more".
    let page = log.person_log(&newest).await.unwrap();
    let ids: Vec<Uuid> = page.events.iter().map(|e| e.event.id).collect();
    assert_eq!(ids, all);
    assert_eq!(page.next, None);
    let exact = log
        .person_log(&PersonLogQuery::newest(person, 150))
        .await
        .unwrap();
    assert_eq!((exact.events.len(), exact.next), (150, None));
    for (got, want) in page.events.iter().zip(&all) {
        let sent = events.iter().find(|e| e.id == *want).unwrap();
        assert_eq!(&got.event, sent, "stored and read back unchanged");
    }

    // Small pages walk every event once, across the microseconds shared by ten events.
    for limit in [1, 7, 10, 149] {
        let walked = walk(log, &PersonLogQuery::newest(person, limit)).await;
        assert_eq!(walked, all, "limit {limit}");
        assert_eq!(walked.iter().collect::<HashSet<_>>().len(), all.len());
    }

    // Each filter, and combinations, agree with the sections' definition.
    let at = |ms: i64| base + time::Duration::milliseconds(ms);
    let mut queries = vec![
        PersonLogQuery {
            since: Some(at(5)),
            ..newest.clone()
        },
        PersonLogQuery {
            until: Some(at(5)),
            ..newest.clone()
        },
        PersonLogQuery {
            since: Some(at(3)),
            until: Some(at(200)),
            ..newest.clone()
        },
        PersonLogQuery {
            client: Some("rp-b".into()),
            ..newest.clone()
        },
        PersonLogQuery {
            client: Some("rp-unknown".into()),
            ..newest.clone()
        },
    ];
    for section in Section::ALL {
        queries.push(PersonLogQuery {
            section: Some(section),
            ..newest.clone()
        });
        queries.push(PersonLogQuery {
            section: Some(section),
            client: Some("rp-a".into()),
            since: Some(at(2)),
            until: Some(at(300)),
            ..newest.clone()
        });
    }
    for query in queries {
        let want = expected(&events, &query);
        let walked = walk(
            log,
            &PersonLogQuery {
                limit: 4,
                ..query.clone()
            },
        )
        .await;
        assert_eq!(walked, want, "{query:?}");
        let page = log.person_log(&query).await.unwrap();
        assert_eq!(page.events.len(), want.len(), "{query:?}");
    }
    for section in Section::ALL {
        let q = PersonLogQuery {
            section: Some(section),
            ..newest.clone()
        };
        assert!(
            !expected(&events, &q).is_empty(),
            "{section:?} is exercised"
        );
    }

    // Cursors: beyond everything is the first page, before everything an empty one.
    let from_top = PersonLogQuery {
        before: Some(LogCursor {
            at_us: i64::MAX,
            seq: i64::MAX,
        }),
        ..newest.clone()
    };
    assert_eq!(walk(log, &from_top).await, all);
    let below = PersonLogQuery {
        before: Some(LogCursor { at_us: 0, seq: 0 }),
        ..newest.clone()
    };
    assert!(log.person_log(&below).await.unwrap().events.is_empty());

    // Another person's log holds only theirs; a person without events has an empty one.
    let theirs = walk(log, &PersonLogQuery::newest(other, 50)).await;
    assert_eq!(
        theirs,
        expected(&events, &PersonLogQuery::newest(other, 50))
    );
    assert!(theirs.iter().all(|id| !all.contains(id)));
    let nobody = log
        .person_log(&PersonLogQuery::newest(Uuid::new_v4(), 50))
        .await
        .unwrap();
    assert_eq!(nobody, LogPage::default());

    // A hostile service filter finds nothing and fails nothing.
    for client in ["\0", "rp-a\0", "' OR 1=1 --", "x".repeat(10_000).as_str()] {
        let q = PersonLogQuery {
            client: Some(client.to_owned()),
            ..newest.clone()
        };
        assert!(
            log.person_log(&q).await.unwrap().events.is_empty(),
            "{client:.20?}"
        );
    }

    // Limits: 0 is an empty page; more than MAX_PAGE is MAX_PAGE.
    let zero = log
        .person_log(&PersonLogQuery::newest(person, 0))
        .await
        .unwrap();
    assert_eq!(zero, LogPage::default());
    let busy = Uuid::new_v4();
    let many: Vec<AuditEvent> = (0..MAX_PAGE + 10)
        .map(|i| {
            AuditEvent::new(base, "idp", "login.success", AuditOutcome::Success)
                .person(busy)
                .detail("i", i)
        })
        .collect();
    log.append(&many).await.unwrap();
    let first = log
        .person_log(&PersonLogQuery::newest(busy, u32::MAX))
        .await
        .unwrap();
    assert_eq!(first.events.len(), MAX_PAGE as usize);
    assert!(first.next.is_some());
    let rest = log
        .person_log(&PersonLogQuery {
            before: first.next,
            ..PersonLogQuery::newest(busy, u32::MAX)
        })
        .await
        .unwrap();
    assert_eq!((rest.events.len(), rest.next), (10, None));
    let newest_first: Vec<Uuid> = first
        .events
        .iter()
        .chain(&rest.events)
        .map(|e| e.event.id)
        .collect();
    let mut inserted: Vec<Uuid> = many.iter().map(|e| e.id).collect();
    inserted.reverse();
    assert_eq!(
        newest_first, inserted,
        "one microsecond: newest inserted first"
    );
}

/// Counts each statement of an [`Expiring`].
struct Counted {
    inner: Arc<dyn Expiring>,
    statements: Mutex<Vec<u64>>,
}

#[async_trait]
impl Expiring for Counted {
    async fn delete_before(&self, before: OffsetDateTime, max: u32) -> Result<u64, StoreError> {
        let n = self.inner.delete_before(before, max).await?;
        self.statements.lock().unwrap().push(n);
        Ok(n)
    }
}

/// How long each section is kept in [`section_retention_behaviour`] (days): all different, so a
/// rule applied to the wrong section shows.
fn keep_days(section: Section) -> i64 {
    match section {
        Section::Logins => 10,
        Section::Releases => 20,
        Section::Acting => 30,
        Section::Changes => 40,
        Section::Refused => 5,
        Section::Other => 3,
    }
}

/// Retention per section: [`AuditLog::delete_events_before`] deletes at most `max` of the
/// section's events, oldest first, strictly before the cut; the task's rules, one per section,
/// delete in bounded statements exactly the expired events of each section and nothing else.
/// Needs a log holding no events before 1990 but its own (a fresh database).
pub async fn section_retention_behaviour(log: Arc<dyn AuditLog>) {
    let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(365 * 20 + 60);
    let day = |d: i64| time::Duration::days(d);
    let (person, other) = (Uuid::new_v4(), Uuid::new_v4());
    // Every kind at ages 1 to 45 days, for both persons (the other an hour younger), and one at
    // exactly each section's age (kept: the cut is strict).
    let mut events = Vec::new();
    for age in 1..=45 {
        for (i, (kind, outcome)) in KINDS.iter().enumerate() {
            let at = now - day(age) + time::Duration::seconds(i as i64);
            events.push(AuditEvent::new(at, "broker", kind, *outcome).person(person));
            events.push(
                AuditEvent::new(at + time::Duration::hours(1), "idp", kind, *outcome)
                    .person(other)
                    .client("rp-a"),
            );
        }
    }
    for section in Section::ALL {
        let (kind, outcome) = KINDS
            .iter()
            .find(|(k, o)| Section::of(k, *o) == section)
            .unwrap();
        let at = now - day(keep_days(section));
        events.push(AuditEvent::new(at, "broker", kind, *outcome).person(person));
    }
    log.append(&events).await.unwrap();
    let expired = |e: &AuditEvent| e.at < now - day(keep_days(Section::of(&e.kind, e.outcome)));
    let remaining = || {
        let log = log.clone();
        async move {
            let mut ids = walk(log.as_ref(), &PersonLogQuery::newest(person, 500)).await;
            ids.extend(walk(log.as_ref(), &PersonLogQuery::newest(other, 500)).await);
            ids.into_iter().collect::<HashSet<_>>()
        }
    };

    // One statement: at most `max`, the oldest first, strictly before the cut.
    let logins = Section::Logins.selector();
    let cut = now - day(10);
    let mut oldest_logins: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| logins.matches(&e.kind, e.outcome) && e.at < cut)
        .collect();
    oldest_logins.sort_by_key(|e| e.at);
    assert_eq!(log.delete_events_before(&logins, cut, 3).await.unwrap(), 3);
    assert_eq!(log.delete_events_before(&logins, cut, 0).await.unwrap(), 0);
    let left = remaining().await;
    for (i, e) in oldest_logins.iter().enumerate() {
        assert_eq!(left.contains(&e.id), i >= 3, "{i}: {} at {}", e.kind, e.at);
    }
    assert_eq!(left.len(), events.len() - 3, "nothing else went");

    // The task: one rule per section, four events per statement.
    let counted: Vec<Arc<Counted>> = Section::ALL
        .iter()
        .map(|s| {
            let rule = AuditEvents::rule(log.clone(), *s, day(keep_days(*s)));
            Arc::new(Counted {
                inner: rule.records,
                statements: Mutex::new(Vec::new()),
            })
        })
        .collect();
    let retention = Retention {
        rules: Section::ALL
            .iter()
            .zip(&counted)
            .map(|(s, c)| Rule {
                records: c.clone(),
                ..AuditEvents::rule(log.clone(), *s, day(keep_days(*s)))
            })
            .collect(),
        batch: 4,
        pause: Duration::ZERO,
    };
    let report = retention.apply(now).await;
    for ((section, (name, result)), counted) in Section::ALL.iter().zip(&report).zip(&counted) {
        let mut want = events
            .iter()
            .filter(|e| Section::of(&e.kind, e.outcome) == *section && expired(e))
            .count() as u64;
        if *section == Section::Logins {
            want -= 3;
        }
        assert_eq!(name, &format!("audit_events.{}", section.as_str()));
        assert_eq!(result.as_ref().unwrap(), &want, "{section:?}");
        assert!(want > 8, "{section:?} needs several statements");
        let statements = counted.statements.lock().unwrap().clone();
        assert!(
            statements.iter().all(|n| *n <= 4),
            "{section:?}: {statements:?}"
        );
        assert_eq!(statements.len() as u64, want / 4 + 1, "{section:?}");
    }
    let left = remaining().await;
    let kept: HashSet<Uuid> = events
        .iter()
        .filter(|e| !expired(e))
        .map(|e| e.id)
        .collect();
    assert_eq!(left, kept, "exactly the expired events went");
    // A second run finds nothing.
    for (_, result) in retention.apply(now).await {
        assert_eq!(result.unwrap(), 0);
    }
}
