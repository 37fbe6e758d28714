//! App approval with number matching: a second client plays the paired device.

use crate::idp_account::{ANNA_TOTP, account_with_code_display};
use crate::support::*;
use eid_testkit::client::Page;
use eid_testkit::oidc::{Pkce, verify_id_token};
use eid_testkit::stack::TEST_REDIRECT_URI;
use eid_testkit::{Browser, Component, TestStack};

/// Logs Anna in to her account with the code display (pairing needs Substantial) and pairs a new
/// device; returns the device.
async fn pair_device(stack: &TestStack) -> Browser {
    let idp = stack.url(Component::Idp);
    let owner = Browser::new();
    let account =
        account_with_code_display(stack, &owner, "anna", "anna-demo-pass", ANNA_TOTP, 0).await;
    let with_code = owner
        .post(
            &format!("{idp}/account/app/pairing-code"),
            &[("csrf", &account.must_input("csrf"))],
            "http://never",
        )
        .await;
    let pairing_code = with_code.by_id("pairing-code").expect("pairing code shown");
    let device = Browser::new();
    let app = device.get(&format!("{idp}/app"), "http://never").await;
    let paired = device
        .post(
            &format!("{idp}/app/pair"),
            &[
                ("csrf", &app.must_input("csrf")),
                ("user_id", "anna"),
                ("pairing_code", &pairing_code),
                ("label", "Test phone"),
            ],
            "http://never",
        )
        .await;
    assert_eq!(paired.status, 200, "{}", paired.body);
    device
}

/// Starts an app login in a fresh browser; returns the browser and the waiting page.
async fn start_app_login(stack: &TestStack, pkce: &Pkce) -> (Browser, Page) {
    let browser = Browser::new();
    let page = start_login(stack, &browser, pkce, &[]).await;
    let methods = enter_user_id(stack, &browser, &page, "anna").await;
    let idp = stack.url(Component::Idp);
    let wait = browser
        .post(
            &format!("{idp}/login/app/start"),
            &[
                ("tx", &methods.must_input("tx")),
                ("csrf", &methods.must_input("csrf")),
            ],
            TEST_REDIRECT_URI,
        )
        .await;
    assert_eq!(wait.status, 200, "{}", wait.body);
    (browser, wait)
}

async fn respond(stack: &TestStack, device: &Browser, number: &str, answer: &str) -> Page {
    let idp = stack.url(Component::Idp);
    let app = device.get(&format!("{idp}/app"), "http://never").await;
    let request = app.must_input("request");
    device
        .post(
            &format!("{idp}/app/respond"),
            &[
                ("csrf", &app.must_input("csrf")),
                ("request", &request),
                ("number", number),
                ("answer", answer),
            ],
            "http://never",
        )
        .await
}

async fn status(stack: &TestStack, browser: &Browser, wait: &Page) -> String {
    let idp = stack.url(Component::Idp);
    let tx = wait.must_input("tx");
    let s: serde_json::Value = browser
        .get_raw(&format!("{idp}/login/app/status?tx={tx}"))
        .await
        .json()
        .await
        .unwrap();
    s["status"].as_str().unwrap().to_owned()
}

async fn finish(stack: &TestStack, browser: &Browser, wait: &Page) -> Page {
    let idp = stack.url(Component::Idp);
    browser
        .post(
            &format!("{idp}/login/app/finish"),
            &[
                ("tx", &wait.must_input("tx")),
                ("csrf", &wait.must_input("csrf")),
            ],
            TEST_REDIRECT_URI,
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn approval_with_the_matching_number_logs_in_at_substantial() {
    let stack = TestStack::builder().start().await.unwrap();
    let device = pair_device(&stack).await;
    let pkce = Pkce::new();
    let (browser, wait) = start_app_login(&stack, &pkce).await;
    let number = wait.by_id("number").unwrap();
    assert_eq!(status(&stack, &browser, &wait).await, "pending");
    // The app shows the service's name.
    let app = device
        .get(
            &format!("{}/app", stack.url(Component::Idp)),
            "http://never",
        )
        .await;
    assert!(app.body.contains("Test service"), "{}", app.body);
    respond(&stack, &device, &number, "approve").await;
    // The waiting page sees the approval at once (no waiting: the answer is stored before the
    // device's page returns).
    assert_eq!(status(&stack, &browser, &wait).await, "approved");
    let redirect = finish(&stack, &browser, &wait).await;
    let code = code_of(&stack, &redirect);
    let (_, tokens) = exchange(&stack, &code, &pkce.verifier).await;
    let claims = verify_id_token(
        stack.url(Component::Idp),
        tokens["id_token"].as_str().unwrap(),
        "test-rp",
        "test-nonce",
    )
    .await;
    assert_eq!(
        claims["acr"],
        "https://data.gov.dk/concept/core/nsis/loa/Substantial"
    );
    assert_eq!(claims["amr"], serde_json::json!(["swk", "mca", "mfa"]));
    // The approval completes one login only.
    let again = finish(&stack, &browser, &wait).await;
    assert!(!again.url.starts_with(TEST_REDIRECT_URI));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_number_or_a_refusal_refuses_the_login() {
    let stack = TestStack::builder().start().await.unwrap();
    let device = pair_device(&stack).await;
    let (browser, wait) = start_app_login(&stack, &Pkce::new()).await;
    let number: u8 = wait.by_id("number").unwrap().parse().unwrap();
    let wrong = if number == 99 { 10 } else { number + 1 };
    respond(&stack, &device, &wrong.to_string(), "approve").await;
    assert_eq!(status(&stack, &browser, &wait).await, "refused");
    let page = finish(&stack, &browser, &wait).await;
    assert!(!page.url.starts_with(TEST_REDIRECT_URI));

    let (browser, wait) = start_app_login(&stack, &Pkce::new()).await;
    respond(&stack, &device, "", "refuse").await;
    assert_eq!(status(&stack, &browser, &wait).await, "refused");
}

// An expired request: idp/tests/app_approval.rs, with a clock the test moves (no sleeping).
