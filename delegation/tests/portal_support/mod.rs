//! The portal under test: served on a loopback port beside a stand-in for the broker (an OpenID
//! provider whose next login each test chooses: who, at which level, how long ago, acting for
//! whom), over a registry on an in-memory SQLite database with demo-like persons. The browser is
//! the testkit's cookie-keeping client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use eid_core::{
    AuditLog, Clock, Cpr, FixedClock, Loa, Organisation, Person, PersonKey, PersonRepository,
    PersonStatus, Scope,
};
use eid_delegation::portal::{Portal, PortalDeps, PortalSettings, ServiceOption};
use eid_delegation::registry::{Registry, RegistryDeps, RegistrySettings};
use eid_keys::{Alg, SigningKey};
use eid_store::{MemoryEphemeral, SqlDurable};
use eid_testkit::Browser;
use eid_testkit::client::Page;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use time::macros::date;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

pub const CLIENT_ID: &str = "portal";
pub const CLIENT_SECRET: &str = "portal-secret-0123456789";
/// Where redirects that leave the test would go (never reached).
pub const AWAY: &str = "http://away.invalid";

/// The next login the stand-in broker answers with.
#[derive(Clone)]
pub struct Login {
    pub sub: String,
    pub loa: Loa,
    /// Seconds since the authentication.
    pub age: i64,
    pub name: String,
    pub extra: Value,
}

/// A code's PKCE challenge, nonce and redirect URI.
type Grant = (String, Option<String>, String);

pub struct Op {
    pub issuer: String,
    key: Arc<SigningKey>,
    next: Mutex<Option<Login>>,
    /// Codes issued: their PKCE challenge, nonce and redirect URI.
    codes: Mutex<HashMap<String, Grant>>,
    /// Every authorization request's parameters, in order.
    pub authorize_requests: Mutex<Vec<HashMap<String, String>>>,
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn discovery(State(op): State<Arc<Op>>) -> Response {
    let iss = &op.issuer;
    Json(json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "jwks_uri": format!("{iss}/jwks"),
        "end_session_endpoint": format!("{iss}/logout"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}

async fn jwks(State(op): State<Arc<Op>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "keys": [op.key.public_jwk()] }).to_string(),
    )
        .into_response()
}

/// Logs the browser in at once as the chosen next login.
async fn authorize(
    State(op): State<Arc<Op>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    op.authorize_requests.lock().unwrap().push(q.clone());
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["code_challenge_method"], "S256");
    let code = format!("code-{}", Uuid::new_v4());
    op.codes.lock().unwrap().insert(
        code.clone(),
        (
            q["code_challenge"].clone(),
            q.get("nonce").cloned(),
            q["redirect_uri"].clone(),
        ),
    );
    let mut to = url::Url::parse(&q["redirect_uri"]).unwrap();
    to.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q["state"])
        .append_pair("iss", &op.issuer);
    Redirect::to(to.as_str()).into_response()
}

async fn token(
    State(op): State<Arc<Op>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(basic.as_str())
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let Some((challenge, nonce, redirect)) = op.codes.lock().unwrap().remove(&form["code"]) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let verifier = &form["code_verifier"];
    assert_eq!(
        b64(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref()),
        challenge
    );
    assert_eq!(form["redirect_uri"], redirect);
    let login = op
        .next
        .lock()
        .unwrap()
        .clone()
        .expect("the test chose a login");
    let t = now();
    let mut claims = json!({
        "iss": op.issuer,
        "sub": login.sub,
        "aud": CLIENT_ID,
        "exp": t + 300,
        "iat": t,
        "auth_time": t - login.age,
        "nonce": nonce,
        "acr": login.loa.as_uri(),
        "amr": ["pwd"],
        "name": login.name,
        "sid": format!("sid-{}", Uuid::new_v4()),
    });
    if let (Some(c), Some(extra)) = (claims.as_object_mut(), login.extra.as_object()) {
        c.extend(extra.clone());
    }
    let id_token = op
        .key
        .sign_jws(Some("JWT"), &serde_json::to_vec(&claims).unwrap())
        .unwrap();
    Json(json!({
        "access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token,
    }))
    .into_response()
}

/// The broker's logout: straight back to the portal.
async fn logout(Query(q): Query<HashMap<String, String>>) -> Response {
    Redirect::to(&q["post_logout_redirect_uri"]).into_response()
}

pub fn person(n: u8, given: &str, cpr: &str, birth: Date, competent: bool) -> Person {
    Person {
        id: Uuid::from_u128(0x6b0c_0000_0000_0000_0000_0000_0000_0000 + u128::from(n)),
        cpr: Cpr::parse(cpr).unwrap(),
        given_name: given.into(),
        family_name: "Jensen".into(),
        birthdate: birth,
        ial: Loa::Substantial,
        status: PersonStatus::Active,
        legally_competent: competent,
        user_id: None,
        created_at: OffsetDateTime::now_utc(),
    }
}

pub struct Harness {
    pub op: Arc<Op>,
    pub portal: String,
    pub reg: Registry,
    pub db: SqlDurable,
    pub clock: FixedClock,
    pub karen: Person,
    pub anna: Person,
    pub mikkel: Person,
    pub peter: Person,
}

