//! Limits on what anyone can start: app approval requests (push bombing), and lock-out counted per
//! client address, also behind a trusted reverse proxy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use eid_idp::flow::app::MAX_APP_REQUESTS;
use harness::{Client, Harness};

#[tokio::test]
async fn a_flood_of_app_approval_requests_is_cut_off() {
    let h = Harness::new().await;
    let _device = h.pair_app("anna", "anna-pass-1").await;
    let mut attacker = Client::at("198.51.100.66:4000");
    for n in 1..=MAX_APP_REQUESTS + 1 {
        let methods = h.start_account_login(&mut attacker, "anna").await;
        let started = h
            .post(
                &mut attacker,
                "/login/app/start",
                &[
                    ("tx", &methods.input("tx")),
                    ("csrf", &methods.input("csrf")),
                ],
            )
            .await;
        if n <= MAX_APP_REQUESTS {
            assert!(
                started.body.contains("id=\"number\""),
                "request {n}: {}",
                started.body
            );
        } else {
            assert!(
                !started.body.contains("id=\"number\""),
                "request {n} was sent"
            );
            assert!(
                [
                    eid_idp::texts::DA.app_too_many,
                    eid_idp::texts::EN.app_too_many
                ]
                .iter()
                .any(|t| started.body.contains(t)),
                "{}",
                started.body
            );
        }
    }
    assert_eq!(h.audited("app.request_limited").await.len(), 1);
}

/// Fails the password of `user` `times` times from `client`; returns the last answer.
async fn fail_logins(h: &Harness, client: &mut Client, user: &str, times: u32) -> String {
    let mut last = String::new();
    for _ in 0..times {
        let methods = h.start_account_login(client, user).await;
        last = h
            .submit_password(client, &methods, "wrong-password")
            .await
            .body;
    }
    last
}

fn blocked(body: &str) -> bool {
    [eid_idp::texts::DA.ip_blocked, eid_idp::texts::EN.ip_blocked]
        .iter()
        .any(|t| body.contains(t))
}

fn low_ip_limit(config: &mut eid_idp::IdpConfig) {
    config.lockout.max_ip_failures = 3;
    config.lockout.max_user_failures = 100;
}

fn behind_proxy(config: &mut eid_idp::IdpConfig) {
    low_ip_limit(config);
    config.trusted_proxies = vec!["10.0.0.1".parse().unwrap()];
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_is_counted_on_its_own() {
    let h = Harness::with(behind_proxy).await;
    let mut attacker = Client::at("10.0.0.1:5000");
    attacker
        .headers
        .push(("x-forwarded-for", "203.0.113.10".into()));
    assert!(blocked(&fail_logins(&h, &mut attacker, "anna", 3).await));
    // Another client behind the same proxy is not blocked by the attacker's failures.
    let mut neighbour = Client::at("10.0.0.1:5001");
    neighbour
        .headers
        .push(("x-forwarded-for", "203.0.113.20".into()));
    let methods = h.start_account_login(&mut neighbour, "anna").await;
    let ok = h
        .submit_password(&mut neighbour, &methods, "anna-pass-1")
        .await;
    assert_eq!(ok.location.as_deref(), Some("/account"), "{}", ok.body);
    // The attacker cannot escape by writing another address at the left of the header.
    let mut forging = Client::at("10.0.0.1:5002");
    forging
        .headers
        .push(("x-forwarded-for", "192.0.2.99, 203.0.113.10".into()));
    let refused = h.enter_user(&mut forging, "anna").await;
    assert!(blocked(&refused.body), "{}", refused.body);
}

#[tokio::test]
async fn a_forwarded_for_header_from_an_untrusted_peer_is_ignored() {
    let h = Harness::with(low_ip_limit).await;
    let mut attacker = Client::at("198.51.100.7:5000");
    attacker
        .headers
        .push(("x-forwarded-for", "203.0.113.1".into()));
    assert!(blocked(&fail_logins(&h, &mut attacker, "anna", 3).await));
    // A new forged address does not unblock the socket's own address.
    attacker.headers = vec![("x-forwarded-for", "203.0.113.2".into())];
    let refused = h.enter_user(&mut attacker, "anna").await;
    assert!(blocked(&refused.body), "{}", refused.body);
}
