//! The group-commit audit writer (DESIGN.md §6).
//!
//! Handlers enqueue events on a bounded channel; one task takes everything waiting (up to
//! `max_batch`), appends it to the [`AuditLog`] in one call (one transaction), then acknowledges
//! every event of the batch. A handler that releases a person's data awaits that acknowledgement
//! ([`AuditWriter::record`]), so nothing released goes unlogged, while a burst of flows costs a few
//! commits instead of one each. While one batch commits, the next one gathers. A batch the log
//! refuses for one of its events is split until that event alone fails ([`commit`]), so one bad
//! request cannot fail everyone's audit.
//!
//! There is one queue, and it is bounded: an acknowledged record waits for room (back-pressure on
//! the handler, which is waiting for its commit anyway); a detached record that finds the queue
//! full is refused with [`Backlog`], and its caller pushes back (a 503 with `Retry-After`) or, for
//! events it may drop, counts it. No path grows memory without bound under overload.
//! [`AuditWriter::flush`] sends its marker through the same queue, so it reaches the writer after
//! every event enqueued before it.
//!
//! An event may carry the signed protocol messages of the same act
//! ([`AuditWriter::record_with`]): they are committed with it, in the same transaction
//! ([`AuditLog::append_with_messages`]), so a kept message costs no commit of its own. The queue is
//! first in, first out: once a recorded event is acknowledged, every event enqueued before it
//! (detached ones included) has been committed or has failed.

use eid_core::{AuditEvent, AuditLog, ProtocolMessage, StoreError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

type Ack = oneshot::Sender<Result<(), StoreError>>;

// Flush markers are rare: almost every queued job is an event, so boxing events would only add an
// allocation each.
#[allow(clippy::large_enum_variant)]
enum Job {
    Event {
        event: AuditEvent,
        /// The protocol messages committed with it.
        messages: Vec<ProtocolMessage>,
        /// `None` for [`AuditWriter::record_detached`].
        ack: Option<Ack>,
    },
    /// [`AuditWriter::flush`]: answered once everything queued before it is committed (or failed).
    Flush(oneshot::Sender<()>),
}

impl Job {
    fn detached(event: AuditEvent, messages: Vec<ProtocolMessage>) -> Job {
        Job::Event {
            event,
            messages,
            ack: None,
        }
    }

    /// Warns that this job's event (if it is one) will never be written.
    fn lost(self, why: &str) {
        if let Job::Event { event, .. } = self {
            warn_lost(&event, why);
        }
        // A dropped flush marker wakes its waiter, which then returns.
    }
}

/// A detached record was refused: the writer's queue is full (the durable store is not keeping up),
/// or the writer has stopped. The event was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the audit log is not keeping up; try again shortly")]
pub struct Backlog;

/// How many batches the queue holds: room for bursts of detached records while a batch commits.
const QUEUED_BATCHES: usize = 8;

/// Handle to the writer task. Cloning is cheap; the task ends once every handle is dropped and the
/// events already queued are written.
#[derive(Clone)]
pub struct AuditWriter {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditWriter")
            .field("queued", &(self.tx.max_capacity() - self.tx.capacity()))
            .finish()
    }
}

