//! The service the person logs in to is named on the authenticator's pages and on the phone, but
//! only when its client pushed it (RFC 9126, authenticated with the client secret): a
//! `service_name` in a front-channel request is ignored. Pushed requests are single use and bound
//! to their client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use base64::Engine;
use eid_idp::IdpConfig;
use eid_oidc::{ClientRegistration, TokenEndpointAuthMethod};
use harness::{Client, Harness, ISSUER, Reply};

const BROKER: &str = "broker";
const BROKER_NAME: &str = "NemLog-in (demo)";
const BROKER_SECRET: &str = "broker-secret-for-these-tests-0123";
const BROKER_REDIRECT: &str = "http://localhost:8080/upstream/mitid/callback";
const OTHER: &str = "other";
const OTHER_SECRET: &str = "other-secret-for-these-tests-01234";
const OTHER_REDIRECT: &str = "http://localhost:8084/callback";
const SERVICE: &str = "Borger.dk – Flyttetjenesten";
/// An S256 challenge (43 characters).
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn with_clients(config: &mut IdpConfig) {
    config.service_namers = vec![BROKER.to_owned()];
    config.clients = vec![
        ClientRegistration::new(
            BROKER,
            BROKER_NAME,
            vec![BROKER_REDIRECT.into()],
            vec![],
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(BROKER_SECRET),
        )
        .unwrap(),
        ClientRegistration::new(
            OTHER,
            "Anden klient",
            vec![OTHER_REDIRECT.into()],
            vec![],
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(OTHER_SECRET),
        )
        .unwrap(),
    ];
}

