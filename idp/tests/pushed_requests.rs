//! The pushed-request endpoint (RFC 9126) against abuse: its body is bounded (413 with an OAuth
//! error), failed client authentications are audited within a budget per client address (so a
//! flood cannot fill the audit log), and a `request_uri` presented by another client is refused
//! without being spent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use axum::body::Body;
use axum::http::{Request, header};
use base64::Engine;
use eid_idp::IdpConfig;
use eid_idp::flow::oidc::{
    UNAUTHENTICATED_AUDITS_PER_MINUTE, UNAUTHENTICATED_AUDITS_PER_MINUTE_IN_ALL,
};
use eid_oidc::{ClientRegistration, TokenEndpointAuthMethod};
use harness::{Client, Harness, Reply};

const BROKER: &str = "broker";
const BROKER_SECRET: &str = "broker-secret-for-these-tests-0123";
const BROKER_REDIRECT: &str = "http://localhost:8080/upstream/mitid/callback";
const OTHER: &str = "other";
const OTHER_SECRET: &str = "other-secret-for-these-tests-01234";
const OTHER_REDIRECT: &str = "http://localhost:8084/callback";
/// An S256 challenge (43 characters).
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The bound of a pushed request's body.
const LIMIT: usize = 16 * 1024;

fn with_clients(config: &mut IdpConfig) {
    config.service_namers = vec![BROKER.to_owned()];
    config.clients = vec![
        ClientRegistration::new(
            BROKER,
            "NemLog-in (demo)",
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
) -> Vec<(&'static str, String)> {
    [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("scope", "openid"),
        ("state", "state-1"),
        ("nonce", "nonce-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

/// The broker's authorization request padded with unknown parameters (each within the 2,048 bytes
/// a value may have) to exactly `len` bytes encoded.
fn padded(len: usize) -> Vec<(&'static str, String)> {
    const NAMES: [&str; 10] = [
        "pad0", "pad1", "pad2", "pad3", "pad4", "pad5", "pad6", "pad7", "pad8", "pad9",
    ];
    let mut params = authorization_params(BROKER, BROKER_REDIRECT);
    for name in NAMES {
        let remaining = len - encoded(&params).len();
        let overhead = name.len() + 2;
        if remaining == 0 {
            break;
        }
        assert!(remaining > overhead, "cannot pad to {len}");
        let wanted = remaining - overhead;
        // Never leave a rest too short for one more parameter.
        let value = if wanted <= 2000 {
            wanted
        } else if wanted - 2000 <= overhead + 1 {
            1000
        } else {
            2000
        };
        params.push((name, "p".repeat(value)));
    }
    assert_eq!(encoded(&params).len(), len);
    params
}

/// A client's back channel at `addr`, authenticated with `client_secret_basic`.
fn back_channel(client_id: &str, secret: &str, addr: &str) -> Client {
    let mut client = Client::at(addr);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    client
        .headers
        .push(("authorization", format!("Basic {basic}")));
    client
}

fn encoded(params: &[(&str, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
        .finish()
}

/// Posts `body` to `/par` as `client`, with a `Content-Length` or (like a chunked upload) without.
async fn post_par(h: &Harness, client: &mut Client, body: String, announce: bool) -> Reply {
    let mut request =
        Request::post("/par").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if announce {
        request = request.header(header::CONTENT_LENGTH, body.len());
    }
    h.send(client, request.body(Body::from(body)).unwrap())
        .await
}

async fn push(h: &Harness, client: &mut Client, params: &[(&str, String)]) -> Reply {
    post_par(h, client, encoded(params), true).await
}

fn request_uri(pushed: &Reply) -> String {
    assert_eq!(pushed.status, 201, "{}", pushed.body);
    let json: serde_json::Value = serde_json::from_str(&pushed.body).unwrap();
    json["request_uri"].as_str().unwrap().to_owned()
}

fn authorize_path(client_id: &str, request_uri: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri)
        .finish();
    format!("/authorize?{query}")
}

#[tokio::test]
async fn a_body_over_16_kib_is_refused_with_413_and_an_oauth_error() {
    let h = Harness::with(with_clients).await;
    let mut broker = back_channel(BROKER, BROKER_SECRET, "192.0.2.50:40000");
    // A valid request padded with unknown parameters to just over the bound.
    let body = encoded(&padded(LIMIT + 1));
    assert_eq!(body.len(), LIMIT + 1);
    for announce in [true, false] {
        let refused = post_par(&h, &mut broker, body.clone(), announce).await;
        assert_eq!(
            refused.status, 413,
            "announced {announce}: {}",
            refused.body
        );
        let json: serde_json::Value = serde_json::from_str(&refused.body).unwrap();
        assert_eq!(json["error"], "invalid_request", "{json}");
    }
    // A Content-Length over the bound is refused whatever follows.
    let lying = Request::post("/par")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::CONTENT_LENGTH, 200_000)
        .body(Body::from(encoded(&authorization_params(
            BROKER,
            BROKER_REDIRECT,
        ))))
        .unwrap();
    assert_eq!(h.send(&mut broker, lying).await.status, 413);
    // The refusals are audited (unauthenticated: within the address's budget).
    assert_eq!(h.audited("par.rejected").await.len(), 3);
    // At the bound, the same request is taken.
    let at_bound = encoded(&padded(LIMIT));
    assert_eq!(at_bound.len(), LIMIT);
    request_uri(&post_par(&h, &mut broker, at_bound, false).await);
}

#[tokio::test]
async fn failed_client_authentications_are_audited_within_a_budget_per_address() {
    let h = Harness::with(with_clients).await;
    let params = authorization_params(BROKER, BROKER_REDIRECT);
    let flood = UNAUTHENTICATED_AUDITS_PER_MINUTE + 15;
    let mut attacker = back_channel(BROKER, "not-the-secret", "198.51.100.66:4000");
    for _ in 0..flood {
        assert_eq!(push(&h, &mut attacker, &params).await.status, 401);
    }
    let audited = h.audited("par.rejected").await;
    assert_eq!(audited.len() as u64, UNAUTHENTICATED_AUDITS_PER_MINUTE);
    assert!(
        audited
            .iter()
            .all(|e| e.ip.as_deref() == Some("198.51.100.66"))
    );
    assert_eq!(
        h.idp
            .metrics
            .counter_value("idp_unaudited_rejections_total", &[]),
        15
    );
    // The token endpoint's failed authentications draw on the same budget.
    let token = h
        .post(
            &mut attacker,
            "/token",
            &[("grant_type", "authorization_code"), ("code", "x")],
        )
        .await;
    assert_eq!(token.status, 401, "{}", token.body);
    assert!(h.audited("token.rejected").await.is_empty());

    // Another address has its own budget.
    let mut neighbour = back_channel(BROKER, "also-wrong", "203.0.113.7:4000");
    assert_eq!(push(&h, &mut neighbour, &params).await.status, 401);
    assert_eq!(
        h.audited("par.rejected").await.len() as u64,
        UNAUTHENTICATED_AUDITS_PER_MINUTE + 1
    );
    // A minute later the attacker's address is audited again.
    h.clock.advance(time::Duration::seconds(60));
    assert_eq!(push(&h, &mut attacker, &params).await.status, 401);
    assert_eq!(
        h.audited("par.rejected").await.len() as u64,
        UNAUTHENTICATED_AUDITS_PER_MINUTE + 2
    );

    // An authenticated client's refusals are not budgeted: each is audited, naming it.
    let mut broker = back_channel(BROKER, BROKER_SECRET, "198.51.100.66:4001");
    let bad_redirect = authorization_params(BROKER, OTHER_REDIRECT);
    for _ in 0..flood {
        assert_eq!(push(&h, &mut broker, &bad_redirect).await.status, 400);
    }
    let named = h
        .audited("par.rejected")
        .await
        .into_iter()
        .filter(|e| e.client.as_deref() == Some(BROKER))
        .count();
    assert_eq!(named as u64, flood);
}

#[tokio::test]
async fn a_request_uri_presented_by_another_client_is_refused_and_not_spent() {
    let h = Harness::with(with_clients).await;
    let mut broker = back_channel(BROKER, BROKER_SECRET, "192.0.2.50:40000");
    let uri = request_uri(
        &push(
            &h,
            &mut broker,
            &authorization_params(BROKER, BROKER_REDIRECT),
        )
        .await,
    );
    // Another client (or a request naming none) presents it: refused, on a page, never redirected.
    let mut thief = Client::new();
    for path in [
        authorize_path(OTHER, &uri),
        format!("/authorize?request_uri={}", urlencode(&uri)),
    ] {
        let stolen = h.get(&mut thief, &path).await;
        assert_eq!(stolen.status, 400, "{path}: {}", stolen.body);
        assert!(stolen.location.is_none());
    }
    // Its own client can still use it, once.
    let mut browser = Client::new();
    let used = h.get(&mut browser, &authorize_path(BROKER, &uri)).await;
    assert_eq!(used.status, 303, "{}", used.body);
    assert!(
        used.location.as_deref().unwrap().starts_with("/login?tx="),
        "{:?}",
        used.location
    );
    let again = h.get(&mut browser, &authorize_path(BROKER, &uri)).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert_eq!(h.audited("authorize.rejected").await.len(), 3);
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn the_audit_budget_counts_an_ipv6_network_once_and_all_addresses_together() {
    let h = Harness::with(with_clients).await;
    let params = authorization_params(BROKER, BROKER_REDIRECT);
    // Varying the address inside one /64 does not buy a new budget.
    for host in 1..=UNAUTHENTICATED_AUDITS_PER_MINUTE + 5 {
        let mut attacker = back_channel(BROKER, "wrong", &format!("[2001:db8:0:1::{host:x}]:4000"));
        assert_eq!(push(&h, &mut attacker, &params).await.status, 401);
    }
    assert_eq!(
        h.audited("par.rejected").await.len() as u64,
        UNAUTHENTICATED_AUDITS_PER_MINUTE
    );
    // Many networks together stop at the overall budget.
    let networks = UNAUTHENTICATED_AUDITS_PER_MINUTE_IN_ALL / UNAUTHENTICATED_AUDITS_PER_MINUTE + 2;
    for network in 0..networks {
        let mut attacker = back_channel(
            BROKER,
            "wrong",
            &format!("10.{}.{}.1:4000", network / 256, network % 256),
        );
        for _ in 0..UNAUTHENTICATED_AUDITS_PER_MINUTE {
            assert_eq!(push(&h, &mut attacker, &params).await.status, 401);
        }
        // Let the writer keep up (its bounded queue would refuse a faster flood, counted too).
        h.idp.audit.flush().await;
    }
    assert_eq!(
        h.audited("par.rejected").await.len() as u64,
        UNAUTHENTICATED_AUDITS_PER_MINUTE_IN_ALL
    );
}
