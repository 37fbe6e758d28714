//! Every listener answers health, readiness and metrics; pages carry the security headers.

use eid_testkit::{Component, TestStack};

#[tokio::test(flavor = "multi_thread")]
async fn every_component_is_alive_ready_and_measured() {
    let stack = TestStack::builder().start().await.unwrap();
    let client = reqwest::Client::new();
    for component in Component::ALL {
        let base = stack.url(component);
        let health = client.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200, "{component:?} /healthz");
        let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200, "{component:?} /readyz");
        let metrics = client.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(metrics.status(), 200);
        assert!(
            metrics.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        let text = metrics.text().await.unwrap();
        assert!(
            text.contains("# TYPE http_request_duration_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains(&format!("component=\"{}\"", component.name())),
            "{text}"
        );
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_carry_security_headers_and_a_request_id() {
    let stack = TestStack::builder().start().await.unwrap();
    let response = reqwest::get(format!("{}/", stack.url(Component::Idp)))
        .await
        .unwrap();
    let h = response.headers();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert!(
        !h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("unsafe-inline")
    );
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(h.contains_key("x-request-id"));
    assert!(
        !h.contains_key("strict-transport-security"),
        "no HSTS on loopback"
    );
    let missing = reqwest::get(format!("{}/no-such-page", stack.url(Component::Idp)))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("<html lang="));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_authenticator_publishes_discovery_and_its_keys() {
    let stack = TestStack::builder().start().await.unwrap();
    let idp = stack.url(Component::Idp);
    let discovery: serde_json::Value =
        reqwest::get(format!("{idp}/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(discovery["issuer"], idp);
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        discovery["authorization_response_iss_parameter_supported"],
        true
    );
    let jwks: serde_json::Value = reqwest::get(discovery["jwks_uri"].as_str().unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    assert!(
        keys.iter().all(|k| k.get("d").is_none()),
        "no private parts in the JWKS"
    );
}
