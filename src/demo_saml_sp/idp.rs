//! The broker as the demo service knows it: its SAML metadata, fetched from the configured broker
//! origin on first use, its signature checked, and kept for a few minutes.

use eid_saml::dsig::PinnedKeys;
use eid_saml::metadata::MAX_METADATA_BYTES;
use eid_saml::sp::IdpDescriptor;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long fetched metadata is used before it is fetched again (the broker says `max-age=300`).
const CACHE_FOR: Duration = Duration::from_secs(300);

/// The broker's SAML side: its descriptor and its signing keys, pinned from its metadata.
#[derive(Debug)]
pub struct Idp {
    /// Entity ID, endpoints and certificates.
    pub descriptor: IdpDescriptor,
    /// Its signing keys: the only keys its messages are verified with.
    pub keys: PinnedKeys,
}

/// Where the broker's metadata comes from, and the copy last fetched.
#[derive(Debug)]
pub struct IdpSource {
    url: String,
    http: reqwest::Client,
    cached: Mutex<Option<(Instant, Arc<Idp>)>>,
}

impl IdpSource {
    /// The metadata at `url` (the broker's `/saml/metadata`), fetched with `http`.
    pub fn new(url: String, http: reqwest::Client) -> IdpSource {
        IdpSource {
            url,
            http,
            cached: Mutex::new(None),
        }
    }

    /// The broker's metadata: the cached copy while fresh, else fetched and checked at `now`.
    pub async fn get(&self, now: time::OffsetDateTime) -> Result<Arc<Idp>, String> {
        let mut cached = self.cached.lock().await;
        if let Some((at, idp)) = cached.as_ref()
            && at.elapsed() < CACHE_FOR
        {
            return Ok(idp.clone());
        }
        let idp = Arc::new(self.fetch(now).await?);
        *cached = Some((Instant::now(), idp.clone()));
        Ok(idp)
    }

    async fn fetch(&self, now: time::OffsetDateTime) -> Result<Idp, String> {
        let mut response = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| format!("fetching the broker's metadata: {e}"))?
            .error_for_status()
            .map_err(|e| format!("fetching the broker's metadata: {e}"))?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_METADATA_BYTES {
                return Err("the broker's metadata is too large".into());
            }
            body.extend_from_slice(&chunk);
        }
        let xml = String::from_utf8(body).map_err(|_| "the broker's metadata is not UTF-8")?;
        // Trust comes from the configured broker origin; the signature proves the document whole.
        let descriptor = IdpDescriptor::parse_signed(&xml, None, now)
            .map_err(|e| format!("the broker's metadata: {e}"))?;
        let keys = PinnedKeys::from_certificates(
            descriptor.signing_certificates.iter().map(Vec::as_slice),
        )
        .map_err(|e| e.to_string())?;
        Ok(Idp { descriptor, keys })
    }
}
