//! The kept protocol messages: written with their audit events through the group-commit writer,
//! read back exactly, bounded, and deleted by retention in bounded batches.

use crate::AuditWriter;
use crate::audit_text::AuditText;
use crate::retention::{ProtocolMessages, Retention, Rule};
use eid_core::protocol_message::{
    Binding, Direction, MAX_CONTENT_BYTES, MAX_MESSAGE_ID_BYTES, MAX_PEER_BYTES, MessageKind,
};
use eid_core::{
    AuditEvent, AuditLog, AuditOutcome, MessageQuery, ProtocolMessage, ProtocolMessageLog,
};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

fn message(
    at: OffsetDateTime,
    direction: Direction,
    kind: MessageKind,
    binding: Binding,
    peer: &str,
    content: String,
) -> ProtocolMessage {
    let id = format!("_{}", Uuid::new_v4().simple());
    ProtocolMessage::new(at, direction, kind, binding, peer, &id, content).unwrap()
}

fn query(peer: &str, since: OffsetDateTime, limit: u32) -> MessageQuery {
    MessageQuery {
        peer: Some(peer.to_owned()),
        since,
        limit,
    }
}

/// Everything [`ProtocolMessageLog`] and [`AuditLog::append_with_messages`] promise, on a store
/// that is both. Uses a random peer, so it can run repeatedly against one database.
pub async fn protocol_message_log_behaviour<S>(store: Arc<S>)
where
    S: AuditLog + ProtocolMessageLog + 'static,
{
    let peer = format!("https://sp-{}.example/saml", Uuid::new_v4().simple());
    let other_peer = format!("{peer}/other");
    let kind = format!("suite.{}.saml", Uuid::new_v4().simple());
    let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let writer = AuditWriter::spawn(store.clone(), 64);

    // A request received by Redirect, an assertion sent with its event, a logout by SOAP.
    let request = message(
        t0,
        Direction::Received,
        MessageKind::AuthnRequest,
        Binding::Redirect,
        &peer,
        "SAMLRequest=fZJNb9swDIb%2FiqF7%2B&RelayState=r%C3%B8d&SigAlg=http%3A%2F%2Fwww.w3.org&Signature=ab%2Bc%3D".to_owned(),
    );
    let assertion_xml = format!(
        "<saml:Assertion ID=\"_a\">\n\t<saml:Attribute Name=\"ø\">\"Ånne\" &amp; 'co' ✓</saml:Attribute>{}</saml:Assertion>",
        "<x/>".repeat(40_000)
    );
    assert!(assertion_xml.len() > 150_000 && assertion_xml.len() < MAX_CONTENT_BYTES);
    let assertion = message(
        t0 + time::Duration::seconds(1),
        Direction::Sent,
        MessageKind::Assertion,
        Binding::Post,
        &peer,
        assertion_xml,
    )
    .in_response_to(request.message_id.clone())
    .session("c2Vzc2lvbi1yZWZlcmVuY2U")
    .sent_encrypted();
    let logout = message(
        t0 + time::Duration::seconds(2),
        Direction::Received,
        MessageKind::LogoutRequest,
        Binding::Soap,
        &peer,
        "<samlp:LogoutRequest ID=\"_l\"/>".to_owned(),
    );
    let logout_response = message(
        t0 + time::Duration::seconds(2),
        Direction::Sent,
        MessageKind::LogoutResponse,
        Binding::Soap,
        &peer,
        "<samlp:LogoutResponse ID=\"_r\"/>".to_owned(),
    )
    .in_response_to(logout.message_id.clone());
    let elsewhere = message(
        t0,
        Direction::Received,
        MessageKind::AuthnRequest,
        Binding::Post,
        &other_peer,
        "<samlp:AuthnRequest/>".to_owned(),
    );

    let request_event = AuditEvent::new(t0, "broker", &kind, AuditOutcome::Success).client(&peer);
    let response_event = AuditEvent::new(t0, "broker", &kind, AuditOutcome::Success).client(&peer);
    let logout_event = AuditEvent::new(t0, "broker", &kind, AuditOutcome::Success).client(&peer);
    writer
        .record_detached_with(request_event.clone(), vec![request.clone()])
        .unwrap();
    writer
        .record_detached_with(
            AuditEvent::new(t0, "broker", &kind, AuditOutcome::Success),
            vec![elsewhere.clone()],
        )
        .unwrap();
    // Acknowledged: so is everything enqueued before it.
    writer
        .record_with(response_event.clone(), vec![assertion.clone()])
        .await
        .unwrap();
    let found = store
        .protocol_messages(&query(&peer, t0, 100))
        .await
        .unwrap();
    assert_eq!(found.len(), 2, "the detached request was committed before");
    writer
        .record_with(
            logout_event.clone(),
            vec![logout.clone(), logout_response.clone()],
        )
        .await
        .unwrap();
    writer
        .record(AuditEvent::new(t0, "broker", &kind, AuditOutcome::Success))
        .await
        .unwrap();

    // Read back exactly, oldest first (a batch in its order), each naming its audit event.
    let linked = |m: &ProtocolMessage, e: &AuditEvent| ProtocolMessage {
        audit_event: Some(e.id),
        ..m.clone()
    };
    let expected = vec![
        linked(&request, &request_event),
        linked(&assertion, &response_event),
        linked(&logout, &logout_event),
        linked(&logout_response, &logout_event),
    ];
    let found = store
        .protocol_messages(&query(&peer, t0, 100))
        .await
        .unwrap();
    assert_eq!(found, expected);
    let events = store.by_kind_since(&kind, t0, 100).await.unwrap();
    assert_eq!(events.len(), 5, "every event, with or without messages");

    // Filters: since (inclusive), limit, peer; no peer: every peer's.
    let later = store
        .protocol_messages(&query(&peer, t0 + time::Duration::seconds(1), 100))
        .await
        .unwrap();
    assert_eq!(later, expected[1..].to_vec());
    let first_two = store.protocol_messages(&query(&peer, t0, 2)).await.unwrap();
    assert_eq!(first_two, expected[..2].to_vec());
    assert!(
        store
            .protocol_messages(&query(&peer, t0, 0))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .protocol_messages(&query(&peer, t0 + time::Duration::seconds(3), 100))
            .await
            .unwrap()
            .is_empty()
    );
    let theirs = store
        .protocol_messages(&query(&other_peer, t0, 100))
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].content, elsewhere.content);
    let all = store
        .protocol_messages(&MessageQuery {
            peer: None,
            since: t0,
            limit: 10_000,
        })
        .await
        .unwrap();
    for m in expected.iter().chain(&theirs) {
        assert!(all.iter().any(|a| a.id == m.id), "no peer: every peer's");
    }

    // Re-appending a committed batch (a retry whose outcome was not learnt) adds nothing.
    store
        .append_with_messages(
            std::slice::from_ref(&response_event),
            &[linked(&assertion, &response_event)],
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .protocol_messages(&query(&peer, t0, 100))
            .await
            .unwrap(),
        expected
    );

    hostile_identifiers(store.as_ref(), &writer, &kind, t0).await;
    unstorable_content_fails_only_its_event(store.as_ref(), &writer, &kind, t0).await;
    retention_in_bounded_batches(store).await;
}