impl AuditWriter {
    /// Starts the writer task on the current Tokio runtime. `max_batch` (at least 1) bounds the
    /// events per `append`; the queue holds [`QUEUED_BATCHES`] batches, after which `record` waits
    /// (back-pressure) and `record_detached` is refused.
    pub fn spawn(log: Arc<dyn AuditLog>, max_batch: usize) -> AuditWriter {
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch.saturating_mul(QUEUED_BATCHES));
        tokio::spawn(run(log, rx, max_batch));
        AuditWriter { tx }
    }

    /// Records `event` and returns once the batch holding it is committed, with that batch's error
    /// if the commit failed.
    pub async fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
        self.record_with(event, Vec::new()).await
    }

    /// Records `event` with the protocol `messages` of the same act (each is marked as recorded
    /// with it) and returns once the batch holding them is committed, as [`record`](Self::record).
    pub async fn record_with(
        &self,
        event: AuditEvent,
        messages: Vec<ProtocolMessage>,
    ) -> Result<(), StoreError> {
        let messages = linked(&event, messages);
        let (ack, acked) = oneshot::channel();
        self.tx
            .send(Job::Event {
                event,
                messages,
                ack: Some(ack),
            })
            .await
            .map_err(|_| stopped())?;
        acked.await.map_err(|_| stopped())?
    }

    /// Records `event` without waiting for the commit; a failed commit is logged as a warning.
    /// For events that do not guard a release of data. Never blocks: when the queue is full the
    /// event is refused with [`Backlog`], and the caller must not answer as if it were recorded (it
    /// answers 503 or counts the refusal: no log line per refused event, which under overload would
    /// only move the flood into the log).
    pub fn record_detached(&self, event: AuditEvent) -> Result<(), Backlog> {
        self.record_detached_with(event, Vec::new())
    }

    /// [`record_detached`](Self::record_detached) with the protocol `messages` of the same act,
    /// committed with the event. A later [`record`](Self::record) or
    /// [`record_with`](Self::record_with) that is acknowledged was committed after them.
    pub fn record_detached_with(
        &self,
        event: AuditEvent,
        messages: Vec<ProtocolMessage>,
    ) -> Result<(), Backlog> {
        let messages = linked(&event, messages);
        match self.tx.try_send(Job::detached(event, messages)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(Backlog),
            Err(mpsc::error::TrySendError::Closed(job)) => {
                job.lost("audit writer stopped");
                Err(Backlog)
            }
        }
    }

    /// Returns once every event recorded through any handle of this writer before the call,
    /// detached ones included, has been committed or its batch has failed (detached failures are
    /// only logged, so flushing does not say which). Returns at once if the writer has stopped.
    /// For orderly shutdown, and for tests that read back what they recorded.
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.tx.send(Job::Flush(done)).await.is_ok() {
            // An error means the marker was dropped: the writer stopped, nothing more will commit.
            let _ = flushed.await;
        }
    }
}

/// `messages`, each naming `event` as the audit event it was recorded with.
fn linked(event: &AuditEvent, mut messages: Vec<ProtocolMessage>) -> Vec<ProtocolMessage> {
    for m in &mut messages {
        m.audit_event = Some(event.id);
    }
    messages
}

fn stopped() -> StoreError {
    StoreError::Unavailable("audit writer stopped".to_owned())
}

fn warn_lost(event: &AuditEvent, why: &str) {
    // Only identifiers: details may concern a person.
    tracing::warn!(event_id = %event.id, kind = %event.kind, reason = why, "audit event not recorded");
}

/// `StoreError` is not `Clone`; each waiter of a failed batch gets its own copy.
fn copy_err(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Backend(m) => StoreError::Backend(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
    }
}

/// The events of a batch and the messages they carry: `messages[ends[i - 1]..ends[i]]` (from 0
/// for the first) are those of `events[i]`, so the messages of a run of events are one slice.
#[derive(Default)]
struct Batch {
    events: Vec<AuditEvent>,
    messages: Vec<ProtocolMessage>,
    ends: Vec<usize>,
}

impl Batch {
    fn push(&mut self, event: AuditEvent, messages: Vec<ProtocolMessage>) {
        self.events.push(event);
        self.messages.extend(messages);
        self.ends.push(self.messages.len());
    }

    fn clear(&mut self) {
        self.events.clear();
        self.messages.clear();
        self.ends.clear();
    }

    /// The messages of `events[part]`.
    fn messages_of(&self, part: &std::ops::Range<usize>) -> &[ProtocolMessage] {
        let start = part.start.checked_sub(1).map_or(0, |i| self.ends[i]);
        let end = part.end.checked_sub(1).map_or(0, |i| self.ends[i]);
        &self.messages[start..end.max(start)]
    }
}

