//! SAML service providers' metadata fetched from URLs: which URLs may be fetched, what a fetched
//! document must satisfy before it replaces the last good one ([`check_fetched`]), the bounded
//! HTTP fetch ([`fetch::MetadataFetcher`]) and the schedule ([`refresh`]).
//!
//! The rules: https only (plain http only to a loopback host, for tests and the demo); at most
//! [`MAX_SAML_METADATA_BYTES`] within [`fetch::FETCH_TIMEOUT`], no redirects; the `entityID` is
//! the registered one; with an anchor certificate, the `EntityDescriptor` itself carries an
//! enveloped signature by the anchor's key (the metadata read is exactly the signed element) and a
//! `validUntil` in the future. A document that breaks a rule never replaces the last good one.

pub mod fetch;
pub mod refresh;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_core::saml_registration::MAX_SAML_METADATA_BYTES;
use eid_saml::dsig::{self, AlgorithmPolicy, DsigError, Expected, PinnedKeys};
use eid_saml::metadata::{NS_METADATA, SpMetadata};
use eid_saml::xml::QName;
use std::time::Duration;
use time::OffsetDateTime;
use url::Url;

pub use fetch::{FetchError, MetadataFetcher};

/// How often metadata is fetched unless the registration says otherwise.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);
/// The shortest refresh interval accepted.
pub const MIN_REFRESH: Duration = Duration::from_secs(60);
/// The longest refresh interval accepted.
pub const MAX_REFRESH: Duration = Duration::from_secs(7 * 24 * 3600);
/// After a failed fetch, the next try comes after this long (or the interval, if shorter).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(300);
/// The longest metadata URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// The largest anchor certificate file (PEM) accepted.
pub const MAX_ANCHOR_PEM_BYTES: usize = 64 * 1024;

/// The `EntityDescriptor` element: what a metadata signature must cover.
const ENTITY_DESCRIPTOR: QName = QName::new(NS_METADATA, "EntityDescriptor");

/// Why a metadata source (URL, anchor, interval) is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Not a URL, or too long.
    #[error("metadata_url is not a URL of at most {MAX_URL_LEN} bytes")]
    BadUrl,
    /// Neither https nor http to a loopback host.
    #[error("metadata_url must be https (plain http only to a loopback host)")]
    NotHttps,
    /// The URL carries a user name or password (they would end up in logs).
    #[error("metadata_url must not carry credentials")]
    Credentials,
    /// The anchor is not one or more PEM certificates with usable keys.
    #[error("anchor certificate: {0}")]
    Anchor(String),
    /// The refresh interval is out of bounds.
    #[error("refresh_interval_secs must be between {} and {}", MIN_REFRESH.as_secs(), MAX_REFRESH.as_secs())]
    Interval,
}

/// Checks a metadata URL: https, or http to a loopback host; no credentials; bounded.
pub fn check_url(url: &str) -> Result<Url, SourceError> {
    if url.len() > MAX_URL_LEN {
        return Err(SourceError::BadUrl);
    }
    let parsed = Url::parse(url).map_err(|_| SourceError::BadUrl)?;
    match parsed.scheme() {
        "https" if parsed.host().is_some() => {}
        "http" if eid_web::platform::is_loopback(&parsed) => {}
        _ => return Err(SourceError::NotHttps),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(SourceError::Credentials);
    }
    Ok(parsed)
}

/// The certificates (DER) of a PEM text: every `CERTIFICATE` block, at least one.
pub fn certificates_from_pem(pem: &str) -> Result<Vec<Vec<u8>>, SourceError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    if pem.len() > MAX_ANCHOR_PEM_BYTES {
        return Err(SourceError::Anchor(format!(
            "larger than {MAX_ANCHOR_PEM_BYTES} bytes"
        )));
    }
    let mut certificates = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        let end = body
            .find(END)
            .ok_or_else(|| SourceError::Anchor("a certificate block is not closed".into()))?;
        let b64: String = body[..end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = STANDARD
            .decode(b64)
            .map_err(|_| SourceError::Anchor("a certificate block is not base64".into()))?;
        certificates.push(der);
        rest = &body[end + END.len()..];
    }
    if certificates.is_empty() {
        return Err(SourceError::Anchor(
            "no -----BEGIN CERTIFICATE----- block".into(),
        ));
    }
    Ok(certificates)
}

/// The certificate(s) whose key must sign a service provider's fetched metadata.
#[derive(Debug, Clone)]
pub struct Anchor {
    pem: String,
    keys: PinnedKeys,
}

