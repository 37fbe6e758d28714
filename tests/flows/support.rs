//! Shared steps of the flow tests.

use eid_testkit::client::Page;
use eid_testkit::oidc::{Pkce, authorize_url, exchange_code, query};
use eid_testkit::stack::{TEST_CLIENT_SECRET, TEST_REDIRECT_URI};
use eid_testkit::{Browser, Component, TestStack};

/// Starts an authorization request of the test client and returns the user-ID page.
pub async fn start_login(
    stack: &TestStack,
    browser: &Browser,
    pkce: &Pkce,
    extra: &[(&str, &str)],
) -> Page {
    let url = authorize_url(
        stack.url(Component::Idp),
        "test-rp",
        TEST_REDIRECT_URI,
        pkce,
        extra,
    );
    browser.get(&url, TEST_REDIRECT_URI).await
}

/// Enters the user ID on the user-ID page; returns the methods page.
pub async fn enter_user_id(
    stack: &TestStack,
    browser: &Browser,
    page: &Page,
    user_id: &str,
) -> Page {
    let idp = stack.url(Component::Idp);
    browser
        .post(
            &format!("{idp}/login/user"),
            &[
                ("tx", &page.must_input("tx")),
                ("csrf", &page.must_input("csrf")),
                ("user_id", user_id),
            ],
            TEST_REDIRECT_URI,
        )
        .await
}

/// Logs in with a password from the methods page; returns where the browser ended.
pub async fn submit_password(
    stack: &TestStack,
    browser: &Browser,
    methods: &Page,
    password: &str,
) -> Page {
    let idp = stack.url(Component::Idp);
    browser
        .post(
            &format!("{idp}/login/password"),
            &[
                ("tx", &methods.must_input("tx")),
                ("csrf", &methods.must_input("csrf")),
                ("password", password),
            ],
            TEST_REDIRECT_URI,
        )
        .await
}

/// The whole password login; returns the redirect back to the client.
pub async fn password_login(
    stack: &TestStack,
    browser: &Browser,
    pkce: &Pkce,
    user: &str,
    password: &str,
    extra: &[(&str, &str)],
) -> Page {
    let page = start_login(stack, browser, pkce, extra).await;
    let methods = enter_user_id(stack, browser, &page, user).await;
    submit_password(stack, browser, &methods, password).await
}

/// The code in a redirect back to the test client from `issuer` (asserting state and RFC 9207 `iss`).
pub fn code_from(stack: &TestStack, issuer: Component, redirect: &Page) -> String {
    assert!(
        redirect.url.starts_with(TEST_REDIRECT_URI),
        "not back at the client: {redirect:?}"
    );
    let q = query(&redirect.url);
    assert_eq!(q.get("state").map(String::as_str), Some("test-state"));
    assert_eq!(
        q.get("iss").map(String::as_str),
        Some(stack.url(issuer)),
        "RFC 9207 iss"
    );
    q.get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code in {}", redirect.url))
}

/// The code in a redirect back to the test client from the authenticator.
pub fn code_of(stack: &TestStack, redirect: &Page) -> String {
    code_from(stack, Component::Idp, redirect)
}

/// Exchanges a code for the test client.
pub async fn exchange(stack: &TestStack, code: &str, verifier: &str) -> (u16, serde_json::Value) {
    exchange_code(
        stack.url(Component::Idp),
        "test-rp",
        TEST_CLIENT_SECRET,
        code,
        TEST_REDIRECT_URI,
        verifier,
    )
    .await
}

/// The demo persons' UUIDs.
pub const ANNA: &str = "6b0c6a52-3e0e-4f3a-9a39-0d5c1f1a0001";
pub const KAREN: &str = "6b0c6a52-3e0e-4f3a-9a39-0d5c1f1a0002";
