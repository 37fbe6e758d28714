//! The authorization request: parsing, validation in two stages (client and redirect URI first,
//! whose failures must never redirect; then everything else, whose failures go back to the client),
//! and the authorization response with `iss` (RFC 9207). Every parameter arrives bounded
//! ([`RawParams`]), so nothing here can grow a pending login or a redirect beyond a few kilobytes.

use eid_core::Loa;
use url::Url;

use crate::client::ClientRegistration;
use crate::error::{ErrorCode, OAuthError};
pub use crate::params::RawParams;
use crate::pkce;

/// The `prompt` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    /// Whatever is needed.
    #[default]
    Default,
    /// No interaction: answer from the session or fail with `login_required`.
    None,
    /// Always authenticate again.
    Login,
}

/// A validated authorization request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuthorizeRequest {
    /// The client.
    pub client_id: String,
    /// The registered redirect URI it asked for (exactly matched).
    pub redirect_uri: String,
    /// The client's state, returned unchanged.
    pub state: Option<String>,
    /// The nonce, put in the ID token.
    pub nonce: Option<String>,
    /// Requested scopes (contains `openid`).
    pub scopes: Vec<String>,
    /// The lowest level the client accepts (from `acr_values`), if it named one.
    pub acr_min: Option<Loa>,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age` in seconds.
    pub max_age: Option<u64>,
    /// The S256 PKCE challenge.
    pub code_challenge: String,
    /// Preferred page languages.
    pub ui_locales: Option<String>,
    /// A hint about who logs in (a user ID).
    pub login_hint: Option<String>,
}

/// Why an authorization request was refused, and where the answer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeRejection {
    /// The client or redirect URI could not be verified: show an error page, never redirect.
    ShowError(OAuthError),
    /// The redirect URI is verified: send the error back to the client.
    Redirect {
        /// The verified redirect URI.
        redirect_uri: String,
        /// The client's state.
        state: Option<String>,
        /// The error.
        error: OAuthError,
    },
}

/// Validates an authorization request. `client` looks a client up by id.
pub fn validate<'a>(
    params: &RawParams,
    client: impl FnOnce(&str) -> Option<&'a ClientRegistration>,
) -> Result<AuthorizeRequest, AuthorizeRejection> {
    let show = |e: OAuthError| AuthorizeRejection::ShowError(e);
    let client_id = params
        .get("client_id")
        .ok_or_else(|| show(OAuthError::invalid_request("client_id is missing")))?;
    let registration = client(client_id).ok_or_else(|| {
        show(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "unknown client_id",
        ))
    })?;
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or_else(|| show(OAuthError::invalid_request("redirect_uri is missing")))?;
    if !registration.has_redirect_uri(redirect_uri) {
        return Err(show(OAuthError::invalid_request(
            "redirect_uri is not registered for this client",
        )));
    }
    let state = params.get("state").map(str::to_owned);
    let back = |error: OAuthError| AuthorizeRejection::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        state: state.clone(),
        error,
    };
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(back(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            )));
        }
        None => {
            return Err(back(OAuthError::invalid_request(
                "response_type is missing",
            )));
        }
    }
    if params
        .get("response_mode")
        .is_some_and(|mode| mode != "query")
    {
        return Err(back(OAuthError::invalid_request(
            "only response_mode=query is supported",
        )));
    }
    if params.get("request").is_some() {
        return Err(back(OAuthError::new(
            ErrorCode::InvalidRequest,
            "request objects are not supported",
        )));
    }
    let scopes: Vec<String> = params
        .get("scope")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(back(OAuthError::new(
            ErrorCode::InvalidScope,
            "scope must contain openid",
        )));
    }
    let code_challenge = params.get("code_challenge").ok_or_else(|| {
        back(OAuthError::invalid_request(
            "code_challenge is required (PKCE)",
        ))
    })?;
    if params.get("code_challenge_method") != Some("S256") {
        return Err(back(OAuthError::invalid_request(
            "code_challenge_method must be S256",
        )));
    }
    if !pkce::is_valid_s256_challenge(code_challenge) {
        return Err(back(OAuthError::invalid_request(
            "code_challenge is malformed",
        )));
    }
    let acr_min = match params.get("acr_values") {
        None => None,
        Some(values) => {
            // Any listed level is acceptable to the client, so the lowest listed is its minimum.
            let levels: Vec<Loa> = values
                .split(' ')
                .filter_map(|v| Loa::parse(v).ok())
                .collect();
            match levels.into_iter().min() {
                Some(level) => Some(level),
                None => {
                    return Err(back(OAuthError::invalid_request(
                        "no supported value in acr_values",
                    )));
                }
            }
        }
    };
    let prompt = match params.get("prompt") {
        None => Prompt::Default,
        Some(p) => {
            let values: Vec<&str> = p.split(' ').filter(|s| !s.is_empty()).collect();
            if values.contains(&"none") && values.len() > 1 {
                return Err(back(OAuthError::invalid_request(
                    "prompt=none cannot be combined",
                )));
            }
            if values.contains(&"none") {
                Prompt::None
            } else if values.contains(&"login") {
                Prompt::Login
            } else {
                Prompt::Default
            }
        }
    };
    let max_age = params
        .get("max_age")
        .map(|v| v.parse::<u64>())
        .transpose()
        .map_err(|_| {
            back(OAuthError::invalid_request(
                "max_age must be a non-negative integer",
            ))
        })?;
    let nonce = params.get("nonce").map(str::to_owned);
    Ok(AuthorizeRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state,
        nonce,
        scopes,
        acr_min,
        prompt,
        max_age,
        code_challenge: code_challenge.to_owned(),
        ui_locales: params.get("ui_locales").map(str::to_owned),
        login_hint: params.get("login_hint").map(str::to_owned),
    })
}

/// The successful authorization response: `redirect_uri?code=…&state=…&iss=…`.
pub fn success_redirect(
    redirect_uri: &str,
    code: &str,
    state: Option<&str>,
    issuer: &str,
) -> Result<Url, OAuthError> {
    let mut url = Url::parse(redirect_uri)
        .map_err(|_| OAuthError::new(ErrorCode::ServerError, "bad redirect_uri"))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("code", code);
        if let Some(state) = state {
            q.append_pair("state", state);
        }
        q.append_pair("iss", issuer);
    }
    Ok(url)
}

/// The error response to a verified redirect URI, with `iss` (RFC 9207).
pub fn error_redirect(
    redirect_uri: &str,
    error: &OAuthError,
    state: Option<&str>,
    issuer: &str,
) -> Result<Url, OAuthError> {
    let mut url = Url::parse(redirect_uri)
        .map_err(|_| OAuthError::new(ErrorCode::ServerError, "bad redirect_uri"))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("error", error.code.as_str());
        q.append_pair("error_description", &error.description);
        if let Some(state) = state {
            q.append_pair("state", state);
        }
        q.append_pair("iss", issuer);
    }
    Ok(url)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::client::TokenEndpointAuthMethod;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client() -> ClientRegistration {
        ClientRegistration::new(
            "rp",
            "RP",
            vec!["https://rp.example/cb".into()],
            vec![],
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some("0123456789abcdef"),
        )
        .unwrap()
    }

    fn params(extra: &[(&str, &str)], drop: &[&str]) -> RawParams {
        let mut base = vec![
            ("client_id", "rp"),
            ("redirect_uri", "https://rp.example/cb"),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("state", "st"),
            ("nonce", "n"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        base.retain(|(k, _)| !drop.contains(k) && !extra.iter().any(|(e, _)| e == k));
        base.extend_from_slice(extra);
        RawParams::from_pairs(base.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned()))).unwrap()
    }

    fn run(p: &RawParams) -> Result<AuthorizeRequest, AuthorizeRejection> {
        let c = client();
        validate(p, |id| (id == "rp").then_some(&c))
    }

    fn redirected_code(r: Result<AuthorizeRequest, AuthorizeRejection>) -> ErrorCode {
        match r {
            Err(AuthorizeRejection::Redirect { error, .. }) => error.code,
            other => panic!("expected a redirected error, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_request_validates() {
        let req = run(&params(
            &[(
                "acr_values",
                "https://data.gov.dk/concept/core/nsis/loa/High",
            )],
            &[],
        ))
        .unwrap();
        assert_eq!(req.acr_min, Some(Loa::High));
        assert_eq!(req.prompt, Prompt::Default);
        assert_eq!(req.state.as_deref(), Some("st"));
    }

    #[test]
    fn unknown_client_or_unregistered_redirect_never_redirects() {
        for p in [
            params(&[("client_id", "other")], &[]),
            params(&[("redirect_uri", "https://rp.example/cb/../evil")], &[]),
            params(&[("redirect_uri", "https://rp.example/cbx")], &[]),
            params(&[], &["redirect_uri"]),
        ] {
            assert!(
                matches!(run(&p), Err(AuthorizeRejection::ShowError(_))),
                "{p:?}"
            );
        }
    }

    #[test]
    fn pkce_is_required_and_s256_only() {
        assert_eq!(
            redirected_code(run(&params(&[], &["code_challenge"]))),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            redirected_code(run(&params(&[("code_challenge_method", "plain")], &[]))),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn other_errors_go_back_to_the_client() {
        assert_eq!(
            redirected_code(run(&params(&[("response_type", "token")], &[]))),
            ErrorCode::UnsupportedResponseType
        );
        assert_eq!(
            redirected_code(run(&params(&[("scope", "profile")], &[]))),
            ErrorCode::InvalidScope
        );
        assert_eq!(
            redirected_code(run(&params(&[("prompt", "none login")], &[]))),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            redirected_code(run(&params(&[("acr_values", "urn:unknown")], &[]))),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn the_lowest_listed_level_is_the_minimum() {
        let req = run(&params(
            &[("acr_values", "https://data.gov.dk/concept/core/nsis/loa/High https://data.gov.dk/concept/core/nsis/Substantial")],
            &[],
        ))
        .unwrap();
        assert_eq!(req.acr_min, Some(Loa::Substantial));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever the parameters, validation never panics, never redirects anywhere but the
        /// registered URI, and what it accepts is complete and bounded.
        #[test]
        fn validation_never_redirects_to_an_unverified_uri(
            replaced in proptest::collection::vec(
                (proptest::sample::select(vec![
                    "client_id", "redirect_uri", "response_type", "response_mode", "scope",
                    "state", "nonce", "code_challenge", "code_challenge_method", "acr_values",
                    "prompt", "max_age", "login_hint", "ui_locales", "request",
                ]), "[ -~]{0,20}"),
                0..8,
            ),
            dropped in proptest::collection::vec(proptest::sample::select(vec![
                "client_id", "redirect_uri", "response_type", "scope", "code_challenge",
            ]), 0..3),
        ) {
            let extra: Vec<(&str, &str)> = replaced.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let mut dedup: Vec<(&str, &str)> = Vec::new();
            for (k, v) in extra {
                if !dedup.iter().any(|(seen, _)| *seen == k) {
                    dedup.push((k, v));
                }
            }
            let p = params(&dedup, &dropped);
            match run(&p) {
                Ok(req) => {
                    proptest::prop_assert_eq!(req.redirect_uri.as_str(), "https://rp.example/cb");
                    proptest::prop_assert!(req.scopes.iter().any(|s| s == "openid"));
                    proptest::prop_assert!(pkce::is_valid_s256_challenge(&req.code_challenge));
                    proptest::prop_assert!(req.state.as_ref().is_none_or(|s| s.len() <= 1024));
                }
                Err(AuthorizeRejection::Redirect { redirect_uri, .. }) => {
                    proptest::prop_assert_eq!(redirect_uri.as_str(), "https://rp.example/cb");
                }
                Err(AuthorizeRejection::ShowError(_)) => {}
            }
        }
    }

    #[test]
    fn responses_carry_iss() {
        let url = success_redirect("https://rp.example/cb", "c", Some("s"), "https://op").unwrap();
        assert_eq!(
            url.as_str(),
            "https://rp.example/cb?code=c&state=s&iss=https%3A%2F%2Fop"
        );
        let url = error_redirect(
            "https://rp.example/cb",
            &OAuthError::new(ErrorCode::AccessDenied, "no"),
            None,
            "https://op",
        )
        .unwrap();
        assert!(url.as_str().contains("error=access_denied") && url.as_str().contains("iss="));
    }
}
