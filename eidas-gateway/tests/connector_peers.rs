//! Peers' metadata: fetched over HTTP from a local listener, verified, cached, refreshed, kept while
//! valid when the peer cannot be reached, never used past its `validUntil`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod connector_support;

use std::sync::Arc;
use std::time::Duration;

use connector_support::*;
use eid_core::FixedClock;
use eid_eidas_gateway::peers::{PeerError, Peers};

async fn setup() -> (MetadataServer, FixedClock, Arc<Peers>) {
    let server = MetadataServer::start().await;
    server.serve(Served::Xml(proxy_metadata(
        &server,
        &keys().xa,
        &keys().xa,
        START + time::Duration::days(1),
    )));
    let clock = FixedClock::new(START);
    let peers = Arc::new(Peers::new(
        vec![xa_peer(&server)],
        http(),
        Arc::new(clock.clone()),
        Duration::from_secs(3600),
    ));
    (server, clock, peers)
}

#[tokio::test]
async fn good_metadata_is_fetched_once_and_refreshed_after_the_interval() {
    let (server, clock, peers) = setup().await;
    let v = peers.by_country("XA").await.unwrap();
    assert_eq!(v.metadata.node_country, "XA");
    assert_eq!(v.metadata.entity_id, server.entity_id());
    peers.by_entity_id(&server.entity_id()).await.unwrap();
    assert_eq!(server.hits(), 1);
    clock.advance(time::Duration::minutes(61));
    peers.by_country("XA").await.unwrap();
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn concurrent_callers_share_one_fetch() {
    let (server, _clock, peers) = setup().await;
    let calls = (0..16).map(|_| {
        let peers = peers.clone();
        tokio::spawn(async move { peers.by_country("XA").await.is_ok() })
    });
    for call in calls {
        assert!(call.await.unwrap());
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn metadata_signed_by_another_key_is_refused() {
    let (server, _clock, peers) = setup().await;
    server.serve(Served::Xml(proxy_metadata(
        &server,
        &keys().xa,
        &keys().rogue,
        START + time::Duration::days(1),
    )));
    assert!(matches!(
        peers.by_country("XA").await,
        Err(PeerError::Refused(_))
    ));
}

#[tokio::test]
async fn expired_metadata_is_refused() {
    let (server, _clock, peers) = setup().await;
    server.serve(Served::Xml(proxy_metadata(
        &server,
        &keys().xa,
        &keys().xa,
        START - time::Duration::minutes(1),
    )));
    assert!(matches!(
        peers.by_country("XA").await,
        Err(PeerError::Refused(_))
    ));
}

#[tokio::test]
async fn an_unreachable_peer_is_served_from_the_cache_until_valid_until() {
    let (server, clock, peers) = setup().await;
    peers.by_country("XA").await.unwrap();
    server.serve(Served::Status(500));
    clock.advance(time::Duration::hours(2));
    assert!(peers.by_country("XA").await.is_ok(), "kept while valid");
    assert_eq!(server.hits(), 2);
    clock.advance(time::Duration::hours(23));
    assert!(matches!(
        peers.by_country("XA").await,
        Err(PeerError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_refetch_on_demand_is_rate_limited() {
    let (server, clock, peers) = setup().await;
    peers.by_country("XA").await.unwrap();
    peers.refetch("XA").await.unwrap();
    assert_eq!(server.hits(), 1, "within the minimum interval");
    clock.advance(time::Duration::seconds(31));
    peers.refetch("XA").await.unwrap();
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn unknown_peers_are_unknown() {
    let (_server, _clock, peers) = setup().await;
    assert!(matches!(
        peers.by_country("ZZ").await,
        Err(PeerError::Unknown)
    ));
    assert!(matches!(
        peers.by_entity_id("http://127.0.0.1:1/other").await,
        Err(PeerError::Unknown)
    ));
}

#[tokio::test]
async fn older_metadata_does_not_replace_newer() {
    let (server, clock, peers) = setup().await;
    peers.by_country("XA").await.unwrap();
    // A replayed older document, still signed by the anchor and valid.
    server.serve(Served::Xml(proxy_metadata(
        &server,
        &keys().xa,
        &keys().xa,
        START + time::Duration::hours(12),
    )));
    clock.advance(time::Duration::minutes(61));
    let kept = peers.by_country("XA").await.unwrap();
    assert_eq!(kept.metadata.valid_until, START + time::Duration::days(1));
}

#[tokio::test]
async fn a_failing_peer_is_not_fetched_again_for_every_message() {
    let (server, clock, peers) = setup().await;
    peers.by_country("XA").await.unwrap();
    server.serve(Served::Status(500));
    clock.advance(time::Duration::seconds(31));
    assert!(peers.refetch("XA").await.is_ok(), "the cached copy");
    assert_eq!(server.hits(), 2);
    // Forged messages asking for more fetches meet the failure of moments ago.
    for _ in 0..5 {
        assert!(peers.refetch("XA").await.is_ok());
    }
    assert_eq!(server.hits(), 2);
    clock.advance(time::Duration::seconds(31));
    assert!(peers.refetch("XA").await.is_ok());
    assert_eq!(server.hits(), 3);
}
