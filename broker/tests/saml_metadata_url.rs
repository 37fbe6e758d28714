//! SAML service providers whose metadata comes from a URL, served here by a small local HTTP
//! server: signed by the anchor it is taken (at registration and on refresh); signed by another
//! key, unsigned, naming another entity or not served, it is refused and the last good metadata
//! stays; a refresh never overwrites an admin change made while it fetched.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use axum::Router;
use axum::body::Body;
use axum::http::Request as HttpRequest;
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_broker::registry::{ConfiguredUrlSp, SpDetails};
use eid_broker::saml_metadata::refresh::{Refreshed, refresh_due, refresh_stored};
use eid_broker::saml_metadata::{MetadataFetcher, MetadataSource};
use eid_core::{Clock as _, Loa, SamlServiceProviderRepository};
use eid_keys::{Alg, SigningKey};
use eid_saml::dsig::{self, SignatureAlg};
use harness::saml::{ACS, Request, SP, broker_certificate, read, sp_key, sp_metadata};
use harness::{ADMIN_TOKEN, BrokerReply, Client, Harness, Reply, UPSTREAM_AUTHORIZE};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// The second ACS location that an updated metadata document adds.
const ACS_2: &str = "https://sp.example.dk/saml/acs2";

/// A local server answering `GET /metadata` with whatever the test sets.
struct MetadataServer {
    url: String,
    answer: Arc<Mutex<(u16, String)>>,
}

