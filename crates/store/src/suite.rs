//! Behaviour test-suites: one per port, run against every backend (DESIGN.md §6, §11.3).
//!
//! Each suite panics (through `assert!`) on the first deviation. They use random key namespaces and
//! person ids, so they can run repeatedly and concurrently against a shared Redis or PostgreSQL.
//! Run them on a multi-threaded Tokio runtime (`#[tokio::test(flavor = "multi_thread")]`): the
//! take-once check races real threads.

// Test code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit;
mod delegation;
pub mod my_log;
mod protocol_messages;
mod register;
mod relying_parties;
mod saml_service_providers;

pub use audit::audit_writer_hostile_values_behaviour;
pub use delegation::delegation_repository_behaviour;
pub use my_log::{person_log_behaviour, section_retention_behaviour};
pub use protocol_messages::protocol_message_log_behaviour;

pub use register::{authenticator_repository_behaviour, person_repository_behaviour};
pub use relying_parties::{minimal as minimal_registration, relying_party_repository_behaviour};
pub use saml_service_providers::saml_service_provider_repository_behaviour;

use eid_core::{AuditEvent, AuditLog, AuditOutcome, DurableHealth, EphemeralStore};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use uuid::Uuid;

/// A short TTL for expiry checks, and how long to wait for it to pass.
const SHORT_TTL: Duration = Duration::from_millis(150);
const PAST_SHORT_TTL: Duration = Duration::from_millis(300);
const LONG_TTL: Duration = Duration::from_secs(60);

