//! The upstream OIDC client against a fake OpenID provider served in-process (discovery, JWKS, token
//! endpoint with a PKCE check), whose ID tokens each test shapes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use eid_core::Loa;
use eid_keys::{Alg, SigningKey};
use eid_oidc::rp::{
    ClaimMapping, PendingUpstream, UpstreamClient, UpstreamConfig, UpstreamError, UpstreamIdentity,
    UpstreamRequest,
};
use serde_json::{Value, json};

const CLIENT_ID: &str = "broker";
const CLIENT_SECRET: &str = "broker-secret-0123456789";
const REDIRECT_URI: &str = "https://broker.example/upstream/idp/callback";
const SUBJECT: &str = "5f0c3a52-8f3e-4a57-9b7c-2f1d7a0e4c11";

fn new_key() -> Arc<SigningKey> {
    let pem = eid_keys::generate_pem(Alg::ES256, 0).unwrap();
    Arc::new(SigningKey::from_pem(pem.as_bytes(), Alg::ES256).unwrap())
}

fn now() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since_epoch.as_secs()).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How the fake provider makes its ID tokens.
#[derive(Clone)]
enum Signing {
    /// With its published key.
    Published,
    /// With this key under its own kid (published or not).
    Key(Arc<SigningKey>),
    /// With this (unpublished) key, but naming the published key's kid.
    ForeignUnderPublishedKid(Arc<SigningKey>),
    /// Properly signed, then the payload swapped for this one.
    TamperedPayload(Value),
    /// `alg: none`, empty signature.
    AlgNone,
    /// HS256 with the client secret as the MAC key.
    Hs256WithClientSecret,
}

type Edit = Arc<dyn Fn(&mut Value) + Send + Sync>;

struct Grant {
    challenge: String,
    nonce: Option<String>,
    redirect_uri: String,
}

struct Op {
    issuer: String,
    key: Arc<SigningKey>,
    published: Mutex<Vec<Arc<SigningKey>>>,
    iss_supported: Mutex<bool>,
    end_session: Mutex<bool>,
    metadata_issuer: Mutex<Option<String>>,
    edit: Mutex<Option<Edit>>,
    signing: Mutex<Signing>,
    codes: Mutex<HashMap<String, Grant>>,
    jwks_fetches: AtomicUsize,
    next_code: AtomicUsize,
    /// The last ID token issued.
    issued: Mutex<Option<String>>,
    /// Advertise a pushed authorization request endpoint (RFC 9126).
    par: Mutex<bool>,
    /// Answer pushed requests with this error status instead.
    par_failure: Mutex<Option<StatusCode>>,
    /// Pushed requests by request_uri, as received.
    pushed: Mutex<HashMap<String, HashMap<String, String>>>,
}

impl Op {
    fn edit_claims(&self, f: impl Fn(&mut Value) + Send + Sync + 'static) {
        *self.edit.lock().unwrap() = Some(Arc::new(f));
    }

    fn sign_with(&self, signing: Signing) {
        *self.signing.lock().unwrap() = signing;
    }

    /// What the provider's /authorize would do after a successful login: a code bound to the request.
    fn authorize(&self, url: &url::Url) -> String {
        let mut q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        if let Some(uri) = q.get("request_uri").cloned() {
            // A pushed request: the browser carries only client_id and request_uri (single use).
            assert_eq!(q.len(), 2, "{q:?}");
            let pushed = self
                .pushed
                .lock()
                .unwrap()
                .remove(&uri)
                .expect("a pushed request");
            assert_eq!(pushed.get("client_id"), q.get("client_id"));
            q = pushed;
        }
        assert_eq!(
            q.get("code_challenge_method").map(String::as_str),
            Some("S256")
        );
        let code = format!("code-{}", self.next_code.fetch_add(1, Ordering::SeqCst));
        self.codes.lock().unwrap().insert(
            code.clone(),
            Grant {
                challenge: q["code_challenge"].clone(),
                nonce: q.get("nonce").cloned(),
                redirect_uri: q["redirect_uri"].clone(),
            },
        );
        code
    }

