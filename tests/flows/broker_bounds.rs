//! The broker's front door under hostile input: every parameter is bounded (an error page, never a
//! redirect carrying it), a parameter flood is refused at once, identifiers with control characters
//! never reach the audit log, unregistered client ids are audited truncated, a browser and a client
//! address may have only so many logins under way, and `private_key_jwt` assertions are held to
//! their rules.

use eid_oidc::params::{MAX_PARAMS, max_len};
use eid_testkit::oidc::Pkce;
use eid_testkit::stack::{ADMIN_TOKEN, TEST_REDIRECT_URI};
use eid_testkit::{Browser, Component, TestStack};

use crate::broker_support::{audit_events, broker_authorize, choose_mitid, with_eu_upstream};

/// A complete authorization request of `client`, with `replace` overriding parameters.
fn authorize_form(client: &str, pkce: &Pkce, replace: &[(&str, String)]) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = [
        ("client_id", client),
        ("redirect_uri", TEST_REDIRECT_URI),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "test-state"),
        ("nonce", "test-nonce"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .filter(|(k, _)| !replace.iter().any(|(r, _)| r == k))
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    form.extend(replace.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    form
}

/// Posts an authorization request without following any redirect.
async fn post_authorize(stack: &TestStack, form: &[(String, String)]) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/authorize", stack.url(Component::Broker)))
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_authorization_parameter_is_capped_and_an_over_long_one_is_never_redirected() {
    let stack = TestStack::builder().start().await.unwrap();
    let pkce = Pkce::new();
    // Within bounds, the request goes on to the authenticator.
    let ok = post_authorize(&stack, &authorize_form("rp-a", &pkce, &[])).await;
    assert_eq!(ok.status(), 303);
    let to = ok.headers()["location"].to_str().unwrap();
    assert!(to.starts_with(stack.url(Component::Idp)), "{to}");
    for name in [
        "state",
        "nonce",
        "scope",
        "acr_values",
        "login_hint",
        "ui_locales",
        "prompt",
        "max_age",
        "claims",
    ] {
        let long = "a".repeat(max_len(name) + 1);
        let refused = post_authorize(&stack, &authorize_form("rp-a", &pkce, &[(name, long)])).await;
        assert_eq!(refused.status(), 400, "{name}");
        assert!(refused.headers().get("location").is_none(), "{name}");
    }
    // The 100 kB state of the attack: an error page, not a 100 kB redirect.
    let huge = post_authorize(
        &stack,
        &authorize_form("rp-a", &pkce, &[("state", "s".repeat(100_000))]),
    )
    .await;
    assert_eq!(huge.status(), 400);
    assert!(huge.headers().get("location").is_none());
    let body = huge.text().await.unwrap();
    assert!(body.len() < 10_000 && !body.contains("sssssssss"));
    // Too many parameters.
    let mut crowded = authorize_form("rp-a", &pkce, &[]);
    crowded.extend((0..MAX_PARAMS).map(|i| (format!("x{i}"), "1".to_owned())));
    assert_eq!(post_authorize(&stack, &crowded).await.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_request_with_49000_parameters_is_refused_with_a_4xx() {
    let stack = TestStack::builder().start().await.unwrap();
    // Distinct four-character names, so that no early "repeated" stops the parse (and the body
    // stays under the body limit).
    let names = (0..49_000u32).map(|i| {
        let digits = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut n = i;
        let mut name = String::with_capacity(4);
        for _ in 0..4 {
            name.push(char::from(digits[(n % 36) as usize]));
            n /= 36;
        }
        name
    });
    let body = names.collect::<Vec<_>>().join("&");
    let response = reqwest::Client::new()
        .post(format!("{}/token", stack.url(Component::Broker)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"], "invalid_request", "{error}");
    assert!(
        error["error_description"]
            .as_str()
            .unwrap()
            .contains("parameters"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_id_with_a_nul_is_refused_cleanly_and_never_audited() {
    // Our own data directory, so that the audit log outlives the stack.
    let dir = tempfile::tempdir().unwrap();
    let stack = TestStack::builder()
        .data_dir(dir.path().to_owned())
        .start()
        .await
        .unwrap();
    let broker = stack.url(Component::Broker).to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorize = http
        .get(format!(
            "{broker}/authorize?client_id=%00&response_type=code"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(authorize.status(), 400);
    assert!(authorize.headers().get("location").is_none());
    let token = http
        .post(format!("{broker}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=%00&client_secret=whatever-it-is")
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 400);
    let par = http
        .post(format!("{broker}/par"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("client_id=%00&client_secret=whatever-it-is&response_type=code")
        .send()
        .await
        .unwrap();
    assert_eq!(par.status(), 400);
    let basic = http
        .post(format!("{broker}/token"))
        .basic_auth("rp%00", Some("whatever-it-is"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    // An unregistered (but printable) client id is audited, cut short and not as a client.
    let unknown = "u".repeat(200);
    let refused = http
        .get(format!("{broker}/authorize?client_id={unknown}"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let at_token = http
        .post(format!("{broker}/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", unknown.as_str()),
            ("client_secret", "whatever-it-is"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(at_token.status(), 401);
    stack.stop().await;
    let mut events = audit_events(dir.path(), "authorize.rejected").await;
    events.extend(audit_events(dir.path(), "token.rejected").await);
    for event in &events {
        let text = format!("{:?} {}", event.client, event.details);
        assert!(
            !text.contains('\0') && !text.contains("\\u0000"),
            "{event:?}"
        );
        assert!(
            event.client.as_deref() != Some(unknown.as_str()),
            "{event:?}"
        );
    }
    let kept = events
        .iter()
        .find_map(|e| e.details["unregistered_client"].as_str())
        .expect("the unregistered client's rejection is audited");
    assert_eq!(kept, &unknown[..64]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_may_have_only_so_many_logins_under_way() {
    // Two upstreams: each login stops at the broker's chooser, never reaching the authenticator.
    let stack = with_eu_upstream(TestStack::builder())
        .start()
        .await
        .unwrap();
    let browser = Browser::new();
    for _ in 0..eid_broker::login::pending::MAX_PENDING_PER_BROWSER {
        let chooser = broker_authorize(&stack, &browser, "rp-a", &Pkce::new(), &[]).await;
        assert_eq!(chooser.status, 200);
    }
    let refused = broker_authorize(&stack, &browser, "rp-a", &Pkce::new(), &[]).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.url.contains("/authorize"), "{}", refused.url);
    // Another browser is not affected.
    let other = broker_authorize(&stack, &Browser::new(), "rp-a", &Pkce::new(), &[]).await;
    assert_eq!(other.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn cookieless_logins_are_capped_per_address_and_a_browser_with_one_under_way_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // Two upstreams: each login stops at the broker's chooser, never reaching the authenticator.
    let stack = with_eu_upstream(TestStack::builder())
        .data_dir(dir.path().to_owned())
        .start()
        .await
        .unwrap();
    let cap = eid_broker::login::pending::MAX_PENDING_PER_ADDRESS;
    // A real browser begins a login (the first from this address) before the flood.
    let browser = Browser::new();
    let under_way = broker_authorize(&stack, &browser, "rp-a", &Pkce::new(), &[]).await;
    assert_eq!(under_way.status, 200, "{}", under_way.body);
    // Requests without a cookie get no fresh allowance each: with the browser's, `cap` are admitted
    // from this address and the next is refused with a page, not a redirect.
    let form = authorize_form("rp-a", &Pkce::new(), &[]);
    for i in 1..cap {
        let admitted = post_authorize(&stack, &form).await;
        assert_eq!(admitted.status(), 200, "request {i}");
    }
    for _ in 0..3 {
        let refused = post_authorize(&stack, &form).await;
        assert_eq!(refused.status(), 400);
        assert!(refused.headers().get("location").is_none());
        // In the person's words (Danish by default), not the OAuth description.
        assert!(refused.text().await.unwrap().contains("netværk"));
    }
    // A cookie the broker has no login under way for is no way around it.
    let made_up = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/authorize", stack.url(Component::Broker)))
        .header("cookie", format!("broker_browser={}", "c".repeat(43)))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(made_up.status(), 400);
    // The browser with a login under way may begin another and go on with the first.
    let again = broker_authorize(&stack, &browser, "rp-a", &Pkce::new(), &[]).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let user_page = choose_mitid(&stack, &browser, &under_way).await;
    assert_eq!(user_page.status, 200, "{}", user_page.body);
    stack.stop().await;
    // Only the first refusal of the address is audited.
    let refusals = audit_events(dir.path(), "authorize.rejected")
        .await
        .into_iter()
        .filter(|e| e.details.to_string().contains("from your network"))
        .count();
    assert_eq!(refusals, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance() {
    // Two upstreams: each login stops at the broker's chooser, never reaching the authenticator.
    let stack = with_eu_upstream(TestStack::builder())
        .broker_setting("trusted_proxies = [\"127.0.0.1\"]")
        .start()
        .await
        .unwrap();
    let cap = eid_broker::login::pending::MAX_PENDING_PER_ADDRESS;
    let form = authorize_form("rp-a", &Pkce::new(), &[]);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let from = |client: &'static str| {
        http.post(format!("{}/authorize", stack.url(Component::Broker)))
            .header("x-forwarded-for", format!("203.0.113.250, {client}"))
            .form(&form)
            .send()
    };
    for i in 0..cap {
        assert_eq!(
            from("192.0.2.7").await.unwrap().status(),
            200,
            "request {i}"
        );
    }
    assert_eq!(from("192.0.2.7").await.unwrap().status(), 400);
    // Another client behind the same proxy is counted on its own, and the left-most entry (the
    // client's own claim) decides nothing.
    assert_eq!(from("198.51.100.9").await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn private_key_jwt_refuses_a_wrong_audience_a_long_lifetime_no_jti_and_iss_other_than_sub() {
    let stack = TestStack::builder().start().await.unwrap();
    let broker = stack.url(Component::Broker).to_owned();
    let pem = eid_keys::generate_pem(eid_keys::Alg::ES256, 0).unwrap();
    let key = eid_keys::SigningKey::from_pem(pem.as_bytes(), eid_keys::Alg::ES256).unwrap();
    let registration = serde_json::json!({
        "client_id": "rp-jwt", "client_name": "JWT client",
        "token_endpoint_auth_method": "private_key_jwt", "sector": "sector-jwt",
        "grant_types": ["client_credentials"], "jwks": { "keys": [key.public_jwk()] }
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
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let call = |claims: serde_json::Value| {
        let assertion = key.sign_claims(Some("JWT"), &claims).unwrap();
        let http = http.clone();
        let url = format!("{broker}/token");
        async move {
            let response = http
                .post(url)
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
                .unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };
    let aud = format!("{broker}/token");
    let good = |jti: &str| {
        serde_json::json!({ "iss": "rp-jwt", "sub": "rp-jwt", "aud": aud, "iat": now,
                            "exp": now + 60, "jti": jti })
    };
    // The control: a well-formed assertion is accepted.
    let (status, body) = call(good("ok-1")).await;
    assert_eq!(status, 200, "{body}");
    let mut wrong_aud = good("aud-1");
    wrong_aud["aud"] = "https://elsewhere.example/token".into();
    let mut long_lived = good("long-1");
    long_lived["exp"] = (now + 3600).into();
    let mut no_jti = good("unused");
    no_jti.as_object_mut().unwrap().remove("jti");
    let mut other_sub = good("sub-1");
    other_sub["sub"] = "rp-a".into();
    for (what, claims) in [
        ("wrong aud", wrong_aud),
        ("lifetime of an hour", long_lived),
        ("no jti", no_jti),
        ("iss other than sub", other_sub),
    ] {
        let (status, body) = call(claims).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(body.contains("invalid_client"), "{what}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_callback_with_too_many_parameters_is_refused_before_its_state_is_read() {
    let stack = TestStack::builder().start().await.unwrap();
    let t = eid_broker::texts::texts(eid_web::Lang::En);
    let callback = format!(
        "{}/upstream/mitid/callback?state=forged&code=c",
        stack.url(Component::Broker)
    );
    let http = reqwest::Client::new();
    let get = |url: String| {
        let http = http.clone();
        async move {
            let r = http
                .get(url)
                .header("accept-language", "en")
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // A handful of parameters: the state is looked up (and refused).
    let (status, body) = get(callback.clone()).await;
    assert_eq!(status, 400);
    assert!(body.contains(t.upstream_failed_title), "{body}");
    // A flood: refused as malformed, before any lookup.
    let flood: String = (0..40).map(|i| format!("&p{i}=1")).collect();
    let (status, body) = get(format!("{callback}{flood}")).await;
    assert_eq!(status, 400);
    assert!(!body.contains(t.upstream_failed_title), "{body}");
    assert!(body.contains(t.error_title), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn token_refusals_of_unregistered_clients_are_audited_truncated_within_the_same_budget() {
    let dir = tempfile::tempdir().unwrap();
    let stack = TestStack::builder()
        .data_dir(dir.path().to_owned())
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let budget = eid_broker::oidc::audit::UNREGISTERED_AUDITS_PER_MINUTE;
    let kept = eid_broker::oidc::audit::UNREGISTERED_CLIENT_KEPT;
    let sent = 3 * budget;
    for i in 0..sent {
        let client_id = format!("nobody-{i}-{}", "x".repeat(150));
        let refused = http
            .post(format!("{}/token", stack.url(Component::Broker)))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "c"),
                ("client_id", client_id.as_str()),
                ("client_secret", "guessed-secret-0123456789"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
    }
    // A registered client's refusal is still named.
    let registered = http
        .post(format!("{}/token", stack.url(Component::Broker)))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "c"),
            ("client_id", "rp-a"),
            ("client_secret", "wrong-secret-0123456789"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 401);
    stack.stop().await;
    let events = audit_events(dir.path(), "token.rejected").await;
    let (named, unnamed): (Vec<_>, Vec<_>) = events.iter().partition(|e| e.client.is_some());
    assert_eq!(named.len(), 1);
    assert_eq!(named[0].client.as_deref(), Some("rp-a"));
    let audited = unnamed.len() as u64;
    // Within one minute's budget, or two if the requests straddled a minute.
    assert!(audited >= 1, "some are audited");
    assert!(audited <= 2 * budget, "{audited} of {sent} audited");
    for e in &unnamed {
        let id = e.details["unregistered_client"].as_str().unwrap();
        assert!(id.starts_with("nobody-") && id.len() <= kept, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn par_revoke_and_introspect_audit_refused_clients_within_the_same_budget() {
    let dir = tempfile::tempdir().unwrap();
    let stack = TestStack::builder()
        .data_dir(dir.path().to_owned())
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let budget = eid_broker::oidc::audit::UNREGISTERED_AUDITS_PER_MINUTE;
    let kept = eid_broker::oidc::audit::UNREGISTERED_CLIENT_KEPT;
    let endpoints = ["par", "revoke", "introspect"];
    for i in 0..budget {
        for endpoint in endpoints {
            let client_id = format!("nobody-{i}-{}", "x".repeat(150));
            let refused = http
                .post(format!("{}/{endpoint}", stack.url(Component::Broker)))
                .form(&[
                    ("client_id", client_id.as_str()),
                    ("client_secret", "guessed-secret-0123456789"),
                    ("token", "t"),
                    ("response_type", "code"),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(refused.status(), 401, "{endpoint}");
        }
    }
    stack.stop().await;
    let mut audited = 0;
    for endpoint in endpoints {
        let events = audit_events(dir.path(), &format!("{endpoint}.rejected")).await;
        assert!(!events.is_empty(), "{endpoint}: refusals are audited");
        for e in &events {
            assert_eq!(e.client, None);
            let id = e.details["unregistered_client"].as_str().unwrap();
            assert!(id.starts_with("nobody-") && id.len() <= kept, "{id}");
        }
        audited += events.len() as u64;
    }
    assert!(audited <= 2 * budget, "{audited} of {} audited", 3 * budget);
}

#[tokio::test(flavor = "multi_thread")]
async fn rejections_of_unregistered_clients_are_audited_within_a_budget() {
    let dir = tempfile::tempdir().unwrap();
    let stack = TestStack::builder()
        .data_dir(dir.path().to_owned())
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let sent = 3 * eid_broker::oidc::authorize::UNREGISTERED_AUDITS_PER_MINUTE;
    for i in 0..sent {
        let refused = http
            .get(format!(
                "{}/authorize?client_id=nobody-{i}",
                stack.url(Component::Broker)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400);
    }
    stack.stop().await;
    let audited = audit_events(dir.path(), "authorize.rejected")
        .await
        .into_iter()
        .filter(|e| e.details["unregistered_client"].is_string())
        .count() as u64;
    // Within one minute's budget, or two if the requests straddled a minute.
    assert!(audited >= 1, "some are audited");
    assert!(
        audited <= 2 * eid_broker::oidc::authorize::UNREGISTERED_AUDITS_PER_MINUTE,
        "{audited} of {sent} audited"
    );
}