impl Anchor {
    /// Reads PEM certificates (several for a key rollover) and pins their keys.
    pub fn from_pem(pem: &str) -> Result<Anchor, SourceError> {
        let certificates = certificates_from_pem(pem)?;
        let keys = PinnedKeys::from_certificates(certificates.iter().map(Vec::as_slice))
            .map_err(|e| SourceError::Anchor(e.to_string()))?;
        Ok(Anchor {
            pem: pem.to_owned(),
            keys,
        })
    }

    /// The PEM text it was read from.
    pub fn pem(&self) -> &str {
        &self.pem
    }
}

/// Where a service provider's metadata comes from, checked.
#[derive(Debug, Clone)]
pub struct MetadataSource {
    /// The URL.
    pub url: Url,
    /// The signing anchor, if the metadata must be signed.
    pub anchor: Option<Anchor>,
    /// How often it is fetched.
    pub interval: Duration,
}

impl MetadataSource {
    /// Checks the parts of a source; `interval_secs` `None` is [`DEFAULT_REFRESH`].
    pub fn new(
        url: &str,
        anchor_pem: Option<&str>,
        interval_secs: Option<u64>,
    ) -> Result<MetadataSource, SourceError> {
        let url = check_url(url)?;
        let anchor = anchor_pem.map(Anchor::from_pem).transpose()?;
        let interval = interval_secs.map_or(DEFAULT_REFRESH, Duration::from_secs);
        if !(MIN_REFRESH..=MAX_REFRESH).contains(&interval) {
            return Err(SourceError::Interval);
        }
        Ok(MetadataSource {
            url,
            anchor,
            interval,
        })
    }

    /// Whether a source last fetched at `fetched_at` (`failed` if that fetch failed) is due at
    /// `now`: never fetched, or its interval (after a failure, at most [`RETRY_AFTER_FAILURE`])
    /// has passed.
    pub fn is_due(
        &self,
        fetched_at: Option<OffsetDateTime>,
        failed: bool,
        now: OffsetDateTime,
    ) -> bool {
        let wait = if failed {
            self.interval.min(RETRY_AFTER_FAILURE)
        } else {
            self.interval
        };
        fetched_at.is_none_or(|at| now - at >= wait)
    }
}

/// Why a fetched metadata document was not taken.
#[derive(Debug, thiserror::Error)]
pub enum MetadataProblem {
    /// The fetch failed.
    #[error("fetch: {0}")]
    Fetch(#[from] FetchError),
    /// The anchor's key did not sign the `EntityDescriptor` (or the signature breaks a rule).
    #[error("signature: {0}")]
    Signature(DsigError),
    /// Signed metadata without `validUntil` could be replayed forever.
    #[error("signed metadata without validUntil")]
    NoValidUntil,
    /// The metadata names another entity.
    #[error("the metadata's entityID {found:?} is not the registered {expected:?}")]
    OtherEntity {
        /// The registered entity ID.
        expected: String,
        /// The metadata's.
        found: String,
    },
    /// The metadata cannot be read, has expired, or cannot make a registration.
    #[error("metadata: {0}")]
    Invalid(String),
}

/// Checks a document fetched from `source` for the service provider `entity_id` at `now`; returns
/// the metadata to keep: with an anchor, the signed `EntityDescriptor` as verified (so what is
/// read later is exactly what was verified), else the document as fetched.
pub fn check_fetched(
    xml: &str,
    source: &MetadataSource,
    entity_id: &str,
    now: OffsetDateTime,
) -> Result<String, MetadataProblem> {
    if xml.len() > MAX_SAML_METADATA_BYTES {
        return Err(FetchError::TooLarge.into());
    }
    let kept = match &source.anchor {
        Some(anchor) => dsig::verify(
            xml,
            Expected::Root(ENTITY_DESCRIPTOR),
            &anchor.keys,
            &AlgorithmPolicy::default(),
        )
        .map_err(MetadataProblem::Signature)?
        .element()
        .to_xml(),
        None => xml.to_owned(),
    };
    let metadata = SpMetadata::parse(&kept).map_err(|e| MetadataProblem::Invalid(e.to_string()))?;
    if metadata.entity_id != entity_id {
        return Err(MetadataProblem::OtherEntity {
            expected: entity_id.to_owned(),
            found: metadata.entity_id,
        });
    }
    if source.anchor.is_some() && metadata.valid_until.is_none() {
        return Err(MetadataProblem::NoValidUntil);
    }
    metadata
        .check_valid(now)
        .map_err(|e| MetadataProblem::Invalid(e.to_string()))?;
    Ok(kept)
}

#[cfg(test)]
mod tests;
