//! Two broker nodes sharing Redis, PostgreSQL and the key directory: what is changed on one is in
//! force on the other within a second (the change feed), although each re-reads the registry only
//! every hour here and its keys every few minutes.

use std::future::Future;
use std::time::{Duration, Instant};

use eid_testkit::stack::ADMIN_TOKEN;
use eid_testkit::{Component, TestStack};

use crate::broker_support::production_stack_with;

const HOUR: &str = "registry_refresh_secs = 3600";
const LIMIT: Duration = Duration::from_secs(1);

/// Polls `check` every 20 ms until it holds; false after `LIMIT`.
async fn within_a_second<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < LIMIT {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// The status of a client-credentials grant at a node.
async fn cc_status(broker: &str, client: &str, secret: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{broker}/token"))
        .basic_auth(client, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Registers (or changes) `nodes-svc` with `secret` through a node's admin API.
async fn register(broker: &str, secret: &str) {
    let body = serde_json::json!({
        "client_id": "nodes-svc", "client_name": "Service", "client_secret": secret,
        "redirect_uris": [], "token_endpoint_auth_method": "client_secret_basic",
        "sector": "nodes.example", "allowed_claims": [], "grant_types": ["client_credentials"],
    });
    let response = reqwest::Client::new()
        .put(format!("{broker}/admin/relying-parties/nodes-svc"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
}

async fn key_ids(broker: &str) -> Vec<String> {
    let jwks: serde_json::Value = reqwest::get(format!("{broker}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_on_one_node_is_in_force_on_another_within_a_second() {
    let Some((a, db)) = production_stack_with(|b| b.broker_setting(HOUR)).await else {
        return;
    };
    let redis = eid_store::testing::redis_url_or_skip().unwrap();
    // Node B runs the broker only; it shares A's data directory (keys, pairwise secret), Redis,
    // PostgreSQL, public URL and upstream.
    let b = TestStack::builder()
        .components(&[Component::Broker])
        .ephemeral(&redis)
        .durable(&db.url)
        .data_dir(a.data_dir.clone())
        .broker_public_url(a.url(Component::Broker))
        .upstream_issuer(a.url(Component::Idp))
        .broker_setting(HOUR)
        .start()
        .await
        .unwrap();
    let (on_a, on_b) = (a.url(Component::Broker).to_owned(), b.broker_listen_url());
    assert_eq!(
        cc_status(&on_b, "nodes-svc", "first-secret-0123456789").await,
        401
    );

    // A new service registered on A can use node B.
    register(&on_a, "first-secret-0123456789").await;
    assert!(
        within_a_second(|| async {
            cc_status(&on_b, "nodes-svc", "first-secret-0123456789").await == 200
        })
        .await,
        "a registration on A is in force on B within 1 s"
    );

    // A changed secret: the old one stops working on B.
    register(&on_a, "second-secret-0123456789").await;
    assert!(
        within_a_second(|| async {
            cc_status(&on_b, "nodes-svc", "first-secret-0123456789").await == 401
                && cc_status(&on_b, "nodes-svc", "second-secret-0123456789").await == 200
        })
        .await,
        "a changed secret is in force on B within 1 s"
    );

    // A deleted service is refused on B.
    let deleted = reqwest::Client::new()
        .delete(format!("{on_a}/admin/relying-parties/nodes-svc"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{deleted:?}");
    assert!(
        within_a_second(|| async {
            cc_status(&on_b, "nodes-svc", "second-secret-0123456789").await == 401
        })
        .await,
        "a deletion is in force on B within 1 s"
    );

    // A key made with `eidbroker keygen` on any machine (here: in the shared key directory, then
    // announced as the command does) is published by B.
    let entry = eid_keys::generate(
        &a.data_dir.join("keys").join("broker"),
        eid_keys::Alg::ES256,
        eid_keys::KeyState::Next,
        None,
    )
    .unwrap();
    let kid = entry.kid.unwrap();
    assert!(!key_ids(&on_b).await.contains(&kid));
    eid_store::change_feed::publish_keys(&db.url, "broker")
        .await
        .unwrap();
    assert!(
        within_a_second(|| async { key_ids(&on_b).await.contains(&kid) }).await,
        "a new key is published by B within 1 s"
    );
    b.stop().await;
    a.stop().await;
    db.drop_db().await.unwrap();
}
