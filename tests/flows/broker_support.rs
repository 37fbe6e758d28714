//! Steps of the broker flow tests: a relying party's request, the chooser, the authenticator.

use crate::support::{enter_user_id, submit_password};
use eid_testkit::client::Page;
use eid_testkit::oidc::{Pkce, authorize_url};
use eid_testkit::stack::{StackBuilder, TEST_CLIENT_SECRET, TEST_REDIRECT_URI};
use eid_testkit::{Browser, Component, TestStack};

/// A second upstream for the broker, an eIDAS connector that no test reaches (its issuer listens
/// nowhere): with two upstreams the broker shows its identity chooser instead of going straight to
/// the authenticator.
pub fn with_eu_upstream(builder: StackBuilder) -> StackBuilder {
    builder.toml(&format!(
        "[[broker.upstreams]]\nname = \"eidas\"\nissuer = \"http://localhost:9\"\n\
         client_id = \"broker\"\nclient_secret = {TEST_CLIENT_SECRET:?}\nkind = \"eu_eid\""
    ))
}

/// Starts an authorization request at the broker; returns where the browser stops: the
/// authenticator's user-ID page (the broker's only upstream), the chooser (a stack
/// [`with_eu_upstream`]), or already back at the client.
pub async fn broker_authorize(
    stack: &TestStack,
    browser: &Browser,
    client: &str,
    pkce: &Pkce,
    extra: &[(&str, &str)],
) -> Page {
    let url = authorize_url(
        stack.url(Component::Broker),
        client,
        TEST_REDIRECT_URI,
        pkce,
        extra,
    );
    browser.get(&url, TEST_REDIRECT_URI).await
}

/// Chooses MitID on the chooser of a stack [`with_eu_upstream`]; returns the authenticator's
/// user-ID page.
pub async fn choose_mitid(stack: &TestStack, browser: &Browser, chooser: &Page) -> Page {
    assert_eq!(chooser.status, 200, "{}", chooser.body);
    browser
        .post(
            &format!("{}/login/start", stack.url(Component::Broker)),
            &[
                ("tx", &chooser.must_input("tx")),
                ("csrf", &chooser.must_input("csrf")),
                ("upstream", "mitid"),
            ],
            TEST_REDIRECT_URI,
        )
        .await
}

/// A whole login at the broker with a password at the authenticator; returns the redirect back to
/// the client.
pub async fn broker_password_login(
    stack: &TestStack,
    browser: &Browser,
    client: &str,
    pkce: &Pkce,
    user: &str,
    password: &str,
    extra: &[(&str, &str)],
) -> Page {
    let user_page = broker_authorize(stack, browser, client, pkce, extra).await;
    let methods = enter_user_id(stack, browser, &user_page, user).await;
    submit_password(stack, browser, &methods, password).await
}

/// A whole password login of demo person `user` (password `<user>-demo-pass`) for `client`, and the
/// exchange of its code; returns the token response.
pub async fn broker_login_tokens(
    stack: &TestStack,
    browser: &Browser,
    client: &str,
    user: &str,
) -> serde_json::Value {
    let pkce = Pkce::new();
    let password = format!("{user}-demo-pass");
    let redirect = broker_password_login(stack, browser, client, &pkce, user, &password, &[]).await;
    let code = broker_code(stack, &redirect);
    let (status, tokens) = broker_exchange(stack, client, &code, &pkce.verifier).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

/// A stack on the production backends (Redis and a fresh PostgreSQL database), or `None` where
/// they are absent and not required (the skip is reported).
pub async fn production_stack() -> Option<(TestStack, eid_store::testing::TempPostgresDb)> {
    production_stack_with(|builder| builder).await
}

/// As [`production_stack`], the builder first given to `build`.
pub async fn production_stack_with(
    build: impl FnOnce(StackBuilder) -> StackBuilder,
) -> Option<(TestStack, eid_store::testing::TempPostgresDb)> {
    let (Some(redis), Some(postgres)) = (
        eid_store::testing::redis_url_or_skip(),
        eid_store::testing::postgres_url_or_skip(),
    ) else {
        return None;
    };
    let db = eid_store::testing::TempPostgresDb::create(&postgres)
        .await
        .unwrap();
    let stack = build(TestStack::builder().ephemeral(&redis).durable(&db.url))
        .start()
        .await
        .unwrap();
    Some((stack, db))
}

/// The code in a redirect back from the broker (checking state and `iss`).
pub fn broker_code(stack: &TestStack, redirect: &Page) -> String {
    crate::support::code_from(stack, Component::Broker, redirect)
}

/// Exchanges a code at the broker: `rp-a` authenticates with `client_secret_post`, `rp-b` with
/// `client_secret_basic`.
pub async fn broker_exchange(
    stack: &TestStack,
    client: &str,
    code: &str,
    verifier: &str,
) -> (u16, serde_json::Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", TEST_REDIRECT_URI),
        ("code_verifier", verifier),
    ];
    token_request(stack, client, &form).await
}

