//! Client authentication at the token endpoint: `client_secret_basic` and `client_secret_post`.
//! (`private_key_jwt` needs the client's keys and a replay cache; the broker verifies it itself.)

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::authorize::RawParams;
use crate::client::{ClientRegistration, TokenEndpointAuthMethod};
use crate::error::OAuthError;
use crate::params::{is_valid_identifier, max_len};

/// The credentials a request presents.
#[derive(Clone, PartialEq, Eq)]
pub enum PresentedCredentials {
    /// HTTP Basic.
    Basic {
        /// The client id.
        client_id: String,
        /// The secret.
        secret: String,
    },
    /// In the form body.
    Post {
        /// The client id.
        client_id: String,
        /// The secret.
        secret: String,
    },
    /// A client assertion (RFC 7523).
    Assertion {
        /// The `client_id` parameter, if sent.
        client_id: Option<String>,
        /// The JWT.
        assertion: String,
    },
}

impl std::fmt::Debug for PresentedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PresentedCredentials::Basic { .. } => "Basic(..)",
            PresentedCredentials::Post { .. } => "Post(..)",
            PresentedCredentials::Assertion { .. } => "Assertion(..)",
        })
    }
}

/// The bearer token of an `Authorization` header (RFC 6750 §2.1).
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, OAuthError> {
    authorization
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::new(crate::ErrorCode::InvalidToken, "bearer token required"))
}

/// The client id the assertion type `client_assertion_type` must name.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

impl PresentedCredentials {
    /// The client id claimed (for an assertion, the `client_id` parameter if sent).
    pub fn client_id(&self) -> Option<&str> {
        match self {
            PresentedCredentials::Basic { client_id, .. }
            | PresentedCredentials::Post { client_id, .. } => Some(client_id),
            PresentedCredentials::Assertion { client_id, .. } => client_id.as_deref(),
        }
    }

    /// Reads the credentials from the `Authorization` header and the form; exactly one method must
    /// be used (RFC 6749 §2.3).
    pub fn from_request(
        authorization: Option<&str>,
        form: &RawParams,
    ) -> Result<PresentedCredentials, OAuthError> {
        let basic = authorization
            .map(|h| {
                let encoded = h.strip_prefix("Basic ").ok_or_else(|| {
                    OAuthError::invalid_client("unsupported Authorization scheme")
                })?;
                parse_basic(encoded.trim())
            })
            .transpose()?;
        let form_secret = form.get("client_secret");
        let assertion = form.get("client_assertion");
        let methods = usize::from(basic.is_some())
            + usize::from(form_secret.is_some())
            + usize::from(assertion.is_some());
        if methods > 1 {
            return Err(OAuthError::invalid_request(
                "more than one client authentication method",
            ));
        }
        if let Some((client_id, secret)) = basic {
            if form.get("client_id").is_some_and(|id| id != client_id) {
                return Err(OAuthError::invalid_client(
                    "client_id differs from the authenticated client",
                ));
            }
            return Ok(PresentedCredentials::Basic { client_id, secret });
        }
        if let Some(secret) = form_secret {
            let client_id = form
                .get("client_id")
                .ok_or_else(|| OAuthError::invalid_client("client_secret without client_id"))?;
            return Ok(PresentedCredentials::Post {
                client_id: client_id.to_owned(),
                secret: secret.to_owned(),
            });
        }
        if let Some(assertion) = assertion {
            if form.get("client_assertion_type") != Some(JWT_BEARER_ASSERTION) {
                return Err(OAuthError::invalid_client(
                    "unsupported client_assertion_type",
                ));
            }
            return Ok(PresentedCredentials::Assertion {
                client_id: form.get("client_id").map(str::to_owned),
                assertion: assertion.to_owned(),
            });
        }
        Err(OAuthError::invalid_client("client authentication required"))
    }
}

/// The longest `Authorization: Basic` value read (an identifier and a secret, encoded twice).
const MAX_BASIC_LEN: usize = 4096;

fn parse_basic(encoded: &str) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::invalid_client("malformed Basic credentials");
    if encoded.len() > MAX_BASIC_LEN {
        return Err(bad());
    }
    let decoded = STANDARD.decode(encoded).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded.
    let id = form_urldecode(id).ok_or_else(bad)?;
    let secret = form_urldecode(secret).ok_or_else(bad)?;
    // The client id reaches the registry and the audit log: printable and bounded, like a form's.
    if !is_valid_identifier(&id) || secret.len() > max_len("client_secret") {
        return Err(bad());
    }
    Ok((id, secret))
}

fn form_urldecode(input: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(format!("v={input}").as_bytes())
        .into_owned()
        .collect();
    match pairs.as_slice() {
        [(_, v)] => Some(v.clone()),
        _ => None,
    }
}

