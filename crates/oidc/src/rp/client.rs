//! [`UpstreamClient`]: the authorization-code flow with one upstream provider.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use eid_core::{Clock, SystemClock};
use openidconnect::core::{CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType};
use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, CsrfToken, HttpClientError, IssuerUrl,
    LanguageTag, LoginHint, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, StandardErrorResponse, TokenResponse,
};
use url::Url;

use super::discovery::Provider;
use super::error::chain;
use super::id_token::{self, Expected, SignatureError};
use super::{
    ClaimMapping, PendingUpstream, UpstreamConfig, UpstreamError, UpstreamIdentity,
    UpstreamRequest, callback,
};

/// Largest answer of a pushed authorization request accepted.
const MAX_PAR_RESPONSE_BYTES: usize = 16 * 1024;

/// Timeout of each HTTP request to the upstream.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// A relying-party client of one upstream OpenID provider. Cheap to clone (shared inside).
///
/// Provider metadata is discovered on first use and cached (a failed discovery is retried on the next
/// use); the JWKS comes with it, decoded once, and is fetched again when an ID token names an unknown
/// `kid` (at most every [`super::JWKS_REFRESH_MIN_INTERVAL`]).
#[derive(Clone)]
pub struct UpstreamClient {
    inner: Arc<Inner>,
    mapping: ClaimMapping,
}

struct Inner {
    config: UpstreamConfig,
    issuer_url: IssuerUrl,
    redirect_url: RedirectUrl,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    provider: tokio::sync::OnceCell<Arc<Provider>>,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("name", &self.inner.config.name)
            .field("issuer", &self.inner.config.issuer)
            .field("discovered", &self.inner.provider.initialized())
            .finish_non_exhaustive()
    }
}

impl UpstreamClient {
    /// A client for `config` on the system clock. Checks the configuration; makes no network call.
    pub fn new(config: UpstreamConfig) -> Result<Self, UpstreamError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// Like [`UpstreamClient::new`], with the clock that ID token times are checked against.
    pub fn with_clock(
        config: UpstreamConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, UpstreamError> {
        let bad = |s: String| UpstreamError::Config(format!("upstream {:?}: {s}", config.name));
        if config.name.is_empty() || config.client_id.is_empty() {
            return Err(bad("name and client_id must not be empty".into()));
        }
        let issuer = Url::parse(&config.issuer).map_err(|e| bad(format!("issuer: {e}")))?;
        if !matches!(issuer.scheme(), "https" | "http")
            || issuer.query().is_some()
            || issuer.fragment().is_some()
        {
            return Err(bad(
                "issuer must be an http(s) URL without query or fragment".into(),
            ));
        }
        let issuer_url =
            IssuerUrl::new(config.issuer.clone()).map_err(|e| bad(format!("issuer: {e}")))?;
        let redirect_url = RedirectUrl::new(config.redirect_uri.clone())
            .map_err(|e| bad(format!("redirect_uri: {e}")))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| bad(format!("HTTP client: {}", chain(&e))))?;
        Ok(UpstreamClient {
            inner: Arc::new(Inner {
                config,
                issuer_url,
                redirect_url,
                http,
                clock,
                provider: tokio::sync::OnceCell::new(),
            }),
            mapping: ClaimMapping::National,
        })
    }

    /// This client reading the person claims of `mapping` (national by default).
    pub fn with_claim_mapping(mut self, mapping: ClaimMapping) -> Self {
        self.mapping = mapping;
        self
    }

    /// The claim mapping it reads ID tokens with.
    pub fn claim_mapping(&self) -> ClaimMapping {
        self.mapping
    }

    /// Our name for the upstream.
    pub fn name(&self) -> &str {
        &self.inner.config.name
    }

