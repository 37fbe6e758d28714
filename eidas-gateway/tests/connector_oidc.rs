//! The connector as an OIDC provider towards the broker: what it refuses before any country is
//! asked, at the chooser, and at the token endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod connector_support;

use connector_support::*;
use eid_saml::eidas::EidasLoa;

async fn code(env: &Env) -> String {
    let mut browser = Client::new();
    let (req, relay) = env.start_login(&mut browser).await;
    let response = env.response(
        &req,
        env.success("_tok", EidasLoa::High, alexandros()),
        &keys().xa,
    );
    let back = env.post_response(&mut browser, &response, &relay).await;
    back.location_param(REDIRECT_URI, "code").expect("a code")
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_a_page_never_a_redirect() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let path = env
        .authorize_path(&[])
        .replace("upstream%2Feidas%2Fcallback", "evil");
    let reply = get(&env.router, &mut browser, &path).await;
    assert_eq!(reply.status, 400);
    assert!(reply.location.is_none());
    assert_eq!(env.audited("authorize.rejected").await.len(), 1);
}

#[tokio::test]
async fn prompt_none_is_answered_login_required() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let reply = get(
        &env.router,
        &mut browser,
        &env.authorize_path(&[("prompt", "none")]),
    )
    .await;
    assert_eq!(
        reply.location_param(REDIRECT_URI, "error").as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn a_country_not_offered_is_refused_at_the_chooser() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let chooser = get(
        &env.router,
        &mut browser,
        &env.authorize_path(&[("country", "ZZ")]),
    )
    .await;
    assert_eq!(chooser.status, 200);
    assert!(
        chooser.body.contains("name=\"country\""),
        "an unknown country shows the chooser"
    );
    let (login, csrf) = (chooser.input("login"), chooser.input("csrf"));
    let reply = post(
        &env.router,
        &mut browser,
        "/eidas/connector/choose",
        &[("login", &login), ("csrf", &csrf), ("country", "ZZ")],
    )
    .await;
    assert_eq!(reply.status, 400);
    assert!(!reply.body.contains("SAMLRequest"));
    assert_eq!(env.audited("connector.choice_rejected").await.len(), 1);
}

#[tokio::test]
async fn the_chooser_needs_its_csrf_token_and_its_browser() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let chooser = get(&env.router, &mut browser, &env.authorize_path(&[])).await;
    let login = chooser.input("login");
    let bad = post(
        &env.router,
        &mut browser,
        "/eidas/connector/choose",
        &[("login", &login), ("csrf", "forged"), ("country", "XA")],
    )
    .await;
    assert_eq!(bad.status, 403);
    let mut other = Client::new();
    let other_chooser = get(&env.router, &mut other, &env.authorize_path(&[])).await;
    let csrf = other_chooser.input("csrf");
    let foreign = post(
        &env.router,
        &mut other,
        "/eidas/connector/choose",
        &[("login", &login), ("csrf", &csrf), ("country", "XA")],
    )
    .await;
    assert_eq!(foreign.status, 403);
    assert_eq!(env.audited("connector.choice_rejected").await.len(), 2);
    // The chooser is used once.
    let csrf = chooser.input("csrf");
    let form = [
        ("login", login.as_str()),
        ("csrf", csrf.as_str()),
        ("country", "XA"),
    ];
    let first = post(&env.router, &mut browser, "/eidas/connector/choose", &form).await;
    assert!(first.body.contains("SAMLRequest"));
    let second = post(&env.router, &mut browser, "/eidas/connector/choose", &form).await;
    assert_eq!(second.status, 400);
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused() {
    let env = Env::new().await;
    let code = code(&env).await;
    let (status, body) = env
        .token(&code, VERIFIER, "not-the-secret-0123456789")
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn a_code_is_used_once() {
    let env = Env::new().await;
    let code = code(&env).await;
    assert_eq!(env.token(&code, VERIFIER, CLIENT_SECRET).await.0, 200);
    let (status, body) = env.token(&code, VERIFIER, CLIENT_SECRET).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(env.audited("token.rejected").await.len(), 1);
}

#[tokio::test]
async fn a_wrong_pkce_verifier_is_refused() {
    let env = Env::new().await;
    let code = code(&env).await;
    let (status, body) = env
        .token(
            &code,
            "another-verifier-0123456789-0123456789-0123",
            CLIENT_SECRET,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn client_secret_basic_is_accepted_too() {
    use base64::Engine as _;
    let env = Env::new().await;
    let code = code(&env).await;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let mut backchannel = Client::new();
    backchannel
        .headers
        .push(("authorization", format!("Basic {basic}")));
    let reply = post(
        &env.router,
        &mut backchannel,
        "/eidas/connector/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn discovery_names_our_endpoints_and_the_metadata_is_saml_metadata() {
    let env = Env::new().await;
    let mut anon = Client::new();
    let d = get(
        &env.router,
        &mut anon,
        "/eidas/connector/.well-known/openid-configuration",
    )
    .await;
    let d: serde_json::Value = serde_json::from_str(&d.body).unwrap();
    assert_eq!(d["issuer"], ISSUER);
    assert_eq!(
        d["pushed_authorization_request_endpoint"],
        format!("{ISSUER}/par")
    );
    assert_eq!(d["token_endpoint"], format!("{ISSUER}/token"));
    let jwks = get(&env.router, &mut anon, "/eidas/connector/jwks").await;
    let jwks: serde_json::Value = serde_json::from_str(&jwks.body).unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
}