impl MetadataServer {
    async fn start() -> MetadataServer {
        let answer = Arc::new(Mutex::new((404, String::new())));
        let shared = answer.clone();
        let app = Router::new().route(
            "/metadata",
            get(move || {
                let shared = shared.clone();
                async move {
                    let (status, body) = shared.lock().unwrap().clone();
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/samlmetadata+xml")],
                        body,
                    )
                        .into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        MetadataServer {
            url: format!("http://{addr}/metadata"),
            answer,
        }
    }

    fn serve(&self, status: u16, body: String) {
        *self.answer.lock().unwrap() = (status, body);
    }
}

fn fixture_key(name: &str, alg: Alg) -> Arc<SigningKey> {
    let path = format!(
        "{}/../crates/saml/tests/fixtures/dsig/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    Arc::new(SigningKey::from_pem(&std::fs::read(path).unwrap(), alg).unwrap())
}

/// The federation's metadata signing key: the anchor.
fn anchor_key() -> Arc<SigningKey> {
    fixture_key("ec-p256.pem", Alg::ES256)
}

fn anchor_pem() -> String {
    let der = dsig::certificate_for(&anchor_key(), "federation").unwrap();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        STANDARD.encode(der)
    )
}

/// The test service's metadata with an `ID` and a future `validUntil`; `second_acs` adds
/// [`ACS_2`].
fn metadata(entity_id: &str, second_acs: bool) -> String {
    let mut xml = sp_metadata().replacen(
        &format!("entityID=\"{SP}\""),
        &format!("ID=\"_md\" validUntil=\"2099-01-01T00:00:00Z\" entityID=\"{entity_id}\""),
        1,
    );
    if second_acs {
        xml = xml.replace(
            "</md:SPSSODescriptor>",
            &format!(
                r#"<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{ACS_2}" index="1"/></md:SPSSODescriptor>"#
            ),
        );
    }
    xml
}

fn signed_by(xml: &str, key: &Arc<SigningKey>, alg: SignatureAlg) -> String {
    let cert = dsig::certificate_for(key, "signer").unwrap();
    dsig::sign_enveloped(xml, "_md", key, alg, &cert).unwrap()
}

fn signed(xml: &str) -> String {
    signed_by(xml, &anchor_key(), SignatureAlg::EcdsaSha256)
}

fn signed_by_another_key(xml: &str) -> String {
    signed_by(xml, &sp_key(), SignatureAlg::RsaSha256)
}

fn sp_path(entity_id: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(entity_id.as_bytes()).collect();
    format!("/admin/saml-service-providers/{encoded}")
}

async fn put(h: &Harness, body: Value) -> Reply {
    let request = HttpRequest::builder()
        .method("PUT")
        .uri(sp_path(SP))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    h.send(&mut Client::at("192.0.2.10:4000"), request).await
}

fn by_url(url: &str) -> Value {
    json!({
        "metadata_url": url, "anchor_certificate": anchor_pem(), "refresh_interval_secs": 60,
        "name": "Federated service", "sector": "sector-federated",
    })
}

/// The harness without its configured service provider.
async fn harness() -> Harness {
    let h = Harness::new().await;
    h.broker.registry.set_saml(Vec::new());
    h
}

fn acs_locations(h: &Harness) -> Vec<String> {
    h.broker
        .registry
        .saml(SP)
        .expect("registered")
        .sp
        .acs
        .iter()
        .map(|a| a.location.clone())
        .collect()
}

async fn refresh_now(h: &Harness) -> Refreshed {
    let stored = h.durable.saml_sp(SP).await.unwrap().unwrap();
    let fetcher = MetadataFetcher::new().unwrap();
    let outcome = refresh_stored(&h.broker, &fetcher, &stored, h.clock.now())
        .await
        .unwrap();
    h.broker.refresh_registry().await.unwrap();
    outcome
}

fn failures(h: &Harness) -> u64 {
    h.broker.metrics.counter_value(
        "broker_saml_metadata_refreshes_total",
        &[("outcome", "failed")],
    )
}

#[tokio::test]
async fn signed_metadata_from_a_url_is_registered_refreshed_and_a_bad_fetch_keeps_the_last_good() {
    let h = harness().await;
    let server = MetadataServer::start().await;
    server.serve(200, signed(&metadata(SP, false)));
    let saved = put(&h, by_url(&server.url)).await;
    assert_eq!(saved.status, 200, "{saved:?}");
    let saved: Value = serde_json::from_str(&saved.body).unwrap();
    assert_eq!(saved["metadata_url"]["url"], server.url);
    assert_eq!(saved["metadata_url"]["refresh_interval_secs"], 60);
    assert!(saved["metadata_url"]["last_error"].is_null());
    assert!(
        saved["metadata"]
            .as_str()
            .unwrap()
            .contains("SignatureValue")
    );
    let events = h.audited("admin.saml_service_provider_saved").await;
    assert_eq!(events[0].details["metadata_from"], "url");
    assert_eq!(acs_locations(&h), vec![ACS]);

    // A login through it.
    let cert = broker_certificate(&h).await;
    h.upstream.answer(h.person("anna", Loa::Substantial));
    let mut client = Client::new();
    let to_upstream = h.get(&mut client, &Request::new(&h).redirect()).await;
    assert!(to_upstream.goes_to(UPSTREAM_AUTHORIZE), "{to_upstream:?}");
    let answered = read(&h.callback(&mut client, &to_upstream).await, &cert);
    assert!(answered.has_status("Success"), "{}", answered.response);

    // Updated metadata, signed by the anchor: taken, audited.
    server.serve(200, signed(&metadata(SP, true)));
    assert_eq!(refresh_now(&h).await, Refreshed::Updated);
    assert_eq!(acs_locations(&h), vec![ACS, ACS_2]);
    assert_eq!(h.audited("saml.metadata_updated").await.len(), 1);
    assert_eq!(refresh_now(&h).await, Refreshed::Unchanged);
    let good = h.durable.saml_sp(SP).await.unwrap().unwrap().registration;

    // Each bad answer is refused, counted and audited; the last good metadata stays.
    let bad = [
        (signed_by_another_key(&metadata(SP, false)), "signature"),
        (metadata(SP, false), "not signed"),
        (
            signed(&metadata("https://other.example.dk/saml", false)),
            "entityID",
        ),
        ("<md:EntityDescriptor/>".to_owned(), "signature"),
    ];
    for (i, (body, problem)) in bad.into_iter().enumerate() {
        server.serve(200, body);
        let outcome = refresh_now(&h).await;
        assert!(
            matches!(&outcome, Refreshed::Failed(why) if why.contains(problem)),
            "{problem}: {outcome:?}"
        );
        assert_eq!(acs_locations(&h), vec![ACS, ACS_2], "{problem}");
        let stored = h.durable.saml_sp(SP).await.unwrap().unwrap().registration;
        assert_eq!(stored.metadata, good.metadata, "{problem}");
        assert!(
            stored
                .metadata_url
                .unwrap()
                .last_error
                .unwrap()
                .contains(problem),
            "{problem}"
        );
        assert_eq!(failures(&h), i as u64 + 1);
    }
    server.serve(500, String::new());
    assert!(matches!(refresh_now(&h).await, Refreshed::Failed(why) if why.contains("status 500")));
    let failed = h.audited("saml.metadata_refresh_failed").await;
    assert_eq!(failed.len(), 5);
    assert!(failed.iter().all(|e| e.client.as_deref() == Some(SP)));
    assert_eq!(acs_locations(&h), vec![ACS, ACS_2]);

    // Good again: the error is cleared.
    server.serve(200, signed(&metadata(SP, false)));
    assert_eq!(refresh_now(&h).await, Refreshed::Updated);
    assert_eq!(acs_locations(&h), vec![ACS]);
    let stored = h.durable.saml_sp(SP).await.unwrap().unwrap().registration;
    assert_eq!(stored.metadata_url.unwrap().last_error, None);
}

#[tokio::test]
async fn a_url_registration_is_refused_unless_its_first_fetch_passes() {
    let h = harness().await;
    let server = MetadataServer::start().await;
    for (status, body, expected, problem) in [
        (
            200,
            signed_by_another_key(&metadata(SP, false)),
            400,
            "signature",
        ),
        (200, metadata(SP, false), 400, "not signed"),
        (
            200,
            signed(&metadata("https://other.example.dk/saml", false)),
            400,
            "entityID",
        ),
        (404, String::new(), 502, "status 404"),
    ] {
        server.serve(status, body);
        let reply = put(&h, by_url(&server.url)).await;
        assert_eq!(reply.status, expected, "{problem}: {reply:?}");
        assert!(reply.body.contains(problem), "{problem}: {reply:?}");
    }
    let plain = put(&h, by_url("http://sp.example.dk/metadata")).await;
    assert_eq!(plain.status, 400);
    assert!(plain.body.contains("https"), "{plain:?}");
    // Nothing listens there (the port of a closed listener).
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let down = put(&h, by_url(&format!("http://{closed}/metadata"))).await;
    assert_eq!(down.status, 502, "{down:?}");
    assert!(h.durable.saml_sps().await.unwrap().is_empty());
    assert!(h.broker.registry.saml(SP).is_none());

    // Without an anchor, unsigned metadata is taken.
    server.serve(200, metadata(SP, false));
    let mut unanchored = by_url(&server.url);
    unanchored
        .as_object_mut()
        .unwrap()
        .remove("anchor_certificate");
    let reply = put(&h, unanchored).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(h.broker.registry.saml(SP).is_some());
}

#[tokio::test]
async fn the_schedule_fetches_once_the_interval_has_passed() {
    let h = harness().await;
    let server = MetadataServer::start().await;
    server.serve(200, signed(&metadata(SP, false)));
    assert_eq!(put(&h, by_url(&server.url)).await.status, 200);
    let fetcher = MetadataFetcher::new().unwrap();
    server.serve(200, signed(&metadata(SP, true)));
    let early = refresh_due(&h.broker, &fetcher, h.clock.now())
        .await
        .unwrap();
    assert!(early.is_empty(), "{early:?}");
    assert_eq!(acs_locations(&h), vec![ACS]);

    h.clock.advance(time::Duration::seconds(60));
    let due = refresh_due(&h.broker, &fetcher, h.clock.now())
        .await
        .unwrap();
    assert_eq!(due, vec![(SP.to_owned(), Refreshed::Updated)]);
    assert_eq!(
        acs_locations(&h),
        vec![ACS, ACS_2],
        "the registry is refreshed"
    );
    let again = refresh_due(&h.broker, &fetcher, h.clock.now())
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
}

#[tokio::test]
async fn a_refresh_never_overwrites_an_admin_change_made_meanwhile() {
    let h = harness().await;
    let server = MetadataServer::start().await;
    server.serve(200, signed(&metadata(SP, false)));
    assert_eq!(put(&h, by_url(&server.url)).await.status, 200);
    let read_before = h.durable.saml_sp(SP).await.unwrap().unwrap();
    let mut renamed = by_url(&server.url);
    renamed["name"] = json!("Renamed meanwhile");
    assert_eq!(put(&h, renamed).await.status, 200);
    server.serve(200, signed(&metadata(SP, true)));
    let fetcher = MetadataFetcher::new().unwrap();
    let outcome = refresh_stored(&h.broker, &fetcher, &read_before, h.clock.now())
        .await
        .unwrap();
    assert_eq!(outcome, Refreshed::Superseded);
    let stored = h.durable.saml_sp(SP).await.unwrap().unwrap();
    assert_eq!(stored.registration.name, "Renamed meanwhile");
    assert_eq!(stored.revision, 2);
    // Nor brings back a deleted one.
    assert!(h.durable.delete_saml_sp(SP).await.unwrap());
    let outcome = refresh_stored(&h.broker, &fetcher, &stored, h.clock.now())
        .await
        .unwrap();
    assert_eq!(outcome, Refreshed::Superseded);
    assert!(h.durable.saml_sp(SP).await.unwrap().is_none());
}

#[tokio::test]
async fn a_configured_metadata_url_is_fetched_and_a_bad_fetch_keeps_the_last_good() {
    let h = harness().await;
    let server = MetadataServer::start().await;
    h.broker.registry.configure_saml(
        Vec::new(),
        vec![ConfiguredUrlSp {
            entity_id: SP.into(),
            details: SpDetails {
                name: "Configured by URL".into(),
                sector: "sector-configured".into(),
                release: Vec::new(),
                aes_cbc: false,
                representation: false,
                requires_cpr: false,
                service_areas: Vec::new(),
            },
            source: MetadataSource::new(&server.url, Some(&anchor_pem()), Some(60)).unwrap(),
        }],
    );
    assert!(h.broker.registry.is_configured_saml(SP));
    assert!(h.broker.registry.saml(SP).is_none(), "not fetched yet");
    let fetcher = MetadataFetcher::new().unwrap();

    // Unsigned: refused, still nothing registered; retried after the interval.
    server.serve(200, metadata(SP, false));
    let first = refresh_due(&h.broker, &fetcher, h.clock.now())
        .await
        .unwrap();
    assert!(
        matches!(&first[..], [(_, Refreshed::Failed(_))]),
        "{first:?}"
    );
    assert!(h.broker.registry.saml(SP).is_none());
    server.serve(200, signed(&metadata(SP, false)));
    let early = refresh_due(&h.broker, &fetcher, h.clock.now())
        .await
        .unwrap();
    assert!(early.is_empty(), "{early:?}");
    h.clock.advance(time::Duration::seconds(60));
    let second = refresh_due(&h.broker, &fetcher, h.clock.now())
        .await
        .unwrap();
    assert_eq!(second, vec![(SP.to_owned(), Refreshed::Updated)]);
    assert_eq!(
        h.broker.registry.saml(SP).unwrap().rp.name,
        "Configured by URL"
    );

    // Signed by another key: refused, the last good stays.
    server.serve(200, signed_by_another_key(&metadata(SP, true)));
    h.clock.advance(time::Duration::seconds(60));
    let third = refresh_due(&h.broker, &fetcher, h.clock.now())
        .await
        .unwrap();
    assert!(
        matches!(&third[..], [(_, Refreshed::Failed(why))] if why.contains("signature")),
        "{third:?}"
    );
    assert_eq!(acs_locations(&h), vec![ACS]);
    assert_eq!(h.audited("saml.metadata_refresh_failed").await.len(), 2);
    // The admin API cannot take its entity ID.
    let reply = put(&h, by_url(&server.url)).await;
    assert_eq!(reply.status, 409, "{reply:?}");
}
