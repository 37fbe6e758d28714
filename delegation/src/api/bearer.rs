//! Who calls the API: the broker's access token in `Authorization: Bearer`, asked about at the
//! broker's introspection endpoint (RFC 7662) with the API's own client credentials (a client
//! registered with the `introspection` grant), and turned into the registry's [`Authenticated`].
//!
//! A token is accepted only when it is active, unexpired, issued to one of the configured
//! `accepted_clients` (relying parties registered with `subject_type = "public"`, whose `sub` is
//! the person's broker key `<upstream>:<subject>`), and tells the login behind it (`acr`,
//! `auth_time`). A token carrying `act` is a session acting for someone: the registry refuses it
//! every change ([`Authenticated::acting_for`]).
//!
//! Answers are cached for at most `cache_ttl` (default 30 s, at most 60 s, never past the
//! token's `exp`), keyed by the token's SHA-256, in a bounded map: a token revoked at the broker
//! (or whose session ended) may be honoured for up to that long. Only active answers are cached.

use eid_core::{Loa, PersonKey};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

use super::error::ApiError;
use crate::lookup_http::read_bounded;
use crate::registry::Authenticated;

/// Longest bearer token read (the broker's sealed tokens are a few hundred bytes).
pub const MAX_TOKEN_LEN: usize = 4096;
/// Largest introspection answer read.
const MAX_ANSWER: usize = 64 * 1024;
/// Most cached answers.
const CACHE_CAPACITY: usize = 10_000;
/// Longest allowed cache lifetime.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(60);

/// How the API asks the broker about tokens.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The broker's introspection endpoint, e.g. `http://localhost:8080/introspect`.
    pub introspection_url: String,
    /// The API's client id at the broker (registered with the `introspection` grant).
    pub client_id: String,
    /// Its client secret (`client_secret_basic`).
    pub client_secret: String,
    /// The clients whose tokens the API accepts (each registered `subject_type = "public"`).
    /// Empty: no token is accepted.
    pub accepted_clients: Vec<String>,
    /// How long an introspection answer is reused; zero: ask every time. At most 60 s.
    pub cache_ttl: Duration,
    /// Timeout of one introspection request.
    pub timeout: Duration,
}

impl ApiSettings {
    /// Settings with the defaults: a 30-second cache and a 3-second timeout.
    pub fn new(
        introspection_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        accepted_clients: Vec<String>,
    ) -> ApiSettings {
        ApiSettings {
            introspection_url: introspection_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            accepted_clients,
            cache_ttl: Duration::from_secs(30),
            timeout: Duration::from_secs(3),
        }
    }
}

/// Settings the API cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiConfigError {
    /// The introspection URL is not an absolute http(s) URL.
    #[error("the introspection URL must be an absolute http or https URL")]
    IntrospectionUrl,
    /// The client id or secret is empty.
    #[error("the API needs a client id and secret registered at the broker")]
    Credentials,
    /// The cache lifetime is over the maximum.
    #[error("the introspection cache lifetime is at most 60 seconds")]
    CacheTtl,
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

/// The introspection answer fields the API reads (RFC 7662 §2.2, OIDC `acr`/`auth_time`,
/// RFC 8693 `act`, RFC 9396 `authorization_details`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Introspected {
    /// Whether the token is active.
    pub active: bool,
    /// The client it was issued to.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The subject.
    #[serde(default)]
    pub sub: Option<String>,
    /// The level of the login behind it.
    #[serde(default)]
    pub acr: Option<String>,
    /// When that login happened (Unix seconds).
    #[serde(default)]
    pub auth_time: Option<i64>,
    /// When the token expires (Unix seconds).
    #[serde(default)]
    pub exp: Option<i64>,
    /// Someone acting for the subject.
    #[serde(default)]
    pub act: Option<Value>,
    /// The mandate acted under.
    #[serde(default)]
    pub authorization_details: Option<Value>,
}

/// Why an answer does not make a caller (each a stable audit reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Inactive (unknown, expired, revoked).
    Inactive,
    /// Expired by its `exp`.
    Expired,
    /// Issued to a client not in `accepted_clients`.
    ClientNotAccepted,
    /// No `sub`, or not a public subject `<upstream>:<subject>`.
    NotAPerson,
    /// No usable `acr` or `auth_time`.
    NoLogin,
}

