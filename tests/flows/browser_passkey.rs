//! In headless Chromium with a virtual authenticator: a person enrols a passkey in self-service and
//! then logs in with it (discoverable, no user ID typed) at level High.

use eid_testkit::chrome::Chrome;
use eid_testkit::oidc::{Pkce, authorize_url, exchange_code, query, verify_id_token};
use eid_testkit::stack::TEST_CLIENT_SECRET;
use eid_testkit::{Component, TestStack};
use std::time::Duration;

/// A tiny server standing in for the service's redirect URI.
async fn capture_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route("/cb", axum::routing::get(|| async { "captured" }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://127.0.0.1:{port}/cb")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_enrols_a_passkey_in_chromium_and_logs_in_with_it_at_high() {
    let Some(chrome) = Chrome::launch().await else {
        return;
    };
    let redirect_uri = capture_server().await;
    let stack = TestStack::builder()
        .toml(&format!(
            "[[idp.clients]]\nclient_id = \"browser-rp\"\nclient_name = \"Browser test service\"\n\
             client_secret = {TEST_CLIENT_SECRET:?}\nredirect_uris = [{redirect_uri:?}]\n\
             token_endpoint_auth_method = \"client_secret_post\"\n"
        ))
        .start()
        .await
        .unwrap();
    let idp = stack.url(Component::Idp);
    let authenticator = chrome.add_virtual_authenticator().await;

    // Log in to My MitID with password and code display (an account change needs a fresh
    // Substantial login; Mikkel is proofed at Substantial), then add a passkey.
    chrome.goto(&format!("{idp}/account")).await;
    assert!(chrome.url().await.contains("/login?tx="));
    // The page speaks the browser's language (Chromium asks for English here).
    assert_eq!(
        chrome.eval("document.documentElement.lang").await,
        chrome.eval("navigator.language.split('-')[0]").await
    );
    chrome.fill_and_submit(&[("user_id", "mikkel")]).await;
    let code = crate::idp_account::totp_code(crate::idp_account::MIKKEL_TOTP, 0);
    chrome
        .fill_and_submit(&[("pw-password", "mikkel-demo-pass"), ("cd-code", &code)])
        .await;
    assert!(
        chrome.url().await.ends_with("/account"),
        "{}",
        chrome.url().await
    );
    chrome
        .wait_until(
            "!document.getElementById('passkey-register').hidden",
            Duration::from_secs(5),
        )
        .await;
    chrome
        .eval("document.getElementById('passkey-register').click(); true")
        .await;
    chrome
        .wait_until(
            "window.location.href.includes('done=added')",
            Duration::from_secs(15),
        )
        .await;
    let credentials = chrome.credentials(&authenticator).await;
    assert_eq!(credentials.len(), 1);
    assert_eq!(
        credentials[0]["isResidentCredential"], true,
        "a discoverable credential"
    );

    // His identity is later proofed at High (elsewhere), so the passkey gives High.
    crate::idp_account::proof_at(&stack, crate::idp_account::MIKKEL, eid_core::Loa::High).await;

    // A service asks for High: log in with the passkey alone, no user ID typed.
    let pkce = Pkce::new();
    let url = authorize_url(
        idp,
        "browser-rp",
        &redirect_uri,
        &pkce,
        &[
            (
                "acr_values",
                "https://data.gov.dk/concept/core/nsis/loa/High",
            ),
            ("prompt", "login"),
        ],
    );
    chrome.goto(&url).await;
    chrome
        .wait_until(
            "!document.getElementById('passkey-login').hidden",
            Duration::from_secs(5),
        )
        .await;
    chrome
        .eval("document.getElementById('passkey-login').click(); true")
        .await;
    let wait_for = format!("window.location.href.startsWith({redirect_uri:?})");
    chrome.wait_until(&wait_for, Duration::from_secs(15)).await;
    let landed = chrome.url().await;
    let code = query(&landed)["code"].clone();
    let (status, tokens) = exchange_code(
        idp,
        "browser-rp",
        TEST_CLIENT_SECRET,
        &code,
        &redirect_uri,
        &pkce.verifier,
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let claims = verify_id_token(
        idp,
        tokens["id_token"].as_str().unwrap(),
        "browser-rp",
        "test-nonce",
    )
    .await;
    assert_eq!(claims["sub"], crate::idp_account::MIKKEL);
    assert_eq!(
        claims["acr"],
        "https://data.gov.dk/concept/core/nsis/loa/High"
    );
}
