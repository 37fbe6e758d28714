//! The admin API for SAML service providers registered at run time, behind the same token as the
//! relying-party admin API. A registration is checked as the configuration's are ([`prepare_saml`])
//! before it is stored; one registered by URL is fetched and checked at once, then refreshed on
//! its schedule ([`crate::saml_metadata::refresh`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use eid_core::saml_registration::MAX_SAML_METADATA_BYTES;
use eid_core::{AuditOutcome, MetadataUrl, SamlSpRegistration, StoredSamlSp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::admin::{authorized, error};
use crate::registry::{SpDetails, prepare_saml};
use crate::saml_metadata::refresh::fetch_checked;
use crate::saml_metadata::{MetadataFetcher, MetadataProblem, MetadataSource};
use crate::state::Broker;

/// The longest entity ID (SAML core §8.3.6).
pub const MAX_ENTITY_ID_LEN: usize = 1024;

/// Whether `entity_id` may key a registration: 1 to [`MAX_ENTITY_ID_LEN`] bytes, no control
/// characters.
pub fn is_valid_entity_id(entity_id: &str) -> bool {
    !entity_id.is_empty()
        && entity_id.len() <= MAX_ENTITY_ID_LEN
        && !entity_id.chars().any(char::is_control)
        && !entity_id.starts_with(eid_core::relying_party::RESERVED_ID_PREFIX)
}

/// A `PUT` body: the metadata document or a metadata URL, and what the broker adds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlSpRequest {
    /// The metadata XML.
    #[serde(default)]
    pub metadata: Option<String>,
    /// Where to fetch the metadata from (instead of `metadata`).
    #[serde(default)]
    pub metadata_url: Option<String>,
    /// PEM certificate(s) whose key must sign the fetched metadata.
    #[serde(default)]
    pub anchor_certificate: Option<String>,
    /// Seconds between fetches (default one hour).
    #[serde(default)]
    pub refresh_interval_secs: Option<u64>,
    /// The name shown to citizens.
    pub name: String,
    /// The sector of its pairwise identifiers.
    pub sector: String,
    /// Attributes it may receive (`cpr`, `name`, `birthdate`).
    #[serde(default)]
    pub release: Vec<String>,
    /// Encrypt with AES-256-CBC rather than AES-256-GCM.
    #[serde(default)]
    pub aes_cbc: bool,
    /// Whether it accepts people acting on behalf of others.
    #[serde(default)]
    pub accepts_representation: bool,
    /// Whether it needs a CPR number (a person with a foreign eID is refused).
    #[serde(default)]
    pub requires_cpr: bool,
    /// Named service areas it belongs to.
    #[serde(default)]
    pub service_areas: Vec<String>,
}

/// Where a request's metadata comes from.
#[derive(Debug)]
pub enum RequestedMetadata {
    /// Given in the body.
    Document(String),
    /// Fetched from a URL.
    Url(MetadataSource),
}

/// Reads a `PUT` body: exactly one of `metadata` and `metadata_url`, the URL's parts only with a
/// URL, a displayable name, a bounded sector. The metadata itself is checked later.
pub fn read_request(body: &[u8]) -> Result<(SpDetails, RequestedMetadata), String> {
    let request: SamlSpRequest = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if !eid_oidc::params::valid_service_name(&request.name) {
        return Err(format!(
            "name must be 1 to {} printable characters",
            eid_oidc::params::MAX_SERVICE_NAME_CHARS
        ));
    }
    if !eid_oidc::params::is_valid_identifier(&request.sector) {
        return Err(format!(
            "sector must be 1 to {} bytes without control characters",
            eid_oidc::params::MAX_IDENTIFIER_LEN
        ));
    }
    let metadata = match (request.metadata, request.metadata_url) {
        (Some(_), Some(_)) => return Err("give metadata or metadata_url, not both".into()),
        (None, None) => return Err("give metadata (the XML) or metadata_url".into()),
        (Some(xml), None) => {
            if request.anchor_certificate.is_some() || request.refresh_interval_secs.is_some() {
                return Err(
                    "anchor_certificate and refresh_interval_secs go with metadata_url".into(),
                );
            }
            if xml.len() > MAX_SAML_METADATA_BYTES {
                return Err(format!(
                    "metadata is larger than {MAX_SAML_METADATA_BYTES} bytes"
                ));
            }
            RequestedMetadata::Document(xml)
        }
        (None, Some(url)) => RequestedMetadata::Url(
            MetadataSource::new(
                &url,
                request.anchor_certificate.as_deref(),
                request.refresh_interval_secs,
            )
            .map_err(|e| e.to_string())?,
        ),
    };
    let details = SpDetails {
        name: request.name,
        sector: request.sector,
        release: request.release,
        aes_cbc: request.aes_cbc,
        representation: request.accepts_representation,
        requires_cpr: request.requires_cpr,
        service_areas: request.service_areas,
    };
    Ok((details, metadata))
}

