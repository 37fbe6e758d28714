//! Retention: durable records kept for a limited time are deleted by a background task, in bounded
//! batches with a pause between them, so that a large backlog never holds a long lock or starves
//! the request path's writes.
//!
//! Each kind of record is one [`Rule`]: how long it is kept and what deletes it ([`Expiring`]):
//! the signed protocol messages (`broker.protocol_message_retention_days`, 180 days by default)
//! and the audit events of each section of a person's log ([`AuditEvents`],
//! `broker.audit_retention_days`).

use async_trait::async_trait;
use eid_core::my_log::Section;
use eid_core::{AuditLog, Clock, ProtocolMessageLog, StoreError};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Rows one delete statement removes at most.
pub const BATCH: u32 = 1000;
/// The pause between two delete statements of one run.
pub const PAUSE: Duration = Duration::from_millis(100);
/// How often the task runs.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Records that expire.
#[async_trait]
pub trait Expiring: Send + Sync {
    /// Deletes at most `max` records made before `before`, oldest first, in one statement; returns
    /// how many it deleted.
    async fn delete_before(&self, before: OffsetDateTime, max: u32) -> Result<u64, StoreError>;
}

/// The kept protocol messages as [`Expiring`] records.
pub struct ProtocolMessages(pub Arc<dyn ProtocolMessageLog>);

#[async_trait]
impl Expiring for ProtocolMessages {
    async fn delete_before(&self, before: OffsetDateTime, max: u32) -> Result<u64, StoreError> {
        self.0.delete_protocol_messages_before(before, max).await
    }
}

/// The audit events of one section of a person's log ([`Section::selector`]) as [`Expiring`]
/// records: each section is kept as long as its own rule says.
pub struct AuditEvents {
    /// The audit log.
    pub log: Arc<dyn AuditLog>,
    /// Which events.
    pub section: Section,
}

impl AuditEvents {
    /// The rule that keeps `section`'s events of `log` for `keep`, named `audit_events.<section>`.
    pub fn rule(log: Arc<dyn AuditLog>, section: Section, keep: time::Duration) -> Rule {
        Rule {
            name: match section {
                Section::Logins => "audit_events.logins",
                Section::Releases => "audit_events.releases",
                Section::Acting => "audit_events.acting",
                Section::Changes => "audit_events.changes",
                Section::Refused => "audit_events.refused",
                Section::Other => "audit_events.other",
            },
            keep,
            records: Arc::new(AuditEvents { log, section }),
        }
    }
}

#[async_trait]
impl Expiring for AuditEvents {
    async fn delete_before(&self, before: OffsetDateTime, max: u32) -> Result<u64, StoreError> {
        self.log
            .delete_events_before(&self.section.selector(), before, max)
            .await
    }
}

/// One kind of record and how long it is kept.
#[derive(Clone)]
pub struct Rule {
    /// Its name in logs (`protocol_messages`).
    pub name: &'static str,
    /// How long a record is kept.
    pub keep: time::Duration,
    /// What deletes the expired ones.
    pub records: Arc<dyn Expiring>,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("name", &self.name)
            .field("keep", &self.keep)
            .finish_non_exhaustive()
    }
}

/// The retention rules and how they are applied.
#[derive(Debug, Clone)]
pub struct Retention {
    /// The rules, applied in order.
    pub rules: Vec<Rule>,
    /// Rows per delete statement (at least 1).
    pub batch: u32,
    /// The pause between two statements.
    pub pause: Duration,
}

impl Retention {
    /// `rules` with the default [`BATCH`] and [`PAUSE`].
    pub fn new(rules: Vec<Rule>) -> Retention {
        Retention {
            rules,
            batch: BATCH,
            pause: PAUSE,
        }
    }