/// Everything [`EphemeralStore`] promises: put/get/overwrite, expiry, take-once (also under
/// concurrency), put-if-absent, delete, fixed-window counters, binary values and odd keys.
pub async fn ephemeral_behaviour(store: Arc<dyn EphemeralStore>) {
    let ns = format!("suite-{}-", Uuid::new_v4().simple());
    let k = |name: &str| format!("{ns}{name}");
    let s = store.as_ref();

    s.ping().await.expect("ping");

    // put / get / overwrite
    assert_eq!(s.get(&k("missing")).await.unwrap(), None);
    s.put(&k("a"), b"one", LONG_TTL).await.unwrap();
    assert_eq!(s.get(&k("a")).await.unwrap().as_deref(), Some(&b"one"[..]));
    s.put(&k("a"), b"two", LONG_TTL).await.unwrap();
    assert_eq!(s.get(&k("a")).await.unwrap().as_deref(), Some(&b"two"[..]));
    // reading does not consume
    assert_eq!(s.get(&k("a")).await.unwrap().as_deref(), Some(&b"two"[..]));

    // take_once: first the value, then the tombstone, never twice First
    use eid_core::Taken;
    s.put(&k("code"), b"grant", LONG_TTL).await.unwrap();
    assert_eq!(
        s.take_once(&k("code"), &k("code-used"), None, LONG_TTL)
            .await
            .unwrap(),
        Taken::First(b"grant".to_vec())
    );
    assert_eq!(s.get(&k("code")).await.unwrap(), None, "taken means gone");
    assert_eq!(
        s.take_once(&k("code"), &k("code-used"), None, LONG_TTL)
            .await
            .unwrap(),
        Taken::Again(b"grant".to_vec())
    );
    assert_eq!(
        s.take_once(&k("never"), &k("never-used"), None, LONG_TTL)
            .await
            .unwrap(),
        Taken::Missing
    );
    // With a marker the tombstone holds the marker, not the value.
    s.put(&k("marked"), b"a long grant", LONG_TTL)
        .await
        .unwrap();
    assert_eq!(
        s.take_once(&k("marked"), &k("marked-used"), Some(&b"m"[..]), LONG_TTL)
            .await
            .unwrap(),
        Taken::First(b"a long grant".to_vec())
    );
    assert_eq!(
        s.take_once(&k("marked"), &k("marked-used"), Some(&b"m"[..]), LONG_TTL)
            .await
            .unwrap(),
        Taken::Again(b"m".to_vec())
    );
    s.put(&k("race"), b"once", LONG_TTL).await.unwrap();
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let (key, tomb) = (k("race"), k("race-used"));
            tokio::spawn(async move { store.take_once(&key, &tomb, None, LONG_TTL).await.unwrap() })
        })
        .collect();
    let mut firsts = 0;
    for racer in racers {
        if matches!(racer.await.unwrap(), Taken::First(_)) {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1, "exactly one concurrent take_once gets the value");

    // binary values, including every byte value and the empty value
    let all_bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    s.put(&k("bin"), &all_bytes, LONG_TTL).await.unwrap();
    assert_eq!(s.get(&k("bin")).await.unwrap(), Some(all_bytes.clone()));
    s.put(&k("empty"), b"", LONG_TTL).await.unwrap();
    assert_eq!(s.get(&k("empty")).await.unwrap(), Some(Vec::new()));
    let big = vec![0xA5u8; 64 * 1024];
    s.put(&k("big"), &big, LONG_TTL).await.unwrap();
    assert_eq!(s.get(&k("big")).await.unwrap(), Some(big));

    // odd keys are distinct and round-trip
    let odd = [
        "with space",
        "colon:sep:key",
        "ünïcødé/ключ/鍵",
        "{hash-tag}",
        "glob*?[x]",
        "new\nline\ttab",
        "quote'\"back\\slash",
        "",
    ];
    for (i, key) in odd.iter().enumerate() {
        s.put(&k(key), format!("v{i}").as_bytes(), LONG_TTL)
            .await
            .unwrap();
    }
    for (i, key) in odd.iter().enumerate() {
        assert_eq!(
            s.get(&k(key)).await.unwrap(),
            Some(format!("v{i}").into_bytes()),
            "odd key {key:?}"
        );
    }

    // delete
    assert!(s.delete(&k("a")).await.unwrap());
    assert!(!s.delete(&k("a")).await.unwrap());
    assert_eq!(s.get(&k("a")).await.unwrap(), None);
    assert!(!s.delete(&k("never")).await.unwrap());

    // take: once
    s.put(&k("code"), b"c0de", LONG_TTL).await.unwrap();
    assert_eq!(
        s.take(&k("code")).await.unwrap().as_deref(),
        Some(&b"c0de"[..])
    );
    assert_eq!(s.take(&k("code")).await.unwrap(), None);
    assert_eq!(s.get(&k("code")).await.unwrap(), None);
    assert_eq!(s.take(&k("never")).await.unwrap(), None);

    // put_if_absent
    assert!(
        s.put_if_absent(&k("nonce"), b"first", LONG_TTL)
            .await
            .unwrap()
    );
    assert!(
        !s.put_if_absent(&k("nonce"), b"second", LONG_TTL)
            .await
            .unwrap()
    );
    assert_eq!(
        s.get(&k("nonce")).await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
    assert!(s.delete(&k("nonce")).await.unwrap());
    assert!(
        s.put_if_absent(&k("nonce"), b"third", LONG_TTL)
            .await
            .unwrap()
    );

    // expiry: every operation sees an expired value as absent
    let expiry_start = Instant::now();
    s.put(&k("exp-get"), b"x", SHORT_TTL).await.unwrap();
    s.put(&k("exp-take"), b"x", SHORT_TTL).await.unwrap();
    s.put(&k("exp-del"), b"x", SHORT_TTL).await.unwrap();
    s.put(&k("exp-overwritten"), b"x", SHORT_TTL).await.unwrap();
    s.put(&k("exp-overwritten"), b"y", LONG_TTL).await.unwrap();
    assert!(
        s.put_if_absent(&k("exp-pia"), b"x", SHORT_TTL)
            .await
            .unwrap()
    );
    let live = s.get(&k("exp-get")).await.unwrap();
    // Only checkable if the machine did not stall past the TTL since the puts.
    if expiry_start.elapsed() < SHORT_TTL {
        assert!(live.is_some(), "a value is there until its TTL passes");
    }
    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert_eq!(s.get(&k("exp-get")).await.unwrap(), None);
    assert_eq!(s.take(&k("exp-take")).await.unwrap(), None);
    assert!(!s.delete(&k("exp-del")).await.unwrap());
    assert_eq!(
        s.get(&k("exp-overwritten")).await.unwrap().as_deref(),
        Some(&b"y"[..]),
        "an overwrite replaces the TTL too"
    );
    assert!(
        s.put_if_absent(&k("exp-pia"), b"again", LONG_TTL)
            .await
            .unwrap(),
        "an expired value does not block put_if_absent"
    );

    take_once_under_concurrency(&store, &ns).await;
    counters(s, &ns).await;
}

/// 16 concurrent takes of one key, on real threads: exactly one gets the value. Repeated.
async fn take_once_under_concurrency(store: &Arc<dyn EphemeralStore>, ns: &str) {
    const RACERS: usize = 16;
    for round in 0..8 {
        let key = format!("{ns}race-{round}");
        store.put(&key, b"prize", LONG_TTL).await.unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
        let mut tasks = Vec::with_capacity(RACERS);
        for _ in 0..RACERS {
            let store = Arc::clone(store);
            let barrier = Arc::clone(&barrier);
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store.take(&key).await.unwrap()
            }));
        }
        let mut winners = 0;
        for task in tasks {
            if let Some(v) = task.await.unwrap() {
                assert_eq!(v, b"prize");
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "round {round}: exactly one take wins");
    }
}