/// A stored registration as the API shows it.
#[derive(Debug, Serialize)]
struct View {
    #[serde(flatten)]
    registration: SamlSpRegistration,
    revision: i64,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: time::OffsetDateTime,
}

impl From<StoredSamlSp> for View {
    fn from(stored: StoredSamlSp) -> View {
        View {
            registration: stored.registration,
            revision: stored.revision,
            updated_at: stored.updated_at,
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
}

const NOT_FOUND: &str = "no such SAML service provider registered through the admin API";

/// `GET /admin/saml-service-providers`.
pub async fn list(State(broker): State<Arc<Broker>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&broker, &headers).await {
        return r;
    }
    match broker.saml_service_providers.saml_sps().await {
        Ok(all) => Json(all.into_iter().map(View::from).collect::<Vec<_>>()).into_response(),
        Err(e) => unavailable(e),
    }
}

/// `GET /admin/saml-service-providers/{entity_id}` (the entity ID percent-encoded).
pub async fn get(
    State(broker): State<Arc<Broker>>,
    headers: HeaderMap,
    Path(entity_id): Path<String>,
) -> Response {
    if let Err(r) = authorized(&broker, &headers).await {
        return r;
    }
    if !is_valid_entity_id(&entity_id) {
        return error(StatusCode::NOT_FOUND, NOT_FOUND);
    }
    match broker.saml_service_providers.saml_sp(&entity_id).await {
        Ok(Some(stored)) => Json(View::from(stored)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, NOT_FOUND),
        Err(e) => unavailable(e),
    }
}

/// Why the entity ID cannot be registered here: it is configured, or an OIDC client's id.
async fn taken(broker: &Broker, entity_id: &str) -> Result<Option<String>, Response> {
    if broker.registry.is_configured_saml(entity_id) {
        return Ok(Some(format!(
            "{entity_id:?} is a SAML service provider of the configuration; change it there"
        )));
    }
    match broker.relying_parties.relying_party(entity_id).await {
        Ok(Some(_)) => Ok(Some(format!(
            "{entity_id:?} is the client id of an OIDC relying party"
        ))),
        Ok(None) => Ok(None),
        Err(e) => Err(unavailable(e)),
    }
}

/// `PUT /admin/saml-service-providers/{entity_id}`: registers or replaces, from the metadata in
/// the body or fetched from `metadata_url` now.
pub async fn upsert(
    State(broker): State<Arc<Broker>>,
    headers: HeaderMap,
    Path(entity_id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = authorized(&broker, &headers).await {
        return r;
    }
    if !is_valid_entity_id(&entity_id) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("an entity ID has 1 to {MAX_ENTITY_ID_LEN} bytes and no control characters"),
        );
    }
    let (details, requested) = match read_request(&body) {
        Ok(read) => read,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    if broker.keys.signing_key(eid_keys::Alg::RS256).is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "the broker has no active RS256 key to sign assertions with: run \
             `eidbroker keygen --component broker --alg RS256 --state active`",
        );
    }
    match taken(&broker, &entity_id).await {
        Ok(Some(why)) => return error(StatusCode::CONFLICT, &why),
        Ok(None) => {}
        Err(r) => return r,
    }
    let now = broker.clock.now();
    let (metadata, metadata_url) = match requested {
        RequestedMetadata::Document(xml) => (xml, None),
        RequestedMetadata::Url(source) => {
            let fetcher = match MetadataFetcher::new() {
                Ok(f) => f,
                Err(e) => return unavailable(e),
            };
            match fetch_checked(&fetcher, &source, &entity_id, &details, now).await {
                Ok((kept, _)) => (
                    kept,
                    Some(MetadataUrl {
                        url: source.url.to_string(),
                        anchor_certificate: source.anchor.as_ref().map(|a| a.pem().to_owned()),
                        refresh_interval_secs: source.interval.as_secs(),
                        fetched_at: Some(now),
                        last_error: None,
                    }),
                ),
                Err(MetadataProblem::Fetch(e)) => {
                    return error(
                        StatusCode::BAD_GATEWAY,
                        &format!("metadata_url: fetch failed: {e}"),
                    );
                }
                Err(problem) => {
                    return error(StatusCode::BAD_REQUEST, &format!("metadata_url: {problem}"));
                }
            }
        }
    };
    let sp = match prepare_saml(&details.with_metadata(&metadata), now) {
        Ok(sp) => sp,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if sp.rp.id != entity_id {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "the metadata's entityID {:?} differs from the entity ID in the path",
                sp.rp.id
            ),
        );
    }
    let from_url = metadata_url.is_some();
    let registration = SamlSpRegistration {
        entity_id: entity_id.clone(),
        name: details.name,
        sector: details.sector,
        release: details.release,
        aes_cbc: details.aes_cbc,
        accepts_representation: details.representation,
        requires_cpr: details.requires_cpr,
        service_areas: details.service_areas,
        metadata,
        metadata_url,
    };
    if let Err(e) = broker
        .saml_service_providers
        .upsert_saml_sp(&registration)
        .await
    {
        return unavailable(e);
    }
    if let Err(e) = broker.refresh_registry().await {
        tracing::warn!(error = %e, "registry refresh after an admin change failed");
    }
    let _ = broker
        .audit(
            broker
                .event("admin.saml_service_provider_saved", AuditOutcome::Success)
                .client(entity_id.clone())
                .detail("metadata_from", if from_url { "url" } else { "document" }),
        )
        .await;
    match broker.saml_service_providers.saml_sp(&entity_id).await {
        Ok(Some(stored)) => Json(View::from(stored)).into_response(),
        Ok(None) => error(StatusCode::CONFLICT, "deleted meanwhile"),
        Err(e) => unavailable(e),
    }
}

