//! The audit writer with hostile values: no event, whatever its text, fails a batch.

use crate::AuditWriter;
use crate::audit_text::{
    AuditText, MAX_CLIENT_BYTES, MAX_DETAILS_BYTES, MAX_IP_BYTES, MAX_NAME_BYTES,
};
use eid_core::{AuditEvent, AuditLog, AuditOutcome};
use serde_json::json;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// Text an attacker can put into an audit event (a `client_id` from an unauthenticated request):
/// NUL, which PostgreSQL refuses in TEXT, other control characters, escapes, non-characters, and
/// sizes far beyond any sensible field.
fn hostile_texts() -> Vec<String> {
    vec![
        "\0".to_owned(),
        "client\0id".to_owned(),
        "\u{1}\u{7}\u{1b}[31mred\u{1b}[0m".to_owned(),
        "\u{7f}\u{85}\u{9f}".to_owned(),
        "line\nbreak\r\nand\ttab".to_owned(),
        "back\\slash\\u{0}".to_owned(),
        "\u{fffe}\u{ffff}\u{10ffff}\u{feff}".to_owned(),
        "x".repeat(300_000),
        "\0".repeat(100_000),
    ]
}

/// Hostile events, concurrently recorded through an [`AuditWriter`] with ordinary ones: every one
/// is acknowledged, and each is read back with its text escaped and bounded
/// ([`AuditText`]) while the ordinary events read back unchanged.
pub async fn audit_writer_hostile_values_behaviour(log: Arc<dyn AuditLog>) {
    let writer = AuditWriter::spawn(Arc::clone(&log), 256);
    let person = Uuid::new_v4();
    let kind = format!("suite.{}.hostile", Uuid::new_v4().simple());
    let at = OffsetDateTime::now_utc().replace_millisecond(0).unwrap();

    let mut events = Vec::new();
    for (i, text) in hostile_texts().into_iter().enumerate() {
        let hostile = AuditEvent::new(at, &text, &format!("{kind}{text}"), AuditOutcome::Failure)
            .person(person)
            .client(text.clone())
            .ip(text.clone())
            .detail("value", text.clone())
            .detail(&text, i);
        let ordinary = AuditEvent::new(at, "broker", &kind, AuditOutcome::Success)
            .person(person)
            .client("https://rp.example/ünï")
            .ip("192.0.2.1")
            .detail("i", i);
        events.push(hostile);
        events.push(ordinary);
    }
    let tasks: Vec<_> = events
        .iter()
        .cloned()
        .map(|e| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.record(e).await })
        })
        .collect();
    for (task, event) in tasks.into_iter().zip(&events) {
        let result = task.await.unwrap();
        assert!(
            result.is_ok(),
            "event {:.40?} not acknowledged: {result:?}",
            event.client
        );
    }

    let stored = log.for_person(person, 1000).await.unwrap();
    assert_eq!(stored.len(), events.len());
    for event in &events {
        let back = stored
            .iter()
            .find(|s| s.id == event.id)
            .expect("stored under its id");
        let text = |s: &str, max| AuditText::new(s, max).into_string();
        assert_eq!(back.component, text(&event.component, MAX_NAME_BYTES));
        assert_eq!(back.kind, text(&event.kind, MAX_NAME_BYTES));
        assert_eq!(
            back.client.as_deref(),
            event
                .client
                .as_deref()
                .map(|c| text(c, MAX_CLIENT_BYTES))
                .as_deref()
        );
        assert_eq!(
            back.ip.as_deref(),
            event
                .ip
                .as_deref()
                .map(|c| text(c, MAX_IP_BYTES))
                .as_deref()
        );
        assert!(serde_json::to_string(&back.details).unwrap().len() <= MAX_DETAILS_BYTES);
        if event.component == "broker" {
            assert_eq!(back, event, "an ordinary event is stored unchanged");
        } else if event.details.to_string().len() < 1000 {
            assert_eq!(
                back.details, event.details,
                "small details are stored as given"
            );
        }
    }

    // A lookup by a hostile kind finds its event (and does not fail on PostgreSQL).
    let nul_kind = format!("{kind}\0");
    let found = log.by_kind_since(&nul_kind, at, 10).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, text_of(&nul_kind));
    let ordinary = log.by_kind_since(&kind, at, 100).await.unwrap();
    assert_eq!(ordinary.len(), hostile_texts().len());
    assert!(ordinary.iter().all(|e| e.component == "broker"));
    assert_eq!(json!(found[0].details["value"]), json!("\0"));
}

fn text_of(kind: &str) -> String {
    AuditText::new(kind, MAX_NAME_BYTES).into_string()
}
