//! The bounded HTTP fetch of a metadata document.

use eid_core::saml_registration::MAX_SAML_METADATA_BYTES;
use std::time::Duration;
use url::Url;

/// The longest a whole fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a fetch failed. The messages name no more than the status or the kind of failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// No answer (connection refused, TLS, DNS, timeout).
    #[error("no answer ({0})")]
    Unreachable(String),
    /// An answer other than 200 (redirects are not followed).
    #[error("HTTP status {0}")]
    Status(u16),
    /// More than [`MAX_SAML_METADATA_BYTES`].
    #[error("larger than {MAX_SAML_METADATA_BYTES} bytes")]
    TooLarge,
    /// Not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
}

/// Fetches metadata documents: GET, no redirects, no cookies, within [`FETCH_TIMEOUT`], at most
/// [`MAX_SAML_METADATA_BYTES`] read.
#[derive(Debug, Clone)]
pub struct MetadataFetcher {
    http: reqwest::Client,
}

impl MetadataFetcher {
    /// A fetcher with its own HTTP client.
    pub fn new() -> Result<MetadataFetcher, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(FETCH_TIMEOUT)
            .build()?;
        Ok(MetadataFetcher { http })
    }

    /// The document at `url` (already checked with [`super::check_url`]).
    pub async fn fetch(&self, url: &Url) -> Result<String, FetchError> {
        let unreachable = |e: reqwest::Error| {
            FetchError::Unreachable(if e.is_timeout() {
                "timeout".to_owned()
            } else if e.is_connect() {
                "connection failed".to_owned()
            } else {
                "transfer failed".to_owned()
            })
        };
        let mut response = self
            .http
            .get(url.clone())
            .header(
                reqwest::header::ACCEPT,
                "application/samlmetadata+xml, application/xml, text/xml",
            )
            .send()
            .await
            .map_err(unreachable)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_SAML_METADATA_BYTES as u64)
        {
            return Err(FetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_SAML_METADATA_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).map_err(|_| FetchError::NotUtf8)
    }
}
