//! Peers' metadata: fetched from the configured URL, its signature checked against the configured
//! trust anchor ([`eid_saml::eidas::read_metadata`]), cached, refreshed every
//! `metadata_refresh_secs` and on demand when a message is signed by a key we do not know yet, never
//! used past its `validUntil`. A peer whose metadata cannot be had is unavailable (the pages say so),
//! and the last good metadata stays in use until its `validUntil`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use eid_core::Clock;
use eid_saml::dsig::PinnedKeys;
use eid_saml::eidas::{EidasError, PeerMetadata};
use eid_saml::metadata::MAX_METADATA_BYTES;
use time::OffsetDateTime;

use crate::settings::Algorithms;

/// The shortest time between two fetches of one peer's metadata on demand ([`Peers::refetch`]):
/// a stream of messages signed by unknown keys must not turn us into a flood towards the peer.
pub const MIN_REFETCH_INTERVAL: time::Duration = time::Duration::seconds(30);

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

/// Verified metadata and when it was fetched.
#[derive(Debug, Clone)]
struct Cached {
    metadata: Arc<PeerMetadata>,
    fetched_at: OffsetDateTime,
}

/// The peers of one role (the connector's proxy services, or the proxy service's connectors).
pub struct Peers {
    peers: Vec<Peer>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    refresh: Duration,
    cache: std::sync::RwLock<HashMap<String, Cached>>,
    /// One fetch at a time per peer (by country): concurrent callers wait for it, then read the
    /// cache it filled.
    fetching: HashMap<String, tokio::sync::Mutex<()>>,
    /// When each peer's last fetch failed (cleared by a good one): within
    /// [`MIN_REFETCH_INTERVAL`] of it no fetch is tried again, so that forged messages cannot
    /// make us fetch a failing peer's metadata over and over.
    failed: std::sync::RwLock<HashMap<String, OffsetDateTime>>,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers")
            .field("peers", &self.peers.len())
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

impl Peers {
    /// Peers fetched with `http` (no redirects, short timeouts), refreshed every `refresh`.
    pub fn new(
        peers: Vec<Peer>,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
        refresh: Duration,
    ) -> Peers {
        let fetching = peers
            .iter()
            .map(|p| (p.country.clone(), tokio::sync::Mutex::new(())))
            .collect();
        Peers {
            peers,
            http,
            clock,
            refresh,
            cache: Default::default(),
            failed: Default::default(),
            fetching,
        }
    }

    /// The configured peers, in configuration order.
    pub fn configured(&self) -> &[Peer] {
        &self.peers
    }

    /// The peer of `country` with its current metadata (fetched when none is cached or it is
    /// older than the refresh interval; on a failed fetch the cached one while it is valid).
    pub async fn by_country(&self, country: &str) -> Result<Verified, PeerError> {
        let peer = self.peer(country)?;
        if let Some(fresh) = self.fresh(peer) {
            return Ok(fresh);
        }
        let _one_at_a_time = self.lock(peer).await;
        // Another caller may have fetched it while we waited.
        if let Some(fresh) = self.fresh(peer) {
            return Ok(fresh);
        }
        self.fetch_or_keep(peer).await
    }

    /// The peer whose entity ID (metadata URL) is `entity_id`, with its current metadata.
    pub async fn by_entity_id(&self, entity_id: &str) -> Result<Verified, PeerError> {
        let country = self
            .peers
            .iter()
            .find(|p| p.metadata_url == entity_id)
            .map(|p| p.country.clone())
            .ok_or(PeerError::Unknown)?;
        self.by_country(&country).await
    }

    /// Fetches the metadata of `country` again now (a message was signed by a key we do not know).
    /// Within [`MIN_REFETCH_INTERVAL`] of the last fetch the cached metadata is returned instead.
    pub async fn refetch(&self, country: &str) -> Result<Verified, PeerError> {
        let peer = self.peer(country)?;
        let _one_at_a_time = self.lock(peer).await;
        let now = self.clock.now();
        if let Some(cached) = self.cached(peer)
            && now - cached.fetched_at < MIN_REFETCH_INTERVAL
            && cached.metadata.valid_until > now
        {
            return Ok(Verified {
                peer: peer.clone(),
                metadata: cached.metadata,
            });
        }
        self.fetch_or_keep(peer).await
    }

    fn peer(&self, country: &str) -> Result<&Peer, PeerError> {
        self.peers
            .iter()
            .find(|p| p.country == country)
            .ok_or(PeerError::Unknown)
    }

    async fn lock(&self, peer: &Peer) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.fetching.get(&peer.country) {
            Some(m) => Some(m.lock().await),
            None => None,
        }
    }

