//! Requests of any size and shape, sent to every route of every listener while the stores are up,
//! are answered without a 5xx: hostile parameters (NUL and control characters, over-long values,
//! repeated names, broken percent-encoding, bodies that are not UTF-8), odd cookies and
//! authorization headers, and a parameter flood.

use eid_testkit::{Component, TestStack};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

/// Every route of the listeners that serve citizens and services, with the method it takes.
const ROUTES: &[(Component, &str, &str)] = &[
    (Component::Broker, "GET", "/"),
    (
        Component::Broker,
        "GET",
        "/.well-known/openid-configuration",
    ),
    (Component::Broker, "GET", "/jwks"),
    (Component::Broker, "GET", "/authorize"),
    (Component::Broker, "POST", "/authorize"),
    (Component::Broker, "POST", "/par"),
    (Component::Broker, "POST", "/token"),
    (Component::Broker, "GET", "/userinfo"),
    (Component::Broker, "POST", "/userinfo"),
    (Component::Broker, "POST", "/revoke"),
    (Component::Broker, "POST", "/introspect"),
    (Component::Broker, "GET", "/logout"),
    (Component::Broker, "POST", "/logout"),
    (Component::Broker, "POST", "/logout/confirm"),
    (Component::Broker, "GET", "/logout/done"),
    (Component::Broker, "GET", "/my"),
    (Component::Broker, "GET", "/my/export"),
    (Component::Broker, "GET", "/my/services"),
    (Component::Broker, "GET", "/my/not-logged-in"),
    (Component::Broker, "POST", "/login/start"),
    (Component::Broker, "POST", "/login/cancel"),
    (Component::Broker, "GET", "/upstream/mitid/callback"),
    (Component::Broker, "GET", "/upstream/x%00y/callback"),
    (Component::Broker, "GET", "/admin/relying-parties"),
    (Component::Broker, "GET", "/admin/relying-parties/rp%00a"),
    (Component::Broker, "PUT", "/admin/relying-parties/rp-a"),
    (Component::Broker, "DELETE", "/admin/relying-parties/x%00"),
    (Component::Broker, "GET", "/admin/protocol-messages"),
    (Component::Idp, "GET", "/"),
    (Component::Idp, "GET", "/authorize"),
    (Component::Idp, "POST", "/authorize"),
    (Component::Idp, "POST", "/token"),
    (Component::Idp, "GET", "/userinfo"),
    (Component::Idp, "GET", "/logout"),
    (Component::Idp, "POST", "/logout/confirm"),
    (Component::Idp, "GET", "/login"),
    (Component::Idp, "POST", "/login/user"),
    (Component::Idp, "POST", "/login/password"),
    (Component::Idp, "POST", "/login/code-display"),
    (Component::Idp, "GET", "/login/passkey/options"),
    (Component::Idp, "POST", "/login/passkey"),
    (Component::Idp, "POST", "/login/app/start"),
    (Component::Idp, "GET", "/login/app/status"),
    (Component::Idp, "POST", "/login/app/finish"),
    (Component::Idp, "POST", "/login/cancel"),
    (Component::Idp, "POST", "/login/restart"),
    (Component::Idp, "POST", "/login/continue"),
    (Component::Idp, "POST", "/login/other"),
    (Component::Idp, "GET", "/help/forgotten"),
    (Component::Idp, "GET", "/activate"),
    (Component::Idp, "POST", "/activate"),
    (Component::Idp, "GET", "/account"),
    (Component::Idp, "POST", "/account/logout"),
    (Component::Idp, "POST", "/account/remove"),
    (Component::Idp, "POST", "/account/password"),
    (Component::Idp, "POST", "/account/passkey/options"),
    (Component::Idp, "POST", "/account/passkey"),
    (Component::Idp, "POST", "/account/app/pairing-code"),
    (Component::Idp, "GET", "/app"),
    (Component::Idp, "POST", "/app/pair"),
    (Component::Idp, "POST", "/app/respond"),
    (Component::Idp, "GET", "/static/..%2f..%2fCargo.toml"),
    (Component::DemoRp, "GET", "/"),
    (Component::DemoRp, "POST", "/login"),
    (Component::DemoRp, "GET", "/callback"),
    (Component::DemoRp, "POST", "/logout"),
    (Component::DemoRp, "POST", "/backchannel-logout"),
    (Component::Delegation, "GET", "/readyz"),
    (Component::EidasGateway, "GET", "/metrics"),
    (
        Component::EidasGateway,
        "GET",
        "/eidas/connector/.well-known/openid-configuration",
    ),
    (Component::EidasGateway, "GET", "/eidas/connector/jwks"),
    (Component::EidasGateway, "GET", "/eidas/connector/authorize"),
    (
        Component::EidasGateway,
        "POST",
        "/eidas/connector/authorize",
    ),
    (Component::EidasGateway, "POST", "/eidas/connector/par"),
    (Component::EidasGateway, "POST", "/eidas/connector/token"),
    (Component::EidasGateway, "POST", "/eidas/connector/choose"),
    (Component::EidasGateway, "POST", "/eidas/connector/acs"),
    (Component::EidasGateway, "GET", "/eidas/connector/metadata"),
    (Component::EidasGateway, "GET", "/eidas/proxy/metadata"),
    (Component::EidasGateway, "POST", "/eidas/proxy/sso"),
    (Component::EidasGateway, "GET", "/eidas/proxy/callback"),
    (Component::EidasGateway, "GET", "/eidas/proxy/consent"),
    (Component::EidasGateway, "POST", "/eidas/proxy/consent"),
    (Component::EidasGateway, "POST", "/xa/proxy/sso"),
    (Component::EidasGateway, "GET", "/xa/proxy/login"),
    (Component::EidasGateway, "POST", "/xa/proxy/login"),
    (Component::EidasGateway, "POST", "/xa/proxy/consent"),
    (Component::EidasGateway, "POST", "/xa/connector/acs"),
    (Component::EidasGateway, "GET", "/xa/service/"),
    (Component::EidasGateway, "POST", "/xa/service/login"),
];

