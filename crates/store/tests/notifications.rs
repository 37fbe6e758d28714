//! The notification outbox against SQLite and PostgreSQL: durable, pending until marked sent,
//! marked once, hostile text stored as text.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_core::StoreError;
use eid_store::SqlDurable;
use eid_store::notifications::{Notification, NotificationOutbox};
use eid_store::testing::{TempPostgresDb, postgres_url_or_skip};
use time::macros::datetime;
use uuid::Uuid;

async fn outbox_behaviour(db: &dyn NotificationOutbox) {
    let person = Uuid::new_v4();
    let t0 = datetime!(2026-06-01 12:00 UTC);
    let first = Notification::new(
        person,
        "authenticator.added",
        serde_json::json!({ "kind": "passkey" }),
        t0,
    );
    let second = Notification::new(
        person,
        "authenticator.removed",
        // Hostile text is stored as JSON text (PostgreSQL refuses a raw NUL in TEXT).
        serde_json::json!({ "kind": "app", "label": "evil\u{0}\u{7}\u{202e}" }),
        t0 + time::Duration::seconds(1),
    );
    db.enqueue(&first).await.unwrap();
    db.enqueue(&second).await.unwrap();
    assert!(matches!(
        db.enqueue(&first).await,
        Err(StoreError::Conflict(_))
    ));
    let pending: Vec<_> = db
        .pending(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.person == person)
        .collect();
    assert_eq!(pending, vec![first.clone(), second.clone()], "oldest first");
    assert!(db.mark_sent(first.id, t0).await.unwrap());
    assert!(!db.mark_sent(first.id, t0).await.unwrap(), "marked once");
    assert!(!db.mark_sent(Uuid::new_v4(), t0).await.unwrap());
    let still: Vec<_> = db
        .pending(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.person == person)
        .collect();
    assert_eq!(still, vec![second.clone()]);
    let mine = db.for_person(person, 10).await.unwrap();
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0], second, "newest first");
    assert_eq!(mine[1].sent_at, Some(t0));
    assert!(db.for_person(Uuid::new_v4(), 10).await.unwrap().is_empty());
    // A kind that is not printable ASCII is refused before it reaches the database.
    let bad = Notification::new(person, "bad\u{0}kind", serde_json::json!({}), t0);
    assert!(matches!(
        db.enqueue(&bad).await,
        Err(StoreError::Backend(_))
    ));
}

#[tokio::test]
async fn sqlite_notification_outbox_behaviour() {
    let db = SqlDurable::connect_and_migrate("sqlite::memory:")
        .await
        .unwrap();
    outbox_behaviour(&db).await;
}

#[tokio::test]
async fn postgres_notification_outbox_behaviour() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let db = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        outbox_behaviour(&db).await;
        db.close().await;
    }
    temp.drop_db().await.unwrap();
}
