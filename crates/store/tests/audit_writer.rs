//! The group-commit audit writer: batching, acknowledgement, error propagation, shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use eid_core::{AuditEvent, AuditLog, AuditOutcome, StoreError};
use eid_store::{AuditWriter, SqlDurable};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// Counts `append` calls and the events they carry, then delegates.
struct Counting<L> {
    inner: L,
    appends: AtomicUsize,
    events: AtomicUsize,
}

impl<L> Counting<L> {
    fn new(inner: L) -> Self {
        Counting {
            inner,
            appends: AtomicUsize::new(0),
            events: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl<L: AuditLog> AuditLog for Counting<L> {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        self.events.fetch_add(events.len(), Ordering::SeqCst);
        self.inner.append(events).await
    }
    async fn for_person(&self, person: Uuid, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.for_person(person, limit).await
    }
    async fn by_kind_since(
        &self,
        kind: &str,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.by_kind_since(kind, since, limit).await
    }
}

/// Fails every append.
struct Broken;

#[async_trait]
impl AuditLog for Broken {
    async fn append(&self, _: &[AuditEvent]) -> Result<(), StoreError> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Err(StoreError::Unavailable("disk on fire".to_owned()))
    }
    async fn for_person(&self, _: Uuid, _: u32) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(Vec::new())
    }
    async fn by_kind_since(
        &self,
        _: &str,
        _: OffsetDateTime,
        _: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(Vec::new())
    }
}

fn event(person: Uuid, i: usize) -> AuditEvent {
    AuditEvent::new(
        OffsetDateTime::now_utc(),
        "broker",
        "token.issued",
        AuditOutcome::Success,
    )
    .person(person)
    .detail("i", i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writer_group_commits_200_concurrent_records_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let db = SqlDurable::connect_and_migrate(&url).await.unwrap();
    let log = Arc::new(Counting::new(db.clone()));
    let writer = AuditWriter::spawn(log.clone(), 256);
    let person = Uuid::new_v4();

    let mut tasks = Vec::new();
    let mut ids = Vec::new();
    for i in 0..200 {
        let writer = writer.clone();
        let e = event(person, i);
        ids.push(e.id);
        tasks.push(tokio::spawn(async move { writer.record(e).await }));
    }
    for task in tasks {
        task.await.unwrap().expect("acknowledged");
    }

    let appends = log.appends.load(Ordering::SeqCst);
    assert_eq!(log.events.load(Ordering::SeqCst), 200);
    assert!(appends < 50, "200 events took {appends} appends");
    eprintln!("200 concurrent records committed in {appends} appends");

    let stored = db.for_person(person, 1000).await.unwrap();
    assert_eq!(stored.len(), 200);
    let mut stored_ids: Vec<Uuid> = stored.iter().map(|e| e.id).collect();
    stored_ids.sort();
    ids.sort();
    assert_eq!(stored_ids, ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_respects_max_batch() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let db = SqlDurable::connect_and_migrate(&url).await.unwrap();
    let log = Arc::new(Counting::new(db.clone()));
    let writer = AuditWriter::spawn(log.clone(), 8);
    let person = Uuid::new_v4();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.record(event(person, i)).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    // 100 events in batches of at most 8 need at least 13 appends.
    assert!(log.appends.load(Ordering::SeqCst) >= 13);
    assert_eq!(db.for_person(person, 1000).await.unwrap().len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_propagates_a_failed_commit_to_every_waiter() {
    let writer = AuditWriter::spawn(Arc::new(Broken), 64);
    let person = Uuid::new_v4();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.record(event(person, i)).await })
        })
        .collect();
    for task in tasks {
        match task.await.unwrap() {
            Err(StoreError::Unavailable(m)) => assert!(m.contains("disk on fire")),
            other => panic!("expected the commit error, got {other:?}"),
        }
    }
    // Detached records on a broken log only warn.
    writer.record_detached(event(person, 99)).unwrap();
}

