//! Tokens end with the session they were issued in (logout by the relying party in the browser,
//! or another person's login in the same browser).

use crate::broker_support::*;
use eid_testkit::oidc::Pkce;
use eid_testkit::{Browser, Component, TestStack};

#[tokio::test(flavor = "multi_thread")]
async fn after_logout_the_access_token_fails_at_userinfo_and_the_refresh_token_does_not_rotate() {
    let stack = TestStack::builder().start().await.unwrap();
    let broker = stack.url(Component::Broker);
    let browser = Browser::new();
    let tokens = broker_login_tokens(&stack, &browser, "rp-a", "karen").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let userinfo = || async {
        reqwest::Client::new()
            .get(format!("{broker}/userinfo"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(userinfo().await, 200);

    let logout = format!(
        "{broker}/logout?id_token_hint={}&post_logout_redirect_uri={}",
        tokens["id_token"].as_str().unwrap(),
        url::form_urlencoded::byte_serialize(b"http://localhost:1/bye").collect::<String>()
    );
    let end = browser.get(&logout, "http://localhost:1/bye").await;
    assert!(end.url.starts_with("http://localhost:1/bye"), "{end:?}");

    assert_eq!(userinfo().await, 401);
    let (status, rotated) = token_request(
        &stack,
        "rp-a",
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, 400, "{rotated}");
    assert_eq!(rotated["error"], "invalid_grant");
}

#[tokio::test(flavor = "multi_thread")]
async fn another_persons_login_in_the_same_browser_ends_the_first_persons_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let stack = TestStack::builder()
        .data_dir(dir.path().to_owned())
        .start()
        .await
        .unwrap();
    let broker = stack.url(Component::Broker);
    let browser = Browser::new();
    let tokens = broker_login_tokens(&stack, &browser, "rp-a", "karen").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let userinfo = || async {
        reqwest::Client::new()
            .get(format!("{broker}/userinfo"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(userinfo().await, 200);

    // A shared computer: someone else logs in in the same browser.
    let pkce = Pkce::new();
    let redirect = broker_password_login(
        &stack,
        &browser,
        "rp-a",
        &pkce,
        "anna",
        "anna-demo-pass",
        &[("prompt", "login")],
    )
    .await;
    broker_code(&stack, &redirect);

    assert_eq!(
        userinfo().await,
        401,
        "the first person's session has ended"
    );
    let (status, rotated) = token_request(
        &stack,
        "rp-a",
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, 400, "{rotated}");
    assert_eq!(rotated["error"], "invalid_grant");
    // The first person's session ended as by a logout: audited, with its services told.
    stack.stop().await;
    let logouts = audit_events(dir.path(), "logout").await;
    assert!(
        logouts
            .iter()
            .any(|e| e.details["initiated_by"] == "another_login"),
        "{logouts:?}"
    );
}