/// Appends the batch's events (with their messages) and answers each one's waiter (`acks[i]`
/// belongs to `events[i]`).
///
/// A batch refused for anything but unavailability (a value the database will not take) is split in
/// halves and each half retried, so one bad event fails only itself while the rest commit: about
/// 2·log₂(n) appends for one bad event among n. Retrying is safe because
/// [`AuditLog::append`] ignores an event id already stored. An unavailable store fails the whole
/// (part of the) batch at once: splitting would only multiply the waits.
async fn commit(log: &dyn AuditLog, batch: &Batch, acks: &mut [Option<Ack>]) {
    let events = &batch.events;
    let mut parts = Vec::with_capacity(8);
    parts.push(0..events.len());
    while let Some(part) = parts.pop() {
        let messages = batch.messages_of(&part);
        let result = if messages.is_empty() {
            log.append(&events[part.clone()]).await
        } else {
            log.append_with_messages(&events[part.clone()], messages)
                .await
        };
        let e = match result {
            Ok(()) => {
                for ack in acks[part].iter_mut().filter_map(Option::take) {
                    // The waiter may have given up (its future dropped); nothing to do then.
                    let _ = ack.send(Ok(()));
                }
                continue;
            }
            Err(e) => e,
        };
        if part.len() > 1 && !matches!(e, StoreError::Unavailable(_)) {
            tracing::warn!(error = %e, batch = part.len(), "audit batch refused; retrying in halves");
            let mid = part.start + part.len() / 2;
            // Popped in order: the first half first.
            parts.push(mid..part.end);
            parts.push(part.start..mid);
            continue;
        }
        let detached = acks[part.clone()].iter().filter(|a| a.is_none()).count();
        tracing::warn!(error = %e, batch = part.len(), detached, "audit batch not committed");
        if part.len() == 1 {
            warn_lost(&events[part.start], "refused by the audit log");
        }
        for ack in acks[part].iter_mut().filter_map(Option::take) {
            let _ = ack.send(Err(copy_err(&e)));
        }
    }
}

/// How many scheduler rounds a small batch waits for more events before it is committed. A round
/// (a `yield_now`) lets every request that is ready run, so under load the handlers that are about
/// to release data enqueue their events into this batch; when nothing else is ready a round
/// returns at once, so a quiet node commits without delay. A timed linger (1 ms, Tokio's timer
/// granularity) instead added its length to every release and, with a fixed number of clients
/// each waiting for its commit, cut throughput (DESIGN.md §10 measurement, docs/decisions.md).
const LINGER_ROUNDS: usize = 8;

async fn run(log: Arc<dyn AuditLog>, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    let mut batch = Batch::default();
    let mut acks: Vec<Option<Ack>> = Vec::with_capacity(max_batch);
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    // `recv_many` waits for at least one job, then takes all that are ready (up to the limit);
    // 0 means every sender is gone and the queue is drained.
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
        // A short linger when the batch is small: under load more events arrive meanwhile and
        // share the commit (one fsync and one writer-thread hop per batch, not per few events).
        // An empty queue after a round does not end the linger: the next round may run a handler
        // that enqueues.
        for _ in 0..LINGER_ROUNDS {
            if jobs.len() >= max_batch / 4 {
                break;
            }
            tokio::task::yield_now().await;
            while jobs.len() < max_batch {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        for job in jobs.drain(..) {
            match job {
                Job::Event {
                    event,
                    messages,
                    ack,
                } => {
                    batch.push(event, messages);
                    acks.push(ack);
                }
                Job::Flush(done) => flushes.push(done),
            }
        }
        if batch.events.is_empty() {
            // Only flush markers: everything before them was committed by earlier batches.
            for done in flushes.drain(..) {
                let _ = done.send(());
            }
            continue;
        }
        commit(log.as_ref(), &batch, &mut acks).await;
        acks.clear();
        // The batch held everything queued before these markers.
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
        batch.clear();
    }
}