    fn id_token(&self, grant: &Grant) -> String {
        let t = now();
        let mut claims = json!({
            "iss": self.issuer,
            "sub": SUBJECT,
            "aud": CLIENT_ID,
            "exp": t + 300,
            "iat": t,
            "auth_time": t - 5,
            "nonce": grant.nonce,
            "acr": Loa::Substantial.as_uri(),
            "amr": ["swk", "pin", "mfa"],
            "cpr": "0101700001",
            "given_name": "Karen",
            "family_name": "Jensen",
            "birthdate": "1970-01-01",
            "loa": Loa::Substantial.as_uri(),
            "ial": Loa::Substantial.as_uri(),
            "aal": Loa::High.as_uri(),
        });
        if let Some(edit) = self.edit.lock().unwrap().clone() {
            edit(&mut claims);
        }
        let payload = serde_json::to_vec(&claims).unwrap();
        let signing = self.signing.lock().unwrap().clone();
        match signing {
            Signing::Published => self.key.sign_jws(Some("JWT"), &payload).unwrap(),
            Signing::Key(key) => key.sign_jws(Some("JWT"), &payload).unwrap(),
            Signing::ForeignUnderPublishedKid(other) => {
                let header = json!({"alg": "ES256", "kid": self.key.kid(), "typ": "JWT"});
                let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(&payload));
                let sig = other.sign(input.as_bytes()).unwrap();
                format!("{input}.{}", b64(&sig))
            }
            Signing::TamperedPayload(replacement) => {
                let token = self.key.sign_jws(Some("JWT"), &payload).unwrap();
                let parts: Vec<&str> = token.split('.').collect();
                let forged = b64(&serde_json::to_vec(&replacement).unwrap());
                format!("{}.{forged}.{}", parts[0], parts[2])
            }
            Signing::AlgNone => {
                format!(
                    "{}.{}.",
                    b64(br#"{"alg":"none","typ":"JWT"}"#),
                    b64(&payload)
                )
            }
            Signing::Hs256WithClientSecret => {
                let input = format!(
                    "{}.{}",
                    b64(br#"{"alg":"HS256","typ":"JWT"}"#),
                    b64(&payload)
                );
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, CLIENT_SECRET.as_bytes());
                let tag = ring::hmac::sign(&key, input.as_bytes());
                format!("{input}.{}", b64(tag.as_ref()))
            }
        }
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn discovery(State(op): State<Arc<Op>>) -> Response {
    let iss = &op.issuer;
    let mut doc = json!({
        "issuer": op.metadata_issuer.lock().unwrap().clone().unwrap_or_else(|| iss.clone()),
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "jwks_uri": format!("{iss}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": *op.iss_supported.lock().unwrap(),
    });
    if *op.end_session.lock().unwrap() {
        doc["end_session_endpoint"] = json!(format!("{iss}/logout?x=1"));
    }
    if *op.par.lock().unwrap() {
        doc["pushed_authorization_request_endpoint"] = json!(format!("{iss}/par"));
    }
    Json(doc).into_response()
}

async fn jwks(State(op): State<Arc<Op>>) -> Response {
    op.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let keys: Vec<Value> = op
        .published
        .lock()
        .unwrap()
        .iter()
        .map(|k| k.public_jwk())
        .collect();
    (
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "keys": keys }).to_string(),
    )
        .into_response()
}

async fn token(
    State(op): State<Arc<Op>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let form: HashMap<String, String> = form.into_iter().collect();
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "bad client credentials",
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "");
    }
    let Some(grant) = form
        .get("code")
        .and_then(|c| op.codes.lock().unwrap().remove(c))
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "unknown or used code",
        );
    };
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri differs",
        );
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = b64(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref());
    if verifier.is_empty() || challenge != grant.challenge {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "code_verifier does not match",
        );
    }
    let id_token = op.id_token(&grant);
    *op.issued.lock().unwrap() = Some(id_token.clone());
    Json(json!({
        "access_token": "at-1",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
        "scope": "openid",
    }))
    .into_response()
}