impl TokenRefusal {
    /// Stable name.
    pub fn reason(self) -> &'static str {
        match self {
            TokenRefusal::Inactive => "token_inactive",
            TokenRefusal::Expired => "token_expired",
            TokenRefusal::ClientNotAccepted => "client_not_accepted",
            TokenRefusal::NotAPerson => "not_a_person",
            TokenRefusal::NoLogin => "no_login",
        }
    }

    /// What the caller is told (never which rule beyond the token).
    pub fn description(self) -> &'static str {
        match self {
            TokenRefusal::Inactive | TokenRefusal::Expired => {
                "the access token is unknown, expired or revoked: log in again"
            }
            TokenRefusal::ClientNotAccepted => {
                "the access token was not issued for use with the delegation API"
            }
            TokenRefusal::NotAPerson | TokenRefusal::NoLogin => {
                "the access token does not stand for a person's login"
            }
        }
    }
}

/// The token of an `Authorization` header: scheme `Bearer` (any case), then one b64token (RFC
/// 6750 §2.1) of at most [`MAX_TOKEN_LEN`] bytes.
pub fn bearer_token(header: Option<&[u8]>) -> Result<&str, ApiError> {
    let header = header.ok_or(ApiError::NoToken)?;
    let header = std::str::from_utf8(header)
        .map_err(|_| ApiError::InvalidToken("the Authorization header is malformed"))?;
    let (scheme, token) = header.split_once(' ').ok_or(ApiError::NoToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::NoToken);
    }
    let body = token.trim_end_matches('=');
    let well_formed = !body.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        });
    if !well_formed {
        return Err(ApiError::InvalidToken("the access token is malformed"));
    }
    Ok(token)
}

/// The caller an introspection answer stands for at `now` (see the module's rules).
pub fn caller(
    answer: &Introspected,
    accepted_clients: &[String],
    now: OffsetDateTime,
) -> Result<Authenticated, TokenRefusal> {
    if !answer.active {
        return Err(TokenRefusal::Inactive);
    }
    match answer.exp {
        Some(exp) if exp > now.unix_timestamp() => {}
        _ => return Err(TokenRefusal::Expired),
    }
    let client = answer.client_id.as_deref().unwrap_or_default();
    if !accepted_clients.iter().any(|c| c == client) {
        return Err(TokenRefusal::ClientNotAccepted);
    }
    let loa = answer
        .acr
        .as_deref()
        .and_then(|acr| Loa::parse(acr).ok())
        .ok_or(TokenRefusal::NoLogin)?;
    let auth_time = answer
        .auth_time
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .ok_or(TokenRefusal::NoLogin)?;
    let sub = answer.sub.as_deref().ok_or(TokenRefusal::NotAPerson)?;
    Authenticated::from_public_subject(sub, loa, auth_time, acting_for(answer))
        .ok_or(TokenRefusal::NotAPerson)
}

/// The mandate a session acts under: the identifier of the broker's mandate entry in
/// `authorization_details`, else `act` alone (someone acts; the registry refuses either).
fn acting_for(answer: &Introspected) -> Option<String> {
    let details = answer
        .authorization_details
        .as_ref()
        .and_then(Value::as_array)
        .and_then(|entries| entries.first())
        .and_then(|entry| entry.get("identifier"))
        .and_then(Value::as_str)
        .filter(|id| id.len() <= 64)
        .map(str::to_owned);
    match (&answer.act, details) {
        (_, Some(id)) => Some(id),
        (Some(act), None) if !act.is_null() => Some("act".to_owned()),
        _ => None,
    }
}

struct Cached {
    answer: Introspected,
    until: OffsetDateTime,
}

/// The broker's introspection endpoint as the API uses it, with the answer cache.
pub struct Introspector {
    http: reqwest::Client,
    settings: ApiSettings,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
}

impl std::fmt::Debug for Introspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspector")
            .field("introspection_url", &self.settings.introspection_url)
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

