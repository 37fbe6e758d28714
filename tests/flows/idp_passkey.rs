//! Passkeys with a software authenticator: enrolment in self-service, login at High, and replay.

use crate::idp_account::{MIKKEL, MIKKEL_TOTP, account_with_code_display, proof_at};
use crate::support::*;
use eid_core::Loa;
use eid_testkit::oidc::{Pkce, query, verify_id_token};
use eid_testkit::stack::TEST_REDIRECT_URI;
use eid_testkit::{Browser, Component, TestStack};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::{
    CreationChallengeResponse, RequestChallengeResponse, ResidentKeyRequirement,
};

/// Enrols a soft passkey for Mikkel through his account page. He is proofed at Substantial, so a
/// fresh code-display login (Substantial) may enrol it: the passkey can give him no more.
async fn enrol(stack: &TestStack, authenticator: &mut SoftPasskey) {
    let idp = stack.url(Component::Idp);
    let owner = Browser::new();
    let account =
        account_with_code_display(stack, &owner, "mikkel", "mikkel-demo-pass", MIKKEL_TOTP, 0)
            .await;
    let csrf = account
        .data("csrf")
        .expect("passkey button carries the CSRF token");
    let mut options: CreationChallengeResponse = owner
        .http
        .post(format!("{idp}/account/passkey/options"))
        .json(&serde_json::json!({ "csrf": csrf }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let selection = options.public_key.authenticator_selection.as_mut().unwrap();
    assert_eq!(
        selection.resident_key,
        Some(ResidentKeyRequirement::Required),
        "discoverable credentials"
    );
    // The software authenticator cannot store resident keys; it still proves possession and UV.
    selection.resident_key = Some(ResidentKeyRequirement::Discouraged);
    selection.require_resident_key = false;
    let credential = authenticator
        .do_registration(Url::parse(idp).unwrap(), options)
        .unwrap();
    let response = owner
        .http
        .post(format!("{idp}/account/passkey"))
        .json(&serde_json::json!({ "csrf": csrf, "label": "Soft key", "credential": credential }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn passkey_login_reaches_high_and_a_replayed_assertion_is_refused() {
    let stack = TestStack::builder().start().await.unwrap();
    let idp = stack.url(Component::Idp);
    let mut authenticator = SoftPasskey::new(true);
    enrol(&stack, &mut authenticator).await;
    // His identity is later proofed at High (elsewhere): the passkey now gives High.
    proof_at(&stack, MIKKEL, Loa::High).await;

    let browser = Browser::new();
    let pkce = Pkce::new();
    let page = start_login(
        &stack,
        &browser,
        &pkce,
        &[(
            "acr_values",
            "https://data.gov.dk/concept/core/nsis/loa/High",
        )],
    )
    .await;
    let methods = enter_user_id(&stack, &browser, &page, "mikkel").await;
    assert_eq!(
        methods.status, 200,
        "a person with a passkey can reach High: {}",
        methods.body
    );
    let (tx, csrf) = (methods.must_input("tx"), methods.must_input("csrf"));
    let options: RequestChallengeResponse = browser
        .get_raw(&format!("{idp}/login/passkey/options?tx={tx}"))
        .await
        .json()
        .await
        .unwrap();
    let assertion = authenticator
        .do_authentication(Url::parse(idp).unwrap(), options)
        .unwrap();
    let body = serde_json::json!({ "tx": tx, "csrf": csrf, "credential": assertion });
    let response = browser
        .http
        .post(format!("{idp}/login/passkey"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let redirect: serde_json::Value = response.json().await.unwrap();
    let redirect = redirect["redirect"].as_str().unwrap().to_owned();
    assert!(redirect.starts_with(TEST_REDIRECT_URI));
    let code = query(&redirect)["code"].clone();
    let (_, tokens) = exchange(&stack, &code, &pkce.verifier).await;
    let claims = verify_id_token(
        idp,
        tokens["id_token"].as_str().unwrap(),
        "test-rp",
        "test-nonce",
    )
    .await;
    assert_eq!(claims["sub"], MIKKEL);
    assert_eq!(
        claims["acr"],
        "https://data.gov.dk/concept/core/nsis/loa/High"
    );
    assert_eq!(claims["amr"], serde_json::json!(["hwk", "user", "mfa"]));

    // Replaying the same assertion in a new login (new challenge) is refused.
    let browser = Browser::new();
    let page = start_login(&stack, &browser, &Pkce::new(), &[]).await;
    let methods = enter_user_id(&stack, &browser, &page, "mikkel").await;
    let (tx, csrf) = (methods.must_input("tx"), methods.must_input("csrf"));
    let _: serde_json::Value = browser
        .get_raw(&format!("{idp}/login/passkey/options?tx={tx}"))
        .await
        .json()
        .await
        .unwrap();
    let body = serde_json::json!({ "tx": tx, "csrf": csrf, "credential": assertion });
    let response = browser
        .http
        .post(format!("{idp}/login/passkey"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // And once more in the same login, whose challenge is now used up.
    let response = browser
        .http
        .post(format!("{idp}/login/passkey"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passkey_assertion_without_user_verification_is_refused_with_its_own_message() {
    let stack = TestStack::builder().start().await.unwrap();
    let idp = stack.url(Component::Idp);
    let mut authenticator = SoftPasskey::new(true);
    enrol(&stack, &mut authenticator).await;

    let browser = Browser::new();
    let page = start_login(&stack, &browser, &Pkce::new(), &[]).await;
    let methods = enter_user_id(&stack, &browser, &page, "mikkel").await;
    let (tx, csrf) = (methods.must_input("tx"), methods.must_input("csrf"));
    let mut options: RequestChallengeResponse = browser
        .get_raw(&format!("{idp}/login/passkey/options?tx={tx}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        options.public_key.user_verification,
        webauthn_rs_proto::UserVerificationPolicy::Required
    );
    // An authenticator that does not verify the user (no PIN, no biometrics) signs without the
    // UV flag; the browser is told UV is not needed, as a tampered page would.
    options.public_key.user_verification =
        webauthn_rs_proto::UserVerificationPolicy::Discouraged_DO_NOT_USE;
    let assertion = authenticator
        .do_authentication(Url::parse(idp).unwrap(), options)
        .unwrap();
    let body = serde_json::json!({ "tx": tx, "csrf": csrf, "credential": assertion });
    let response = browser
        .http
        .post(format!("{idp}/login/passkey"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let message: serde_json::Value = response.json().await.unwrap();
    let message = message["message"].as_str().unwrap().to_owned();
    assert!(
        [
            eid_idp::texts::DA.passkey_refused,
            eid_idp::texts::EN.passkey_refused
        ]
        .contains(&message.as_str()),
        "the passkey's own message, not the password's: {message}"
    );
}
