//! Password login at the authenticator, the OIDC code flow around it, and its negative cases.

use crate::support::*;
use eid_testkit::oidc::{Pkce, query, verify_id_token};
use eid_testkit::stack::TEST_REDIRECT_URI;
use eid_testkit::{Browser, Component, TestStack};

#[tokio::test(flavor = "multi_thread")]
async fn password_login_yields_a_low_id_token_that_verifies_against_the_jwks() {
    let stack = TestStack::builder().start().await.unwrap();
    let browser = Browser::new();
    let pkce = Pkce::new();
    let redirect = password_login(&stack, &browser, &pkce, "karen", "karen-demo-pass", &[]).await;
    let code = code_of(&stack, &redirect);
    let (status, tokens) = exchange(&stack, &code, &pkce.verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let idp = stack.url(Component::Idp);
    let claims = verify_id_token(
        idp,
        tokens["id_token"].as_str().unwrap(),
        "test-rp",
        "test-nonce",
    )
    .await;
    assert_eq!(claims["sub"], KAREN);
    assert_eq!(
        claims["acr"],
        "https://data.gov.dk/concept/core/nsis/loa/Low"
    );
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["cpr"], "1503459992");
    assert_eq!(claims["given_name"], "Karen");
    assert_eq!(claims["birthdate"], "1945-03-15");
    assert!(
        claims.get("ial").is_none() && claims.get("aal").is_none() && claims.get("loa").is_none(),
        "the ID token carries only what the broker reads: {claims}"
    );
    assert!(claims["auth_time"].as_i64().unwrap() > 0);
    let userinfo: serde_json::Value = reqwest::Client::new()
        .get(format!("{idp}/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["sub"], KAREN);
    assert_eq!(userinfo["family_name"], "Jensen");
    assert_eq!(
        userinfo["ial"],
        "https://data.gov.dk/concept/core/nsis/loa/Substantial"
    );
    assert_eq!(
        userinfo["aal"],
        "https://data.gov.dk/concept/core/nsis/loa/Low"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_for_high_by_a_password_only_person_is_access_denied_never_a_low_token() {
    let stack = TestStack::builder().start().await.unwrap();
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
    let methods = enter_user_id(&stack, &browser, &page, "karen").await;
    // The person is told at once, and the button returns access_denied to the client.
    assert_eq!(methods.status, 403, "{}", methods.body);
    assert!(
        methods.body.contains("Høj"),
        "the level in the page's language"
    );
    let back = methods.href("back-to-service").unwrap();
    assert!(back.starts_with(TEST_REDIRECT_URI), "{back}");
    let q = query(&back);
    assert_eq!(q["error"], "access_denied");
    assert!(!q.contains_key("code"));
    assert_eq!(q["iss"], stack.url(Component::Idp));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_below_the_requested_level_is_refused_even_when_the_person_has_a_stronger_method() {
    // Anna has password (Low) and code display (Substantial): asking for Substantial and logging in
    // with the password alone must not produce a code.
    let stack = TestStack::builder().start().await.unwrap();
    let browser = Browser::new();
    let pkce = Pkce::new();
    let page = start_login(
        &stack,
        &browser,
        &pkce,
        &[(
            "acr_values",
            "https://data.gov.dk/concept/core/nsis/Substantial",
        )],
    )
    .await;
    let methods = enter_user_id(&stack, &browser, &page, "anna").await;
    assert_eq!(methods.status, 200);
    let after = submit_password(&stack, &browser, &methods, "anna-demo-pass").await;
    assert_eq!(after.status, 403);
    assert!(!after.url.contains("code="));
    let back = after.href("back-to-service").unwrap();
    assert_eq!(query(&back)["error"], "access_denied");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_is_refused_and_five_lock_the_user() {
    let stack = TestStack::builder().start().await.unwrap();
    let browser = Browser::new();
    let pkce = Pkce::new();
    let page = start_login(&stack, &browser, &pkce, &[]).await;
    let methods = enter_user_id(&stack, &browser, &page, "mikkel").await;
    for attempt in 1..=5 {
        let after = submit_password(&stack, &browser, &methods, "wrong-password").await;
        assert_eq!(after.status, 401, "attempt {attempt}");
        assert!(!after.url.starts_with(TEST_REDIRECT_URI));
    }
    // Now even the right password is refused, with the lock-out message.
    let after = submit_password(&stack, &browser, &methods, "mikkel-demo-pass").await;
    assert_eq!(after.status, 401);
    assert!(
        after.body.contains("spærret") || after.body.contains("locked"),
        "{}",
        after.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_works_once_and_its_reuse_revokes_the_first_tokens() {
    let stack = TestStack::builder().start().await.unwrap();
    let browser = Browser::new();
    let pkce = Pkce::new();
    let redirect = password_login(&stack, &browser, &pkce, "karen", "karen-demo-pass", &[]).await;
    let code = code_of(&stack, &redirect);
    let (status, tokens) = exchange(&stack, &code, &pkce.verifier).await;
    assert_eq!(status, 200);
    let idp = stack.url(Component::Idp);
    let userinfo = |token: String| async move {
        reqwest::Client::new()
            .get(format!("{idp}/userinfo"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    };
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo(access.clone()).await, 200);
    let (status, error) = exchange(&stack, &code, &pkce.verifier).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"], "invalid_grant");
    assert_eq!(
        userinfo(access).await,
        401,
        "tokens of a reused code must be revoked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_or_missing_pkce_verifier_is_refused() {
    let stack = TestStack::builder().start().await.unwrap();
    let browser = Browser::new();
    let pkce = Pkce::new();
    let redirect = password_login(&stack, &browser, &pkce, "karen", "karen-demo-pass", &[]).await;
    let code = code_of(&stack, &redirect);
    let (status, error) = exchange(&stack, &code, &Pkce::new().verifier).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"], "invalid_grant");

    // No verifier at all, for a code whose request had a challenge: refused too.
    let pkce = Pkce::new();
    let redirect = password_login(
        &stack,
        &Browser::new(),
        &pkce,
        "karen",
        "karen-demo-pass",
        &[],
    )
    .await;
    let code = code_of(&stack, &redirect);
    let response = reqwest::Client::new()
        .post(format!("{}/token", stack.url(Component::Idp)))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", TEST_REDIRECT_URI),
            ("client_id", "test-rp"),
            ("client_secret", eid_testkit::stack::TEST_CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: serde_json::Value = response.json().await.unwrap();
    assert!(
        ["invalid_grant", "invalid_request"].contains(&error["error"].as_str().unwrap()),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unregistered_redirect_uri_shows_an_error_page_and_never_redirects() {
    let stack = TestStack::builder().start().await.unwrap();
    let browser = Browser::new();
    let pkce = Pkce::new();
    for bad in [
        "http://localhost:1/cb/x",
        "http://localhost:1/c",
        "https://evil.example/cb",
    ] {
        let url =
            eid_testkit::oidc::authorize_url(stack.url(Component::Idp), "test-rp", bad, &pkce, &[]);
        let response = browser.get_raw(&url).await;
        assert_eq!(response.status(), 400, "{bad}");
        assert!(response.headers().get("location").is_none());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sso_offers_the_session_for_a_second_request_and_prompt_login_forces_a_new_login() {
    let stack = TestStack::builder().start().await.unwrap();
    let browser = Browser::new();
    let first = password_login(
        &stack,
        &browser,
        &Pkce::new(),
        "karen",
        "karen-demo-pass",
        &[],
    )
    .await;
    code_of(&stack, &first);
    // The live session is offered ("continue as Karen"), and continuing needs no new login.
    let offer = start_login(&stack, &browser, &Pkce::new(), &[]).await;
    assert!(
        offer.body.contains("Fortsæt som Karen (adgangskode)"),
        "{offer:?}"
    );
    let idp = stack.url(Component::Idp);
    let again = browser
        .post(
            &format!("{idp}/login/continue"),
            &[
                ("tx", &offer.must_input("tx")),
                ("csrf", &offer.must_input("csrf")),
            ],
            TEST_REDIRECT_URI,
        )
        .await;
    assert!(
        again.url.starts_with(TEST_REDIRECT_URI) && again.url.contains("code="),
        "{again:?}"
    );
    // Without interaction the session answers at once.
    let silent = start_login(&stack, &browser, &Pkce::new(), &[("prompt", "none")]).await;
    assert!(
        silent.url.starts_with(TEST_REDIRECT_URI) && silent.url.contains("code="),
        "{silent:?}"
    );
    let forced = start_login(&stack, &browser, &Pkce::new(), &[("prompt", "login")]).await;
    assert_eq!(forced.status, 200);
    assert!(forced.input("user_id").is_some() || forced.body.contains("user_id"));
    // A fresh browser asking for no interaction gets login_required.
    let none = start_login(&stack, &Browser::new(), &Pkce::new(), &[("prompt", "none")]).await;
    assert_eq!(query(&none.url)["error"], "login_required");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_without_its_csrf_token_is_refused() {
    let stack = TestStack::builder().start().await.unwrap();
    let browser = Browser::new();
    let page = start_login(&stack, &browser, &Pkce::new(), &[]).await;
    let idp = stack.url(Component::Idp);
    let response = browser
        .post_raw(
            &format!("{idp}/login/user"),
            &[("tx", &page.must_input("tx")), ("user_id", "karen")],
        )
        .await;
    assert_eq!(response.status(), 403);
    let response = browser
        .post_raw(
            &format!("{idp}/login/user"),
            &[
                ("tx", &page.must_input("tx")),
                ("csrf", "forged"),
                ("user_id", "karen"),
            ],
        )
        .await;
    assert_eq!(response.status(), 403);
    // The transaction is bound to the browser: another browser cannot continue it.
    let other = Browser::new();
    let response = other
        .post_raw(
            &format!("{idp}/login/user"),
            &[
                ("tx", &page.must_input("tx")),
                ("csrf", &page.must_input("csrf")),
                ("user_id", "karen"),
            ],
        )
        .await;
    assert_eq!(response.status(), 400);
}