fn authorization_params(
    client_id: &'static str,
    redirect: &'static str,
) -> Vec<(&'static str, &'static str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("scope", "openid"),
        ("state", "state-1"),
        ("nonce", "nonce-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

/// The client's back channel, authenticated with `client_secret_basic`.
fn back_channel(client_id: &str, secret: &str) -> Client {
    let mut client = Client::at("192.0.2.50:40000");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    client
        .headers
        .push(("authorization", format!("Basic {basic}")));
    client
}

/// Pushes the broker's request with `extra` parameters.
async fn push(h: &Harness, extra: &[(&'static str, &'static str)]) -> Reply {
    let mut params = authorization_params(BROKER, BROKER_REDIRECT);
    params.extend_from_slice(extra);
    let mut broker = back_channel(BROKER, BROKER_SECRET);
    h.post(&mut broker, "/par", &params).await
}

fn request_uri(pushed: &Reply) -> String {
    assert_eq!(pushed.status, 201, "{}", pushed.body);
    let json: serde_json::Value = serde_json::from_str(&pushed.body).unwrap();
    assert_eq!(json["expires_in"], 60);
    let uri = json["request_uri"].as_str().unwrap().to_owned();
    assert!(
        uri.starts_with("urn:ietf:params:oauth:request_uri:"),
        "{uri}"
    );
    uri
}

fn authorize_path(client_id: &str, request_uri: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri)
        .finish();
    format!("/authorize?{query}")
}

/// Follows the authorization request to the user-ID page.
async fn user_page(h: &Harness, browser: &mut Client, path: &str) -> Reply {
    let to_login = h.get(browser, path).await;
    assert_eq!(to_login.status, 303, "{}", to_login.body);
    let location = to_login.location.unwrap();
    assert!(location.starts_with("/login?tx="), "{location}");
    h.get(browser, &location).await
}

/// The escaped form of the service name as askama writes it.
fn shown(name: &str) -> String {
    name.replace('&', "&amp;")
}

#[tokio::test]
async fn a_pushed_service_name_is_shown_on_every_page_and_on_the_phone() {
    let h = Harness::with(with_clients).await;
    // Anna's phone is paired, so the methods page offers the app.
    let mut device = h.pair_app("anna", "anna-pass-1").await;

    let uri = request_uri(&push(&h, &[("service_name", SERVICE)]).await);
    let mut browser = Client::new();
    let login = user_page(&h, &mut browser, &authorize_path(BROKER, &uri)).await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(
        login
            .body
            .contains(&format!("Log på hos <strong>{}</strong>", shown(SERVICE))),
        "{}",
        login.body
    );
    assert!(!login.body.contains(BROKER_NAME), "{}", login.body);

    let tx = login.input("tx");
    let csrf = login.input("csrf");
    h.post(
        &mut browser,
        "/login/user",
        &[("tx", &tx), ("csrf", &csrf), ("user_id", "anna")],
    )
    .await;
    let methods = h.get(&mut browser, &format!("/login?tx={tx}")).await;
    assert_eq!(methods.status, 200, "{}", methods.body);
    assert!(methods.body.contains(&shown(SERVICE)), "{}", methods.body);
    assert!(!methods.body.contains(BROKER_NAME), "{}", methods.body);

    let wait = h
        .post(
            &mut browser,
            "/login/app/start",
            &[("tx", &tx), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(wait.status, 200, "{}", wait.body);
    assert!(wait.body.contains(&shown(SERVICE)), "{}", wait.body);

    // The phone names the service, not the broker.
    let app = h.get(&mut device, "/app").await;
    assert!(
        app.body.contains(&format!("Log på hos {}", shown(SERVICE))),
        "{}",
        app.body
    );
    assert!(!app.body.contains(BROKER_NAME), "{}", app.body);
}

#[tokio::test]
async fn without_a_pushed_name_the_pages_name_the_client() {
    let h = Harness::with(with_clients).await;
    let uri = request_uri(&push(&h, &[]).await);
    let mut browser = Client::new();
    let login = user_page(&h, &mut browser, &authorize_path(BROKER, &uri)).await;
    assert!(
        login
            .body
            .contains(&format!("Log på hos <strong>{BROKER_NAME}</strong>")),
        "{}",
        login.body
    );
}

#[tokio::test]
async fn a_front_channel_service_name_is_ignored() {
    let h = Harness::with(with_clients).await;
    let mut params = authorization_params(BROKER, BROKER_REDIRECT);
    params.push(("service_name", "Falsk Bank"));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let mut browser = Client::new();
    let login = user_page(&h, &mut browser, &format!("/authorize?{query}")).await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(!login.body.contains("Falsk Bank"), "{}", login.body);
    assert!(login.body.contains(BROKER_NAME), "{}", login.body);
}

#[tokio::test]
async fn a_request_uri_is_single_use_and_bound_to_its_client() {
    let h = Harness::with(with_clients).await;
    let uri = request_uri(&push(&h, &[("service_name", SERVICE)]).await);
    let mut browser = Client::new();
    user_page(&h, &mut browser, &authorize_path(BROKER, &uri)).await;
    // Used once: a second use is refused, never redirected.
    let again = h.get(&mut browser, &authorize_path(BROKER, &uri)).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.location.is_none());

    // Another client cannot use the broker's pushed request, nor spend it (pushed_requests.rs).
    let uri = request_uri(&push(&h, &[("service_name", SERVICE)]).await);
    let mut other = Client::new();
    let stolen = h.get(&mut other, &authorize_path(OTHER, &uri)).await;
    assert_eq!(stolen.status, 400, "{}", stolen.body);
    assert!(!stolen.body.contains(&shown(SERVICE)));
    let late = h.get(&mut browser, &authorize_path(BROKER, &uri)).await;
    assert_eq!(late.status, 303, "{}", late.body);

    // An unknown request_uri is refused too; each refusal is audited.
    let unknown = h
        .get(
            &mut browser,
            &authorize_path(BROKER, "urn:ietf:params:oauth:request_uri:nothing"),
        )
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    let refusals = h.audited("authorize.rejected").await;
    assert!(refusals.len() >= 3, "{refusals:?}");
}

#[tokio::test]
async fn only_an_authenticated_client_may_push_and_the_name_is_bounded() {
    let h = Harness::with(with_clients).await;
    // Wrong secret, no credentials, another client's credentials for the broker's request.
    let mut params = authorization_params(BROKER, BROKER_REDIRECT);
    params.push(("service_name", SERVICE));
    let mut wrong = back_channel(BROKER, "not-the-secret");
    let answer = h.post(&mut wrong, "/par", &params).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    let mut anonymous = Client::new();
    let answer = h.post(&mut anonymous, "/par", &params).await;
    assert!(matches!(answer.status, 400 | 401), "{}", answer.body);
    let mut other = back_channel(OTHER, OTHER_SECRET);
    let answer = h.post(&mut other, "/par", &params).await;
    assert!(matches!(answer.status, 400 | 401), "{}", answer.body);

    // Names that are too long, blank, or carry direction overrides are refused.
    let long = "x".repeat(101);
    let long: &'static str = Box::leak(long.into_boxed_str());
    for bad in [long, "   ", "Bank\u{202E}kd.regrob"] {
        let answer = push(&h, &[("service_name", bad)]).await;
        assert_eq!(answer.status, 400, "{bad:?}: {}", answer.body);
        assert!(answer.body.contains("invalid_request"), "{}", answer.body);
    }
    // A control character is refused before anything reads the request (like a malformed body at
    // the token endpoint: an invalid_request answer, not audited).
    let answer = push(&h, &[("service_name", "Bank\nNemID")]).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    // A pushed request may not name another pushed request, and must be a valid request.
    let answer = push(
        &h,
        &[("request_uri", "urn:ietf:params:oauth:request_uri:x")],
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    let mut bad_redirect = back_channel(BROKER, BROKER_SECRET);
    let answer = h
        .post(
            &mut bad_redirect,
            "/par",
            &authorization_params(BROKER, OTHER_REDIRECT),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);

    let refusals = h.audited("par.rejected").await;
    // Three failed authentications, three bad names, a nested request_uri, a bad redirect_uri.
    assert!(refusals.len() >= 8, "{}", refusals.len());
    // Refusals after authentication name the client; none holds the rejected name.
    assert!(refusals.iter().any(|e| e.client.as_deref() == Some(BROKER)));

    // A 100-character name is fine.
    let hundred = "æ".repeat(100);
    let hundred: &'static str = Box::leak(hundred.into_boxed_str());
    request_uri(&push(&h, &[("service_name", hundred)]).await);
}

#[tokio::test]
async fn discovery_advertises_the_pushed_request_endpoint() {
    let h = Harness::with(with_clients).await;
    let mut client = Client::new();
    let doc = h
        .get(&mut client, "/.well-known/openid-configuration")
        .await;
    let json: serde_json::Value = serde_json::from_str(&doc.body).unwrap();
    assert_eq!(
        json["pushed_authorization_request_endpoint"],
        format!("{ISSUER}/par")
    );
}

/// Only a client allowed to name services (a broker) may: another client pushing a name is shown
/// under its own registered name, so that it cannot present itself as another service.
#[tokio::test]
async fn a_client_that_may_not_name_services_is_shown_by_its_own_name() {
    let h = Harness::with(with_clients).await;
    let mut params = authorization_params(OTHER, OTHER_REDIRECT);
    params.push(("service_name", "Skat.dk"));
    let mut other = back_channel(OTHER, OTHER_SECRET);
    let uri = request_uri(&h.post(&mut other, "/par", &params).await);
    let mut browser = Client::new();
    let login = user_page(&h, &mut browser, &authorize_path(OTHER, &uri)).await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(!login.body.contains("Skat.dk"), "{}", login.body);
    assert!(login.body.contains("Anden klient"), "{}", login.body);
}