/// Counters: count up, keep a fixed window (later increments do not extend it), then reset.
async fn counters(s: &dyn EphemeralStore, ns: &str) {
    let c = format!("{ns}counter");
    for expected in 1..=5u64 {
        assert_eq!(s.incr(&c, LONG_TTL).await.unwrap(), expected);
    }
    assert_eq!(s.get(&c).await.unwrap().as_deref(), Some(&b"5"[..]));
    assert_eq!(s.incr(&format!("{ns}other"), LONG_TTL).await.unwrap(), 1);

    fixed_window(s, ns).await;

    // A counter expires like any value.
    let e = format!("{ns}expiring-counter");
    assert_eq!(s.incr(&e, SHORT_TTL).await.unwrap(), 1);
    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert_eq!(s.get(&e).await.unwrap(), None);
    assert_eq!(s.incr(&e, SHORT_TTL).await.unwrap(), 1);
}

/// The counter window is fixed at the first increment: a second increment half-way through does
/// not extend it. Every timing assumption is measured rather than assumed: an attempt whose
/// schedule a loaded machine did not keep proves nothing, and is repeated with a window twice as
/// long, so the check can neither flake nor pass vacuously.
async fn fixed_window(s: &dyn EphemeralStore, ns: &str) {
    let mut window = Duration::from_millis(400);
    for attempt in 0..5 {
        let w = format!("{ns}window-{attempt}");
        let first_sent = Instant::now();
        assert_eq!(s.incr(&w, window).await.unwrap(), 1);
        let first_done = Instant::now();
        tokio::time::sleep_until((first_done + window / 2).into()).await;
        let second_sent = Instant::now();
        let second = s.incr(&w, window).await.unwrap();
        let second_done = Instant::now();
        // Past the first window (which started by `first_done`)…
        tokio::time::sleep_until((first_done + window + window / 8).into()).await;
        let third = s.incr(&w, window).await.unwrap();
        let third_done = Instant::now();
        // …the second increment came within it (the window starts no earlier than `first_sent`),
        // and the third before an extended window (from `second_sent`) would have ended.
        let kept_schedule = second_done < first_sent + window && third_done < second_sent + window;
        if kept_schedule {
            assert_eq!(second, 2, "the second increment counts within the window");
            assert_eq!(
                third, 1,
                "the window is fixed at the first increment and then resets"
            );
            return;
        }
        window *= 2;
    }
    panic!("the machine never kept a counter-window schedule, even with a window of {window:?}");
}

/// A time with millisecond precision (every backend keeps at least that).
fn base_time() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_millisecond(0).unwrap() - time::Duration::hours(1)
}

fn secs(n: i64) -> time::Duration {
    time::Duration::seconds(n)
}

