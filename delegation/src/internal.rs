//! The `MandateLookup` back-channel for split deployments: `POST /internal/mandates` on the
//! delegation listener answers the broker's [`MandateLookup`] questions over HTTP
//! ([`crate::lookup_http::HttpMandateLookup`] is its client).
//!
//! It is authenticated by a shared secret from configuration, sent as `Authorization: Bearer
//! <secret>` and compared in constant time (over SHA-256 digests, so the length leaks nothing
//! either); without a configured secret every request is refused (403). The secret is at least
//! [`MIN_SECRET_LEN`] bytes. Keep the listener's `/internal/` path off the public network (a
//! reverse proxy should not route it): only the broker calls it.
//!
//! Request (JSON, at most 16 KiB): `{"agent": {"upstream", "subject"}, "service": {"id",
//! "areas"}, "at": RFC 3339, "mandate": <id, for the re-check>}`. Answer: `{"mandates":
//! [Mandate…]}` (eid_core's wire form of [`Mandate`], CPR numbers of principals included: the
//! broker releases them only to services allowed CPR).

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use eid_core::{Identity, Loa, Mandate, MandateId, MandateLookup, PersonKey, ServiceRef};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::lookup::RegistryLookup;
use eid_core::delegation::MAX_LOOKUP_AREAS;

/// The endpoint's path.
pub const PATH: &str = "/internal/mandates";
/// The shortest secret accepted.
pub const MIN_SECRET_LEN: usize = 32;
/// Largest request body read.
const MAX_BODY: usize = 16 * 1024;
/// Longest upstream name, subject, service id or area name.
const MAX_NAME: usize = 512;

/// The question: which mandates may `agent` use at `service` at `at` (only `mandate`, if given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    /// The person logged in.
    pub agent: PersonKey,
    /// The relying party.
    pub service: ServiceQuery,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The re-check of one chosen mandate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mandate: Option<String>,
}

/// The relying party of a [`LookupQuery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceQuery {
    /// Its id.
    pub id: String,
    /// The service areas it declares.
    #[serde(default)]
    pub areas: Vec<String>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupAnswer {
    /// The mandates usable.
    pub mandates: Vec<Mandate>,
}

impl LookupQuery {
    /// The query of a lookup.
    pub fn new(
        agent: &PersonKey,
        service: ServiceRef<'_>,
        at: OffsetDateTime,
        mandate: Option<&str>,
    ) -> LookupQuery {
        LookupQuery {
            agent: agent.clone(),
            service: ServiceQuery {
                id: service.id.to_owned(),
                areas: service.areas.to_vec(),
            },
            at,
            mandate: mandate.map(str::to_owned),
        }
    }

    /// Parses and checks a request body: names 1 to 512 bytes, at most [`MAX_LOOKUP_AREAS`]
    /// areas, a mandate id a UUID.
    pub fn parse(body: &[u8]) -> Result<LookupQuery, String> {
        let q: LookupQuery = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let name_ok = |s: &str| !s.is_empty() && s.len() <= MAX_NAME;
        if !name_ok(&q.agent.upstream) || !name_ok(&q.agent.subject) {
            return Err("agent: upstream and subject are 1 to 512 bytes".into());
        }
        if !name_ok(&q.service.id) || !q.service.areas.iter().all(|a| name_ok(a)) {
            return Err("service: id and areas are 1 to 512 bytes".into());
        }
        if q.service.areas.len() > MAX_LOOKUP_AREAS {
            return Err(format!("service: at most {MAX_LOOKUP_AREAS} areas"));
        }
        if let Some(m) = &q.mandate
            && MandateId::parse(m).is_none()
        {
            return Err("mandate: a mandate id is a UUID".into());
        }
        Ok(q)
    }
}

/// The shared secret of the back-channel, kept as its SHA-256 digest.
#[derive(Clone)]
pub struct BackChannelSecret([u8; 32]);

impl std::fmt::Debug for BackChannelSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackChannelSecret(…)")
    }
}

/// A secret shorter than [`MIN_SECRET_LEN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the back-channel secret must be at least 32 characters of A-Z a-z 0-9 - . _ ~ + /")]
pub struct WeakSecret;

/// Whether `secret` is long enough and made of bearer-token characters.
pub fn is_secret(secret: &str) -> bool {
    secret.len() >= MIN_SECRET_LEN
        && secret.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

fn digest(s: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, s);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl BackChannelSecret {
    /// A secret of at least [`MIN_SECRET_LEN`] characters that can travel as a bearer token
    /// (RFC 6750 b64token: letters, digits, `-._~+/`), e.g. 32 random bytes in base64url.
    pub fn new(secret: &str) -> Result<BackChannelSecret, WeakSecret> {
        if !is_secret(secret) {
            return Err(WeakSecret);
        }
        Ok(BackChannelSecret(digest(secret.as_bytes())))
    }

    /// Whether `presented` is the secret (constant time).
    pub fn matches(&self, presented: &str) -> bool {
        digest(presented.as_bytes()).ct_eq(&self.0).into()
    }
}

/// What the endpoint needs.
#[derive(Clone)]
pub struct InternalState {
    lookup: RegistryLookup,
    secret: Option<BackChannelSecret>,
}

impl std::fmt::Debug for InternalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InternalState")
            .field("enabled", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

impl InternalState {
    /// The endpoint over `lookup`, open to callers presenting `secret` (none: closed).
    pub fn new(lookup: RegistryLookup, secret: Option<BackChannelSecret>) -> InternalState {
        InternalState { lookup, secret }
    }
}

/// The back-channel's routes (merge them into the delegation listener's router).
pub fn router(state: InternalState) -> Router {
    Router::new()
        .route(PATH, post(mandates))
        .with_state(Arc::new(state))
}

fn refuse(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="delegation-internal""#),
        );
    }
    r
}