/// Parameter names the endpoints read, and a few they do not.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "client_id",
            "redirect_uri",
            "response_type",
            "scope",
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "prompt",
            "max_age",
            "acr_values",
            "ui_locales",
            "login_hint",
            "request_uri",
            "request",
            "code",
            "code_verifier",
            "grant_type",
            "refresh_token",
            "token",
            "token_type_hint",
            "id_token_hint",
            "logout_hint",
            "post_logout_redirect_uri",
            "client_secret",
            "client_assertion",
            "client_assertion_type",
            "tx",
            "csrf",
            "upstream",
            "user_id",
            "password",
            "cpr",
            "id",
            "level",
            "lang",
            "logout_token",
            "iss",
            "error",
        ])
        .prop_map(str::to_owned),
        "[a-z_%]{1,12}",
    ]
}

/// Values: plausible ones and hostile ones.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "rp-a",
            "demo-rp",
            "http://localhost:1/cb",
            "openid",
            "openid profile offline_access",
            "code",
            "S256",
            "plain",
            "none",
            "login",
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "mitid",
            "anna",
            "anna-demo-pass",
            "https://data.gov.dk/concept/core/nsis/loa/High",
            "0107709991",
            "-1",
            "99999999999999999999",
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "urn:ietf:params:oauth:request_uri:x",
        ])
        .prop_map(str::to_owned),
        Just("%00".to_owned()),
        Just("a%00b".to_owned()),
        Just("%zz%f".to_owned()),
        Just("%ff%fe%fd".to_owned()),
        Just("%0d%0aSet-Cookie:%20x=y".to_owned()),
        (1usize..20_000).prop_map(|n| "A".repeat(n)),
        "\\PC{0,40}".prop_map(|s| url::form_urlencoded::byte_serialize(s.as_bytes()).collect()),
        prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| b.iter().map(|x| format!("%{x:02x}")).collect()),
    ]
}

/// One request: a route, its parameters (encoded by hand, so broken encodings get through), a body
/// of raw bytes or none, and headers.
#[derive(Debug, Clone)]
struct Hostile {
    route: usize,
    params: Vec<(String, String)>,
    raw_body: Option<Vec<u8>>,
    cookie: Option<String>,
    authorization: Option<String>,
    json: bool,
}

