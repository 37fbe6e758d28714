//! The broker's upstream callback when a store fails after the upstream has answered: the
//! upstream's code is spent, so the person is sent back to the service with
//! `temporarily_unavailable` (to start again), never shown a "try again" that leads to a dead login.

use eid_testkit::oidc::{Pkce, query};
use eid_testkit::stack::TEST_REDIRECT_URI;
use eid_testkit::{Browser, Component, TestStack};

use crate::broker_support::broker_authorize;
use crate::support::enter_user_id;

/// Runs one statement on the stack's SQLite database with the `sqlite3` tool; `false` if the tool
/// is missing.
fn sqlite(db: &std::path::Path, statement: &str) -> bool {
    match std::process::Command::new("sqlite3")
        .arg(db)
        .arg(statement)
        .status()
    {
        Ok(status) => {
            assert!(status.success(), "sqlite3 {statement}");
            true
        }
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_failure_after_the_upstreams_answer_sends_the_person_back_to_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("eidbroker.db");
    let stack = TestStack::builder()
        .data_dir(dir.path().to_owned())
        .start()
        .await
        .unwrap();
    let broker = stack.url(Component::Broker).to_owned();
    let browser = Browser::new();
    let user_page = broker_authorize(&stack, &browser, "rp-a", &Pkce::new(), &[]).await;
    let methods = enter_user_id(&stack, &browser, &user_page, "karen").await;
    let callback_prefix = format!("{broker}/upstream/mitid/callback");
    let callback = browser
        .post(
            &format!("{}/login/password", stack.url(Component::Idp)),
            &[
                ("tx", &methods.must_input("tx")),
                ("csrf", &methods.must_input("csrf")),
                ("password", "karen-demo-pass"),
            ],
            &callback_prefix,
        )
        .await;
    assert!(callback.url.starts_with(&callback_prefix), "{callback:?}");
    // The audit log becomes unwritable just as the person comes back.
    if !sqlite(&db, "ALTER TABLE audit_events RENAME TO audit_events_away") {
        eid_store::testing::skip("sqlite3 is not installed");
        return;
    }
    let answer = browser.get_raw(&callback.url).await;
    sqlite(&db, "ALTER TABLE audit_events_away RENAME TO audit_events");
    assert!(answer.status().is_redirection(), "{}", answer.status());
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(TEST_REDIRECT_URI), "{location}");
    let back = query(&location);
    assert_eq!(back["error"], "temporarily_unavailable", "{location}");
    assert_eq!(back["state"], "test-state");
    assert!(!back.contains_key("code"), "{location}");
}
