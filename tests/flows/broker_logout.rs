//! Logout through the broker (session, upstream, back-channel), the demo service end to end,
//! `private_key_jwt`, and two broker nodes sharing Redis.

use crate::broker_support::*;
use crate::support::{enter_user_id, submit_password};
use eid_testkit::oidc::{Pkce, query, verify_id_token};
use eid_testkit::stack::{ADMIN_TOKEN, TEST_REDIRECT_URI};
use eid_testkit::{Browser, Component, TestStack};
use std::sync::{Arc, Mutex};

/// A relying party's back-channel logout endpoint that records the tokens it receives.
async fn logout_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    let app = axum::Router::new().route(
        "/backchannel",
        axum::routing::post(move |body: String| {
            let store = store.clone();
            async move {
                let token = url::form_urlencoded::parse(body.as_bytes())
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                store.lock().unwrap().push(token);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://localhost:{port}/backchannel"), received)
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_ends_both_sessions_and_delivers_a_valid_back_channel_logout_token() {
    let stack = TestStack::builder().start().await.unwrap();
    let broker = stack.url(Component::Broker);
    let (receiver, received) = logout_receiver().await;
    let registration = serde_json::json!({
        "client_id": "rp-c", "client_name": "Service C", "client_secret": "rp-c-secret-0123456789",
        "token_endpoint_auth_method": "client_secret_post", "sector": "sector-c",
        "redirect_uris": [TEST_REDIRECT_URI], "backchannel_logout_uri": receiver,
        "post_logout_redirect_uris": ["http://localhost:1/bye"]
    });
    let saved = reqwest::Client::new()
        .put(format!("{broker}/admin/relying-parties/rp-c"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&registration)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);

    let browser = Browser::new();
    let pkce = Pkce::new();
    let redirect = broker_password_login(
        &stack,
        &browser,
        "rp-c",
        &pkce,
        "karen",
        "karen-demo-pass",
        &[],
    )
    .await;
    let code = broker_code(&stack, &redirect);
    let tokens: serde_json::Value = reqwest::Client::new()
        .post(format!("{broker}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", TEST_REDIRECT_URI),
            ("code_verifier", pkce.verifier.as_str()),
            ("client_id", "rp-c"),
            ("client_secret", "rp-c-secret-0123456789"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    let claims = verify_id_token(broker, &id_token, "rp-c", "test-nonce").await;

    // RP-initiated logout with the ID token as hint, returning to the registered URI with state.
    let logout = format!(
        "{broker}/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye-state",
        url::form_urlencoded::byte_serialize(b"http://localhost:1/bye").collect::<String>()
    );
    let first = browser.get_raw(&logout).await;
    let upstream = first.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        upstream.starts_with(stack.url(Component::Idp)),
        "the upstream session is ended too: {upstream}"
    );
    assert!(
        !upstream.contains("id_token_hint") && !upstream.contains("eyJ"),
        "the upstream's ID token (with the CPR number) never goes into a URL: {upstream}"
    );
    let upstream_query = query(&upstream);
    assert_eq!(upstream_query["client_id"], "broker");
    assert!(
        upstream_query["logout_hint"].len() == 43,
        "the authenticator's opaque sid names its session: {upstream}"
    );
    let idp = stack.url(Component::Idp);
    assert!(idp_session_alive(&browser, idp).await);
    let end = browser.follow(first, "http://localhost:1/bye").await;
    assert!(end.url.starts_with("http://localhost:1/bye"), "{end:?}");
    assert_eq!(query(&end.url)["state"], "bye-state");
    assert!(
        !idp_session_alive(&browser, idp).await,
        "the authenticator's session ended without a confirmation"
    );

    // The back-channel logout token verifies against the broker's keys and names the session.
    let token = received
        .lock()
        .unwrap()
        .first()
        .cloned()
        .expect("a logout token was delivered");
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(format!("{broker}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key =
        jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap())
            .unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&["rp-c"]);
    validation.set_issuer(&[broker]);
    let logout_claims = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(logout_claims["sid"], claims["sid"]);
    assert_eq!(logout_claims["sub"], claims["sub"]);
    assert!(
        logout_claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object()
    );
    assert!(logout_claims.get("nonce").is_none());
    assert!(logout_claims["jti"].is_string());

    // The broker session is gone: no silent login any more.
    let none = broker_authorize(
        &stack,
        &browser,
        "rp-a",
        &Pkce::new(),
        &[("prompt", "none")],
    )
    .await;
    assert_eq!(query(&none.url)["error"], "login_required");
    // And so is the authenticator's session: a new login asks for the user ID again.
    let user_page = broker_authorize(&stack, &browser, "rp-a", &Pkce::new(), &[]).await;
    assert!(
        user_page.input("user_id").is_some() || user_page.body.contains("name=\"user_id\""),
        "{}",
        user_page.body
    );
}

/// Whether the browser is logged in at the authenticator (its account page answers without a
/// login).
async fn idp_session_alive(browser: &Browser, idp: &str) -> bool {
    browser.get_raw(&format!("{idp}/account")).await.status() == 200
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cross_site_logout_at_the_authenticator_ends_nothing() {
    let stack = TestStack::builder().start().await.unwrap();
    let idp = stack.url(Component::Idp);
    let browser = Browser::new();
    broker_password_login(
        &stack,
        &browser,
        "rp-a",
        &Pkce::new(),
        "karen",
        "karen-demo-pass",
        &[],
    )
    .await;
    assert!(idp_session_alive(&browser, idp).await);
    let back = url::form_urlencoded::byte_serialize(
        format!("{}/logout/done", stack.url(Component::Broker)).as_bytes(),
    )
    .collect::<String>();
    // A link on any web page, with the browser's cookie only (logout CSRF), or with a guessed
    // hint: a confirmation page, and the person is still logged in at the authenticator.
    for link in [
        format!("{idp}/logout"),
        format!("{idp}/logout?client_id=broker&post_logout_redirect_uri={back}"),
        format!("{idp}/logout?client_id=broker&logout_hint=guessed-sid"),
    ] {
        let answer = browser.get_raw(&link).await;
        assert_eq!(answer.status(), 200, "{link}");
        let body = answer.text().await.unwrap();
        assert!(body.contains("id=\"confirm-logout\""), "{link}: {body}");
        assert!(idp_session_alive(&browser, idp).await, "{link}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_refuses_an_unregistered_post_logout_redirect() {
    let stack = TestStack::builder().start().await.unwrap();
    let broker = stack.url(Component::Broker);
    let response = Browser::new()
        .get_raw(&format!(
            "{broker}/logout?client_id=rp-a&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"
        ))
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_service_logs_in_through_the_broker_and_is_logged_out_by_back_channel() {
    let stack = TestStack::builder().start().await.unwrap();
    let demo = stack.url(Component::DemoRp);
    let broker = stack.url(Component::Broker);
    let browser = Browser::new();
    let page = demo_login(&stack, &browser, "mikkel").await;
    assert!(page.url.starts_with(demo), "{page:?}");
    assert!(page.body.contains("Mikkel"), "{}", page.body);
    assert!(
        page.body.contains("2211009993"),
        "the demo service may see the CPR number"
    );
    // Another service of the same browser session logs the person out. The demo service is not
    // involved in that request: only the broker's back-channel logout token can end its session.
    let pkce = Pkce::new();
    let sso = broker_authorize(&stack, &browser, "rp-a", &pkce, &[]).await;
    let code = broker_code(&stack, &sso);
    let (status, tokens) = broker_exchange(&stack, "rp-a", &code, &pkce.verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let logout = format!(
        "{broker}/logout?id_token_hint={}&post_logout_redirect_uri={}",
        tokens["id_token"].as_str().unwrap(),
        url::form_urlencoded::byte_serialize(b"http://localhost:1/bye").collect::<String>()
    );
    let end = browser.get(&logout, "http://localhost:1/bye").await;
    assert!(end.url.starts_with("http://localhost:1/bye"), "{end:?}");
    let after = browser.get(&format!("{demo}/"), "http://never").await;
    assert_eq!(after.status, 200);
    assert!(
        !after.body.contains("Mikkel"),
        "the demo service still shows the person: no back-channel logout arrived"
    );
}

/// Registers a relying party through the admin API.
async fn register(stack: &TestStack, registration: serde_json::Value) {
    let broker = stack.url(Component::Broker);
    let client = registration["client_id"].as_str().unwrap().to_owned();
    let saved = reqwest::Client::new()
        .put(format!("{broker}/admin/relying-parties/{client}"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&registration)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200, "{}", saved.text().await.unwrap());
}

/// What the demo register says about Karen, and her ID at the authenticator: none of it may reach
/// a relying party registered without claims.
const KAREN_PERSONAL: [&str; 5] = [
    "1503459992",
    "Karen",
    "Jensen",
    "1945-03-15",
    "6b0c6a52-3e0e-4f3a-9a39-0d5c1f1a0002",
];

#[tokio::test(flavor = "multi_thread")]
async fn an_rp_without_claims_calling_end_session_server_side_learns_nothing_and_ends_nothing() {
    let stack = TestStack::builder().start().await.unwrap();
    let broker = stack.url(Component::Broker);
    register(
        &stack,
        serde_json::json!({
            "client_id": "rp-none", "client_name": "Service without claims",
            "client_secret": "rp-none-secret-0123456789",
            "token_endpoint_auth_method": "client_secret_post", "sector": "sector-none",
            "redirect_uris": [TEST_REDIRECT_URI], "post_logout_redirect_uris": ["http://localhost:1/bye"]
        }),
    )
    .await;
    let browser = Browser::new();
    let pkce = Pkce::new();
    let redirect = broker_password_login(
        &stack,
        &browser,
        "rp-none",
        &pkce,
        "karen",
        "karen-demo-pass",
        &[],
    )
    .await;
    let code = broker_code(&stack, &redirect);
    let tokens: serde_json::Value = reqwest::Client::new()
        .post(format!("{broker}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", TEST_REDIRECT_URI),
            ("code_verifier", pkce.verifier.as_str()),
            ("client_id", "rp-none"),
            ("client_secret", "rp-none-secret-0123456789"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hint = tokens["id_token"].as_str().unwrap().to_owned();

    // The relying party's server calls end_session itself: no browser, no cookie.
    let server = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let params = [
        ("id_token_hint", hint.as_str()),
        ("post_logout_redirect_uri", "http://localhost:1/bye"),
        ("state", "s1"),
    ];
    let answers = [
        server
            .get(format!("{broker}/logout"))
            .query(&params)
            .send()
            .await
            .unwrap(),
        server
            .post(format!("{broker}/logout"))
            .form(&params)
            .send()
            .await
            .unwrap(),
    ];
    for answer in answers {
        assert_eq!(answer.status(), 200, "a confirmation page, not a redirect");
        assert!(answer.headers().get("location").is_none());
        let headers = format!("{:?}", answer.headers());
        let body = answer.text().await.unwrap();
        assert!(body.contains("action=\"/logout/confirm\""), "{body}");
        for personal in KAREN_PERSONAL {
            assert!(!body.contains(personal), "{personal} in the body: {body}");
            assert!(
                !headers.contains(personal),
                "{personal} in the headers: {headers}"
            );
        }
        assert!(!body.contains("eyJ"), "a token in the body: {body}");
        assert!(
            !headers.contains("eyJ"),
            "a token in the headers: {headers}"
        );
    }
    // The person's session goes on: a silent login still succeeds.
    let silent = broker_authorize(
        &stack,
        &browser,
        "rp-none",
        &Pkce::new(),
        &[("prompt", "none")],
    )
    .await;
    assert!(query(&silent.url).contains_key("code"), "{silent:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logout_link_without_a_hint_ends_nothing_until_the_person_confirms() {
    let stack = TestStack::builder().start().await.unwrap();
    let broker = stack.url(Component::Broker);
    let browser = Browser::new();
    broker_password_login(
        &stack,
        &browser,
        "rp-a",
        &Pkce::new(),
        "karen",
        "karen-demo-pass",
        &[],
    )
    .await;
    let silent_login_works = || async {
        let page = broker_authorize(
            &stack,
            &browser,
            "rp-a",
            &Pkce::new(),
            &[("prompt", "none")],
        )
        .await;
        query(&page.url).contains_key("code")
    };

    // A link on any web page (logout CSRF): a confirmation page, the session lives on.
    let confirm = browser
        .get(
            &format!("{broker}/logout?client_id=rp-a"),
            "http://localhost:1/",
        )
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(
        confirm.body.contains("id=\"confirm-logout\""),
        "{}",
        confirm.body
    );
    assert!(silent_login_works().await);

    // A confirmation forged from elsewhere (without this browser's CSRF token) ends nothing.
    let forged = browser
        .post_raw(
            &format!("{broker}/logout/confirm"),
            &[("csrf", "forged"), ("client_id", "rp-a")],
        )
        .await;
    assert_eq!(forged.status(), 400);
    assert!(silent_login_works().await);

    // The person's own confirmation ends the session.
    let done = browser
        .post(
            &format!("{broker}/logout/confirm"),
            &[
                ("csrf", &confirm.must_input("csrf")),
                ("client_id", &confirm.must_input("client_id")),
            ],
            "http://localhost:1/",
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(!silent_login_works().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn private_key_jwt_authenticates_once_per_jti() {
    let stack = TestStack::builder().start().await.unwrap();
    let broker = stack.url(Component::Broker);
    let pem = eid_keys::generate_pem(eid_keys::Alg::ES256, 0).unwrap();
    let key = eid_keys::SigningKey::from_pem(pem.as_bytes(), eid_keys::Alg::ES256).unwrap();
    let registration = serde_json::json!({
        "client_id": "rp-jwt", "client_name": "JWT client", "token_endpoint_auth_method": "private_key_jwt",
        "sector": "sector-jwt", "grant_types": ["client_credentials"],
        "jwks": { "keys": [key.public_jwk()] }
    });
    let http = reqwest::Client::new();
    let saved = http
        .put(format!("{broker}/admin/relying-parties/rp-jwt"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&registration)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200, "{}", saved.text().await.unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let assertion = key
        .sign_claims(
            Some("JWT"),
            &serde_json::json!({ "iss": "rp-jwt", "sub": "rp-jwt", "aud": format!("{broker}/token"),
                                 "iat": now, "exp": now + 60, "jti": "unique-1" }),
        )
        .unwrap();
    let call = |assertion: String| {
        let http = http.clone();
        let url = format!("{broker}/token");
        async move {
            http.post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(call(assertion.clone()).await, 200);
    assert_eq!(
        call(assertion).await,
        401,
        "a replayed assertion is refused"
    );
    // Signed by another key: refused.
    let other_pem = eid_keys::generate_pem(eid_keys::Alg::ES256, 0).unwrap();
    let other = eid_keys::SigningKey::from_pem(other_pem.as_bytes(), eid_keys::Alg::ES256).unwrap();
    let forged = other
        .sign_claims(
            Some("JWT"),
            &serde_json::json!({ "iss": "rp-jwt", "sub": "rp-jwt", "aud": format!("{broker}/token"),
                                 "iat": now, "exp": now + 60, "jti": "unique-2" }),
        )
        .unwrap();
    assert_eq!(call(forged).await, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_started_on_one_broker_node_finishes_on_another_sharing_redis() {
    let Some(redis) = eid_store::testing::redis_url_or_skip() else {
        return;
    };
    let prefix = format!("cluster-{}", eid_oidc::random::token(6));
    let a = TestStack::builder()
        .ephemeral(&redis)
        .redis_key_prefix(&prefix)
        .start()
        .await
        .unwrap();
    // Node B runs only the broker and shares A's data directory (keys, pairwise secret, SQLite
    // registry), Redis, public URL and upstream.
    let b = TestStack::builder()
        .components(&[Component::Broker])
        .ephemeral(&redis)
        .redis_key_prefix(&prefix)
        .data_dir(a.data_dir.clone())
        .broker_public_url(a.url(Component::Broker))
        .upstream_issuer(a.url(Component::Idp))
        .start()
        .await
        .unwrap();
    let browser = Browser::new();
    let pkce = Pkce::new();
    // The request on node A (straight on to the only upstream) …
    let user_page = broker_authorize(&a, &browser, "rp-a", &pkce, &[]).await;
    // … the authenticator (node A's), and the callback on node B.
    let methods = enter_user_id(&a, &browser, &user_page, "karen").await;
    let idp = a.url(Component::Idp);
    let response = browser
        .post_raw(
            &format!("{idp}/login/password"),
            &[
                ("tx", &methods.must_input("tx")),
                ("csrf", &methods.must_input("csrf")),
                ("password", "karen-demo-pass"),
            ],
        )
        .await;
    let callback = response.headers()["location"]
        .to_str()
        .unwrap()
        .replace(a.url(Component::Broker), &b.broker_listen_url());
    let redirect = browser.get(&callback, TEST_REDIRECT_URI).await;
    let code = broker_code(&a, &redirect);
    // The code is redeemed at node A.
    let (status, tokens) = broker_exchange(&a, "rp-a", &code, &pkce.verifier).await;
    assert_eq!(status, 200, "{tokens}");
    verify_id_token(
        a.url(Component::Broker),
        tokens["id_token"].as_str().unwrap(),
        "rp-a",
        "test-nonce",
    )
    .await;
}

/// The demo service shows what a service would (who, at which level, when, the released
/// attributes labelled; the raw claims folded away) and says "you are logged out" after logout.
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_service_shows_the_login_as_a_service_would_and_confirms_the_logout() {
    let stack = TestStack::builder().start().await.unwrap();
    let demo = stack.url(Component::DemoRp);
    let browser = Browser::new();
    let page = demo_login(&stack, &browser, "mikkel").await;
    assert!(page.url.starts_with(demo), "{page:?}");
    assert!(
        page.body.contains("Du er logget ind som Mikkel"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<dd>Lav</dd>"),
        "the level in Danish: {}",
        page.body
    );
    assert!(page.body.contains("<dt>CPR-nummer</dt>"), "{}", page.body);
    assert!(page.body.contains(" kl. "), "a local time: {}", page.body);
    assert!(
        page.body.contains("<details>"),
        "the raw claims are folded away"
    );
    assert!(!page.body.contains("Du er logget af"));

    let csrf = page.must_input("csrf");
    let after = browser
        .post(
            &format!("{demo}/logout"),
            &[("csrf", &csrf)],
            "http://never",
        )
        .await;
    assert!(after.url.starts_with(demo), "{after:?}");
    assert!(after.body.contains("Du er logget af"), "{}", after.body);
    assert!(!after.body.contains("Mikkel"), "{}", after.body);
    // Said once: the next visit is the ordinary home page.
    let again = browser.get(&format!("{demo}/"), "http://never").await;
    assert!(!again.body.contains("Du er logget af"), "{}", again.body);
}

/// Logs `user` in to the demo service through the broker (straight on to its only upstream) and
/// the authenticator's password: the page the browser ends on.
async fn demo_login(stack: &TestStack, browser: &Browser, user: &str) -> eid_testkit::client::Page {
    let demo = stack.url(Component::DemoRp);
    let home = browser.get(&format!("{demo}/"), "http://never").await;
    let csrf = home.must_input("csrf");
    let user_page = browser
        .post(&format!("{demo}/login"), &[("csrf", &csrf)], "http://never")
        .await;
    let methods = enter_user_id(stack, browser, &user_page, user).await;
    submit_password(stack, browser, &methods, &format!("{user}-demo-pass")).await
}