/// Checks secret-based credentials against the registration: the method must be the registered
/// one and the secret must match. Assertions are refused here.
pub fn authenticate_with_secret(
    client: &ClientRegistration,
    presented: &PresentedCredentials,
) -> Result<(), OAuthError> {
    let (method, secret) = match presented {
        PresentedCredentials::Basic { secret, .. } => {
            (TokenEndpointAuthMethod::ClientSecretBasic, secret)
        }
        PresentedCredentials::Post { secret, .. } => {
            (TokenEndpointAuthMethod::ClientSecretPost, secret)
        }
        PresentedCredentials::Assertion { .. } => {
            return Err(OAuthError::invalid_client(
                "client assertions are not accepted by this provider",
            ));
        }
    };
    if method != client.auth_method {
        return Err(OAuthError::invalid_client(format!(
            "client is registered for {}",
            client.auth_method.as_str()
        )));
    }
    if !client.secret_matches(secret) {
        return Err(OAuthError::invalid_client("client authentication failed"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> RawParams {
        RawParams::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    fn client(method: TokenEndpointAuthMethod) -> ClientRegistration {
        ClientRegistration::new(
            "rp 1",
            "RP",
            vec!["https://rp/cb".into()],
            vec![],
            method,
            Some("s3cret:with%chars!"),
        )
        .unwrap()
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("rp+1:s3cret%3Awith%25chars%21"));
        let p = PresentedCredentials::from_request(Some(&header), &form(&[])).unwrap();
        assert_eq!(p.client_id(), Some("rp 1"));
        authenticate_with_secret(&client(TokenEndpointAuthMethod::ClientSecretBasic), &p).unwrap();
    }

    #[test]
    fn wrong_secret_and_wrong_method_are_refused() {
        let p = PresentedCredentials::from_request(
            None,
            &form(&[("client_id", "rp 1"), ("client_secret", "nope")]),
        )
        .unwrap();
        let e = authenticate_with_secret(&client(TokenEndpointAuthMethod::ClientSecretPost), &p)
            .unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::InvalidClient);
        let p = PresentedCredentials::from_request(
            None,
            &form(&[
                ("client_id", "rp 1"),
                ("client_secret", "s3cret:with%chars!"),
            ]),
        )
        .unwrap();
        authenticate_with_secret(&client(TokenEndpointAuthMethod::ClientSecretPost), &p).unwrap();
        assert!(
            authenticate_with_secret(&client(TokenEndpointAuthMethod::ClientSecretBasic), &p)
                .is_err()
        );
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let header = format!("Basic {}", STANDARD.encode("rp:x"));
        let e = PresentedCredentials::from_request(
            Some(&header),
            &form(&[("client_id", "rp"), ("client_secret", "x")]),
        )
        .unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::InvalidRequest);
    }

    #[test]
    fn a_basic_client_id_with_a_control_character_or_too_long_is_refused() {
        for id in ["rp%00", "rp%0A1", &"r".repeat(256)] {
            let header = format!("Basic {}", STANDARD.encode(format!("{id}:secret")));
            let e = PresentedCredentials::from_request(Some(&header), &form(&[])).unwrap_err();
            assert_eq!(e.code, crate::ErrorCode::InvalidClient, "{id}");
        }
        let header = format!("Basic {}", STANDARD.encode("r".repeat(255) + ":secret"));
        assert!(PresentedCredentials::from_request(Some(&header), &form(&[])).is_ok());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any header and form: no panic, and a client id that comes out is a valid identifier.
        #[test]
        fn presented_credentials_never_carry_a_malformed_client_id(
            header in proptest::option::of(proptest::prop_oneof![
                "Basic [A-Za-z0-9+/=]{0,80}",
                "(Basic|Bearer) .{0,40}",
                "[ -~]{0,40}",
            ]),
            basic in proptest::option::of((".{0,20}", ".{0,20}")),
            client_id in proptest::option::of("[ -~]{0,30}"),
            secret in proptest::option::of("[ -~]{0,30}"),
            assertion in proptest::option::of("[A-Za-z0-9._-]{0,60}"),
        ) {
            let header = match basic {
                Some((id, secret)) => Some(format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))),
                None => header,
            };
            let mut pairs: Vec<(&str, &str)> = Vec::new();
            if let Some(id) = &client_id { pairs.push(("client_id", id)); }
            if let Some(s) = &secret { pairs.push(("client_secret", s)); }
            if let Some(a) = &assertion {
                pairs.push(("client_assertion", a));
                pairs.push(("client_assertion_type", JWT_BEARER_ASSERTION));
            }
            let presented = PresentedCredentials::from_request(header.as_deref(), &form(&pairs));
            if let Some(id) = presented.as_ref().ok().and_then(|p| p.client_id()) {
                proptest::prop_assert!(is_valid_identifier(id));
            }
        }
    }

    #[test]
    fn no_credentials_is_invalid_client() {
        let e =
            PresentedCredentials::from_request(None, &form(&[("client_id", "rp")])).unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::InvalidClient);
    }
}
