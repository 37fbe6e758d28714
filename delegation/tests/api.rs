//! The REST API through its router, with the registry over in-memory SQLite and a stand-in for the
//! broker's introspection endpoint on a real socket (it answers what the broker answers: `active`,
//! `client_id`, `sub`, `acr`, `auth_time`, `exp`, and `act`/`authorization_details` for a session
//! acting for someone). Each rule of the API has its negative test here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::routing::post;
use eid_core::{AuditLog, Clock, Cvr, Loa, Organisation, Person};
use eid_delegation::api::{self, ApiSettings, ApiState, ROUTES};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use tower::ServiceExt;

const CLIENT: &str = "delegation-api";
const SECRET: &str = "api-secret-0123456789";
const PORTAL: &str = "portal";

/// The broker's introspection endpoint, as far as the API sees it.
#[derive(Clone, Default)]
struct Broker {
    answers: Arc<Mutex<HashMap<String, Value>>>,
    asked: Arc<AtomicUsize>,
}

async fn introspect(
    State(b): State<Broker>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    b.asked.fetch_add(1, Ordering::SeqCst);
    let basic = format!(
        "Basic {}",
        data_encoding::BASE64.encode(format!("{CLIENT}:{SECRET}").as_bytes())
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(basic.as_str())
    {
        return (
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_client"}).to_string(),
        );
    }
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let answer = b
        .answers
        .lock()
        .unwrap()
        .get(&token)
        .cloned()
        .unwrap_or(json!({ "active": false }));
    (StatusCode::OK, answer.to_string())
}

async fn start_broker() -> (Broker, String) {
    let broker = Broker::default();
    let app = axum::Router::new()
        .route("/introspect", post(introspect))
        .with_state(broker.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (broker, format!("http://{addr}/introspect"))
}

struct T {
    h: H,
    broker: Broker,
    app: axum::Router,
}

fn settings(url: &str) -> ApiSettings {
    ApiSettings::new(url, CLIENT, SECRET, vec![PORTAL.to_owned()])
}

async fn setup_with(f: impl FnOnce(&mut ApiSettings)) -> T {
    let h = harness().await;
    let (broker, url) = start_broker().await;
    let mut s = settings(&url);
    f(&mut s);
    let state = ApiState::new(
        h.reg.clone(),
        s,
        Arc::new(h.db.clone()),
        Arc::new(h.clock.clone()),
    )
    .unwrap();
    T {
        app: api::router(state),
        h,
        broker,
    }
}

async fn setup() -> T {
    setup_with(|_| {}).await
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl T {
    /// A token of `p`'s login at `loa`, `age` seconds ago, issued to `client`.
    fn token_for(&self, p: &Person, loa: Loa, age: i64, client: &str) -> String {
        let now = self.h.clock.now().unix_timestamp();
        let token = format!("tok-{}-{}-{age}-{client}", p.id, loa.as_word());
        self.answer(
            &token,
            json!({
                "active": true, "client_id": client, "sub": format!("idp:{}", p.id),
                "scope": "openid", "exp": now + 600, "iat": now - age,
                "acr": loa.as_uri(), "auth_time": now - age, "token_type": "Bearer",
            }),
        );
        token
    }

    fn token(&self, p: &Person) -> String {
        self.token_for(p, Loa::Substantial, 30, PORTAL)
    }

    fn answer(&self, token: &str, answer: Value) {
        self.broker
            .answers
            .lock()
            .unwrap()
            .insert(token.to_owned(), answer);
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        self.send(req).await
    }

    async fn send(&self, req: Request<Body>) -> Answer {
        let r = self.app.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    fn grant_body(&self, agent: &Person) -> Value {
        json!({
            "agent": { "cpr": agent.cpr.as_str() },
            "scopes": [{ "service": RP }],
            "access": "act",
            "valid_until": "2026-07-10T12:00:00Z",
        })
    }
}

fn error(a: &Answer, status: StatusCode, code: &str) {
    assert_eq!(a.status, status, "{}", a.text);
    assert_eq!(a.body["error"], code, "{}", a.text);
    assert!(
        a.body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{}",
        a.text
    );
}

#[tokio::test]
async fn a_grant_through_the_api_is_prepared_confirmed_accepted_used_and_revoked() {
    let t = setup().await;
    let (karen, anna) = (t.token(&t.h.karen), t.token(&t.h.anna));

    let draft = t
        .call(
            "POST",
            "/api/grants",
            Some(&karen),
            Some(t.grant_body(&t.h.anna)),
        )
        .await;
    assert_eq!(draft.status, StatusCode::CREATED, "{}", draft.text);
    assert_eq!(
        draft.body["agent"],
        json!({ "type": "person", "name": "Anna Jensen" })
    );
    assert_eq!(draft.body["scopes"], json!([{ "service": RP }]));
    assert_eq!(draft.body["needs_acceptance"], true);
    assert!(
        !draft.text.contains(t.h.anna.cpr.as_str()),
        "CPR numbers are taken, never answered: {}",
        draft.text
    );
    assert!(
        t.h.usable(&t.h.anna, RP).await.is_empty(),
        "a draft is nothing"
    );

    let made = t
        .call(
            "POST",
            "/api/confirmations",
            Some(&karen),
            Some(draft.body["confirm"].clone()),
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.text);
    assert_eq!(made.body["state"], "pending");
    let id = made.body["id"].as_str().unwrap().to_owned();

    let pending = t
        .call("GET", "/api/mandates/pending", Some(&anna), None)
        .await;
    assert_eq!(pending.status, StatusCode::OK);
    assert_eq!(pending.body["to_accept"][0]["id"], id.as_str());
    assert_eq!(
        pending.body["to_accept"][0]["principal"]["name"],
        "Karen Jensen"
    );
    // Only the agent accepts.
    let wrong = t
        .call(
            "POST",
            &format!("/api/mandates/{id}/accept"),
            Some(&karen),
            None,
        )
        .await;
    error(&wrong, StatusCode::FORBIDDEN, "wrong_party");
    let accepted = t
        .call(
            "POST",
            &format!("/api/mandates/{id}/accept"),
            Some(&anna),
            None,
        )
        .await;
    assert_eq!(accepted.body["state"], "active", "{}", accepted.text);
    assert_eq!(t.h.usable(&t.h.anna, RP).await.len(), 1);

    let given = t
        .call("GET", "/api/mandates/given?limit=10", Some(&karen), None)
        .await;
    assert_eq!(given.body["mandates"][0]["id"], id.as_str());
    let held = t.call("GET", "/api/mandates/held", Some(&anna), None).await;
    assert_eq!(held.body["mandates"][0]["id"], id.as_str());
    // A third person learns nothing of it.
    let other = t.token(&t.h.mikkel);
    let hidden = t
        .call("GET", &format!("/api/mandates/{id}"), Some(&other), None)
        .await;
    error(&hidden, StatusCode::NOT_FOUND, "not_found");

    let revoked = t
        .call(
            "POST",
            &format!("/api/mandates/{id}/revoke"),
            Some(&karen),
            None,
        )
        .await;
    assert_eq!(revoked.body["state"], "revoked", "{}", revoked.text);
    assert!(
        t.h.usable(&t.h.anna, RP).await.is_empty(),
        "revoked at once"
    );
    let again = t
        .call(
            "POST",
            &format!("/api/mandates/{id}/revoke"),
            Some(&anna),
            None,
        )
        .await;
    error(&again, StatusCode::CONFLICT, "wrong_state");

    let one = t
        .call("GET", &format!("/api/mandates/{id}"), Some(&anna), None)
        .await;
    let states: Vec<&str> = one.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["pending", "active", "revoked"]);
    assert_eq!(one.body["history"][2]["by"], "Karen Jensen");
}

#[tokio::test]
async fn a_request_is_approved_through_the_sign_step_and_can_be_declined() {
    let t = setup().await;
    let (karen, anna) = (t.token(&t.h.karen), t.token(&t.h.anna));
    let body = json!({
        "principal": { "cpr": t.h.karen.cpr.as_str() },
        "scopes": [{ "area": "housing" }], "access": "read", "valid_until": "2026-08-01T00:00:00Z",
    });
    let asked = t
        .call("POST", "/api/requests", Some(&anna), Some(body.clone()))
        .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.text);
    assert_eq!(asked.body["state"], "requested");
    let id = asked.body["id"].as_str().unwrap().to_owned();
    let pending = t
        .call("GET", "/api/mandates/pending", Some(&karen), None)
        .await;
    assert_eq!(pending.body["to_approve"][0]["id"], id.as_str());

    let draft = t
        .call(
            "POST",
            &format!("/api/mandates/{id}/approval"),
            Some(&karen),
            None,
        )
        .await;
    assert_eq!(draft.status, StatusCode::CREATED, "{}", draft.text);
    assert_eq!(draft.body["approves_request"], true);
    // A confirmation of anything else than what was prepared matches nothing.
    let mut forged = draft.body["confirm"].clone();
    forged["digest"] = json!("0".repeat(64));
    let refused = t
        .call("POST", "/api/confirmations", Some(&karen), Some(forged))
        .await;
    error(&refused, StatusCode::UNPROCESSABLE_ENTITY, "draft_mismatch");
    let approved = t
        .call(
            "POST",
            "/api/confirmations",
            Some(&karen),
            Some(draft.body["confirm"].clone()),
        )
        .await;
    assert_eq!(approved.body["state"], "active", "{}", approved.text);

    let second = t
        .call("POST", "/api/requests", Some(&anna), Some(body))
        .await;
    let id = second.body["id"].as_str().unwrap();
    let declined = t
        .call(
            "POST",
            &format!("/api/mandates/{id}/decline"),
            Some(&karen),
            None,
        )
        .await;
    assert_eq!(declined.body["state"], "declined", "{}", declined.text);
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401_with_a_bearer_challenge() {
    let t = setup().await;
    let path = "/api/mandates/given";

    let none = t.call("GET", path, None, None).await;
    error(&none, StatusCode::UNAUTHORIZED, "invalid_request");
    assert_eq!(
        none.headers[header::WWW_AUTHENTICATE],
        r#"Bearer realm="delegation""#
    );

    let basic = t
        .send(
            Request::get(path)
                .header(header::AUTHORIZATION, "Basic YTpi")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);

    let malformed = t.call("GET", path, Some("a b\"c"), None).await;
    error(&malformed, StatusCode::UNAUTHORIZED, "invalid_token");

    let unknown = t.call("GET", path, Some("no-such-token"), None).await;
    error(&unknown, StatusCode::UNAUTHORIZED, "invalid_token");
    assert!(
        unknown.headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );

    // Each rule of the token on its own: a good token with one thing changed.
    let good = t.token(&t.h.karen);
    let base = t.broker.answers.lock().unwrap()[&good].clone();
    let now = t.h.clock.now().unix_timestamp();
    for (field, value) in [
        ("exp", json!(now - 1)),
        ("client_id", json!("tax-service")),
        ("sub", json!("k3Zx9pairwiseSubject")),
        ("acr", Value::Null),
        ("auth_time", Value::Null),
        ("active", json!(false)),
    ] {
        let token = format!("bad-{field}");
        let mut answer = base.clone();
        answer[field] = value;
        t.answer(&token, answer);
        let r = t.call("GET", path, Some(&token), None).await;
        error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
    }
    // An active person's token of a client the API does not accept is audited on their log,
    // once per answer of the broker (not again while the answer is reused).
    let r = t.call("GET", path, Some("bad-client_id"), None).await;
    error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
    let events = AuditLog::for_person(&t.h.db, t.h.karen.id, 20)
        .await
        .unwrap();
    let refused: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "delegation.api_refused")
        .map(|e| e.details["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        refused
            .iter()
            .filter(|r| **r == "client_not_accepted")
            .count(),
        1,
        "{refused:?}"
    );
    assert!(refused.contains(&"token_expired"), "{refused:?}");
    assert!(
        events
            .iter()
            .any(|e| e.client.as_deref() == Some("tax-service")),
        "the client is named"
    );
}

#[tokio::test]
async fn a_session_acting_for_someone_may_change_nothing() {
    let t = setup().await;
    let anna = t.token(&t.h.anna);
    let karen = t.token(&t.h.karen);
    // Anna logged in on behalf of Karen: sub is Karen, act is Anna.
    let mut acting = t.broker.answers.lock().unwrap()[&karen].clone();
    acting["act"] = json!({ "sub": format!("idp:{}", t.h.anna.id) });
    acting["authorization_details"] = json!([{ "type": "urn:eidbroker:mandate", "identifier": "0197a0b2-0000-7000-8000-000000000001" }]);
    t.answer("acting", acting);

    let r = t
        .call(
            "POST",
            "/api/grants",
            Some("acting"),
            Some(t.grant_body(&t.h.mikkel)),
        )
        .await;
    error(&r, StatusCode::FORBIDDEN, "re_delegation");
    let r = t
        .call("GET", "/api/mandates/given", Some("acting"), None)
        .await;
    error(&r, StatusCode::FORBIDDEN, "re_delegation");
    assert!(
        t.h.refusals(&t.h.karen)
            .await
            .contains(&"re_delegation".to_owned())
    );
    // Anna herself may.
    let r = t
        .call(
            "POST",
            "/api/grants",
            Some(&anna),
            Some(t.grant_body(&t.h.mikkel)),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn a_grant_needs_a_fresh_substantial_login_and_says_how_to_step_up() {
    let t = setup().await;
    for token in [
        t.token_for(&t.h.karen, Loa::Substantial, 10 * 60, PORTAL),
        t.token_for(&t.h.karen, Loa::Low, 10, PORTAL),
    ] {
        let r = t
            .call(
                "POST",
                "/api/grants",
                Some(&token),
                Some(t.grant_body(&t.h.anna)),
            )
            .await;
        error(
            &r,
            StatusCode::UNAUTHORIZED,
            "insufficient_user_authentication",
        );
        let challenge = r.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.contains(r#"error="insufficient_user_authentication""#));
        assert!(challenge.contains(Loa::Substantial.as_uri()), "{challenge}");
        assert!(challenge.contains("max_age=300"), "{challenge}");
        // Listing and revoking need no fresh login.
        let r = t
            .call("GET", "/api/mandates/given", Some(&token), None)
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert!(
        t.h.refusals(&t.h.karen)
            .await
            .contains(&"login_not_fresh".to_owned())
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_never_a_5xx() {
    let t = setup().await;
    let karen = t.token(&t.h.karen);
    let mut bad_cpr = t.grant_body(&t.h.anna);
    bad_cpr["agent"] = json!({ "cpr": "123" });
    let r = t
        .call("POST", "/api/grants", Some(&karen), Some(bad_cpr))
        .await;
    error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(
        r.body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("agent.cpr"),
        "{}",
        r.text
    );

    let mut unknown = t.grant_body(&t.h.anna);
    unknown["agent"] = json!({ "cpr": "0101011234" });
    let r = t
        .call("POST", "/api/grants", Some(&karen), Some(unknown))
        .await;
    error(&r, StatusCode::UNPROCESSABLE_ENTITY, "person_unknown");

    let mut too_long = t.grant_body(&t.h.anna);
    too_long["valid_until"] = json!("2036-07-10T12:00:00Z");
    let r = t
        .call("POST", "/api/grants", Some(&karen), Some(too_long))
        .await;
    error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validity_too_long");

    let not_json = t
        .send(
            Request::post("/api/grants")
                .header(header::AUTHORIZATION, format!("Bearer {karen}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("agent=x"))
                .unwrap(),
        )
        .await;
    error(
        &not_json,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "invalid_request",
    );

    let huge = json!({ "agent": { "cpr": "x".repeat(20_000) } });
    let r = t
        .call("POST", "/api/grants", Some(&karen), Some(huge))
        .await;
    error(&r, StatusCode::PAYLOAD_TOO_LARGE, "request_too_large");

    let r = t
        .call(
            "POST",
            "/api/mandates/not-a-uuid/accept",
            Some(&karen),
            None,
        )
        .await;
    error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    let r = t
        .call("GET", "/api/mandates/given?limit=0", Some(&karen), None)
        .await;
    error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    let r = t
        .call("GET", "/api/mandates/given?limit=x", Some(&karen), None)
        .await;
    error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    let r = t
        .call("GET", "/api/organisations/123/mandates", Some(&karen), None)
        .await;
    error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    let r = t
        .call(
            "POST",
            "/api/confirmations",
            Some(&karen),
            Some(json!({"draft": "x", "digest": "y"})),
        )
        .await;
    error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    let r = t.call("GET", "/api/nothing-here", Some(&karen), None).await;
    error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = t.call("DELETE", "/api/grants", Some(&karen), None).await;
    error(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn only_an_organisations_administrator_manages_its_rights() {
    let t = setup().await;
    let org = Organisation {
        cvr: Cvr::parse("12345678").unwrap(),
        name: "Demo ApS".into(),
        created_at: t.h.clock.now(),
    };
    t.h.reg
        .register_organisation(&org, &t.h.peter.cpr)
        .await
        .unwrap();
    let (peter, anna) = (t.token(&t.h.peter), t.token(&t.h.anna));
    let right = json!({
        "employee": { "cpr": t.h.anna.cpr.as_str() },
        "scopes": [{ "service": RP }],
        "privileges": ["urn:dk:demo:privilege:apply"],
        "access": "act",
    });

    let r = t
        .call(
            "POST",
            "/api/organisations/12345678/rights",
            Some(&anna),
            Some(right.clone()),
        )
        .await;
    error(&r, StatusCode::FORBIDDEN, "not_administrator");
    assert!(
        t.h.refusals(&t.h.anna)
            .await
            .contains(&"not_administrator".to_owned())
    );
    let r = t
        .call(
            "GET",
            "/api/organisations/12345678/mandates",
            Some(&anna),
            None,
        )
        .await;
    error(&r, StatusCode::FORBIDDEN, "not_administrator");

    let orgs = t
        .call("GET", "/api/organisations", Some(&peter), None)
        .await;
    assert_eq!(
        orgs.body["organisations"],
        json!([{ "cvr": "12345678", "name": "Demo ApS" }])
    );
    let r = t
        .call(
            "POST",
            "/api/organisations/12345678/rights",
            Some(&peter),
            Some(right),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["kind"], "business_right");
    assert_eq!(
        r.body["principal"],
        json!({ "type": "organisation", "cvr": "12345678", "name": "Demo ApS" })
    );
    let listed = t
        .call(
            "GET",
            "/api/organisations/12345678/mandates?side=given",
            Some(&peter),
            None,
        )
        .await;
    assert_eq!(
        listed.body["mandates"].as_array().unwrap().len(),
        2,
        "{}",
        listed.text
    );

    let power =
        json!({ "agent": { "cvr": "12345678" }, "scopes": [{ "service": RP }], "access": "read" });
    let r = t
        .call(
            "POST",
            "/api/organisations/12345678/powers",
            Some(&peter),
            Some(power),
        )
        .await;
    error(&r, StatusCode::UNPROCESSABLE_ENTITY, "same_organisation");
}

#[tokio::test]
async fn the_openapi_description_covers_every_route_and_only_those() {
    let t = setup().await;
    let doc = t.call("GET", "/api/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body["openapi"], "3.1.0");
    let mut described = BTreeSet::new();
    for (path, ops) in doc.body["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            assert!(
                op["summary"].is_string() && op["responses"].is_object(),
                "{method} {path}"
            );
            for schema in op.to_string().split("#/components/schemas/").skip(1) {
                let name = schema.split('"').next().unwrap();
                assert!(
                    doc.body["components"]["schemas"].get(name).is_some(),
                    "{name} is described"
                );
            }
            described.insert((method.clone(), path.clone()));
        }
    }
    let routed: BTreeSet<_> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(described, routed);
    // Every described operation is routed: without a token each asks for one (not 404/405).
    for (method, path) in described {
        let path = path
            .replace("{id}", "0197a0b2-0000-7000-8000-000000000001")
            .replace("{cvr}", "12345678");
        let r = t.call(&method.to_uppercase(), &path, None, None).await;
        if path == "/api/openapi.json" {
            assert_eq!(r.status, StatusCode::OK);
        } else {
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}: {}",
                r.text
            );
        }
    }
}

#[tokio::test]
async fn introspection_answers_are_reused_briefly_and_a_broker_outage_is_a_503() {
    let t = setup().await;
    let karen = t.token(&t.h.karen);
    for _ in 0..3 {
        let r = t
            .call("GET", "/api/mandates/given", Some(&karen), None)
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(t.broker.asked.load(Ordering::SeqCst), 1, "cached");
    // An inactive answer is never cached.
    for _ in 0..2 {
        t.call("GET", "/api/mandates/given", Some("unknown"), None)
            .await;
    }
    assert_eq!(t.broker.asked.load(Ordering::SeqCst), 3);

    let t = setup_with(|s| s.cache_ttl = Duration::ZERO).await;
    let karen = t.token(&t.h.karen);
    for _ in 0..2 {
        t.call("GET", "/api/mandates/given", Some(&karen), None)
            .await;
    }
    assert_eq!(t.broker.asked.load(Ordering::SeqCst), 2, "not cached");

    // The API's own credentials refused, or the broker down: the caller is told to retry.
    let t = setup_with(|s| s.client_secret = "wrong".into()).await;
    let karen = t.token(&t.h.karen);
    let r = t
        .call("GET", "/api/mandates/given", Some(&karen), None)
        .await;
    error(
        &r,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    );
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/introspect", closed.local_addr().unwrap());
    drop(closed);
    let t = setup_with(|s| s.introspection_url = url).await;
    let karen = t.token(&t.h.karen);
    let r = t
        .call("GET", "/api/mandates/given", Some(&karen), None)
        .await;
    error(
        &r,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    );
}

#[test]
fn settings_the_api_cannot_work_with_are_refused() {
    use eid_delegation::api::ApiConfigError;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let h = rt.block_on(harness());
    let make = |s: ApiSettings| {
        ApiState::new(
            h.reg.clone(),
            s,
            Arc::new(h.db.clone()),
            Arc::new(h.clock.clone()),
        )
        .err()
    };
    assert_eq!(
        make(settings("ftp://x/introspect")),
        Some(ApiConfigError::IntrospectionUrl)
    );
    assert_eq!(
        make(settings("not a url")),
        Some(ApiConfigError::IntrospectionUrl)
    );
    assert_eq!(
        make(ApiSettings::new(
            "http://localhost/introspect",
            "",
            "",
            vec![]
        )),
        Some(ApiConfigError::Credentials)
    );
    let mut s = settings("http://localhost/introspect");
    s.cache_ttl = Duration::from_secs(61);
    assert_eq!(make(s), Some(ApiConfigError::CacheTtl));
    assert_eq!(make(settings("http://localhost/introspect")), None);
}