/// `DELETE /admin/saml-service-providers/{entity_id}`.
pub async fn delete(
    State(broker): State<Arc<Broker>>,
    headers: HeaderMap,
    Path(entity_id): Path<String>,
) -> Response {
    if let Err(r) = authorized(&broker, &headers).await {
        return r;
    }
    if !is_valid_entity_id(&entity_id) {
        return error(StatusCode::NOT_FOUND, NOT_FOUND);
    }
    match broker
        .saml_service_providers
        .delete_saml_sp(&entity_id)
        .await
    {
        Ok(true) => {
            if let Err(e) = broker.refresh_registry().await {
                tracing::warn!(error = %e, "registry refresh after an admin change failed");
            }
            let _ = broker
                .audit(
                    broker
                        .event("admin.saml_service_provider_deleted", AuditOutcome::Success)
                        .client(entity_id),
                )
                .await;
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) if broker.registry.is_configured_saml(&entity_id) => error(
            StatusCode::CONFLICT,
            "a SAML service provider of the configuration; remove it there",
        ),
        Ok(false) => error(StatusCode::NOT_FOUND, NOT_FOUND),
        Err(e) => unavailable(e),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn body(extra: serde_json::Value) -> Vec<u8> {
        let mut value = json!({ "name": "Service", "sector": "svc" });
        for (k, v) in extra.as_object().unwrap() {
            value[k] = v.clone();
        }
        serde_json::to_vec(&value).unwrap()
    }

    #[test]
    fn exactly_one_source_of_metadata() {
        let both = read_request(&body(
            json!({ "metadata": "<x/>", "metadata_url": "https://sp.example.dk/md" }),
        ));
        assert!(both.unwrap_err().contains("not both"));
        let neither = read_request(&body(json!({})));
        assert!(neither.unwrap_err().contains("metadata_url"));
        let (_, doc) = read_request(&body(json!({ "metadata": "<x/>" }))).unwrap();
        assert!(matches!(doc, RequestedMetadata::Document(x) if x == "<x/>"));
        let (_, url) =
            read_request(&body(json!({ "metadata_url": "https://sp.example.dk/md" }))).unwrap();
        assert!(
            matches!(url, RequestedMetadata::Url(s) if s.interval == crate::saml_metadata::DEFAULT_REFRESH)
        );
    }

    #[test]
    fn url_parts_go_only_with_a_url_and_follow_its_rules() {
        let stray = read_request(&body(
            json!({ "metadata": "<x/>", "refresh_interval_secs": 600 }),
        ));
        assert!(stray.unwrap_err().contains("go with metadata_url"));
        let plain = read_request(&body(json!({ "metadata_url": "http://sp.example.dk/md" })));
        assert!(plain.unwrap_err().contains("https"));
        let bad_anchor = read_request(&body(json!({
            "metadata_url": "https://sp.example.dk/md", "anchor_certificate": "not pem",
        })));
        assert!(bad_anchor.unwrap_err().contains("anchor"));
        let fast = read_request(&body(json!({
            "metadata_url": "https://sp.example.dk/md", "refresh_interval_secs": 1,
        })));
        assert!(fast.unwrap_err().contains("refresh_interval_secs"));
    }

    #[test]
    fn names_sectors_and_fields_are_checked() {
        let unknown = read_request(&body(json!({ "metadata": "<x/>", "surprise": 1 })));
        assert!(unknown.unwrap_err().contains("surprise"));
        let bidi = read_request(&body(json!({ "metadata": "<x/>", "name": "a\u{202e}b" })));
        assert!(bidi.unwrap_err().contains("name"));
        let blank = read_request(&body(json!({ "metadata": "<x/>", "sector": "" })));
        assert!(blank.unwrap_err().contains("sector"));
        let big = "x".repeat(MAX_SAML_METADATA_BYTES + 1);
        let big = read_request(&body(json!({ "metadata": big })));
        assert!(big.unwrap_err().contains("larger than"));
    }

    #[test]
    fn entity_ids_are_printable_and_bounded() {
        assert!(is_valid_entity_id("https://sp.example.dk/saml"));
        assert!(!is_valid_entity_id(""));
        assert!(!is_valid_entity_id("https://sp\n"));
        assert!(is_valid_entity_id(&"a".repeat(MAX_ENTITY_ID_LEN)));
        assert!(!is_valid_entity_id(&"a".repeat(MAX_ENTITY_ID_LEN + 1)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any body is read or refused without a panic; what is read has one bounded source.
        #[test]
        fn any_body_is_read_without_panic(
            raw in proptest::collection::vec(any::<u8>(), 0..300),
            url in "[a-z]{0,6}://[a-z0-9.:@]{0,20}/?[a-z]{0,5}",
            name in ".{0,20}",
            interval in proptest::option::of(any::<u64>()),
        ) {
            let _ = read_request(&raw);
            let json = serde_json::to_vec(&json!({
                "metadata_url": url, "name": name, "sector": "s",
                "refresh_interval_secs": interval,
            })).unwrap();
            if let Ok((_, RequestedMetadata::Url(source))) = read_request(&json) {
                prop_assert!(matches!(source.url.scheme(), "https" | "http"));
                prop_assert!(source.interval >= crate::saml_metadata::MIN_REFRESH);
                prop_assert!(source.interval <= crate::saml_metadata::MAX_REFRESH);
            }
        }
    }
}