async fn par(
    State(op): State<Arc<Op>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(status) = *op.par_failure.lock().unwrap() {
        return oauth_error(status, "invalid_request", "refused by the test");
    }
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "bad client credentials",
        );
    }
    let uri = format!(
        "urn:ietf:params:oauth:request_uri:{}",
        op.pushed.lock().unwrap().len()
    );
    op.pushed
        .lock()
        .unwrap()
        .insert(uri.clone(), form.into_iter().collect());
    (
        StatusCode::CREATED,
        Json(json!({"request_uri": uri, "expires_in": 60})),
    )
        .into_response()
}

struct Harness {
    op: Arc<Op>,
    client: UpstreamClient,
}

impl Harness {
    async fn start() -> Harness {
        Self::start_with(|_| {}).await
    }

    /// Starts a fake provider; `setup` runs before the client's first discovery.
    async fn start_with(setup: impl FnOnce(&Op)) -> Harness {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let issuer = format!("http://localhost:{port}");
        let key = new_key();
        let op = Arc::new(Op {
            issuer: issuer.clone(),
            key: key.clone(),
            published: Mutex::new(vec![key]),
            iss_supported: Mutex::new(true),
            end_session: Mutex::new(true),
            metadata_issuer: Mutex::new(None),
            edit: Mutex::new(None),
            signing: Mutex::new(Signing::Published),
            codes: Mutex::new(HashMap::new()),
            jwks_fetches: AtomicUsize::new(0),
            next_code: AtomicUsize::new(1),
            issued: Mutex::new(None),
            par: Mutex::new(false),
            par_failure: Mutex::new(None),
            pushed: Mutex::new(HashMap::new()),
        });
        setup(&op);
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route(
                "/moved/.well-known/openid-configuration",
                get(|| async { Redirect::temporary("/.well-known/openid-configuration") }),
            )
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/par", post(par))
            .with_state(op.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = UpstreamClient::new(config(&issuer)).unwrap();
        Harness { op, client }
    }

    /// Begins a login and lets the fake provider authorize it: the pending record and the callback
    /// parameters a well-behaved provider would send.
    async fn login(&self, request: &UpstreamRequest) -> (PendingUpstream, Vec<(String, String)>) {
        let (url, pending) = self.client.begin(request).await.unwrap();
        let code = self.op.authorize(&url);
        let callback = params(&[
            ("code", &code),
            ("state", &pending.state),
            ("iss", &self.op.issuer),
        ]);
        (pending, callback)
    }

    /// A whole login: begin, authorize, complete.
    async fn run(&self, request: &UpstreamRequest) -> Result<UpstreamIdentity, UpstreamError> {
        let (pending, callback) = self.login(request).await;
        self.client.complete(&pending, &callback).await
    }
}

fn config(issuer: &str) -> UpstreamConfig {
    UpstreamConfig {
        name: "idp".into(),
        issuer: issuer.to_owned(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uri: REDIRECT_URI.into(),
        scopes: vec!["openid".into(), "profile".into()],
    }
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn substantial() -> UpstreamRequest {
    UpstreamRequest {
        acr_min: Some(Loa::Substantial),
        ..UpstreamRequest::default()
    }
}

fn assert_id_token_error(result: Result<UpstreamIdentity, UpstreamError>, what: &str) {
    match result {
        Err(UpstreamError::IdToken(msg)) => {
            assert!(msg.contains(what), "expected {what:?} in {msg:?}")
        }
        other => panic!("expected IdToken({what}), got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------

#[tokio::test]
async fn begin_builds_the_authorization_request() {
    let h = Harness::start().await;
    let request = UpstreamRequest {
        acr_min: Some(Loa::High),
        force_login: true,
        max_age: Some(600),
        login_hint: Some("karen".into()),
        ui_locales: Some("da en".into()),
        service_name: Some("Borger.dk".into()),
        country: None,
        legal_person: false,
    };
    let (url, pending) = h.client.begin(&request).await.unwrap();
    assert_eq!(
        url.as_str().split('?').next(),
        Some(format!("{}/authorize", h.op.issuer).as_str())
    );
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert_eq!(q["scope"], "openid profile");
    assert_eq!(q["state"], pending.state);
    assert_eq!(q["nonce"], pending.nonce);
    assert_eq!(q["code_challenge_method"], "S256");
    let challenge =
        b64(ring::digest::digest(&ring::digest::SHA256, pending.pkce_verifier.as_bytes()).as_ref());
    assert_eq!(q["code_challenge"], challenge);
    assert_eq!(q["acr_values"], Loa::High.as_uri());
    assert_eq!(q["prompt"], "login");
    assert_eq!(q["max_age"], "600");
    assert_eq!(q["login_hint"], "karen");
    assert_eq!(q["ui_locales"], "da en");
    // Without a pushed request endpoint, the service's name is not sent (it must come
    // authenticated).
    assert!(!q.contains_key("service_name"), "{q:?}");
    assert_eq!(pending.upstream, "idp");
    assert_eq!(pending.acr_min, Some(Loa::High));
    assert_eq!(pending.max_age, Some(600));
    assert!(pending.pkce_verifier.len() >= 43);

    // Fresh values each time; the pending record survives the ephemeral store as JSON.
    let (_, again) = h.client.begin(&request).await.unwrap();
    assert_ne!(again.state, pending.state);
    assert_ne!(again.nonce, pending.nonce);
    assert_ne!(again.pkce_verifier, pending.pkce_verifier);
    let json = serde_json::to_string(&pending).unwrap();
    assert_eq!(
        serde_json::from_str::<PendingUpstream>(&json).unwrap(),
        pending
    );
    assert!(!format!("{pending:?}").contains(&pending.pkce_verifier));

    // Discovery happened once, JWKS with it.
    assert_eq!(h.op.jwks_fetches.load(Ordering::SeqCst), 1);
    assert_eq!(h.client.name(), "idp");
    assert_eq!(h.client.issuer(), h.op.issuer);
}

#[tokio::test]
async fn happy_path_maps_the_identity() {
    let h = Harness::start().await;
    let identity = h.run(&substantial()).await.unwrap();
    assert_eq!(identity.upstream, "idp");
    assert_eq!(identity.subject, SUBJECT);
    assert_eq!(identity.loa, Loa::Substantial);
    assert_eq!(identity.amr, ["swk", "pin", "mfa"]);
    assert!((now() - identity.auth_time - 5).abs() <= 2);
    assert_eq!(identity.cpr.as_deref(), Some("0101700001"));
    assert_eq!(identity.given_name.as_deref(), Some("Karen"));
    assert_eq!(identity.family_name.as_deref(), Some("Jensen"));
    assert_eq!(identity.birthdate.as_deref(), Some("1970-01-01"));
    assert_eq!(
        Some(identity.id_token.clone()),
        *h.op.issued.lock().unwrap()
    );
    assert!(!format!("{identity:?}").contains("0101700001"));
    // Keys and metadata are cached: no further JWKS fetch.
    h.run(&UpstreamRequest::default()).await.unwrap();
    assert_eq!(h.op.jwks_fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_higher_level_than_requested_and_the_other_nsis_spelling_are_accepted() {
    let h = Harness::start().await;
    h.op.edit_claims(|c| c["acr"] = json!("https://data.gov.dk/concept/core/nsis/High"));
    let identity = h.run(&substantial()).await.unwrap();
    assert_eq!(identity.loa, Loa::High);
}

#[tokio::test]
async fn the_pkce_verifier_is_sent_to_the_token_endpoint() {
    let h = Harness::start().await;
    // The provider checks the verifier against the challenge from the authorization URL.
    let (pending, callback) = h.login(&substantial()).await;
    h.client.complete(&pending, &callback).await.unwrap();
    // Another verifier than the one whose challenge went to /authorize: the provider refuses.
    let (mut pending, callback) = h.login(&substantial()).await;
    pending.pkce_verifier = "A".repeat(43);
    match h.client.complete(&pending, &callback).await {
        Err(UpstreamError::Token(msg)) => assert!(msg.contains("code_verifier"), "{msg}"),
        other => panic!("expected Token error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_code_is_redeemed_once() {
    let h = Harness::start().await;
    let (pending, callback) = h.login(&substantial()).await;
    h.client.complete(&pending, &callback).await.unwrap();
    match h.client.complete(&pending, &callback).await {
        Err(UpstreamError::Token(msg)) => assert!(msg.contains("invalid_grant"), "{msg}"),
        other => panic!("expected Token error, got {other:?}"),
    }
}

#[tokio::test]
async fn state_mismatch_is_refused() {
    let h = Harness::start().await;
    let (pending, mut callback) = h.login(&substantial()).await;
    callback[1].1 = format!("{}x", pending.state);
    assert_eq!(
        h.client.complete(&pending, &callback).await,
        Err(UpstreamError::StateMismatch)
    );
    let without: Vec<_> = callback.into_iter().filter(|(k, _)| k != "state").collect();
    assert_eq!(
        h.client.complete(&pending, &without).await,
        Err(UpstreamError::StateMismatch)
    );
}

#[tokio::test]
async fn a_pending_login_of_another_upstream_is_refused() {
    let h = Harness::start().await;
    let (mut pending, callback) = h.login(&substantial()).await;
    pending.upstream = "eidas".into();
    assert_eq!(
        h.client.complete(&pending, &callback).await,
        Err(UpstreamError::StateMismatch)
    );
}

#[tokio::test]
async fn missing_iss_is_refused_when_the_upstream_promises_it() {
    let h = Harness::start().await;
    let (pending, callback) = h.login(&substantial()).await;
    let without: Vec<_> = callback.into_iter().filter(|(k, _)| k != "iss").collect();
    assert_eq!(
        h.client.complete(&pending, &without).await,
        Err(UpstreamError::IssuerMismatch)
    );
}

#[tokio::test]
async fn wrong_iss_in_the_callback_is_refused() {
    let h = Harness::start().await;
    let (pending, mut callback) = h.login(&substantial()).await;
    callback[2].1 = "https://evil.example".into();
    assert_eq!(
        h.client.complete(&pending, &callback).await,
        Err(UpstreamError::IssuerMismatch)
    );
}

#[tokio::test]
async fn iss_may_be_absent_only_when_not_promised_but_must_match_when_present() {
    let h = Harness::start_with(|op| *op.iss_supported.lock().unwrap() = false).await;
    let (pending, callback) = h.login(&substantial()).await;
    let without: Vec<_> = callback
        .iter()
        .filter(|(k, _)| k != "iss")
        .cloned()
        .collect();
    h.client.complete(&pending, &without).await.unwrap();

    let (pending, mut callback) = h.login(&substantial()).await;
    callback[2].1 = "https://evil.example".into();
    assert_eq!(
        h.client.complete(&pending, &callback).await,
        Err(UpstreamError::IssuerMismatch)
    );
}

#[tokio::test]
async fn an_error_response_is_a_refusal() {
    let h = Harness::start().await;
    let (pending, _) = h.login(&substantial()).await;
    let callback = params(&[
        ("error", "access_denied"),
        ("error_description", "the person cancelled"),
        ("state", &pending.state),
        ("iss", &h.op.issuer),
    ]);
    assert_eq!(
        h.client.complete(&pending, &callback).await,
        Err(UpstreamError::Refused {
            error: "access_denied".into(),
            description: Some("the person cancelled".into()),
        })
    );
}

#[tokio::test]
async fn id_token_with_wrong_iss_is_refused() {
    let h = Harness::start().await;
    h.op.edit_claims(|c| c["iss"] = json!("https://evil.example"));
    assert_id_token_error(h.run(&substantial()).await, "iss");
}

#[tokio::test]
async fn id_token_with_wrong_aud_is_refused() {
    let h = Harness::start().await;
    h.op.edit_claims(|c| c["aud"] = json!("another-client"));
    assert_id_token_error(h.run(&substantial()).await, "aud");
}

#[tokio::test]
async fn id_token_for_several_audiences_needs_our_azp() {
    let h = Harness::start().await;
    h.op.edit_claims(|c| c["aud"] = json!([CLIENT_ID, "another-client"]));
    assert_id_token_error(h.run(&substantial()).await, "azp");
    h.op.edit_claims(|c| {
        c["aud"] = json!([CLIENT_ID, "another-client"]);
        c["azp"] = json!(CLIENT_ID);
    });
    h.run(&substantial()).await.unwrap();
}

#[tokio::test]
async fn id_token_with_wrong_nonce_is_refused() {
    let h = Harness::start().await;
    h.op.edit_claims(|c| c["nonce"] = json!("not-the-nonce"));
    assert_eq!(
        h.run(&substantial()).await,
        Err(UpstreamError::NonceMismatch)
    );
    h.op.edit_claims(|c| {
        c.as_object_mut().unwrap().remove("nonce");
    });
    assert_eq!(
        h.run(&substantial()).await,
        Err(UpstreamError::NonceMismatch)
    );
}

#[tokio::test]
async fn expired_id_token_is_refused() {
    let h = Harness::start().await;
    h.op.edit_claims(|c| {
        let t = now();
        c["iat"] = json!(t - 600);
        c["auth_time"] = json!(t - 600);
        c["exp"] = json!(t - 120);
    });
    assert_id_token_error(h.run(&substantial()).await, "exp");
}

#[tokio::test]
async fn the_legal_person_scope_and_the_country_go_to_an_eidas_upstream_only() {
    let national = Harness::start().await;
    let request = UpstreamRequest {
        country: Some("XA".into()),
        legal_person: true,
        ..substantial()
    };
    let (url, _) = national.client.begin(&request).await.unwrap();
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["scope"], "openid profile");
    assert!(!q.contains_key("country"));
    let h = Harness::start().await;
    let eidas = h.client.clone().with_claim_mapping(ClaimMapping::Eidas);
    let (url, _) = eidas.begin(&request).await.unwrap();
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["scope"], "openid profile eidas_legal_person");
    assert_eq!(q["country"], "XA");
    let (url, _) = eidas
        .begin(&UpstreamRequest {
            legal_person: false,
            ..request
        })
        .await
        .unwrap();
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["scope"], "openid profile");
}

#[tokio::test]
async fn id_token_issued_in_the_future_is_refused() {
    let h = Harness::start().await;
    h.op.edit_claims(|c| c["iat"] = json!(now() + 300));
    assert_id_token_error(h.run(&substantial()).await, "iat");
}

#[tokio::test]
async fn lower_acr_than_requested_is_refused() {
    let h = Harness::start().await;
    let request = UpstreamRequest {
        acr_min: Some(Loa::High),
        ..UpstreamRequest::default()
    };
    assert_eq!(
        h.run(&request).await,
        Err(UpstreamError::AcrTooLow {
            requested: Loa::High,
            got: Some(Loa::Substantial),
        })
    );
}

#[tokio::test]
async fn missing_acr_is_refused() {
    let h = Harness::start().await;
    h.op.edit_claims(|c| {
        c.as_object_mut().unwrap().remove("acr");
    });
    assert_eq!(
        h.run(&substantial()).await,
        Err(UpstreamError::AcrTooLow {
            requested: Loa::Substantial,
            got: None,
        })
    );
    // Without a requested minimum the level is still needed.
    assert_id_token_error(h.run(&UpstreamRequest::default()).await, "acr");
}

#[tokio::test]
async fn max_age_is_enforced_on_auth_time() {
    let h = Harness::start().await;
    let request = UpstreamRequest {
        max_age: Some(60),
        ..substantial()
    };
    h.op.edit_claims(|c| c["auth_time"] = json!(now() - 600));
    assert_id_token_error(h.run(&request).await, "max_age");
    h.op.edit_claims(|c| {
        c.as_object_mut().unwrap().remove("auth_time");
    });
    assert_id_token_error(h.run(&request).await, "auth_time");
}

#[tokio::test]
async fn signature_by_a_key_not_in_the_jwks_is_refused_and_refetching_is_rate_limited() {
    let h = Harness::start().await;
    h.op.sign_with(Signing::Key(new_key()));
    assert_id_token_error(h.run(&substantial()).await, "JWKS");
    // The unknown kid made the client fetch the JWKS once more…
    assert_eq!(h.op.jwks_fetches.load(Ordering::SeqCst), 2);
    // …but not again right away.
    assert_id_token_error(h.run(&substantial()).await, "JWKS");
    assert_eq!(h.op.jwks_fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_rotated_key_is_found_by_fetching_the_jwks_again() {
    let h = Harness::start().await;
    h.client.begin(&substantial()).await.unwrap();
    let next = new_key();
    h.op.published.lock().unwrap().push(next.clone());
    h.op.sign_with(Signing::Key(next));
    let identity = h.run(&substantial()).await.unwrap();
    assert_eq!(identity.subject, SUBJECT);
    assert_eq!(h.op.jwks_fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn signature_by_another_key_under_a_published_kid_is_refused() {
    let h = Harness::start().await;
    h.op.sign_with(Signing::ForeignUnderPublishedKid(new_key()));
    assert_id_token_error(h.run(&substantial()).await, "signature");
}

#[tokio::test]
async fn tampered_payload_is_refused() {
    let h = Harness::start().await;
    // The forged payload must otherwise pass every check: build it from a genuine one.
    let (pending, callback) = h.login(&substantial()).await;
    let t = now();
    h.op.sign_with(Signing::TamperedPayload(json!({
        "iss": h.op.issuer, "sub": "someone-else", "aud": CLIENT_ID, "exp": t + 300, "iat": t,
        "auth_time": t, "nonce": pending.nonce, "acr": Loa::High.as_uri(),
    })));
    assert_id_token_error(h.client.complete(&pending, &callback).await, "signature");
}

#[tokio::test]
async fn alg_none_is_refused() {
    let h = Harness::start().await;
    h.op.sign_with(Signing::AlgNone);
    assert_id_token_error(h.run(&substantial()).await, "none");
}

#[tokio::test]
async fn hmac_with_the_client_secret_is_refused() {
    let h = Harness::start().await;
    h.op.sign_with(Signing::Hs256WithClientSecret);
    assert_id_token_error(h.run(&substantial()).await, "HS256");
}

#[tokio::test]
async fn the_upstreams_sid_is_kept_only_when_fit_for_a_url() {
    let h = Harness::start().await;
    assert_eq!(h.run(&substantial()).await.unwrap().sid, None);
    h.op.edit_claims(|c| c["sid"] = json!("opaque-sid_0123"));
    assert_eq!(
        h.run(&substantial()).await.unwrap().sid.as_deref(),
        Some("opaque-sid_0123")
    );
    for bad in ["", "with space", "new\nline", &"s".repeat(129)] {
        let bad = bad.to_owned();
        h.op.edit_claims(move |c| c["sid"] = json!(bad.clone()));
        assert_eq!(h.run(&substantial()).await.unwrap().sid, None);
    }
}

#[tokio::test]
async fn end_session_url_carries_the_logout_hint_and_the_return_address() {
    let h = Harness::start().await;
    let url = h
        .client
        .end_session_url(
            Some("opaque-sid"),
            Some("https://broker.example/logged-out"),
        )
        .await
        .unwrap();
    assert_eq!(url.path(), "/logout");
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["x"], "1");
    assert_eq!(q["logout_hint"], "opaque-sid");
    assert!(!q.contains_key("id_token_hint"));
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(
        q["post_logout_redirect_uri"],
        "https://broker.example/logged-out"
    );

    let h = Harness::start_with(|op| *op.end_session.lock().unwrap() = false).await;
    assert_eq!(h.client.end_session_url(Some("t"), None).await, None);
}

#[tokio::test]
async fn discovery_must_name_the_configured_issuer() {
    let h = Harness::start_with(|op| {
        *op.metadata_issuer.lock().unwrap() = Some("https://evil.example".into());
    })
    .await;
    match h.client.begin(&substantial()).await {
        Err(UpstreamError::Discovery(msg)) => assert!(msg.contains("issuer"), "{msg}"),
        other => panic!("expected Discovery error, got {other:?}"),
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let h = Harness::start().await;
    let client = UpstreamClient::new(config(&format!("{}/moved", h.op.issuer))).unwrap();
    match client.begin(&substantial()).await {
        Err(UpstreamError::Discovery(msg)) => assert!(msg.contains("307"), "{msg}"),
        other => panic!("expected Discovery error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_upstream_is_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = UpstreamClient::new(config(&format!("http://127.0.0.1:{port}"))).unwrap();
    assert!(matches!(
        client.begin(&substantial()).await,
        Err(UpstreamError::Unavailable(_))
    ));
    assert_eq!(client.end_session_url(Some("t"), None).await, None);
}

#[test]
fn bad_configuration_is_refused_without_network() {
    for (issuer, redirect) in [
        ("not a url", REDIRECT_URI),
        ("ftp://idp.example", REDIRECT_URI),
        ("https://idp.example?x=1", REDIRECT_URI),
        ("https://idp.example", "not a url"),
    ] {
        let mut c = config(issuer);
        c.redirect_uri = redirect.into();
        assert!(
            matches!(UpstreamClient::new(c), Err(UpstreamError::Config(_))),
            "{issuer} {redirect}"
        );
    }
}

// --- Pushed authorization requests (RFC 9126) ------------------------------------------------------

fn with_par(op: &Op) {
    *op.par.lock().unwrap() = true;
}

#[tokio::test]
async fn when_the_provider_offers_par_the_request_is_pushed_with_the_service_name() {
    let h = Harness::start_with(with_par).await;
    let request = UpstreamRequest {
        acr_min: Some(Loa::Substantial),
        ui_locales: Some("da".into()),
        service_name: Some("Borger.dk – Flyt".into()),
        ..UpstreamRequest::default()
    };
    let (url, pending) = h.client.begin(&request).await.unwrap();
    // The browser is sent with client_id and the request_uri only.
    assert_eq!(
        url.as_str().split('?').next(),
        Some(format!("{}/authorize", h.op.issuer).as_str())
    );
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q.len(), 2, "{q:?}");
    assert_eq!(q["client_id"], CLIENT_ID);
    let pushed = h.op.pushed.lock().unwrap()[&q["request_uri"]].clone();
    assert_eq!(pushed["service_name"], "Borger.dk – Flyt");
    assert_eq!(pushed["state"], pending.state);
    assert_eq!(pushed["nonce"], pending.nonce);
    assert_eq!(pushed["acr_values"], Loa::Substantial.as_uri());
    assert_eq!(pushed["ui_locales"], "da");
    assert_eq!(pushed["redirect_uri"], REDIRECT_URI);
    assert_eq!(pushed["code_challenge_method"], "S256");
    assert!(!pushed.contains_key("client_secret"));

    // The whole login completes through the pushed request.
    let code = h.op.authorize(&url);
    let callback = params(&[
        ("code", &code),
        ("state", &pending.state),
        ("iss", &h.op.issuer),
    ]);
    let identity = h.client.complete(&pending, &callback).await.unwrap();
    assert_eq!(identity.loa, Loa::Substantial);
}

#[tokio::test]
async fn a_service_name_unfit_to_show_is_not_sent() {
    let h = Harness::start_with(with_par).await;
    for bad in ["x".repeat(101), "  ".into(), "Bank\u{202E}kd".into()] {
        let request = UpstreamRequest {
            service_name: Some(bad.clone()),
            ..substantial()
        };
        let (url, _) = h.client.begin(&request).await.unwrap();
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let pushed = h.op.pushed.lock().unwrap()[&q["request_uri"]].clone();
        assert!(!pushed.contains_key("service_name"), "{bad:?}");
    }
    // Without a name, the request is pushed all the same.
    let (url, _) = h.client.begin(&substantial()).await.unwrap();
    assert!(url.query_pairs().any(|(k, _)| k == "request_uri"));
}

#[tokio::test]
async fn a_refused_push_is_a_refusal_and_a_failing_one_is_unavailable() {
    let h = Harness::start_with(|op| {
        with_par(op);
        *op.par_failure.lock().unwrap() = Some(StatusCode::BAD_REQUEST);
    })
    .await;
    match h.client.begin(&substantial()).await {
        Err(UpstreamError::Refused { error, description }) => {
            assert_eq!(error, "invalid_request");
            assert_eq!(description.as_deref(), Some("refused by the test"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    *h.op.par_failure.lock().unwrap() = Some(StatusCode::SERVICE_UNAVAILABLE);
    assert!(matches!(
        h.client.begin(&substantial()).await,
        Err(UpstreamError::Unavailable(_))
    ));
}
