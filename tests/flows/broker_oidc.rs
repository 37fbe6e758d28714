//! The broker as an OIDC provider: login through the authenticator, single sign-on, step-up, the
//! token endpoint's grants, and the negative cases.

use crate::broker_support::*;
use crate::support::{enter_user_id, submit_password};
use eid_testkit::oidc::{Pkce, authorize_url, query, verify_id_token};
use eid_testkit::stack::{ADMIN_TOKEN, TEST_CLIENT_SECRET, TEST_REDIRECT_URI};
use eid_testkit::{Browser, Component, TestStack};

const SUBSTANTIAL: &str = "https://data.gov.dk/concept/core/nsis/loa/Substantial";

#[tokio::test(flavor = "multi_thread")]
async fn login_through_the_authenticator_then_sso_for_a_second_service_with_pairwise_subjects() {
    let stack = TestStack::builder().start().await.unwrap();
    let broker = stack.url(Component::Broker);
    let browser = Browser::new();
    let pkce = Pkce::new();
    let redirect = broker_password_login(
        &stack,
        &browser,
        "rp-a",
        &pkce,
        "karen",
        "karen-demo-pass",
        &[],
    )
    .await;
    let code = broker_code(&stack, &redirect);
    let (status, tokens) = broker_exchange(&stack, "rp-a", &code, &pkce.verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let a = verify_id_token(
        broker,
        tokens["id_token"].as_str().unwrap(),
        "rp-a",
        "test-nonce",
    )
    .await;
    assert_eq!(a["acr"], "https://data.gov.dk/concept/core/nsis/loa/Low");
    assert_eq!(a["cpr"], "1503459992", "rp-a may receive the CPR number");
    assert_eq!(a["name"], "Karen Jensen");
    assert!(a["sid"].is_string());
    assert!(tokens["refresh_token"].is_string(), "rp-a may refresh");

    // Service B in the same browser: a code at once, no upstream login.
    let pkce_b = Pkce::new();
    let redirect = broker_authorize(&stack, &browser, "rp-b", &pkce_b, &[]).await;
    let code = broker_code(&stack, &redirect);
    let (status, tokens) = broker_exchange(&stack, "rp-b", &code, &pkce_b.verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let b = verify_id_token(
        broker,
        tokens["id_token"].as_str().unwrap(),
        "rp-b",
        "test-nonce",
    )
    .await;
    assert_ne!(
        a["sub"], b["sub"],
        "pairwise subjects differ between sectors"
    );
    assert!(
        b.get("cpr").is_none(),
        "rp-b may not receive the CPR number"
    );
    assert_ne!(a["sid"], b["sid"], "each relying party gets its own sid");
    let userinfo: serde_json::Value = reqwest::Client::new()
        .get(format!("{broker}/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["sub"], b["sub"]);
    assert_eq!(userinfo["name"], "Karen Jensen");

    // The same person at service A again later gets the same subject.
    let pkce_again = Pkce::new();
    let redirect = broker_authorize(&stack, &browser, "rp-a", &pkce_again, &[]).await;
    let (_, tokens) = broker_exchange(
        &stack,
        "rp-a",
        &broker_code(&stack, &redirect),
        &pkce_again.verifier,
    )
    .await;
    let again = verify_id_token(
        broker,
        tokens["id_token"].as_str().unwrap(),
        "rp-a",
        "test-nonce",
    )
    .await;
    assert_eq!(again["sub"], a["sub"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_for_a_higher_level_than_the_session_steps_up_at_the_upstream() {
    let stack = TestStack::builder().start().await.unwrap();
    let broker = stack.url(Component::Broker);
    let browser = Browser::new();
    let redirect = broker_password_login(
        &stack,
        &browser,
        "rp-a",
        &Pkce::new(),
        "anna",
        "anna-demo-pass",
        &[],
    )
    .await;
    broker_code(&stack, &redirect);
    // Service B asks for Substantial: the broker must not answer from the Low session.
    // The only upstream fits: the broker goes straight to it, without a chooser.
    let pkce = Pkce::new();
    let user_page = broker_authorize(
        &stack,
        &browser,
        "rp-b",
        &pkce,
        &[("acr_values", SUBSTANTIAL)],
    )
    .await;
    assert!(
        user_page.url.starts_with(stack.url(Component::Idp)),
        "step-up goes to the authenticator: {user_page:?}"
    );
    // The authenticator is asked to authenticate again (prompt=login), not to reuse its session.
    assert!(
        user_page.input("user_id").is_some() || user_page.body.contains("user_id"),
        "{}",
        user_page.body
    );
    let methods = enter_user_id(&stack, &browser, &user_page, "anna").await;
    let secret = data_encoding::BASE32_NOPAD
        .decode(b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let code = eid_idp::totp::code_at_step(&secret, eid_idp::totp::step_of(now));
    let redirect = browser
        .post(
            &format!("{}/login/code-display", stack.url(Component::Idp)),
            &[
                ("tx", &methods.must_input("tx")),
                ("csrf", &methods.must_input("csrf")),
                ("password", "anna-demo-pass"),
                ("code", &code),
            ],
            TEST_REDIRECT_URI,
        )
        .await;
    let auth_code = broker_code(&stack, &redirect);
    let (_, tokens) = broker_exchange(&stack, "rp-b", &auth_code, &pkce.verifier).await;
    let claims = verify_id_token(
        broker,
        tokens["id_token"].as_str().unwrap(),
        "rp-b",
        "test-nonce",
    )
    .await;
    assert_eq!(claims["acr"], SUBSTANTIAL);
    // The session is now Substantial: service A asking for Substantial gets a code at once.
    let again = broker_authorize(
        &stack,
        &browser,
        "rp-a",
        &Pkce::new(),
        &[("acr_values", SUBSTANTIAL)],
    )
    .await;
    broker_code(&stack, &again);
    // A weaker re-authentication (prompt=login, password only) is answered with what it proved,
    // and does not lower the session: Substantial is still answered at once afterwards.
    let pkce = Pkce::new();
    let redirect = broker_password_login(
        &stack,
        &browser,
        "rp-a",
        &pkce,
        "anna",
        "anna-demo-pass",
        &[("prompt", "login")],
    )
    .await;
    let auth_code = broker_code(&stack, &redirect);
    let (_, tokens) = broker_exchange(&stack, "rp-a", &auth_code, &pkce.verifier).await;
    let claims = verify_id_token(
        broker,
        tokens["id_token"].as_str().unwrap(),
        "rp-a",
        "test-nonce",
    )
    .await;
    assert_ne!(
        claims["acr"], SUBSTANTIAL,
        "this login proved only a password"
    );
    let still = broker_authorize(
        &stack,
        &browser,
        "rp-b",
        &Pkce::new(),
        &[("acr_values", SUBSTANTIAL)],
    )
    .await;
    assert!(
        still.url.starts_with(TEST_REDIRECT_URI),
        "the session kept its level: {still:?}"
    );
    broker_code(&stack, &still);
}

#[tokio::test(flavor = "multi_thread")]
async fn prompt_none_without_a_session_is_login_required() {
    let stack = TestStack::builder().start().await.unwrap();
    let page = broker_authorize(
        &stack,
        &Browser::new(),
        "rp-a",
        &Pkce::new(),
        &[("prompt", "none")],
    )
    .await;
    let q = query(&page.url);
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["iss"], stack.url(Component::Broker));
}

#[tokio::test(flavor = "multi_thread")]
async fn unregistered_or_prefix_matching_redirect_uris_get_an_error_page_and_no_redirect() {
    let stack = TestStack::builder().start().await.unwrap();
    let browser = Browser::new();
    for bad in [
        "http://localhost:1/cb/evil",
        "http://localhost:1/c",
        "http://localhost:1/cb?x=1",
        "https://evil.example/cb",
    ] {
        let url = authorize_url(stack.url(Component::Broker), "rp-a", bad, &Pkce::new(), &[]);
        let response = browser.get_raw(&url).await;
        assert_eq!(response.status(), 400, "{bad}");
        assert!(response.headers().get("location").is_none(), "{bad}");
    }
    // An unknown client too.
    let url = authorize_url(
        stack.url(Component::Broker),
        "nobody",
        TEST_REDIRECT_URI,
        &Pkce::new(),
        &[],
    );
    assert_eq!(browser.get_raw(&url).await.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_endpoint_refuses_wrong_pkce_wrong_secret_and_code_reuse_revokes() {
    let stack = TestStack::builder().start().await.unwrap();
    let broker = stack.url(Component::Broker);
    let browser = Browser::new();
    // Missing PKCE at /authorize goes back to the client as invalid_request.
    let mut url = url::Url::parse(&authorize_url(
        broker,
        "rp-a",
        TEST_REDIRECT_URI,
        &Pkce::new(),
        &[],
    ))
    .unwrap();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(kept);
    let page = browser.get(url.as_str(), TEST_REDIRECT_URI).await;
    assert_eq!(query(&page.url)["error"], "invalid_request");

    let pkce = Pkce::new();
    let redirect = broker_password_login(
        &stack,
        &browser,
        "rp-a",
        &pkce,
        "karen",
        "karen-demo-pass",
        &[],
    )
    .await;
    let code = broker_code(&stack, &redirect);
    let (status, body) = broker_exchange(&stack, "rp-a", &code, &Pkce::new().verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "wrong verifier"
    );
    // The code was consumed by the failed attempt: even the right verifier cannot redeem it now.
    let (status, body) = broker_exchange(&stack, "rp-a", &code, &pkce.verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "a code is burnt by a failed PKCE attempt"
    );
    // A fresh one for the rest.
    let pkce = Pkce::new();
    let redirect = broker_authorize(&stack, &browser, "rp-a", &pkce, &[]).await;
    let code = broker_code(&stack, &redirect);
    let wrong_secret = reqwest::Client::new()
        .post(format!("{broker}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", TEST_REDIRECT_URI),
            ("code_verifier", pkce.verifier.as_str()),
            ("client_id", "rp-a"),
            ("client_secret", "not-the-secret-at-all"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_secret.status(), 401);
    let (status, tokens) = broker_exchange(&stack, "rp-a", &code, &pkce.verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = broker_exchange(&stack, "rp-a", &code, &pkce.verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let userinfo = reqwest::Client::new()
        .get(format!("{broker}/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        userinfo.status(),
        401,
        "access token of a reused code is revoked"
    );
    let (status, _) = token_request(
        &stack,
        "rp-a",
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 400, "refresh token of a reused code is revoked");
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_grant() {
    let stack = TestStack::builder().start().await.unwrap();
    let browser = Browser::new();
    let pkce = Pkce::new();
    let redirect = broker_password_login(
        &stack,
        &browser,
        "rp-a",
        &pkce,
        "karen",
        "karen-demo-pass",
        &[],
    )
    .await;
    let (_, tokens) = broker_exchange(
        &stack,
        "rp-a",
        &broker_code(&stack, &redirect),
        &pkce.verifier,
    )
    .await;
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, rotated) = token_request(
        &stack,
        "rp-a",
        &[("grant_type", "refresh_token"), ("refresh_token", &first)],
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    // Reusing the first (a stolen copy) revokes the grant: the second stops working too.
    let (status, _) = token_request(
        &stack,
        "rp-a",
        &[("grant_type", "refresh_token"), ("refresh_token", &first)],
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = token_request(
        &stack,
        "rp-a",
        &[("grant_type", "refresh_token"), ("refresh_token", &second)],
    )
    .await;
    assert_eq!(status, 400);
    // rp-b may not refresh at all.
    let (status, body) = token_request(
        &stack,
        "rp-b",
        &[("grant_type", "refresh_token"), ("refresh_token", &second)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pushed_authorization_requests_are_single_use_and_bound_to_their_client() {
    let stack = TestStack::builder().start().await.unwrap();
    let request_uri = push_request(&stack, "rp-a", &Pkce::new()).await;
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    let browser = Browser::new();
    // Another client cannot use it …
    let other = pushed_authorize_url(&stack, "rp-b", &request_uri);
    assert_eq!(browser.get_raw(&other).await.status(), 400);
    // … and its attempt burns it: the request_uri is single-use.
    let own = pushed_authorize_url(&stack, "rp-a", &request_uri);
    assert_eq!(browser.get(&own, TEST_REDIRECT_URI).await.status, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_request_leads_to_a_login() {
    let stack = TestStack::builder().start().await.unwrap();
    let pkce = Pkce::new();
    let request_uri = push_request(&stack, "rp-b", &pkce).await;
    let browser = Browser::new();
    let url = pushed_authorize_url(&stack, "rp-b", &request_uri);
    let user_page = browser.get(&url, TEST_REDIRECT_URI).await;
    let methods = enter_user_id(&stack, &browser, &user_page, "karen").await;
    let redirect = submit_password(&stack, &browser, &methods, "karen-demo-pass").await;
    let code = broker_code(&stack, &redirect);
    let (status, _) = broker_exchange(&stack, "rp-b", &code, &pkce.verifier).await;
    assert_eq!(status, 200);
    // Used once: the same request_uri no longer works.
    assert_eq!(browser.get_raw(&url).await.status(), 400);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_chooser_form_needs_its_csrf_token_and_the_callback_its_state() {
    // Two upstreams, so that the broker shows its chooser.
    let stack = with_eu_upstream(TestStack::builder())
        .start()
        .await
        .unwrap();
    let broker = stack.url(Component::Broker);
    let browser = Browser::new();
    let chooser = broker_authorize(&stack, &browser, "rp-a", &Pkce::new(), &[]).await;
    assert!(
        chooser.body.contains("id=\"choose-mitid\"")
            && chooser.body.contains("id=\"choose-eidas\""),
        "{}",
        chooser.body
    );
    let refused = browser
        .post_raw(
            &format!("{broker}/login/start"),
            &[("tx", &chooser.must_input("tx")), ("upstream", "mitid")],
        )
        .await;
    assert_eq!(refused.status(), 403);
    // A callback with a state the broker never issued is refused with an error page.
    let forged = browser
        .get_raw(&format!(
            "{broker}/upstream/mitid/callback?code=abc&state=forged&iss={}",
            urlencode(stack.url(Component::Idp))
        ))
        .await;
    assert_eq!(forged.status(), 400);
    assert!(forged.headers().get("location").is_none());
    // A genuine state with a valid code, presented by another browser, is refused, and spends
    // nothing: the person who began the login still finishes it.
    let pkce = Pkce::new();
    let chooser = broker_authorize(&stack, &browser, "rp-a", &pkce, &[]).await;
    let user_page = choose_mitid(&stack, &browser, &chooser).await;
    let methods = enter_user_id(&stack, &browser, &user_page, "karen").await;
    let callback_prefix = format!("{broker}/upstream/mitid/callback");
    let callback = browser
        .post(
            &format!("{}/login/password", stack.url(Component::Idp)),
            &[
                ("tx", &methods.must_input("tx")),
                ("csrf", &methods.must_input("csrf")),
                ("password", "karen-demo-pass"),
            ],
            &callback_prefix,
        )
        .await;
    assert!(callback.url.starts_with(&callback_prefix), "{callback:?}");
    assert!(query(&callback.url).contains_key("code"), "{callback:?}");
    let thief = Browser::new();
    // The thief even has a browser cookie of the broker's, just not the victim's.
    let _ = broker_authorize(&stack, &thief, "rp-a", &Pkce::new(), &[]).await;
    let stolen = thief.get_raw(&callback.url).await;
    assert_eq!(stolen.status(), 400);
    assert!(stolen.headers().get("location").is_none());
    let redirect = browser.get(&callback.url, TEST_REDIRECT_URI).await;
    let code = broker_code(&stack, &redirect);
    let (status, tokens) = broker_exchange(&stack, "rp-a", &code, &pkce.verifier).await;
    assert_eq!(status, 200, "{tokens}");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_introspection_and_revocation() {
    let stack = TestStack::builder().start().await.unwrap();
    let broker = stack.url(Component::Broker);
    let http = reqwest::Client::new();
    // Register a service client through the admin API.
    let unauthorized = http
        .put(format!("{broker}/admin/relying-parties/svc"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    let registration = serde_json::json!({
        "client_id": "svc", "client_name": "Service client", "client_secret": "svc-secret-0123456789",
        "token_endpoint_auth_method": "client_secret_basic", "sector": "svc",
        "grant_types": ["client_credentials", "introspection"]
    });
    let saved = http
        .put(format!("{broker}/admin/relying-parties/svc"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&registration)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200, "{}", saved.text().await.unwrap());
    let listed: serde_json::Value = http
        .get(format!("{broker}/admin/relying-parties/svc"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed.get("client_secret").is_none() && listed["client_secret_sha256"].is_string());
    let tokens: serde_json::Value = http
        .post(format!("{broker}/token"))
        .basic_auth("svc", Some("svc-secret-0123456789"))
        .form(&[("grant_type", "client_credentials"), ("scope", "read")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert!(tokens.get("id_token").is_none());
    let introspect = |token: String| {
        let http = http.clone();
        let url = format!("{broker}/introspect");
        async move {
            http.post(url)
                .basic_auth("svc", Some("svc-secret-0123456789"))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let active = introspect(access.clone()).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], "svc");
    let revoked = http
        .post(format!("{broker}/revoke"))
        .basic_auth("svc", Some("svc-secret-0123456789"))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(introspect(access).await["active"], false);
    // rp-a may not use client credentials.
    let (status, body) =
        token_request(&stack, "rp-a", &[("grant_type", "client_credentials")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn relying_parties_may_ask_for_rs256_or_ps256_id_tokens() {
    let rp = |id: &str, alg: &str| {
        format!(
            "client_id = \"{id}\"\nclient_name = \"{id}\"\nclient_secret = \"{TEST_CLIENT_SECRET}\"\n\
             redirect_uris = [\"{TEST_REDIRECT_URI}\"]\ntoken_endpoint_auth_method = \"client_secret_post\"\n\
             sector = \"sector-{id}\"\nid_token_signed_response_alg = \"{alg}\"\n"
        )
    };
    let stack = TestStack::builder()
        .relying_party(&rp("rp-rs", "RS256"))
        .relying_party(&rp("rp-ps", "PS256"))
        .start()
        .await
        .unwrap();
    let broker = stack.url(Component::Broker);
    let browser = Browser::new();
    broker_code(
        &stack,
        &broker_password_login(
            &stack,
            &browser,
            "rp-a",
            &Pkce::new(),
            "karen",
            "karen-demo-pass",
            &[],
        )
        .await,
    );
    for (client, alg) in [
        ("rp-rs", jsonwebtoken::Algorithm::RS256),
        ("rp-ps", jsonwebtoken::Algorithm::PS256),
    ] {
        let pkce = Pkce::new();
        let code = broker_code(
            &stack,
            &broker_authorize(&stack, &browser, client, &pkce, &[]).await,
        );
        let (status, tokens) = token_request(
            &stack,
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", TEST_REDIRECT_URI),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
        assert_eq!(status, 200, "{tokens}");
        let id_token = tokens["id_token"].as_str().unwrap();
        let header = jsonwebtoken::decode_header(id_token).unwrap();
        assert_eq!(header.alg, alg);
        let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(format!("{broker}/jwks"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let key =
            jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap())
                .unwrap();
        let mut validation = jsonwebtoken::Validation::new(alg);
        validation.set_audience(&[client]);
        validation.set_issuer(&[broker]);
        jsonwebtoken::decode::<serde_json::Value>(id_token, &key, &validation).unwrap();
    }
}

#[tokio::test]
async fn the_authenticator_names_the_service_not_the_broker() {
    let stack = TestStack::builder().start().await.unwrap();
    let browser = Browser::new();
    let pkce = Pkce::new();
    // The broker pushes its request with the service's name; the browser goes on with a
    // request_uri and the authenticator's user-ID page names the service, not the broker.
    let user_page = broker_authorize(&stack, &browser, "rp-a", &pkce, &[]).await;
    assert_eq!(user_page.status, 200, "{}", user_page.body);
    assert!(
        user_page.body.contains("id=\"service\"") && user_page.body.contains("Service A"),
        "{}",
        user_page.body
    );
    assert!(
        !user_page.body.contains("NemLog-in (test)"),
        "{}",
        user_page.body
    );
}
