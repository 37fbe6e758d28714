//! App approval with a clock the test moves: an expired request cannot be approved.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use harness::{Client, Harness};

#[tokio::test]
async fn an_expired_request_cannot_be_approved() {
    let h = Harness::new().await;
    let mut device = h.pair_app("anna", "anna-pass-1").await;
    let mut browser = Client::new();
    let methods = h.start_account_login(&mut browser, "anna").await;
    let form = [("tx", methods.input("tx")), ("csrf", methods.input("csrf"))];
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let wait = h.post(&mut browser, "/login/app/start", &pairs).await;
    let number = {
        let marker = "id=\"number\">";
        let start = wait.body.find(marker).unwrap() + marker.len();
        wait.body[start..start + 2].to_owned()
    };
    let app = h.get(&mut device, "/app").await;
    let request = app.input("request");
    // The request lives `app_request_ttl`; the person answers one second too late.
    let ttl = h.idp.config.app_request_ttl;
    h.clock
        .advance(time::Duration::try_from(ttl).unwrap() + time::Duration::seconds(1));
    let answer = h
        .post(
            &mut device,
            "/app/respond",
            &[
                ("csrf", &app.input("csrf")),
                ("request", &request),
                ("number", &number),
                ("answer", "approve"),
            ],
        )
        .await;
    assert!(
        [
            eid_idp::texts::DA.app_expired_done,
            eid_idp::texts::EN.app_expired_done
        ]
        .iter()
        .any(|t| answer.body.contains(t)),
        "{}",
        answer.body
    );
    let finished = h.post(&mut browser, "/login/app/finish", &pairs).await;
    assert_ne!(
        finished.location.as_deref(),
        Some("/account"),
        "{}",
        finished.body
    );
    assert!(!browser.cookies.contains_key("idp_session"));
    assert!(
        h.audited("login.success")
            .await
            .iter()
            .all(|e| { e.details.get("method").and_then(|m| m.as_str()) != Some("app") })
    );
}
