//! Peers' metadata: fetched from the configured URL, its signature checked against the configured
//! trust anchor ([`eid_saml::eidas::read_metadata`]), cached, refreshed every
//! `metadata_refresh_secs` and on demand when a message is signed by a key we do not know yet, never
//! used past its `validUntil`. A peer whose metadata cannot be had is unavailable (the pages say so),
//! and the last good metadata stays in use until its `validUntil`.

use std::sync::Arc;
use std::time::Duration;

use eid_core::Clock;
use eid_saml::dsig::PinnedKeys;
use eid_saml::eidas::PeerMetadata;

use crate::settings::Algorithms;

/// One configured peer.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Its country (ISO 3166-1 alpha-2).
    pub country: String,
    /// Its metadata URL (its entity ID).
    pub metadata_url: String,
    /// The keys that sign its metadata.
    pub anchor: PinnedKeys,
    /// Its algorithms.
    pub algorithms: Algorithms,
}

/// Why a peer's metadata is not available.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// No such peer is configured.
    #[error("unknown peer")]
    Unknown,
    /// Fetching failed and no valid metadata is cached.
    #[error("metadata unavailable: {0}")]
    Unavailable(String),
    /// The fetched metadata was refused (signature, validUntil, shape).
    #[error("metadata refused: {0}")]
    Refused(#[from] eid_saml::eidas::EidasError),
}

/// The metadata of a peer, as verified.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The peer's configuration.
    pub peer: Peer,
    /// Its metadata.
    pub metadata: Arc<PeerMetadata>,
}

/// The peers of one role (the connector's proxy services, or the proxy service's connectors).
pub struct Peers {
    peers: Vec<Peer>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    refresh: Duration,
    cache: std::sync::RwLock<std::collections::HashMap<String, (Arc<PeerMetadata>, i64)>>,
}

impl Peers {
    /// Peers fetched with `http` (no redirects, short timeouts), refreshed every `refresh`.
    pub fn new(
        peers: Vec<Peer>,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
        refresh: Duration,
    ) -> Peers {
        Peers {
            peers,
            http,
            clock,
            refresh,
            cache: Default::default(),
        }
    }

    /// The configured peers, in configuration order.
    pub fn configured(&self) -> &[Peer] {
        &self.peers
    }

    /// The peer of `country` with its current metadata (fetched when none is cached or it is
    /// older than the refresh interval; on a failed fetch the cached one while it is valid).
    pub async fn by_country(&self, country: &str) -> Result<Verified, PeerError> {
        let _ = (country, &self.http, &self.clock, self.refresh, &self.cache);
        todo!("gateway: Peers::by_country")
    }

    /// The peer whose entity ID (metadata URL) is `entity_id`, with its current metadata.
    pub async fn by_entity_id(&self, entity_id: &str) -> Result<Verified, PeerError> {
        let _ = entity_id;
        todo!("gateway: Peers::by_entity_id")
    }

    /// Fetches the metadata of `country` again now (a message was signed by a key we do not know).
    pub async fn refetch(&self, country: &str) -> Result<Verified, PeerError> {
        let _ = country;
        todo!("gateway: Peers::refetch")
    }
}