impl Harness {
    pub async fn new() -> Harness {
        let db = SqlDurable::connect_and_migrate("sqlite::memory:")
            .await
            .unwrap();
        // The registry's clock starts now (ID tokens carry real times) and can be moved on.
        let clock = FixedClock::new(OffsetDateTime::now_utc());
        let reg = Registry::new(
            RegistrySettings::default(),
            RegistryDeps {
                persons: Arc::new(db.clone()),
                store: Arc::new(db.clone()),
                drafts: Arc::new(MemoryEphemeral::new()),
                audit: Arc::new(db.clone()),
                clock: Arc::new(clock.clone()),
            },
        );
        let karen = person(1, "Karen", "1503459992", date!(1945 - 03 - 15), true);
        let anna = person(2, "Anna", "0107709991", date!(1970 - 07 - 01), true);
        let mikkel = person(3, "Mikkel", "2211009993", date!(2000 - 11 - 22), true);
        let peter = person(6, "Peter", "0905859994", date!(1985 - 05 - 09), true);
        for p in [&karen, &anna, &mikkel, &peter] {
            db.upsert_person(p).await.unwrap();
        }
        let pem = eid_keys::generate_pem(Alg::ES256, 0).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://localhost:{}", listener.local_addr().unwrap().port());
        let op = Arc::new(Op {
            issuer: issuer.clone(),
            key: Arc::new(SigningKey::from_pem(pem.as_bytes(), Alg::ES256).unwrap()),
            next: Mutex::new(None),
            codes: Mutex::new(HashMap::new()),
            authorize_requests: Mutex::new(Vec::new()),
        });
        let op_router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/logout", get(logout))
            .with_state(op.clone());
        tokio::spawn(async move {
            axum::serve(listener, op_router).await.unwrap();
        });
        let portal_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let portal_url = format!(
            "http://localhost:{}",
            portal_listener.local_addr().unwrap().port()
        );
        let portal = Portal::new(
            PortalSettings {
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
                broker_issuer: issuer,
                public_url: portal_url.clone(),
                secure_cookies: false,
            },
            PortalDeps {
                registry: reg.clone(),
                outbox: Arc::new(db.clone()),
                store: Arc::new(MemoryEphemeral::new()),
                services: Arc::new(vec![
                    ServiceOption {
                        scope: Scope::service("demo-rp").unwrap(),
                        name: "Demo service".into(),
                    },
                    ServiceOption {
                        scope: Scope::area("housing-benefit").unwrap(),
                        name: "Housing benefit".into(),
                    },
                ]),
            },
        )
        .unwrap();
        let router = eid_delegation::portal::router(portal);
        tokio::spawn(async move {
            axum::serve(
                portal_listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Harness {
            op,
            portal: portal_url,
            reg,
            db,
            clock,
            karen,
            anna,
            mikkel,
            peter,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.portal)
    }

    /// The next login the broker answers: `p` at `loa`, `age` seconds ago.
    pub fn next_login(&self, p: &Person, loa: Loa, age: i64) {
        self.next_login_as(Login {
            sub: format!("idp:{}", p.id),
            loa,
            age,
            name: format!("{} {}", p.given_name, p.family_name),
            extra: json!({}),
        });
    }

    pub fn next_login_as(&self, login: Login) {
        *self.op.next.lock().unwrap() = Some(login);
    }

    /// Logs `p` in at the portal at `loa`, `age` seconds ago; returns the overview.
    pub async fn login(&self, browser: &Browser, p: &Person, loa: Loa, age: i64) -> Page {
        self.next_login(p, loa, age);
        let home = browser.get(&self.url("/"), AWAY).await;
        browser
            .post(
                &self.url("/login"),
                &[("csrf", &home.must_input("csrf"))],
                AWAY,
            )
            .await
    }

    /// The CSRF token of `browser`'s forms.
    pub async fn csrf(&self, browser: &Browser) -> String {
        browser
            .get(&self.url("/messages"), AWAY)
            .await
            .must_input("csrf")
    }

    /// The last authorization request the broker saw.
    pub fn last_authorize(&self) -> HashMap<String, String> {
        self.op
            .authorize_requests
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap()
    }

    pub fn authorize_count(&self) -> usize {
        self.op.authorize_requests.lock().unwrap().len()
    }

    /// A date `days` from today, as the date field sends it.
    pub fn in_days(&self, days: i64) -> String {
        (self.clock.now() + time::Duration::days(days))
            .date()
            .to_string()
    }

    pub fn key(&self, p: &Person) -> PersonKey {
        PersonKey {
            upstream: "idp".into(),
            subject: p.id.to_string(),
        }
    }

    /// The refusals audited for `p`, by reason.
    pub async fn refusals(&self, p: &Person) -> Vec<String> {
        AuditLog::for_person(&self.db, p.id, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "delegation.refused")
            .map(|e| e.details["reason"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Demo ApS, administered by Anna.
    pub async fn demo_aps(&self) {
        self.reg
            .register_organisation(
                &Organisation {
                    cvr: eid_core::Cvr::parse("12345678").unwrap(),
                    name: "Demo ApS".into(),
                    created_at: self.clock.now(),
                },
                &self.anna.cpr,
            )
            .await
            .unwrap();
    }
}

/// The path of the confirmation page a page was redirected to (`/confirm/<op>`).
pub fn op_path(page: &Page) -> String {
    let i = page
        .url
        .find("/confirm/")
        .unwrap_or_else(|| panic!("not a confirmation page: {} {}", page.url, page.body));
    page.url[i..].to_owned()
}