/// The person as the registry's lookup takes them (only the key is read).
fn agent_identity(person: PersonKey) -> Identity {
    Identity {
        person,
        audit_id: Uuid::nil(),
        loa: Loa::Low,
        amr: Vec::new(),
        auth_time: 0,
        cpr: None,
        eidas_id: None,
        given_name: None,
        family_name: None,
        birthdate: None,
        upstream_sid: None,
    }
}

/// `POST /internal/mandates`.
async fn mandates(State(state): State<Arc<InternalState>>, request: Request) -> Response {
    let Some(secret) = &state.secret else {
        return refuse(
            StatusCode::FORBIDDEN,
            "access_denied",
            "the mandate back-channel is not enabled on this listener",
        );
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let authorised = crate::api::bearer::bearer_token(presented)
        .map(|t| secret.matches(t))
        .unwrap_or(false);
    if !authorised {
        tracing::warn!("mandate back-channel: refused a request without the secret");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "present the back-channel secret as a bearer token",
        );
    }
    let Ok(body) = axum::body::to_bytes(request.into_body(), MAX_BODY).await else {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            "the request body is larger than 16384 bytes",
        );
    };
    let query = match LookupQuery::parse(&body) {
        Ok(q) => q,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    let agent = agent_identity(query.agent);
    let service = ServiceRef {
        id: &query.service.id,
        areas: &query.service.areas,
    };
    let found = match &query.mandate {
        Some(id) => state
            .lookup
            .mandate(&agent, id, service, query.at)
            .await
            .map(|m| m.into_iter().collect()),
        None => state.lookup.mandates(&agent, service, query.at).await,
    };
    match found {
        Ok(mandates) => (
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(LookupAnswer { mandates }),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "mandate back-channel: lookup failed");
            let mut r = refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the registry is not available: try again in a moment",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_secret_is_long_and_matched_exactly() {
        assert_eq!(
            BackChannelSecret::new(&"s".repeat(31)).unwrap_err(),
            WeakSecret
        );
        assert_eq!(
            BackChannelSecret::new(&"s ".repeat(20)).unwrap_err(),
            WeakSecret
        );
        let s = BackChannelSecret::new(&"s".repeat(32)).unwrap();
        assert!(s.matches(&"s".repeat(32)));
        assert!(!s.matches(&"s".repeat(33)));
        assert!(!s.matches(""));
        assert!(!format!("{s:?}").contains('s'.to_string().repeat(4).as_str()));
    }

    #[test]
    fn a_query_is_bounded() {
        let ok = br#"{"agent":{"upstream":"idp","subject":"x"},"service":{"id":"rp","areas":["a"]},"at":"2026-06-10T12:00:00Z"}"#;
        assert!(LookupQuery::parse(ok).is_ok());
        let areas = (0..=MAX_LOOKUP_AREAS)
            .map(|i| format!("\"a{i}\""))
            .collect::<Vec<_>>();
        let too_many = format!(
            r#"{{"agent":{{"upstream":"idp","subject":"x"}},"service":{{"id":"rp","areas":[{}]}},"at":"2026-06-10T12:00:00Z"}}"#,
            areas.join(",")
        );
        assert!(LookupQuery::parse(too_many.as_bytes()).is_err());
        for bad in [
            &br#"{"agent":{"upstream":"","subject":"x"},"service":{"id":"rp"},"at":"2026-06-10T12:00:00Z"}"#[..],
            br#"{"agent":{"upstream":"idp","subject":"x"},"service":{"id":""},"at":"2026-06-10T12:00:00Z"}"#,
            br#"{"agent":{"upstream":"idp","subject":"x"},"service":{"id":"rp"},"at":"yesterday"}"#,
            br#"{"agent":{"upstream":"idp","subject":"x"},"service":{"id":"rp"},"at":"2026-06-10T12:00:00Z","mandate":"m1"}"#,
            br#"{"agent":{"upstream":"idp","subject":"x"},"service":{"id":"rp"},"at":"2026-06-10T12:00:00Z","extra":1}"#,
        ] {
            assert!(LookupQuery::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    proptest! {
        #[test]
        fn query_parse_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = LookupQuery::parse(&body);
        }

        #[test]
        fn queries_round_trip(upstream in "[a-z]{1,10}", subject in "\\PC{1,40}", id in "\\PC{1,40}",
                              areas in proptest::collection::vec("\\PC{1,20}", 0..5), secs in 0i64..4_000_000_000) {
            let at = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let key = PersonKey { upstream, subject };
            let q = LookupQuery::new(&key, ServiceRef { id: &id, areas: &areas }, at, None);
            let body = serde_json::to_vec(&q).unwrap();
            prop_assert_eq!(LookupQuery::parse(&body), Ok(q));
        }
    }
}
