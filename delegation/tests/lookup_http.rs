//! The broker's `MandateLookup` over HTTP (`HttpMandateLookup` → `POST /internal/mandates` on a
//! real socket) answers exactly what the in-process `RegistryLookup` answers, re-checks a chosen
//! mandate, and turns every failure into a store error; the endpoint refuses callers without
//! the shared secret, and everyone when no secret is configured.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use eid_core::{
    Access, Clock, Cvr, Identity, Loa, MandateLookup, Organisation, Person, Privilege, Scope,
    ServiceRef, StoreError,
};
use eid_delegation::internal::{self, BackChannelSecret, InternalState};
use eid_delegation::lookup::RegistryLookup;
use eid_delegation::lookup_http::{HttpLookupError, HttpMandateLookup};
use eid_delegation::registry::RightInput;
use std::sync::Arc;
use std::time::Duration;
use support::*;

const SECRET: &str = "back-channel-secret-0123456789abcdef";

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

async fn endpoint(h: &H, secret: Option<&str>) -> String {
    let state = InternalState::new(
        RegistryLookup::new(Arc::new(h.db.clone())),
        secret.map(|s| BackChannelSecret::new(s).unwrap()),
    );
    serve(internal::router(state)).await
}

fn client(origin: &str, secret: &str) -> HttpMandateLookup {
    HttpMandateLookup::new(origin, secret, Duration::from_secs(2)).unwrap()
}

fn identity(p: &Person) -> Identity {
    Identity::for_test(&p.id.to_string(), Loa::Substantial, 0)
}

/// Karen → Anna for the demo service (active), Mikkel → Anna for the housing area (active),
/// Demo ApS → Peter a right with a privilege, Karen → Peter pending.
async fn data(h: &H) -> eid_core::MandateId {
    let karen_anna = h.granted(&h.karen, &h.anna).await;
    h.reg.accept(&h.auth(&h.anna), karen_anna).await.unwrap();
    let mut housing = h.grant_to(&h.anna);
    housing.scopes = vec![Scope::area("housing").unwrap()];
    let draft = h
        .reg
        .prepare_grant(&h.auth(&h.mikkel), housing)
        .await
        .unwrap();
    let m = h
        .reg
        .confirm(&h.auth(&h.mikkel), &draft.confirmation())
        .await
        .unwrap();
    h.reg.accept(&h.auth(&h.anna), m.record.id).await.unwrap();
    let org = Organisation {
        cvr: Cvr::parse("12345678").unwrap(),
        name: "Demo ApS".into(),
        created_at: h.clock.now(),
    };
    h.reg
        .register_organisation(&org, &h.peter.cpr)
        .await
        .unwrap();
    h.reg
        .assign_right(
            &h.auth(&h.peter),
            RightInput {
                organisation: org.cvr.clone(),
                employee: h.peter.cpr.clone(),
                scopes: vec![Scope::service(RP).unwrap()],
                privileges: vec![Privilege::parse("urn:dk:demo:privilege:apply").unwrap()],
                access: Access::Act,
                administrator: false,
                valid_until: None,
            },
        )
        .await
        .unwrap();
    h.granted(&h.karen, &h.peter).await;
    karen_anna
}