/// Everything [`AuditLog`] promises: batch append, per-person reads newest first with a limit,
/// per-kind reads since a time, full round trip of every field, isolation between persons, and
/// idempotent re-append of an event id.
pub async fn audit_log_behaviour(log: &dyn AuditLog) {
    let alice = Uuid::new_v4();
    let bob = Uuid::new_v4();
    let nobody = Uuid::new_v4();
    let kind_login = format!("suite.{}.login", Uuid::new_v4().simple());
    let kind_token = format!("suite.{}.token", Uuid::new_v4().simple());
    let t0 = base_time();

    let alice_events: Vec<AuditEvent> = (0..5)
        .map(|i| {
            let kind = if i % 2 == 0 { &kind_login } else { &kind_token };
            AuditEvent::new(t0 + secs(i), "broker", kind, AuditOutcome::Success).person(alice)
        })
        .collect();
    let rich = AuditEvent::new(t0 + secs(10), "idp", &kind_login, AuditOutcome::Failure)
        .person(bob)
        .client("https://rp.example/ünï")
        .ip("2001:db8::1")
        .detail("reason", "bad password")
        .detail("attempt", 3)
        .detail(
            "nested",
            json!({"list": [1, 2.5, null, true, "ø"], "empty": {}}),
        );
    let bob_plain = AuditEvent::new(t0 + secs(11), "broker", &kind_token, AuditOutcome::Success)
        .person(bob)
        .client("rp-2");
    let anonymous =
        AuditEvent::new(t0 + secs(3), "broker", &kind_login, AuditOutcome::Failure).ip("192.0.2.7");

    // One batch, deliberately not in time order.
    let batch = vec![
        alice_events[2].clone(),
        rich.clone(),
        alice_events[0].clone(),
        anonymous.clone(),
        alice_events[4].clone(),
        bob_plain.clone(),
        alice_events[1].clone(),
        alice_events[3].clone(),
    ];
    log.append(&batch).await.expect("append batch");
    log.append(&[]).await.expect("append nothing");

    // for_person: newest first, every field intact, limit honoured, persons isolated.
    let mut alice_newest_first = alice_events.clone();
    alice_newest_first.reverse();
    assert_eq!(log.for_person(alice, 10).await.unwrap(), alice_newest_first);
    assert_eq!(
        log.for_person(alice, 3).await.unwrap(),
        alice_newest_first[..3].to_vec()
    );
    assert_eq!(
        log.for_person(bob, 10).await.unwrap(),
        vec![bob_plain.clone(), rich.clone()]
    );
    assert!(log.for_person(nobody, 10).await.unwrap().is_empty());
    assert!(log.for_person(alice, 0).await.unwrap().is_empty());

    // by_kind_since: at or after `since`, newest first, limit honoured, other kinds excluded.
    let logins = log
        .by_kind_since(&kind_login, t0 + secs(2), 10)
        .await
        .unwrap();
    assert_eq!(
        logins,
        vec![
            rich.clone(),
            alice_events[4].clone(),
            anonymous.clone(),
            alice_events[2].clone()
        ]
    );
    assert_eq!(
        log.by_kind_since(&kind_login, t0 + secs(2), 2)
            .await
            .unwrap(),
        vec![rich.clone(), alice_events[4].clone()]
    );
    assert_eq!(
        log.by_kind_since(&kind_token, t0, 10).await.unwrap(),
        vec![
            bob_plain.clone(),
            alice_events[3].clone(),
            alice_events[1].clone()
        ]
    );
    assert!(
        log.by_kind_since(&kind_token, t0 + secs(12), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Re-appending a stored event (a retried batch) stores nothing twice.
    log.append(&[alice_events[0].clone(), rich.clone()])
        .await
        .expect("re-append");
    assert_eq!(log.for_person(alice, 10).await.unwrap().len(), 5);
    assert_eq!(log.for_person(bob, 10).await.unwrap().len(), 2);

    // Events of one instant: the later appended comes first.
    let carol = Uuid::new_v4();
    let same = t0 + secs(20);
    let first = AuditEvent::new(same, "broker", &kind_token, AuditOutcome::Success).person(carol);
    let second = AuditEvent::new(same, "broker", &kind_token, AuditOutcome::Success).person(carol);
    log.append(std::slice::from_ref(&first)).await.unwrap();
    log.append(std::slice::from_ref(&second)).await.unwrap();
    assert_eq!(
        log.for_person(carol, 10).await.unwrap(),
        vec![second, first]
    );

    // A large batch (several statements' worth) is stored whole and ordered.
    let dave = Uuid::new_v4();
    let many: Vec<AuditEvent> = (0..150)
        .map(|i| {
            AuditEvent::new(
                t0 + time::Duration::milliseconds(i),
                "broker",
                &kind_token,
                AuditOutcome::Success,
            )
            .person(dave)
            .detail("i", i)
        })
        .collect();
    log.append(&many).await.unwrap();
    let read = log.for_person(dave, 1000).await.unwrap();
    assert_eq!(read.len(), many.len());
    assert!(read.iter().rev().eq(many.iter()), "newest first");

    // Batches around the sizes an append may split at, each at one instant: every event is
    // stored once, in batch order (the later in the batch comes first), and a retried batch
    // stores nothing twice.
    for size in [1, 7, 8, 9, 63, 64, 65, 129, 200] {
        let erin = Uuid::new_v4();
        let at = t0 + secs(30);
        let batch: Vec<AuditEvent> = (0..size)
            .map(|i| {
                AuditEvent::new(at, "broker", &kind_login, AuditOutcome::Success)
                    .person(erin)
                    .detail("i", i)
            })
            .collect();
        log.append(&batch).await.unwrap();
        log.append(&batch).await.unwrap();
        let read = log.for_person(erin, 1000).await.unwrap();
        assert_eq!(read.len(), size, "a batch of {size}");
        assert!(
            read.iter().rev().eq(batch.iter()),
            "a batch of {size} in order"
        );
    }
}

/// A reachable durable backend answers `ping`.
pub async fn durable_health_behaviour(health: &dyn DurableHealth) {
    health.ping().await.expect("ping");
    health.ping().await.expect("second ping");
}
