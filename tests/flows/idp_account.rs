//! My MitID through the whole stack: the login a self-service change needs.

use crate::support::*;
use eid_core::{Clock, Loa, PersonRepository, SystemClock};
use eid_testkit::client::Page;
use eid_testkit::{Browser, Component, TestStack};

/// Mikkel, proofed at Substantial, with password and code display.
pub const MIKKEL: &str = "6b0c6a52-3e0e-4f3a-9a39-0d5c1f1a0003";

/// The code-display secrets of the demo persons (config/demo/persons.toml).
pub const ANNA_TOTP: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
/// See [`ANNA_TOTP`].
pub const MIKKEL_TOTP: &str = "KRUGKIDROVUWG2ZAMJZG653OEBTG66BA";

/// The code of a code display `steps` time steps from now (the authenticator accepts one step of
/// drift either side, and each code once: a second login in the same step uses `steps = 1`).
pub fn totp_code(secret_base32: &str, steps: i64) -> String {
    let secret = data_encoding::BASE32_NOPAD
        .decode(secret_base32.as_bytes())
        .unwrap();
    let now = SystemClock.now().unix_timestamp();
    eid_idp::totp::code_at_step(&secret, eid_idp::totp::step_of(now) + steps)
}

/// Logs in to My MitID with password and code display (Substantial): a fresh login that may make
/// account changes. Returns the account page.
pub async fn account_with_code_display(
    stack: &TestStack,
    browser: &Browser,
    user: &str,
    password: &str,
    totp_secret: &str,
    steps: i64,
) -> Page {
    let idp = stack.url(Component::Idp);
    let login = browser.get(&format!("{idp}/account"), "http://never").await;
    let methods = enter_user_id(stack, browser, &login, user).await;
    let account = browser
        .post(
            &format!("{idp}/login/code-display"),
            &[
                ("tx", &methods.must_input("tx")),
                ("csrf", &methods.must_input("csrf")),
                ("password", password),
                ("code", &totp_code(totp_secret, steps)),
            ],
            "http://never",
        )
        .await;
    assert!(account.url.ends_with("/account"), "{account:?}");
    account
}

/// Raises a person's identity-proofing level in the register, as a proofing done elsewhere (a
/// passport check) would.
pub async fn proof_at(stack: &TestStack, person: &str, ial: Loa) {
    let durable = eid_store::SqlDurable::connect(&stack.settings.durable.url())
        .await
        .unwrap();
    let id = uuid::Uuid::parse_str(person).unwrap();
    let mut p = durable.person(id).await.unwrap().unwrap();
    p.ial = ial;
    durable.upsert_person(&p).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_login_is_sent_to_step_up_before_pairing_the_app() {
    let stack = TestStack::builder().start().await.unwrap();
    let idp = stack.url(Component::Idp);
    let owner = Browser::new();
    let login = owner.get(&format!("{idp}/account"), "http://never").await;
    let methods = enter_user_id(&stack, &owner, &login, "anna").await;
    let account = submit_password(&stack, &owner, &methods, "anna-demo-pass").await;
    assert!(account.url.ends_with("/account"), "{account:?}");
    let answer = owner
        .post(
            &format!("{idp}/account/app/pairing-code"),
            &[("csrf", &account.must_input("csrf"))],
            "http://never",
        )
        .await;
    assert!(answer.url.contains("/login?tx="), "{answer:?}");
    assert!(answer.by_id("pairing-code").is_none());
    assert!(answer.body.contains("step-up-reason"), "{}", answer.body);
    // The step-up offers the code display, not the password alone.
    assert!(answer.body.contains("/login/code-display"));
    assert!(!answer.body.contains("action=\"/login/password\""));
}
