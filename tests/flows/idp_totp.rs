//! Code display: password plus a TOTP code computed from the enrolled secret.

use crate::support::*;
use eid_testkit::client::Page;
use eid_testkit::oidc::{Pkce, verify_id_token};
use eid_testkit::stack::TEST_REDIRECT_URI;
use eid_testkit::{Browser, Component, TestStack};

const ANNA_TOTP: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

fn current_code() -> String {
    let secret = data_encoding::BASE32_NOPAD
        .decode(ANNA_TOTP.as_bytes())
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    eid_idp::totp::code_at_step(&secret, eid_idp::totp::step_of(now))
}

async fn code_display_login(stack: &TestStack, browser: &Browser, pkce: &Pkce, code: &str) -> Page {
    let page = start_login(
        stack,
        browser,
        pkce,
        &[(
            "acr_values",
            "https://data.gov.dk/concept/core/nsis/loa/Substantial",
        )],
    )
    .await;
    let methods = enter_user_id(stack, browser, &page, "anna").await;
    let idp = stack.url(Component::Idp);
    browser
        .post(
            &format!("{idp}/login/code-display"),
            &[
                ("tx", &methods.must_input("tx")),
                ("csrf", &methods.must_input("csrf")),
                ("password", "anna-demo-pass"),
                ("code", code),
            ],
            TEST_REDIRECT_URI,
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn code_display_reaches_substantial_and_its_code_is_single_use() {
    let stack = TestStack::builder().start().await.unwrap();
    let pkce = Pkce::new();
    let code = current_code();
    let redirect = code_display_login(&stack, &Browser::new(), &pkce, &code).await;
    let auth_code = code_of(&stack, &redirect);
    let (status, tokens) = exchange(&stack, &auth_code, &pkce.verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let claims = verify_id_token(
        stack.url(Component::Idp),
        tokens["id_token"].as_str().unwrap(),
        "test-rp",
        "test-nonce",
    )
    .await;
    assert_eq!(claims["sub"], ANNA);
    assert_eq!(
        claims["acr"],
        "https://data.gov.dk/concept/core/nsis/loa/Substantial"
    );
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    // The same code again, in another browser, within its time step: refused.
    let replay = code_display_login(&stack, &Browser::new(), &Pkce::new(), &code).await;
    assert_eq!(replay.status, 401, "{}", replay.body);
    assert!(!replay.url.starts_with(TEST_REDIRECT_URI));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_code_is_refused() {
    let stack = TestStack::builder().start().await.unwrap();
    let code = current_code();
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let page = code_display_login(&stack, &Browser::new(), &Pkce::new(), &wrong).await;
    assert_eq!(page.status, 401);
}
