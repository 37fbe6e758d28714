//! With Redis as the ephemeral store: readiness fails fast while Redis is down and recovers by
//! itself; flows and lock-out work across nodes that share one Redis.

use eid_testkit::{Component, TestStack};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn redis_server_available() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn start_redis(port: u16) -> Child {
    Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server")
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_fails_fast_while_redis_is_down_and_recovers_when_it_returns() {
    if !redis_server_available() {
        eid_store::testing::skip("redis-server not installed");
        return;
    }
    let port = free_port();
    let stack = TestStack::builder()
        .ephemeral(&format!("redis://127.0.0.1:{port}"))
        .start()
        .await
        .unwrap();
    let client = reqwest::Client::new();
    for component in [Component::Broker, Component::Idp] {
        let started = Instant::now();
        let response = client
            .get(format!("{}/readyz", stack.url(component)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "readyz took {:?}",
            started.elapsed()
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["reasons"]["ephemeral_store"].is_string(), "{body}");
        // Alive all the same.
        assert_eq!(
            client
                .get(format!("{}/healthz", stack.url(component)))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let mut redis = start_redis(port);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut recovered = false;
    while Instant::now() < deadline {
        let status = client
            .get(format!("{}/readyz", stack.url(Component::Idp)))
            .send()
            .await
            .unwrap()
            .status();
        if status == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = redis.kill();
    let _ = redis.wait();
    assert!(recovered, "readiness did not recover after Redis came back");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_out_holds_across_two_authenticator_nodes_sharing_redis() {
    let Some(redis) = eid_store::testing::redis_url_or_skip() else {
        return;
    };
    // Two nodes with their own listeners and databases but one Redis: what one node counts, the
    // other sees.
    let prefix = format!("lockout-{}", eid_oidc::random::token(6));
    let node = |n: u8| {
        TestStack::builder()
            .ephemeral(&redis)
            .toml(&format!("# node {n}"))
            .redis_key_prefix(&prefix)
            .start()
    };
    let (a, b) = (node(1).await.unwrap(), node(2).await.unwrap());
    for attempt in 0..5 {
        let stack = if attempt % 2 == 0 { &a } else { &b };
        let browser = eid_testkit::Browser::new();
        let pkce = eid_testkit::oidc::Pkce::new();
        let after =
            crate::support::password_login(stack, &browser, &pkce, "peter", "wrong-password", &[])
                .await;
        assert_eq!(after.status, 401, "attempt {attempt}");
    }
    for stack in [&a, &b] {
        let browser = eid_testkit::Browser::new();
        let pkce = eid_testkit::oidc::Pkce::new();
        let after =
            crate::support::password_login(stack, &browser, &pkce, "peter", "peter-demo-pass", &[])
                .await;
        assert_eq!(after.status, 401, "locked on every node");
        assert!(after.body.contains("spærret") || after.body.contains("locked"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whole_login_works_with_redis_as_the_ephemeral_store() {
    let Some(redis) = eid_store::testing::redis_url_or_skip() else {
        return;
    };
    let stack = TestStack::builder()
        .ephemeral(&redis)
        .start()
        .await
        .unwrap();
    let browser = eid_testkit::Browser::new();
    let pkce = eid_testkit::oidc::Pkce::new();
    let redirect =
        crate::support::password_login(&stack, &browser, &pkce, "karen", "karen-demo-pass", &[])
            .await;
    let code = crate::support::code_of(&stack, &redirect);
    let (status, tokens) = crate::support::exchange(&stack, &code, &pkce.verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let (status, _) = crate::support::exchange(&stack, &code, &pkce.verifier).await;
    assert_eq!(status, 400, "single use holds in Redis too");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_production_backends_carry_a_whole_broker_login() {
    let Some((stack, db)) = crate::broker_support::production_stack().await else {
        return;
    };
    let browser = eid_testkit::Browser::new();
    let tokens =
        crate::broker_support::broker_login_tokens(&stack, &browser, "rp-a", "karen").await;
    assert!(tokens["id_token"].is_string(), "{tokens}");
    stack.stop().await;
    // The audit trail of that login is in PostgreSQL.
    let durable = eid_store::SqlDurable::connect(&db.url).await.unwrap();
    let since = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
    let logins = eid_core::AuditLog::by_kind_since(&durable, "login.success", since, 10)
        .await
        .unwrap();
    assert!(logins.iter().any(|e| e.component == "broker"), "{logins:?}");
    assert!(logins.iter().any(|e| e.component == "idp"), "{logins:?}");
    durable.close().await;
    db.drop_db().await.unwrap();
}