/// Identifiers are escaped and bounded as audit text: no peer or ID fails a batch, and a hostile
/// peer still finds its messages.
async fn hostile_identifiers<S: AuditLog + ProtocolMessageLog>(
    store: &S,
    writer: &AuditWriter,
    kind: &str,
    t0: OffsetDateTime,
) {
    let tag = Uuid::new_v4().simple().to_string();
    let peer = format!("\0{tag}\u{1b}[31m{}", "p".repeat(5000));
    let mut m = message(
        t0,
        Direction::Received,
        MessageKind::LogoutRequest,
        Binding::Post,
        &peer,
        "<x/>".to_owned(),
    );
    m.message_id = format!("\0{}", "i".repeat(5000));
    m.in_response_to = Some("\u{7}".repeat(1000));
    m.session = Some("s\0".repeat(1000));
    writer
        .record_with(
            AuditEvent::new(t0, "broker", kind, AuditOutcome::Failure),
            vec![m.clone()],
        )
        .await
        .unwrap();
    let found = store
        .protocol_messages(&query(&peer, t0, 10))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let f = &found[0];
    assert_eq!(f.peer, AuditText::new(&peer, MAX_PEER_BYTES).into_string());
    assert!(f.peer.len() <= MAX_PEER_BYTES);
    assert_eq!(
        f.message_id,
        AuditText::new(&m.message_id, MAX_MESSAGE_ID_BYTES).into_string()
    );
    assert!(f.message_id.len() <= MAX_MESSAGE_ID_BYTES);
    assert!(f.in_response_to.as_ref().unwrap().len() <= MAX_MESSAGE_ID_BYTES);
    assert!(!f.session.as_ref().unwrap().contains('\0'));
    assert_eq!(f.content, "<x/>");
}

