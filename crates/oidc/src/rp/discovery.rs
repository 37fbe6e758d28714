//! The upstream's provider metadata (OpenID Connect Discovery through `openidconnect`) and its JWKS as
//! decoded keys, cached for the life of the client; the JWKS is fetched again (rate-limited) when an ID
//! token names a key it does not hold.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, ClientId, ClientSecret, DiscoveryError, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, HttpClientError, IssuerUrl, ProviderMetadata, RedirectUrl,
};
use serde::{Deserialize, Serialize};
use url::Url;

use super::error::chain;
use super::id_token::JwksKeys;
use super::{UpstreamConfig, UpstreamError};

/// The JWKS is fetched again on an unknown `kid` at most this often.
pub const JWKS_REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(30);

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Discovery fields that `CoreProviderMetadata` does not carry.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(crate) struct ExtraMetadata {
    /// RP-Initiated Logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_session_endpoint: Option<String>,
    /// RFC 9207.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authorization_response_iss_parameter_supported: Option<bool>,
    /// RFC 9126: where to push authorization requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pushed_authorization_request_endpoint: Option<String>,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// An `openidconnect` client with authorization and token endpoints known.
pub(crate) type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
    EndpointMaybeSet,
>;

/// What discovery found, plus the current keys.
pub(crate) struct Provider {
    pub client: OidcClient,
    /// The metadata says `authorization_response_iss_parameter_supported: true`.
    pub iss_parameter_supported: bool,
    pub end_session_endpoint: Option<Url>,
    /// The authorization endpoint (a pushed request's redirect goes there).
    pub authorization_endpoint: Url,
    /// RFC 9126's endpoint, when the provider advertises one: every request is pushed there.
    pub par_endpoint: Option<Url>,
    jwks_uri: Url,
    keys: ArcSwap<JwksKeys>,
    /// When the JWKS was last fetched because of an unknown `kid`.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
}

impl Provider {
    /// Fetches and checks the discovery document (its `issuer` must be exactly ours) and the JWKS.
    pub(crate) async fn discover(
        config: &UpstreamConfig,
        issuer: &IssuerUrl,
        redirect: &RedirectUrl,
        http: &reqwest::Client,
    ) -> Result<Provider, UpstreamError> {
        let metadata = Metadata::discover_async(issuer.clone(), http)
            .await
            .map_err(discovery_error)?;
        let token_url = metadata
            .token_endpoint()
            .cloned()
            .ok_or_else(|| UpstreamError::Discovery("the metadata has no token_endpoint".into()))?;
        let jwks = serde_json::to_value(metadata.jwks())
            .map_err(|e| UpstreamError::Discovery(format!("JWKS: {e}")))?;
        let keys = JwksKeys::from_json(&jwks);
        let jwks_uri = metadata.jwks_uri().url().clone();
        let extra = metadata.additional_metadata();
        let iss_parameter_supported = extra
            .authorization_response_iss_parameter_supported
            .unwrap_or(false);
        let end_session_endpoint = match &extra.end_session_endpoint {
            None => None,
            Some(s) => Some(Url::parse(s).map_err(|e| {
                UpstreamError::Discovery(format!("end_session_endpoint is not a URL: {e}"))
            })?),
        };
        let par_endpoint = match &extra.pushed_authorization_request_endpoint {
            None => None,
            Some(s) => Some(Url::parse(s).map_err(|e| {
                UpstreamError::Discovery(format!(
                    "pushed_authorization_request_endpoint is not a URL: {e}"
                ))
            })?),
        };
        let authorization_endpoint = metadata.authorization_endpoint().url().clone();
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(config.client_id.clone()),
            Some(ClientSecret::new(config.client_secret.clone())),
        )
        .set_token_uri(token_url)
        .set_redirect_uri(redirect.clone());
        tracing::info!(
            upstream = %config.name,
            keys = keys.len(),
            iss_parameter_supported,
            par = par_endpoint.is_some(),
            "upstream metadata discovered"
        );
        Ok(Provider {
            client,
            iss_parameter_supported,
            end_session_endpoint,
            authorization_endpoint,
            par_endpoint,
            jwks_uri,
            keys: ArcSwap::from_pointee(keys),
            last_refresh: tokio::sync::Mutex::new(None),
        })
    }

    /// The keys as last fetched.
    pub(crate) fn keys(&self) -> Arc<JwksKeys> {
        self.keys.load_full()
    }

    /// Fetches the JWKS again because `seen` lacked a key, unless another request already did or the last
    /// such fetch is less than [`JWKS_REFRESH_MIN_INTERVAL`] ago (`None`: keep what you have).
    pub(crate) async fn refresh_keys(
        &self,
        http: &reqwest::Client,
        seen: &Arc<JwksKeys>,
    ) -> Result<Option<Arc<JwksKeys>>, UpstreamError> {
        let mut last = self.last_refresh.lock().await;
        let current = self.keys.load_full();
        if !Arc::ptr_eq(&current, seen) {
            return Ok(Some(current));
        }
        if last.is_some_and(|t| t.elapsed() < JWKS_REFRESH_MIN_INTERVAL) {
            return Ok(None);
        }
        *last = Some(Instant::now());
        let fresh = Arc::new(fetch_jwks(http, &self.jwks_uri).await?);
        tracing::info!(keys = fresh.len(), uri = %self.jwks_uri, "upstream JWKS fetched again");
        self.keys.store(fresh.clone());
        Ok(Some(fresh))
    }
}

async fn fetch_jwks(http: &reqwest::Client, uri: &Url) -> Result<JwksKeys, UpstreamError> {
    let unavailable =
        |e: reqwest::Error| UpstreamError::Unavailable(format!("JWKS: {}", chain(&e)));
    let mut response = http
        .get(uri.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(unavailable)?;
    let status = response.status();
    if !status.is_success() {
        let text = format!("JWKS: HTTP status {status}");
        return Err(if status.is_server_error() {
            UpstreamError::Unavailable(text)
        } else {
            UpstreamError::Discovery(text)
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(UpstreamError::Discovery("JWKS too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| UpstreamError::Discovery(format!("JWKS is not JSON: {e}")))?;
    Ok(JwksKeys::from_json(&value))
}

fn discovery_error(e: DiscoveryError<HttpClientError<reqwest::Error>>) -> UpstreamError {
    match e {
        DiscoveryError::Request(e) => {
            UpstreamError::Unavailable(format!("discovery: {}", chain(&e)))
        }
        DiscoveryError::Response(status, _, text) if status.is_server_error() => {
            UpstreamError::Unavailable(text)
        }
        DiscoveryError::Response(_, _, text) => UpstreamError::Discovery(text),
        DiscoveryError::Parse(e) => {
            UpstreamError::Discovery(format!("malformed document at {}: {}", e.path(), e.inner()))
        }
        DiscoveryError::Validation(text) => UpstreamError::Discovery(text),
        other => UpstreamError::Discovery(chain(&other)),
    }
}