    /// Deletes, for each rule, every record older than its retention at `now`, one batch per
    /// statement with a pause between, until a statement deletes less than a batch. Returns how
    /// many each rule deleted; a rule that fails is reported and the others still run.
    pub async fn apply(&self, now: OffsetDateTime) -> Vec<(&'static str, Result<u64, StoreError>)> {
        let batch = self.batch.max(1);
        let mut out = Vec::with_capacity(self.rules.len());
        for rule in &self.rules {
            let before = now
                .checked_sub(rule.keep)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            let mut total = 0u64;
            let result = loop {
                match rule.records.delete_before(before, batch).await {
                    Ok(n) => {
                        total += n;
                        if n < u64::from(batch) {
                            break Ok(total);
                        }
                        tokio::time::sleep(self.pause).await;
                    }
                    Err(e) => break Err(e),
                }
            };
            out.push((rule.name, result));
        }
        out
    }

    /// Applies the rules every `every` (the first time at once), at the clock's time, until the
    /// returned task is aborted.
    pub fn spawn(self, clock: Arc<dyn Clock>, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                for (rule, result) in self.apply(clock.now()).await {
                    match result {
                        Ok(0) => {}
                        Ok(deleted) => {
                            tracing::info!(rule, deleted, "retention: expired records deleted")
                        }
                        Err(e) => {
                            tracing::warn!(rule, error = %e, "retention: deleting expired records failed; next run retries")
                        }
                    }
                }
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records at the given instants; counts and bounds every statement.
    #[derive(Default)]
    struct Fake {
        at: Mutex<Vec<OffsetDateTime>>,
        statements: Mutex<Vec<(OffsetDateTime, u32, u64)>>,
    }

    #[async_trait]
    impl Expiring for Fake {
        async fn delete_before(&self, before: OffsetDateTime, max: u32) -> Result<u64, StoreError> {
            let mut at = self.at.lock().unwrap();
            at.sort();
            let expired = at.iter().take_while(|t| **t < before).count();
            let n = expired.min(max as usize);
            at.drain(..n);
            let n = n as u64;
            self.statements.lock().unwrap().push((before, max, n));
            Ok(n)
        }
    }

    fn t(days: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::days(10_000 + days)
    }

    #[tokio::test]
    async fn expired_records_go_in_bounded_batches_and_younger_ones_stay() {
        let fake = Arc::new(Fake::default());
        // Seven older than 180 days at day 200, three younger (day 20 is exactly 180 days old:
        // kept, the cut is strict).
        *fake.at.lock().unwrap() = [1, 2, 3, 4, 5, 6, 19, 20, 21, 199]
            .into_iter()
            .map(t)
            .collect();
        let retention = Retention {
            rules: vec![Rule {
                name: "protocol_messages",
                keep: time::Duration::days(180),
                records: fake.clone(),
            }],
            batch: 3,
            pause: Duration::ZERO,
        };
        let report = retention.apply(t(200)).await;
        assert_eq!(report.len(), 1);
        assert_eq!(report[0].0, "protocol_messages");
        assert_eq!(report[0].1.as_ref().unwrap(), &7);
        assert_eq!(*fake.at.lock().unwrap(), vec![t(20), t(21), t(199)]);
        let statements = fake.statements.lock().unwrap().clone();
        assert_eq!(
            statements,
            vec![(t(20), 3, 3), (t(20), 3, 3), (t(20), 3, 1)],
            "three statements of at most a batch each, ending on a short one"
        );
        // Nothing more to do: one statement that deletes nothing.
        let again = retention.apply(t(200)).await;
        assert_eq!(again[0].1.as_ref().unwrap(), &0);
    }

    struct Failing;

    #[async_trait]
    impl Expiring for Failing {
        async fn delete_before(&self, _: OffsetDateTime, _: u32) -> Result<u64, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
    }

    #[tokio::test]
    async fn a_failing_rule_does_not_stop_the_others() {
        let fake = Arc::new(Fake::default());
        *fake.at.lock().unwrap() = vec![t(0)];
        let retention = Retention::new(vec![
            Rule {
                name: "failing",
                keep: time::Duration::days(1),
                records: Arc::new(Failing),
            },
            Rule {
                name: "fake",
                keep: time::Duration::days(1),
                records: fake.clone(),
            },
        ]);
        let report = retention.apply(t(5)).await;
        assert!(report[0].1.is_err());
        assert_eq!(report[1].1.as_ref().unwrap(), &1);
        assert!(fake.at.lock().unwrap().is_empty());
    }
}