impl Introspector {
    /// An introspector over checked `settings`.
    pub fn new(settings: ApiSettings) -> Result<Introspector, ApiConfigError> {
        let url = url::Url::parse(&settings.introspection_url)
            .map_err(|_| ApiConfigError::IntrospectionUrl)?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(ApiConfigError::IntrospectionUrl);
        }
        if settings.client_id.is_empty() || settings.client_secret.is_empty() {
            return Err(ApiConfigError::Credentials);
        }
        if settings.cache_ttl > MAX_CACHE_TTL {
            return Err(ApiConfigError::CacheTtl);
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout)
            .build()
            .map_err(|e| ApiConfigError::Client(e.to_string()))?;
        Ok(Introspector {
            http,
            settings,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &ApiSettings {
        &self.settings
    }

    /// The broker's answer about `token` (cached when active), and whether it is fresh from
    /// the broker (not from the cache).
    pub async fn introspect(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<(Introspected, bool), ApiError> {
        let key: [u8; 32] = {
            let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
            let mut k = [0u8; 32];
            k.copy_from_slice(d.as_ref());
            k
        };
        if let Some(hit) = self.cached(&key, now) {
            return Ok((hit, false));
        }
        let answer = self.ask(token).await?;
        self.keep(key, &answer, now);
        Ok((answer, true))
    }

    fn cached(&self, key: &[u8; 32], now: OffsetDateTime) -> Option<Introspected> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(key)
            .filter(|c| now < c.until)
            .map(|c| c.answer.clone())
    }

    fn keep(&self, key: [u8; 32], answer: &Introspected, now: OffsetDateTime) {
        let Ok(ttl) = time::Duration::try_from(self.settings.cache_ttl) else {
            return;
        };
        let Some(exp) = answer
            .exp
            .and_then(|e| OffsetDateTime::from_unix_timestamp(e).ok())
        else {
            return;
        };
        if !answer.active || ttl.is_zero() {
            return;
        }
        let until = (now + ttl).min(exp);
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, c| now < c.until);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(
            key,
            Cached {
                answer: answer.clone(),
                until,
            },
        );
    }

    async fn ask(&self, token: &str) -> Result<Introspected, ApiError> {
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let response = self
            .http
            .post(&self.settings.introspection_url)
            .basic_auth(
                encode(&self.settings.client_id),
                Some(encode(&self.settings.client_secret)),
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "delegation API: introspection failed");
                ApiError::IntrospectionUnavailable
            })?;
        let status = response.status();
        let body = read_bounded(response, MAX_ANSWER).await.map_err(|e| {
            tracing::warn!(error = %e, "delegation API: introspection answer unreadable");
            ApiError::IntrospectionUnavailable
        })?;
        if !status.is_success() {
            // The API's own credentials were refused, or the broker failed: the operator's
            // problem, not the caller's.
            tracing::warn!(%status, "delegation API: introspection refused");
            return Err(ApiError::IntrospectionUnavailable);
        }
        serde_json::from_slice(&body).map_err(|e| {
            tracing::warn!(error = %e, "delegation API: introspection answer malformed");
            ApiError::IntrospectionUnavailable
        })
    }
}