/// Any token-endpoint request of a test client, authenticated as it is registered.
pub async fn token_request(
    stack: &TestStack,
    client: &str,
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    authenticated_post(stack, "token", client, form).await
}

/// Pushes an authorization request (RFC 9126) for a test client; returns its `request_uri`.
pub async fn push_request(stack: &TestStack, client: &str, pkce: &Pkce) -> String {
    let form = [
        ("client_id", client),
        ("redirect_uri", TEST_REDIRECT_URI),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "test-state"),
        ("nonce", "test-nonce"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let (status, pushed) = authenticated_post(stack, "par", client, &form).await;
    assert_eq!(status, 201, "{pushed}");
    pushed["request_uri"].as_str().unwrap().to_owned()
}

/// The authorization URL that carries a pushed request.
pub fn pushed_authorize_url(stack: &TestStack, client: &str, request_uri: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(request_uri.as_bytes()).collect();
    format!(
        "{}/authorize?client_id={client}&request_uri={encoded}",
        stack.url(Component::Broker)
    )
}

/// A POST to a broker endpoint, authenticated as the test client is registered: `rp-b` with HTTP
/// Basic, the others with the secret in the form.
async fn authenticated_post(
    stack: &TestStack,
    endpoint: &str,
    client: &str,
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let http = reqwest::Client::new();
    let mut request = http.post(format!("{}/{endpoint}", stack.url(Component::Broker)));
    let mut body: Vec<(&str, &str)> = form.to_vec();
    if client == "rp-b" {
        request = request.basic_auth(client, Some(TEST_CLIENT_SECRET));
    } else {
        if !body.iter().any(|(k, _)| *k == "client_id") {
            body.push(("client_id", client));
        }
        body.push(("client_secret", TEST_CLIENT_SECRET));
    }
    let response = request.form(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// Audit events of `kind` written by the stack (read after it stopped, so all are on disk).
pub async fn audit_events(data_dir: &std::path::Path, kind: &str) -> Vec<eid_core::AuditEvent> {
    let url = format!("sqlite://{}", data_dir.join("eidbroker.db").display());
    let durable = eid_store::SqlDurable::connect(&url).await.unwrap();
    let since = time::OffsetDateTime::now_utc() - time::Duration::minutes(10);
    let events = eid_core::AuditLog::by_kind_since(&durable, kind, since, 1000)
        .await
        .unwrap();
    durable.close().await;
    events
}

/// The `choice` values of the broker's "Who are you acting for?" page, in page order; empty on
/// any other page.
pub fn choices(page: &Page) -> Vec<String> {
    if !page.body.contains("action=\"/login/represent\"") {
        return Vec::new();
    }
    let needle = "name=\"choice\" value=\"";
    page.body
        .match_indices(needle)
        .map(|(at, _)| {
            let start = at + needle.len();
            let end = start + page.body[start..].find('"').unwrap();
            page.body[start..end].to_owned()
        })
        .collect()
}

/// Answers the broker's "Who are you acting for?" page with `choice`; follows until `stop`.
pub async fn choose(
    stack: &TestStack,
    browser: &Browser,
    page: &Page,
    choice: &str,
    stop: &str,
) -> Page {
    browser
        .post(
            &format!("{}/login/represent", stack.url(Component::Broker)),
            &[
                ("tx", page.must_input("tx").as_str()),
                ("csrf", page.must_input("csrf").as_str()),
                ("choice", choice),
            ],
            stop,
        )
        .await
}
