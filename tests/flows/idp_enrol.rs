//! Activation of an identity with the activation code, and the last-authenticator rule.

use crate::support::*;
use eid_core::{PersonRepository, SystemClock};
use eid_testkit::oidc::Pkce;
use eid_testkit::{Browser, Component, TestStack};

#[tokio::test(flavor = "multi_thread")]
async fn a_person_activates_with_cpr_and_code_then_logs_in_and_cannot_remove_the_last_authenticator()
 {
    let stack = TestStack::builder().start().await.unwrap();
    let idp = stack.url(Component::Idp);
    // Give Sofie (not activated in the demo data) a known activation code through the store.
    let durable = eid_store::SqlDurable::connect(&stack.settings.durable.url())
        .await
        .unwrap();
    let sofie = uuid::Uuid::parse_str("6b0c6a52-3e0e-4f3a-9a39-0d5c1f1a0005").unwrap();
    let now = eid_core::Clock::now(&SystemClock);
    durable
        .set_activation_code(
            sofie,
            &eid_oidc::random::digest_key("act-123456"),
            now + time::Duration::hours(1),
        )
        .await
        .unwrap();

    let browser = Browser::new();
    let form = browser
        .get(&format!("{idp}/activate"), "http://never")
        .await;
    let csrf = form.must_input("csrf");
    let wrong = browser
        .post(
            &format!("{idp}/activate"),
            &[
                ("csrf", &csrf),
                ("cpr", "311290-9995"),
                ("code", "nope"),
                ("user_id", "sofie"),
                ("password", "sofie-pass-1"),
            ],
            "http://never",
        )
        .await;
    assert_eq!(wrong.status, 400);
    let ok = browser
        .post(
            &format!("{idp}/activate"),
            &[
                ("csrf", &csrf),
                ("cpr", "311290-9995"),
                ("code", "act-123456"),
                ("user_id", "sofie"),
                ("password", "sofie-pass-1"),
            ],
            "http://never",
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    // The code is single-use.
    let again = browser
        .post(
            &format!("{idp}/activate"),
            &[
                ("csrf", &csrf),
                ("cpr", "311290-9995"),
                ("code", "act-123456"),
                ("user_id", "sofie2"),
                ("password", "sofie-pass-1"),
            ],
            "http://never",
        )
        .await;
    assert_eq!(again.status, 400);
    // Refused because the code is used up, not as "already active" before the code was read.
    assert!(
        [
            eid_idp::texts::DA.activation_wrong,
            eid_idp::texts::EN.activation_wrong
        ]
        .iter()
        .any(|t| again.body.contains(t)),
        "{}",
        again.body
    );

    let redirect = password_login(
        &stack,
        &Browser::new(),
        &Pkce::new(),
        "sofie",
        "sofie-pass-1",
        &[],
    )
    .await;
    code_of(&stack, &redirect);

    // Self-service with the password alone changes nothing: removing (even the only
    // authenticator) needs a Substantial login, which Sofie's password cannot give.
    let owner = Browser::new();
    let login = owner.get(&format!("{idp}/account"), "http://never").await;
    let methods = enter_user_id(&stack, &owner, &login, "sofie").await;
    let account = submit_password(&stack, &owner, &methods, "sofie-pass-1").await;
    let id = account.must_input("id");
    let refused = owner
        .post(
            &format!("{idp}/account/remove"),
            &[("csrf", &account.must_input("csrf")), ("id", &id)],
            "http://never",
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("back-to-account"), "{}", refused.body);
    let still = owner.get(&format!("{idp}/account"), "http://never").await;
    assert_eq!(still.must_input("id"), id);
    // The last logins are listed.
    assert!(
        account.body.contains("NemLog-in")
            || account.body.contains("Test service")
            || account.body.contains("test-rp")
    );
}
