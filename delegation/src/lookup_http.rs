//! [`MandateLookup`] over HTTP, for a broker that runs apart from the registry: it asks the
//! registry's back-channel endpoint ([`crate::internal`], `POST /internal/mandates`) with the
//! shared bearer secret. Requests time out (connect and whole request), answers are read up to a
//! bound, redirects are not followed; any failure is a [`StoreError`] (`Unavailable` when the
//! registry cannot be reached or fails, `Backend` when it refuses the request, `Corrupt` when its
//! answer cannot be read), so the broker answers the login with its clean "try again" error.

use async_trait::async_trait;
use eid_core::{Identity, Mandate, MandateLookup, ServiceRef, StoreError};
use std::time::Duration;
use time::OffsetDateTime;

use crate::internal::{LookupAnswer, LookupQuery, PATH};

/// Largest answer read from the registry (a person holds a handful of mandates per service).
pub const MAX_ANSWER: usize = 256 * 1024;

/// Reads a response body of at most `max` bytes.
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(format!("answer larger than {max} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > max {
            return Err(format!("answer larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The registry's back-channel as the broker's [`MandateLookup`].
#[derive(Clone)]
pub struct HttpMandateLookup {
    http: reqwest::Client,
    url: String,
    secret: String,
}

impl std::fmt::Debug for HttpMandateLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMandateLookup")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Settings the HTTP lookup cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpLookupError {
    /// The registry's origin is not an absolute http(s) URL.
    #[error("the delegation registry URL must be an absolute http or https URL")]
    Url,
    /// The secret is shorter than the back-channel accepts.
    #[error("{}", crate::internal::WeakSecret)]
    Secret,
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

impl HttpMandateLookup {
    /// A lookup asking the registry at `origin` (e.g. `http://localhost:8082`) with the shared
    /// `secret`, each request given at most `timeout` (the broker waits for it during a login:
    /// one or two seconds).
    pub fn new(
        origin: &str,
        secret: &str,
        timeout: Duration,
    ) -> Result<HttpMandateLookup, HttpLookupError> {
        let base = url::Url::parse(origin).map_err(|_| HttpLookupError::Url)?;
        if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
            return Err(HttpLookupError::Url);
        }
        if !crate::internal::is_secret(secret) {
            return Err(HttpLookupError::Secret);
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| HttpLookupError::Client(e.to_string()))?;
        Ok(HttpMandateLookup {
            http,
            url: format!("{}{PATH}", origin.trim_end_matches('/')),
            secret: secret.to_owned(),
        })
    }

    async fn ask(&self, query: &LookupQuery) -> Result<Vec<Mandate>, StoreError> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.secret)
            .json(query)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(format!("delegation registry: {e}")))?;
        let status = response.status();
        let body = read_bounded(response, MAX_ANSWER)
            .await
            .map_err(|e| StoreError::Unavailable(format!("delegation registry: {e}")))?;
        if status.is_server_error() {
            return Err(StoreError::Unavailable(format!(
                "delegation registry answered {status}"
            )));
        }
        if !status.is_success() {
            // Our request was refused (a wrong secret, a malformed query): a configuration
            // fault, not the person's.
            return Err(StoreError::Backend(format!(
                "delegation registry refused the lookup: {status}"
            )));
        }
        let answer: LookupAnswer = serde_json::from_slice(&body)
            .map_err(|e| StoreError::Corrupt(format!("delegation registry answer: {e}")))?;
        Ok(answer.mandates)
    }
}

#[async_trait]
impl MandateLookup for HttpMandateLookup {
    async fn mandates(
        &self,
        agent: &Identity,
        service: ServiceRef<'_>,
        at: OffsetDateTime,
    ) -> Result<Vec<Mandate>, StoreError> {
        self.ask(&LookupQuery::new(&agent.person, service, at, None))
            .await
    }

    /// The re-check asks for the one mandate; the registry answers it only if still usable.
    async fn mandate(
        &self,
        agent: &Identity,
        id: &str,
        service: ServiceRef<'_>,
        at: OffsetDateTime,
    ) -> Result<Option<Mandate>, StoreError> {
        let found = self
            .ask(&LookupQuery::new(&agent.person, service, at, Some(id)))
            .await?;
        Ok(found.into_iter().find(|m| m.id == id))
    }
}