fn hostile() -> impl Strategy<Value = Hostile> {
    (
        0..ROUTES.len(),
        prop::collection::vec((name(), value()), 0..12),
        prop::option::weighted(0.15, prop::collection::vec(any::<u8>(), 0..2048)),
        prop::option::weighted(
            0.5,
            prop_oneof![
                "[ -~]{0,200}",
                Just("eid_broker_session=AAAA; eid_idp_session=%00".to_owned()),
                (1usize..6000).prop_map(|n| format!("eid_broker_browser={}", "x".repeat(n))),
            ],
        ),
        prop::option::weighted(
            0.3,
            prop_oneof![
                "Basic [A-Za-z0-9+/=]{0,80}",
                "Bearer [ -~]{0,80}",
                Just("Basic cnAtYTo=".to_owned()),
                Just("Basic AA==".to_owned()),
                Just("Bearer test-admin-token-0123456789".to_owned()),
            ],
        ),
        any::<bool>(),
    )
        .prop_map(
            |(route, params, raw_body, cookie, authorization, json)| Hostile {
                route,
                params,
                raw_body,
                cookie,
                authorization,
                json,
            },
        )
}

async fn send(stack: &TestStack, http: &reqwest::Client, h: &Hostile) -> (u16, String) {
    let (component, method, path) = ROUTES[h.route];
    let query: String = h
        .params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base = format!("{}{path}", stack.url(component));
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = if method == reqwest::Method::GET || method == reqwest::Method::DELETE {
        http.request(method.clone(), format!("{base}?{query}"))
    } else {
        let body = h.raw_body.clone().unwrap_or_else(|| query.into_bytes());
        let content_type = if h.json {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        };
        http.request(method.clone(), &base)
            .header("content-type", content_type)
            .body(body)
    };
    if let Some(cookie) = &h.cookie {
        request = request.header("cookie", cookie.as_str());
    }
    if let Some(authorization) = &h.authorization {
        request = request.header("authorization", authorization.as_str());
    }
    match request.send().await {
        Ok(response) => (response.status().as_u16(), format!("{method} {path}")),
        // A header reqwest refuses to send is no request at all.
        Err(e) if e.is_builder() => (0, String::new()),
        Err(e) => panic!("{method} {path}: {e}"),
    }
}

/// Sends `count` generated requests to `stack`; returns the ones answered with a 5xx.
async fn hostile_round(stack: &TestStack, count: usize) -> Vec<String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let strategy = hostile();
    let mut failures = Vec::new();
    for _ in 0..count {
        let h = strategy.new_tree(&mut runner).unwrap().current();
        let (status, what) = send(stack, &http, &h).await;
        if status >= 500 {
            failures.push(format!("{status} {what}: {h:?}"));
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_of_any_shape_makes_a_listener_answer_5xx() {
    let stack = TestStack::builder().eidas().start().await.unwrap();
    let failures = hostile_round(&stack, 800).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// PostgreSQL refuses text that SQLite keeps (a NUL byte), so the same requests go to the
/// production backends too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_of_any_shape_makes_a_listener_answer_5xx_on_redis_and_postgres() {
    let Some((stack, db)) =
        crate::broker_support::production_stack_with(|builder| builder.eidas()).await
    else {
        return;
    };
    let failures = hostile_round(&stack, 400).await;
    // An id PostgreSQL cannot hold is simply no registration.
    let http = reqwest::Client::new();
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let status = http
            .request(
                method,
                format!(
                    "{}/admin/relying-parties/rp%00a",
                    stack.url(Component::Broker)
                ),
            )
            .bearer_auth(eid_testkit::stack::ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404);
    }
    stack.stop().await;
    let _ = db.drop_db().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_parameters_is_refused_with_a_4xx() {
    let stack = TestStack::builder().start().await.unwrap();
    let http = reqwest::Client::new();
    // 49,000 distinct three-letter names with empty values: 245 kB, under the body limit, so it is
    // the parameter parser that must refuse it.
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let flood: String = (0..49_000usize)
        .map(|i| {
            let n = LETTERS.len();
            let name = [
                LETTERS[i % n],
                LETTERS[(i / n) % n],
                LETTERS[(i / n / n) % n],
            ];
            format!("{}=", String::from_utf8_lossy(&name))
        })
        .collect::<Vec<_>>()
        .join("&");
    assert!(flood.len() < 256 * 1024);
    for (component, path) in [
        (Component::Broker, "/token"),
        (Component::Broker, "/par"),
        (Component::Broker, "/authorize"),
        (Component::Idp, "/token"),
        (Component::Idp, "/login/user"),
    ] {
        let status = http
            .post(format!("{}{path}", stack.url(component)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(flood.clone())
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_client_error(), "{path}: {status}");
    }
}