#[tokio::test]
async fn the_http_lookup_answers_what_the_registry_answers() {
    let h = harness().await;
    let karen_anna = data(&h).await;
    let origin = endpoint(&h, Some(SECRET)).await;
    let http = client(&origin, SECRET);
    let now = h.clock.now();
    let housing = vec!["housing".to_owned()];
    let services = [
        ServiceRef { id: RP, areas: &[] },
        ServiceRef {
            id: "housing-rp",
            areas: &housing,
        },
        ServiceRef {
            id: "other-rp",
            areas: &[],
        },
    ];
    let mut found = 0;
    for p in [&h.karen, &h.anna, &h.mikkel, &h.peter, &h.erik] {
        for service in services {
            let mut direct = h.lookup.mandates(&identity(p), service, now).await.unwrap();
            let mut remote = http.mandates(&identity(p), service, now).await.unwrap();
            direct.sort_by(|a, b| a.id.cmp(&b.id));
            remote.sort_by(|a, b| a.id.cmp(&b.id));
            assert_eq!(remote, direct, "{} at {}", p.given_name, service.id);
            found += direct.len();
        }
    }
    assert_eq!(
        found, 3,
        "Anna twice, Peter once (the pending grant is nothing)"
    );

    // The re-check of a chosen mandate, then after its revocation.
    let id = karen_anna.to_string();
    let svc = services[0];
    let anna = identity(&h.anna);
    let chosen = http.mandate(&anna, &id, svc, now).await.unwrap().unwrap();
    assert_eq!(
        Some(chosen),
        h.lookup.mandate(&anna, &id, svc, now).await.unwrap()
    );
    assert_eq!(
        http.mandate(&identity(&h.mikkel), &id, svc, now)
            .await
            .unwrap(),
        None,
        "never another person's"
    );
    h.reg.revoke(&h.auth(&h.karen), karen_anna).await.unwrap();
    assert_eq!(http.mandate(&anna, &id, svc, now).await.unwrap(), None);
    assert!(http.mandates(&anna, svc, now).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_back_channel_refuses_callers_without_the_secret() {
    let h = harness().await;
    data(&h).await;
    let now = h.clock.now();
    let svc = ServiceRef { id: RP, areas: &[] };
    let origin = endpoint(&h, Some(SECRET)).await;
    let wrong = client(&origin, "another-secret-of-enough-length-0123456");
    match wrong.mandates(&identity(&h.anna), svc, now).await {
        Err(StoreError::Backend(e)) => assert!(e.contains("401"), "{e}"),
        other => panic!("{other:?}"),
    }
    // No secret configured: closed to everyone.
    let closed = endpoint(&h, None).await;
    match client(&closed, SECRET)
        .mandates(&identity(&h.anna), svc, now)
        .await
    {
        Err(StoreError::Backend(e)) => assert!(e.contains("403"), "{e}"),
        other => panic!("{other:?}"),
    }

    let http = reqwest::Client::new();
    let url = format!("{origin}{}", internal::PATH);
    let none = http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert!(none.headers().contains_key("www-authenticate"));
    let bad = http
        .post(&url)
        .bearer_auth(SECRET)
        .body(r#"{"agent":{"upstream":"idp","subject":"x"},"service":{"id":""},"at":"2026-06-10T12:00:00Z"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    let huge = http
        .post(&url)
        .bearer_auth(SECRET)
        .body(vec![b' '; 20_000])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
}

#[tokio::test]
async fn every_failure_of_the_registry_is_a_store_error_for_the_broker() {
    let h = harness().await;
    let now = h.clock.now();
    let svc = ServiceRef { id: RP, areas: &[] };
    let anna = identity(&h.anna);

    // Nobody listening.
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", gone.local_addr().unwrap());
    drop(gone);
    assert!(matches!(
        client(&origin, SECRET).mandates(&anna, svc, now).await,
        Err(StoreError::Unavailable(_))
    ));

    // Too slow, too big, not JSON, failing.
    let stub = axum::Router::new()
        .route(
            "/slow/internal/mandates",
            axum::routing::post(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "{}"
            }),
        )
        .route(
            "/big/internal/mandates",
            axum::routing::post(|| async { " ".repeat(300 * 1024) }),
        )
        .route(
            "/garbage/internal/mandates",
            axum::routing::post(|| async { "{\"mandates\": 7}" }),
        )
        .route(
            "/failing/internal/mandates",
            axum::routing::post(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "") }),
        );
    let base = serve(stub).await;
    let quick = |path: &str| {
        HttpMandateLookup::new(
            &format!("{base}/{path}"),
            SECRET,
            Duration::from_millis(300),
        )
        .unwrap()
    };
    assert!(matches!(
        quick("slow").mandates(&anna, svc, now).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        quick("big").mandates(&anna, svc, now).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        quick("garbage").mandates(&anna, svc, now).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        quick("failing").mandate(&anna, "x", svc, now).await,
        Err(StoreError::Unavailable(_))
    ));

    assert_eq!(
        HttpMandateLookup::new("localhost:8082", SECRET, Duration::from_secs(1)).err(),
        Some(HttpLookupError::Url)
    );
    assert_eq!(
        HttpMandateLookup::new("http://localhost:8082", "short", Duration::from_secs(1)).err(),
        Some(HttpLookupError::Secret)
    );
}