    fn cached(&self, peer: &Peer) -> Option<Cached> {
        self.cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&peer.country)
            .cloned()
    }

    /// The cached metadata when it is younger than the refresh interval and still valid.
    fn fresh(&self, peer: &Peer) -> Option<Verified> {
        let now = self.clock.now();
        let refresh = time::Duration::try_from(self.refresh).unwrap_or(time::Duration::HOUR);
        self.cached(peer)
            .filter(|c| now - c.fetched_at < refresh && c.metadata.valid_until > now)
            .map(|c| Verified {
                peer: peer.clone(),
                metadata: c.metadata,
            })
    }

    /// Fetches and caches; on failure keeps serving the cached metadata while it is valid.
    async fn fetch_or_keep(&self, peer: &Peer) -> Result<Verified, PeerError> {
        let now = self.clock.now();
        let failed_lately = self
            .failed
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&peer.country)
            .is_some_and(|at| now - *at < MIN_REFETCH_INTERVAL);
        let fetched = if failed_lately {
            Err(PeerError::Unavailable(
                "the last fetch failed moments ago".into(),
            ))
        } else {
            self.fetch(peer, now)
                .await
                .and_then(|metadata| self.not_older(peer, metadata))
        };
        let mut failed = self
            .failed
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if fetched.is_ok() {
            failed.remove(&peer.country);
        } else if !failed_lately {
            failed.insert(peer.country.clone(), now);
        }
        drop(failed);
        match fetched {
            Ok(metadata) => {
                let metadata = Arc::new(metadata);
                self.cache
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(
                        peer.country.clone(),
                        Cached {
                            metadata: metadata.clone(),
                            fetched_at: now,
                        },
                    );
                tracing::info!(country = %peer.country, "eIDAS peer metadata fetched");
                Ok(Verified {
                    peer: peer.clone(),
                    metadata,
                })
            }
            Err(e) => {
                tracing::warn!(country = %peer.country, error = %e, "eIDAS peer metadata not fetched");
                match self.cached(peer) {
                    Some(c) if c.metadata.valid_until > now => Ok(Verified {
                        peer: peer.clone(),
                        metadata: c.metadata,
                    }),
                    _ => {
                        // Expired metadata is never used again.
                        self.cache
                            .write()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .remove(&peer.country);
                        Err(e)
                    }
                }
            }
        }
    }

    /// Refuses metadata whose `validUntil` is before the cached one's: a replayed older document
    /// (still signed by the anchor) must not bring back a key or endpoint the peer has retired.
    fn not_older(&self, peer: &Peer, metadata: PeerMetadata) -> Result<PeerMetadata, PeerError> {
        match self.cached(peer) {
            Some(c) if metadata.valid_until < c.metadata.valid_until => Err(
                PeerError::Unavailable("older than the metadata we hold (a replay?)".into()),
            ),
            _ => Ok(metadata),
        }
    }

    /// GETs the metadata (no redirects, at most [`MAX_METADATA_BYTES`]) and verifies it: signed by
    /// the anchor, valid, its entity ID the URL it came from and its country the peer's.
    async fn fetch(&self, peer: &Peer, now: OffsetDateTime) -> Result<PeerMetadata, PeerError> {
        let unavailable = |what: &str| PeerError::Unavailable(what.to_owned());
        let mut response = self
            .http
            .get(&peer.metadata_url)
            .header(
                reqwest::header::ACCEPT,
                "application/samlmetadata+xml, application/xml",
            )
            .send()
            .await
            .map_err(|e| PeerError::Unavailable(format!("request failed: {e}")))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(PeerError::Unavailable(format!(
                "answered {}",
                response.status().as_u16()
            )));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_METADATA_BYTES as u64)
        {
            return Err(unavailable("metadata larger than the bound"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| PeerError::Unavailable(format!("reading failed: {e}")))?
        {
            if body.len() + chunk.len() > MAX_METADATA_BYTES {
                return Err(unavailable("metadata larger than the bound"));
            }
            body.extend_from_slice(&chunk);
        }
        let xml = String::from_utf8(body).map_err(|_| unavailable("metadata is not UTF-8"))?;
        let metadata =
            eid_saml::eidas::read_metadata(&xml, &peer.anchor, &peer.algorithms.accept, now)?;
        if metadata.entity_id != peer.metadata_url {
            return Err(EidasError::Rule("the entity ID is not the metadata URL").into());
        }
        if metadata.node_country != peer.country {
            return Err(EidasError::Rule("NodeCountry is not the configured country").into());
        }
        Ok(metadata)
    }
}
