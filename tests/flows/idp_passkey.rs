//! Passkeys with a software authenticator: enrolment in self-service, login at High, and replay.

use crate::support::*;
use eid_testkit::oidc::{Pkce, query, verify_id_token};
use eid_testkit::stack::TEST_REDIRECT_URI;
use eid_testkit::{Browser, Component, TestStack};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::{
    CreationChallengeResponse, RequestChallengeResponse, ResidentKeyRequirement,
};

/// Enrols a soft passkey for Anna through her account page.
async fn enrol(stack: &TestStack, authenticator: &mut SoftPasskey) {
    let idp = stack.url(Component::Idp);
    let owner = Browser::new();
    let login = owner.get(&format!("{idp}/account"), "http://never").await;
    let methods = enter_user_id(stack, &owner, &login, "anna").await;
    let account = submit_password(stack, &owner, &methods, "anna-demo-pass").await;
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
    let methods = enter_user_id(&stack, &browser, &page, "anna").await;
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
    assert_eq!(claims["sub"], ANNA);
    assert_eq!(
        claims["acr"],
        "https://data.gov.dk/concept/core/nsis/loa/High"
    );
    assert_eq!(claims["amr"], serde_json::json!(["hwk", "user", "mfa"]));

    // Replaying the same assertion in a new login (new challenge) is refused.
    let browser = Browser::new();
    let page = start_login(&stack, &browser, &Pkce::new(), &[]).await;
    let methods = enter_user_id(&stack, &browser, &page, "anna").await;
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