#[tokio::test]
async fn writer_detached_records_are_written_and_task_ends_with_last_handle() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let db = SqlDurable::connect_and_migrate(&url).await.unwrap();
    let log: Arc<Counting<SqlDurable>> = Arc::new(Counting::new(db.clone()));
    let writer = AuditWriter::spawn(log.clone(), 4);
    let person = Uuid::new_v4();
    for i in 0..20 {
        writer.record_detached(event(person, i)).unwrap();
    }
    writer.record(event(person, 20)).await.unwrap();
    let clone = writer.clone();
    drop(writer);
    drop(clone);

    // The task drains what is queued, then ends and releases the log.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while Arc::strong_count(&log) > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "writer task did not end"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(db.for_person(person, 100).await.unwrap().len(), 21);
}

/// Holds every append until the test opens the gate: the writer's queue then fills.
struct Gated<L> {
    inner: L,
    gate: tokio::sync::Semaphore,
}

#[async_trait]
impl<L: AuditLog> AuditLog for Gated<L> {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let _permit = self.gate.acquire().await.unwrap();
        self.inner.append(events).await
    }
    async fn for_person(&self, person: Uuid, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.for_person(person, limit).await
    }
    async fn by_kind_since(
        &self,
        kind: &str,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.by_kind_since(kind, since, limit).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_refuses_detached_records_beyond_its_bounded_queue_and_keeps_what_it_took() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let db = SqlDurable::connect_and_migrate(&url).await.unwrap();
    let log = Arc::new(Gated {
        inner: db.clone(),
        gate: tokio::sync::Semaphore::new(0),
    });
    let max_batch = 2;
    let writer = AuditWriter::spawn(log.clone(), max_batch);
    let person = Uuid::new_v4();
    // With every commit held, the queue (8 batches) and the one batch taken for commit fill; then
    // every further detached record is refused, whatever the offered load.
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..1_000 {
        let e = event(person, i);
        let id = e.id;
        match writer.record_detached(e) {
            Ok(()) => accepted.push(id),
            Err(eid_store::Backlog) => refused += 1,
        }
        tokio::task::yield_now().await;
    }
    assert!(
        accepted.len() <= max_batch * 9,
        "the queue held {} events",
        accepted.len()
    );
    assert!(refused >= 1_000 - max_batch * 9);
    // Once the log keeps up again, everything that was accepted is written.
    log.gate.add_permits(1_000);
    writer.flush().await;
    let mut stored: Vec<Uuid> = db
        .for_person(person, 2_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    stored.sort();
    accepted.sort();
    assert_eq!(stored, accepted);
    // And detached records are taken again.
    writer.record_detached(event(person, 1_000)).unwrap();
}

/// Delays every append, so that a reader that does not wait for the writer sees too little.
struct Slow<L>(L);

#[async_trait]
impl<L: AuditLog> AuditLog for Slow<L> {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        tokio::time::sleep(Duration::from_millis(3)).await;
        self.0.append(events).await
    }
    async fn for_person(&self, person: Uuid, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        self.0.for_person(person, limit).await
    }
    async fn by_kind_since(
        &self,
        kind: &str,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.0.by_kind_since(kind, since, limit).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_flush_waits_for_every_detached_record_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let db = SqlDurable::connect_and_migrate(&url).await.unwrap();
    // Each commit slowed. Batches of 2 on a queue of 8: most records overflow, and the marker
    // follows them through the overflow queue. Batches of 64: nothing overflows, and the marker
    // shares its batch with events, so it must wait for that batch's commit.
    for (round, max_batch) in [2, 2, 2, 64, 64, 64].into_iter().enumerate() {
        let writer = AuditWriter::spawn(Arc::new(Slow(db.clone())), max_batch);
        let person = Uuid::new_v4();
        let mut ids: Vec<Uuid> = (0..60)
            .filter_map(|i| {
                let e = event(person, i);
                let id = e.id;
                writer.record_detached(e).ok().map(|()| id)
            })
            .collect();
        assert!(ids.len() >= 16, "round {round}: the queue took too few");
        writer.flush().await;
        let mut stored: Vec<Uuid> = db
            .for_person(person, 1000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        stored.sort();
        ids.sort();
        assert_eq!(
            stored, ids,
            "round {round}: all accepted readable after flush"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_flush_covers_records_from_other_handles_and_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let db = SqlDurable::connect_and_migrate(&url).await.unwrap();
    let writer = AuditWriter::spawn(Arc::new(Slow(db.clone())), 4);
    let person = Uuid::new_v4();
    // Other handles, on other tasks, record detached; once they are done, a flush covers them.
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let handle = writer.clone();
            tokio::spawn(async move {
                let mut accepted = 0;
                for i in 0..25 {
                    if handle.record_detached(event(person, t * 100 + i)).is_ok() {
                        accepted += 1;
                    }
                }
                accepted
            })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        accepted += task.await.unwrap();
    }
    assert!(accepted >= 32, "the queue took too few: {accepted}");
    writer.flush().await;
    assert_eq!(db.for_person(person, 1000).await.unwrap().len(), accepted);
}

#[tokio::test]
async fn writer_flush_returns_when_idle_and_when_commits_fail() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let db = SqlDurable::connect_and_migrate(&url).await.unwrap();
    let idle = AuditWriter::spawn(Arc::new(db), 8);
    tokio::time::timeout(Duration::from_secs(5), idle.flush())
        .await
        .expect("an idle writer flushes at once");

    let broken = AuditWriter::spawn(Arc::new(Broken), 1);
    for i in 0..10 {
        // Refused or failed later: either way, only warned about.
        let _ = broken.record_detached(event(Uuid::new_v4(), i));
    }
    tokio::time::timeout(Duration::from_secs(5), broken.flush())
        .await
        .expect("failed batches still complete a flush");
}

/// Refuses (as a database refuses a value it cannot store) any batch holding an event of kind
/// `poison`; counts appends.
struct Refusing<L> {
    inner: L,
    appends: AtomicUsize,
}

#[async_trait]
impl<L: AuditLog> AuditLog for Refusing<L> {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        if events.iter().any(|e| e.kind == "poison") {
            return Err(StoreError::Backend("invalid byte sequence".to_owned()));
        }
        self.inner.append(events).await
    }
    async fn for_person(&self, person: Uuid, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.for_person(person, limit).await
    }
    async fn by_kind_since(
        &self,
        kind: &str,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.by_kind_since(kind, since, limit).await
    }
}

/// One event the log refuses, in a batch of 64: it alone fails, the other 63 are committed and
/// acknowledged, in a few appends rather than one per event.
#[tokio::test] // one thread: every record below is queued before the writer runs, as one batch
async fn writer_isolates_an_event_the_log_refuses() {
    let db = SqlDurable::connect_and_migrate("sqlite::memory:")
        .await
        .unwrap();
    let log = Arc::new(Refusing {
        inner: db.clone(),
        appends: AtomicUsize::new(0),
    });
    let writer = AuditWriter::spawn(log.clone(), 256);
    let person = Uuid::new_v4();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let mut e = event(person, i);
        if i == 37 {
            e.kind = "poison".to_owned();
        }
        let writer = writer.clone();
        tasks.push(tokio::spawn(async move { writer.record(e).await }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let result = task.await.unwrap();
        if i == 37 {
            assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");
        } else {
            assert!(result.is_ok(), "event {i}: {result:?}");
        }
    }
    assert_eq!(db.for_person(person, 100).await.unwrap().len(), 63);
    let appends = log.appends.load(Ordering::SeqCst);
    assert!(
        appends <= 2 * 6 + 1,
        "{appends} appends for one bad event among 64"
    );
}

/// An unavailable log fails the batch at once: it is not split and retried event by event.
#[tokio::test]
async fn writer_does_not_split_a_batch_when_the_log_is_unavailable() {
    let log = Arc::new(Counting::new(Broken));
    let writer = AuditWriter::spawn(log.clone(), 256);
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.record(event(Uuid::new_v4(), i)).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_err());
    }
    assert_eq!(log.appends.load(Ordering::SeqCst), 1);
}