    /// The upstream's issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.inner.config.issuer
    }

    /// The provider metadata, discovered on first use.
    async fn provider(&self) -> Result<&Arc<Provider>, UpstreamError> {
        let inner = &self.inner;
        inner
            .provider
            .get_or_try_init(|| async {
                Provider::discover(
                    &inner.config,
                    &inner.issuer_url,
                    &inner.redirect_url,
                    &inner.http,
                )
                .await
                .map(Arc::new)
            })
            .await
    }

    /// Builds the redirect to the upstream's authorization endpoint (discovering its metadata on first use)
    /// with a fresh `state`, `nonce` and PKCE S256 verifier. The caller keeps the [`PendingUpstream`]
    /// (in the ephemeral store, keyed by its `state`) until the callback.
    ///
    /// Sends `scope` (`openid` plus the configured scopes), `acr_values` (the minimum level's NSIS URI),
    /// `prompt=login`, `max_age`, `login_hint` and `ui_locales` as the request asks.
    ///
    /// When the provider advertises a `pushed_authorization_request_endpoint` (RFC 9126), the
    /// request is pushed there with `service_name` added (`client_secret_basic`), and the redirect
    /// carries only `client_id` and the `request_uri`; otherwise it is a plain redirect (without
    /// `service_name`, which must come authenticated).
    pub async fn begin(
        &self,
        request: &UpstreamRequest,
    ) -> Result<(Url, PendingUpstream), UpstreamError> {
        let provider = self.provider().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut auth = provider
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.inner.config.scopes {
            if scope != "openid" {
                auth = auth.add_scope(Scope::new(scope.clone()));
            }
        }
        if let Some(loa) = request.acr_min {
            auth = auth
                .add_auth_context_value(AuthenticationContextClass::new(loa.as_uri().to_owned()));
        }
        if request.force_login {
            auth = auth.add_prompt(CoreAuthPrompt::Login);
        }
        if let Some(max_age) = request.max_age {
            auth = auth.set_max_age(Duration::from_secs(max_age));
        }
        if let Some(hint) = &request.login_hint {
            auth = auth.set_login_hint(LoginHint::new(hint.clone()));
        }
        if let Some(locales) = &request.ui_locales {
            for tag in locales.split_whitespace() {
                auth = auth.add_ui_locale(LanguageTag::new(tag.to_owned()));
            }
        }
        if self.mapping == ClaimMapping::Eidas && request.legal_person {
            auth = auth.add_scope(Scope::new(super::LEGAL_PERSON_SCOPE.to_owned()));
        }
        if self.mapping == ClaimMapping::Eidas
            && let Some(country) = request
                .country
                .as_deref()
                .filter(|c| eid_core::eidas::valid_country(c))
        {
            auth = auth.add_extra_param("country", country.to_owned());
        }
        let (url, state, nonce) = auth.url();
        let url = match &provider.par_endpoint {
            Some(endpoint) => self.push(provider, endpoint, &url, request).await?,
            None => url,
        };
        let pending = PendingUpstream {
            upstream: self.inner.config.name.clone(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            acr_min: request.acr_min,
            max_age: request.max_age,
        };
        Ok((url, pending))
    }

    /// Pushes the request that `url` spells (RFC 9126) with `service_name` added, authenticated with
    /// `client_secret_basic`; returns the redirect with `client_id` and the `request_uri` only.
    async fn push(
        &self,
        provider: &Provider,
        endpoint: &Url,
        url: &Url,
        request: &UpstreamRequest,
    ) -> Result<Url, UpstreamError> {
        let config = &self.inner.config;
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.extend_pairs(url.query_pairs());
            if let Some(name) = request
                .service_name
                .as_deref()
                .filter(|n| super::valid_service_name(n))
            {
                form.append_pair("service_name", name);
            }
            form.finish()
        };
        // RFC 6749 §2.3.1: both parts form-urlencoded before Base64.
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(&config.client_id),
            encode(&config.client_secret)
        ));
        let unavailable = |e: reqwest::Error| {
            UpstreamError::Unavailable(format!("pushed authorization request: {}", chain(&e)))
        };
        let mut response = self
            .inner
            .http
            .post(endpoint.clone())
            .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(form)
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
            if body.len() + chunk.len() > MAX_PAR_RESPONSE_BYTES {
                return Err(UpstreamError::Unavailable(
                    "pushed authorization response too large".into(),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if status.is_server_error() {
            return Err(UpstreamError::Unavailable(format!(
                "pushed authorization request: HTTP status {status}"
            )));
        }
        if !status.is_success() {
            let text = |k: &str| {
                json.get(k)
                    .and_then(|v| v.as_str())
                    .map(|s| s.chars().take(200).collect::<String>())
            };
            return Err(UpstreamError::Refused {
                error: text("error").unwrap_or_else(|| format!("HTTP status {status}")),
                description: text("error_description"),
            });
        }
        let request_uri = json
            .get("request_uri")
            .and_then(|v| v.as_str())
            .filter(|u| !u.is_empty() && u.len() <= 512 && u.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                UpstreamError::Unavailable(
                    "pushed authorization response has no usable request_uri".into(),
                )
            })?;
        let mut redirect = provider.authorization_endpoint.clone();
        redirect
            .query_pairs_mut()
            .append_pair("client_id", &config.client_id)
            .append_pair("request_uri", request_uri);
        Ok(redirect)
    }

    /// Completes the flow from the callback's query parameters.
    ///
    /// In order: the pending login must be for this upstream and `state` must equal its state (constant
    /// time) → [`UpstreamError::StateMismatch`]; `iss` must equal the issuer if present, and be present if
    /// the metadata promises it (RFC 9207) → [`UpstreamError::IssuerMismatch`]; an error response →
    /// [`UpstreamError::Refused`]; the code is exchanged at the token endpoint (`client_secret_basic`,
    /// `redirect_uri`, the PKCE verifier); the ID token's signature is checked against the upstream's JWKS
    /// (ES256, RS256 or PS256), then `iss`, `aud`/`azp`, `exp`/`iat`/`nbf` (60 s skew), `nonce`, `acr`
    /// (against the requested minimum) and `auth_time` (against `max_age`).
    pub async fn complete(
        &self,
        pending: &PendingUpstream,
        callback: &[(String, String)],
    ) -> Result<UpstreamIdentity, UpstreamError> {
        if pending.upstream != self.inner.config.name {
            return Err(UpstreamError::StateMismatch);
        }
        let provider = self.provider().await?;
        let code = callback::check(
            callback,
            &pending.state,
            &self.inner.config.issuer,
            provider.iss_parameter_supported,
        )?;
        let response = provider
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.inner.http)
            .await
            .map_err(token_error)?;
        let raw = response
            .id_token()
            .ok_or_else(|| UpstreamError::Token("the token response has no id_token".into()))?
            .to_string();
        let claims = self.verify_signature(provider, &raw).await?;
        let checked = id_token::check_claims(
            &claims,
            &Expected {
                issuer: &self.inner.config.issuer,
                client_id: &self.inner.config.client_id,
                nonce: &pending.nonce,
                acr_min: pending.acr_min,
                max_age: pending.max_age,
                now: self.inner.clock.now().unix_timestamp(),
            },
        )?;
        let name = &self.inner.config.name;
        let (cpr, eidas, (given_name, family_name, birthdate)) = match self.mapping {
            ClaimMapping::National => (
                claims.cpr,
                None,
                (claims.given_name, claims.family_name, claims.birthdate),
            ),
            ClaimMapping::Eidas => (
                None,
                Some(super::eidas::read(name, &claims.sub, &claims.eidas)?),
                super::eidas::clean_person_claims(
                    name,
                    claims.given_name,
                    claims.family_name,
                    claims.birthdate,
                ),
            ),
        };
        Ok(UpstreamIdentity {
            upstream: self.inner.config.name.clone(),
            subject: claims.sub,
            loa: checked.loa,
            amr: claims.amr,
            auth_time: checked.auth_time,
            cpr,
            eidas,
            given_name,
            family_name,
            birthdate,
            id_token: raw,
            sid: super::usable_sid(claims.sid),
        })
    }

    /// Verifies the signature, fetching the JWKS again once if the key is unknown.
    async fn verify_signature(
        &self,
        provider: &Provider,
        raw: &str,
    ) -> Result<id_token::IdTokenClaims, UpstreamError> {
        let keys = provider.keys();
        let unknown = match id_token::verify_signature(raw, &keys) {
            Ok(claims) => return Ok(claims),
            Err(SignatureError::Invalid(e)) => return Err(UpstreamError::IdToken(e)),
            Err(SignatureError::UnknownKid(kid)) => kid,
        };
        let not_found = || {
            UpstreamError::IdToken(format!(
                "signed with a key not in the upstream's JWKS (kid {unknown:?})"
            ))
        };
        let Some(keys) = provider.refresh_keys(&self.inner.http, &keys).await? else {
            return Err(not_found());
        };
        match id_token::verify_signature(raw, &keys) {
            Ok(claims) => Ok(claims),
            Err(SignatureError::Invalid(e)) => Err(UpstreamError::IdToken(e)),
            Err(SignatureError::UnknownKid(_)) => Err(not_found()),
        }
    }

    /// The upstream's `end_session_endpoint` with `client_id` and, if given, `logout_hint` (the
    /// upstream's `sid` of the login) and `post_logout_redirect_uri`; `None` if it has none (or
    /// cannot be discovered). Never an ID token: the upstream's holds the person's data.
    pub async fn end_session_url(
        &self,
        logout_hint: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
    ) -> Option<Url> {
        let provider = self.provider().await.ok()?;
        let mut url = provider.end_session_endpoint.clone()?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(hint) = logout_hint {
                query.append_pair("logout_hint", hint);
            }
            query.append_pair("client_id", &self.inner.config.client_id);
            if let Some(uri) = post_logout_redirect_uri {
                query.append_pair("post_logout_redirect_uri", uri);
            }
        }
        Some(url)
    }
}

fn token_error(
    e: RequestTokenError<
        HttpClientError<reqwest::Error>,
        StandardErrorResponse<CoreErrorResponseType>,
    >,
) -> UpstreamError {
    match e {
        RequestTokenError::ServerResponse(r) => UpstreamError::Token(match r.error_description() {
            Some(d) => format!("{}: {d}", r.error().as_ref()),
            None => r.error().as_ref().to_owned(),
        }),
        RequestTokenError::Request(e) => {
            UpstreamError::Unavailable(format!("token endpoint: {}", chain(&e)))
        }
        RequestTokenError::Parse(e, _) => UpstreamError::Token(format!(
            "malformed token response at {}: {}",
            e.path(),
            e.inner()
        )),
        RequestTokenError::Other(s) => UpstreamError::Token(s),
    }
}
