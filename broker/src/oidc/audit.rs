//! Auditing refusals of requests that name a client: a registered client is named and the write
//! awaited; anything else is unauthenticated noise, audited within a budget and without waiting.

use eid_core::{AuditEvent, StoreError};
use std::time::Duration;

use crate::state::Broker;

/// The most refusals per minute audited without a registered client (unauthenticated noise),
/// across every endpoint.
pub const UNREGISTERED_AUDITS_PER_MINUTE: u64 = 60;
/// How much of an unregistered `client_id` an audit event keeps.
pub const UNREGISTERED_CLIENT_KEPT: usize = 64;

/// The first `max` bytes of `s`, cut at a character boundary.
pub(crate) fn truncated(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Audits the refusal `event` of a request naming `client`. Only a registered client is named as
/// the event's client, and only then does the call wait for the durable write. For a request naming
/// none, its `client_id` is kept truncated to [`UNREGISTERED_CLIENT_KEPT`] bytes as a detail, the
/// event does not wait for the disk, and at most [`UNREGISTERED_AUDITS_PER_MINUTE`] are written
/// (the rest are counted in `broker_unaudited_rejections_total`).
pub(crate) async fn audit_refusal(
    broker: &Broker,
    client: Option<&str>,
    event: AuditEvent,
) -> Result<(), StoreError> {
    if let Some(registered) = client.filter(|id| broker.registry.get(id).is_some()) {
        return broker.audit(event.client(registered.to_owned())).await;
    }
    let minute = broker.now().div_euclid(60);
    let count = broker
        .ephemeral
        .incr(
            &format!("broker:audit-unregistered:{minute}"),
            Duration::from_secs(120),
        )
        .await?;
    let event = match client {
        Some(id) => event.detail(
            "unregistered_client",
            truncated(id, UNREGISTERED_CLIENT_KEPT).to_owned(),
        ),
        None => event,
    };
    // Beyond the budget, or when the audit log is not keeping up (its queue is full), the refusal
    // goes unwritten and is counted instead.
    let recorded =
        count <= UNREGISTERED_AUDITS_PER_MINUTE && broker.audit.record_detached(event).is_ok();
    if !recorded {
        broker.metrics.inc(
            "broker_unaudited_rejections_total",
            "Requests of no registered client refused beyond the audit budget.",
            &[],
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_cuts_at_a_character_boundary() {
        assert_eq!(truncated("abc", 64), "abc");
        assert_eq!(truncated("æøå", 3), "æ");
        assert_eq!(truncated("æøå", 4), "æø");
    }
}