/// A content no backend stores (a NUL, or over the bound) fails its own event, committed in the
/// same transaction, and nothing batched with it.
async fn unstorable_content_fails_only_its_event<S: AuditLog + ProtocolMessageLog>(
    store: &S,
    writer: &AuditWriter,
    kind: &str,
    t0: OffsetDateTime,
) {
    let peer = format!("https://sp-{}.example/bad", Uuid::new_v4().simple());
    let mut nul = message(
        t0,
        Direction::Received,
        MessageKind::AuthnRequest,
        Binding::Post,
        &peer,
        String::new(),
    );
    nul.content = "<a>\0</a>".to_owned();
    let mut huge = nul.clone();
    huge.id = Uuid::now_v7();
    huge.content = "x".repeat(MAX_CONTENT_BYTES + 1);
    let good = message(
        t0,
        Direction::Received,
        MessageKind::AuthnRequest,
        Binding::Post,
        &peer,
        "<ok/>".to_owned(),
    );
    let bad_event = AuditEvent::new(t0, "broker", kind, AuditOutcome::Success).detail("bad", true);
    let huge_event =
        AuditEvent::new(t0, "broker", kind, AuditOutcome::Success).detail("huge", true);
    let good_event =
        AuditEvent::new(t0, "broker", kind, AuditOutcome::Success).detail("good", true);
    let good_id = good.id;
    let (bad, huge, good) = tokio::join!(
        writer.record_with(bad_event.clone(), vec![nul]),
        writer.record_with(huge_event.clone(), vec![huge]),
        writer.record_with(good_event.clone(), vec![good]),
    );
    assert!(bad.is_err());
    assert!(huge.is_err());
    good.unwrap();
    let found = store
        .protocol_messages(&query(&peer, t0, 10))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, good_id);
    let events = store.by_kind_since(kind, t0, 1000).await.unwrap();
    assert!(events.iter().any(|e| e.id == good_event.id));
    assert!(
        !events
            .iter()
            .any(|e| e.id == bad_event.id || e.id == huge_event.id),
        "an event whose messages were not stored is not stored either"
    );
}

/// Deletion before an instant is strict, oldest first, and at most `max` rows per statement;
/// [`Retention`] repeats it until everything expired is gone and nothing younger.
async fn retention_in_bounded_batches<S>(store: Arc<S>)
where
    S: AuditLog + ProtocolMessageLog + 'static,
{
    // Long ago (so no other test's rows are older), at a random minute.
    let base = OffsetDateTime::UNIX_EPOCH
        + time::Duration::days(365 * 20)
        + time::Duration::minutes(i64::from(Uuid::new_v4().as_bytes()[0]));
    let minute = |i: i64| base + time::Duration::minutes(i);
    let peer = format!("https://sp-{}.example/old", Uuid::new_v4().simple());
    let old: Vec<ProtocolMessage> = (0..7)
        .map(|i| {
            message(
                minute(i),
                Direction::Sent,
                MessageKind::Assertion,
                Binding::Post,
                &peer,
                format!("<m{i}/>"),
            )
        })
        .collect();
    let event = AuditEvent::new(base, "broker", "suite.retention", AuditOutcome::Success);
    store.append_with_messages(&[event], &old).await.unwrap();
    let read = |since| {
        let store = store.clone();
        let peer = peer.clone();
        async move {
            store
                .protocol_messages(&query(&peer, since, 100))
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.content)
                .collect::<Vec<_>>()
        }
    };

    // Before minute 5: five rows, two per statement, oldest first.
    assert_eq!(
        store
            .delete_protocol_messages_before(minute(5), 2)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        read(base).await,
        ["<m2/>", "<m3/>", "<m4/>", "<m5/>", "<m6/>"]
    );
    assert_eq!(
        store
            .delete_protocol_messages_before(minute(5), 2)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .delete_protocol_messages_before(minute(5), 2)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .delete_protocol_messages_before(minute(5), 2)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .delete_protocol_messages_before(minute(5), 0)
            .await
            .unwrap(),
        0
    );
    assert_eq!(read(base).await, ["<m5/>", "<m6/>"], "the cut is strict");

    // The task's rule: kept 180 days; at minute 6 + 180 days only minute 6 stays.
    let retention = Retention {
        rules: vec![Rule {
            name: "protocol_messages",
            keep: time::Duration::days(180),
            records: Arc::new(ProtocolMessages(store.clone())),
        }],
        batch: 1,
        pause: Duration::ZERO,
    };
    let report = retention.apply(minute(6) + time::Duration::days(180)).await;
    assert_eq!(report[0].1.as_ref().unwrap(), &1);
    assert_eq!(read(base).await, ["<m6/>"]);
    let report = retention.apply(minute(7) + time::Duration::days(180)).await;
    assert_eq!(report[0].1.as_ref().unwrap(), &1);
    assert!(read(base).await.is_empty());
}