/// The register id of a person key of `national_upstream` (audit key), if it is one.
pub fn register_id(key: &PersonKey, national_upstream: &str) -> Option<uuid::Uuid> {
    (key.upstream == national_upstream)
        .then(|| uuid::Uuid::parse_str(&key.subject).ok())
        .flatten()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-06-10 12:00 UTC);

    fn answer(v: Value) -> Introspected {
        serde_json::from_value(v).unwrap()
    }

    fn good() -> Value {
        json!({
            "active": true, "client_id": "portal", "sub": "idp:6b0c0000-0000-0000-0000-000000000001",
            "acr": "https://data.gov.dk/concept/core/nsis/loa/Substantial",
            "auth_time": NOW.unix_timestamp() - 60, "exp": NOW.unix_timestamp() + 600,
        })
    }

    fn accepted() -> Vec<String> {
        vec!["portal".to_owned()]
    }

    #[test]
    fn an_active_public_subject_token_of_an_accepted_client_is_the_person() {
        let a = caller(&answer(good()), &accepted(), NOW).unwrap();
        assert_eq!(a.person.upstream, "idp");
        assert_eq!(a.loa, Loa::Substantial);
        assert_eq!(a.auth_time, NOW - time::Duration::seconds(60));
        assert_eq!(a.acting_for, None);
    }

    #[test]
    fn each_rule_of_the_token_refuses_on_its_own() {
        let cases = [
            ("active", json!(false), TokenRefusal::Inactive),
            ("exp", json!(NOW.unix_timestamp()), TokenRefusal::Expired),
            ("exp", Value::Null, TokenRefusal::Expired),
            (
                "client_id",
                json!("other-rp"),
                TokenRefusal::ClientNotAccepted,
            ),
            ("client_id", Value::Null, TokenRefusal::ClientNotAccepted),
            ("sub", json!("Xk2pairwise0hash"), TokenRefusal::NotAPerson),
            ("sub", Value::Null, TokenRefusal::NotAPerson),
            ("acr", json!("urn:unknown"), TokenRefusal::NoLogin),
            ("acr", Value::Null, TokenRefusal::NoLogin),
            ("auth_time", Value::Null, TokenRefusal::NoLogin),
        ];
        for (field, value, expected) in cases {
            let mut v = good();
            v[field] = value;
            assert_eq!(
                caller(&answer(v), &accepted(), NOW),
                Err(expected),
                "{field}"
            );
        }
        assert_eq!(
            caller(&answer(good()), &[], NOW),
            Err(TokenRefusal::ClientNotAccepted),
            "no accepted client: nobody"
        );
    }

    #[test]
    fn a_session_acting_for_someone_carries_the_mandate() {
        let mut v = good();
        v["act"] = json!({ "sub": "idp:anna" });
        v["authorization_details"] =
            json!([{ "type": "urn:eidbroker:mandate", "identifier": "0190-m" }]);
        let a = caller(&answer(v.clone()), &accepted(), NOW).unwrap();
        assert_eq!(a.acting_for.as_deref(), Some("0190-m"));
        v.as_object_mut().unwrap().remove("authorization_details");
        let a = caller(&answer(v), &accepted(), NOW).unwrap();
        assert_eq!(a.acting_for.as_deref(), Some("act"));
    }

    #[test]
    fn bearer_tokens_follow_rfc_6750() {
        assert_eq!(
            bearer_token(Some(b"Bearer abc.DEF-_~+/==")).unwrap(),
            "abc.DEF-_~+/=="
        );
        assert_eq!(bearer_token(Some(b"bearer x")).unwrap(), "x");
        assert!(matches!(bearer_token(None), Err(ApiError::NoToken)));
        assert!(matches!(
            bearer_token(Some(b"Basic eDp5")),
            Err(ApiError::NoToken)
        ));
        for bad in [
            &b"Bearer "[..],
            b"Bearer a b",
            b"Bearer =",
            b"Bearer a\"b",
            b"Bearer \xff",
        ] {
            assert!(
                matches!(bearer_token(Some(bad)), Err(ApiError::InvalidToken(_))),
                "{bad:?}"
            );
        }
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        assert!(bearer_token(Some(long.as_bytes())).is_err());
    }

    proptest! {
        #[test]
        fn bearer_parse_never_panics_and_keeps_only_b64tokens(h in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(t) = bearer_token(Some(&h)) {
                prop_assert!(!t.is_empty() && t.len() <= MAX_TOKEN_LEN);
                prop_assert!(t.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'));
            }
        }

        #[test]
        fn any_introspection_answer_gives_a_caller_or_a_refusal(
            active in any::<bool>(),
            client in prop_oneof![Just("portal".to_owned()), "\\PC{0,12}"],
            sub in "\\PC{0,40}",
            acr in prop_oneof![Just("Substantial".to_owned()), "\\PC{0,20}"],
            auth_time in any::<i64>(),
            exp in any::<i64>(),
        ) {
            let a = Introspected {
                active, client_id: Some(client), sub: Some(sub.clone()), acr: Some(acr),
                auth_time: Some(auth_time), exp: Some(exp), act: None, authorization_details: None,
            };
            if let Ok(c) = caller(&a, &accepted(), NOW) {
                prop_assert!(active && exp > NOW.unix_timestamp());
                prop_assert_eq!(c.person.pairwise_input(), sub);
            }
        }
    }
}
