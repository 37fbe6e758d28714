//! Property tests through the router: whatever a client sends to the authenticator's endpoints
//! (WebAuthn JSON, form bodies, cookies, query parameters), the answer is a page or a refusal,
//! never a 5xx or a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use axum::body::Body;
use axum::http::{Request, header};
use harness::{Client, Harness};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const JSON_ENDPOINTS: &[&str] = &[
    "/login/passkey",
    "/account/passkey/options",
    "/account/passkey",
];

const FORM_ENDPOINTS: &[&str] = &[
    "/login/user",
    "/login/password",
    "/login/code-display",
    "/login/app/start",
    "/login/app/finish",
    "/login/cancel",
    "/activate",
    "/account/remove",
    "/account/password",
    "/account/code-display/start",
    "/account/code-display/confirm",
    "/account/app/pairing-code",
    "/account/logout",
    "/app/pair",
    "/app/respond",
];

/// JSON that looks like what the pages send, with any values: a passkey assertion or registration.
fn webauthn_json() -> impl Strategy<Value = Vec<u8>> {
    let text = ".{0,80}";
    let value = prop_oneof![
        text.prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
        "[A-Za-z0-9_-]{0,200}".prop_map(serde_json::Value::from),
    ];
    (
        value.clone(),
        value.clone(),
        value.clone(),
        value.clone(),
        value,
    )
        .prop_map(|(id, client_data, auth_data, signature, user_handle)| {
            serde_json::json!({
                "tx": "x", "csrf": "y", "label": "Passkey",
                "credential": {
                    "id": id.clone(), "rawId": id, "type": "public-key", "extensions": {},
                    "response": {
                        "clientDataJSON": client_data, "authenticatorData": auth_data.clone(),
                        "signature": signature, "userHandle": user_handle,
                        "attestationObject": auth_data, "transports": []
                    }
                }
            })
            .to_string()
            .into_bytes()
        })
}

fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..1024),
        webauthn_json(),
        ".{0,300}".prop_map(String::into_bytes),
    ]
}

/// Cookie values a browser could send (visible ASCII without `;` and `,`).
fn cookie_value() -> impl Strategy<Value = String> {
    "[!#-+\\--:<-~]{0,120}"
}

#[test]
fn no_request_body_cookie_or_query_gets_a_5xx() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let h = rt.block_on(Harness::new());
    let mut runner = TestRunner::new(Config::with_cases(128));
    let strategy = (
        0..JSON_ENDPOINTS.len() + FORM_ENDPOINTS.len(),
        any_body(),
        cookie_value(),
        cookie_value(),
        ".{0,200}",
    );
    runner
        .run(&strategy, |(endpoint, body, session, device, query)| {
            let status = rt.block_on(async {
                let mut client = Client::new();
                client.cookies.insert("idp_session".into(), session);
                client.cookies.insert("idp_device".into(), device.clone());
                client.cookies.insert("idp_browser".into(), device);
                let (path, content_type) = match JSON_ENDPOINTS.get(endpoint) {
                    Some(path) => (*path, "application/json"),
                    None => (
                        FORM_ENDPOINTS[endpoint - JSON_ENDPOINTS.len()],
                        "application/x-www-form-urlencoded",
                    ),
                };
                let request = Request::post(path)
                    .header(header::CONTENT_TYPE, content_type)
                    .body(Body::from(body))
                    .unwrap();
                let post = h.send(&mut client, request).await.status;
                // The GET pages with an arbitrary `tx` and the same cookies.
                let encoded: String =
                    url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
                let mut worst = post;
                for page in ["/login", "/login/passkey/options", "/login/app/status"] {
                    let path = format!("{page}?tx={encoded}");
                    worst = worst.max(h.get(&mut client, &path).await.status);
                }
                worst = worst.max(h.get(&mut client, "/app").await.status);
                worst.max(h.get(&mut client, "/account").await.status)
            });
            prop_assert!(status < 500, "a {status}");
            Ok(())
        })
        .unwrap();
}
