//! A registered OIDC client (relying party) as far as every provider needs it.

use subtle::ConstantTimeEq;

/// How a client authenticates at the token endpoint (the registry's typed value).
pub use eid_core::ClientAuthMethod as TokenEndpointAuthMethod;

/// A registered client. Its secret is kept only as a SHA-256 digest.
#[derive(Clone)]
pub struct ClientRegistration {
    /// The client id.
    pub client_id: String,
    /// A display name shown to citizens ("Borger.dk").
    pub client_name: String,
    /// Registered redirect URIs; requests must match one exactly.
    pub redirect_uris: Vec<String>,
    /// Registered post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// How it authenticates at the token endpoint.
    pub auth_method: TokenEndpointAuthMethod,
    secret_sha256: Option<[u8; 32]>,
}

impl std::fmt::Debug for ClientRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRegistration")
            .field("client_id", &self.client_id)
            .field("redirect_uris", &self.redirect_uris)
            .field("auth_method", &self.auth_method)
            .finish_non_exhaustive()
    }
}

/// A registration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("client {client_id}: {problem}")]
pub struct RegistrationError {
    /// The client.
    pub client_id: String,
    /// What is wrong.
    pub problem: String,
}

impl ClientRegistration {
    /// A registration; `secret` is hashed at once and the plain text dropped. Redirect URIs must be
    /// absolute `https` URLs (or `http` on loopback) without fragments.
    pub fn new(
        client_id: impl Into<String>,
        client_name: impl Into<String>,
        redirect_uris: Vec<String>,
        post_logout_redirect_uris: Vec<String>,
        auth_method: TokenEndpointAuthMethod,
        secret: Option<&str>,
    ) -> Result<Self, RegistrationError> {
        if redirect_uris.is_empty() {
            return Err(RegistrationError {
                client_id: client_id.into(),
                problem: "no redirect_uris".into(),
            });
        }
        Self::build(
            client_id,
            client_name,
            redirect_uris,
            post_logout_redirect_uris,
            auth_method,
            secret,
        )
    }

    fn build(
        client_id: impl Into<String>,
        client_name: impl Into<String>,
        redirect_uris: Vec<String>,
        post_logout_redirect_uris: Vec<String>,
        auth_method: TokenEndpointAuthMethod,
        secret: Option<&str>,
    ) -> Result<Self, RegistrationError> {
        let client_id = client_id.into();
        let problem = |p: String| RegistrationError {
            client_id: client_id.clone(),
            problem: p,
        };
        if client_id.is_empty() {
            return Err(problem("empty client_id".into()));
        }
        for uri in redirect_uris.iter().chain(&post_logout_redirect_uris) {
            check_redirect_uri(uri).map_err(|p| problem(format!("{uri}: {p}")))?;
        }
        let needs_secret = matches!(
            auth_method,
            TokenEndpointAuthMethod::ClientSecretBasic | TokenEndpointAuthMethod::ClientSecretPost
        );
        let secret_sha256 = match (needs_secret, secret) {
            (true, Some(s)) if s.len() >= 16 => Some(sha256(s.as_bytes())),
            (true, Some(_)) => {
                return Err(problem("client_secret shorter than 16 characters".into()));
            }
            (true, None) => {
                return Err(problem(format!(
                    "{} needs a client_secret",
                    auth_method.as_str()
                )));
            }
            (false, _) => None,
        };
        Ok(ClientRegistration {
            client_id,
            client_name: client_name.into(),
            redirect_uris,
            post_logout_redirect_uris,
            auth_method,
            secret_sha256,
        })
    }

    /// A registration whose secret is already hashed (as stored in a registry): `secret_sha256` is
    /// the hex SHA-256 of the secret. `redirect_uris` may be empty: the registry decides whether the
    /// client needs one (a service that may not use the code flow has none, and no request
    /// redirects to it).
    pub fn with_secret_digest(
        client_id: impl Into<String>,
        client_name: impl Into<String>,
        redirect_uris: Vec<String>,
        post_logout_redirect_uris: Vec<String>,
        auth_method: TokenEndpointAuthMethod,
        secret_sha256: Option<&str>,
    ) -> Result<Self, RegistrationError> {
        let client_id = client_id.into();
        let digest = match secret_sha256 {
            Some(hex) => Some(parse_hex32(hex).ok_or_else(|| RegistrationError {
                client_id: client_id.clone(),
                problem: "client_secret_sha256 is not 64 hex digits".into(),
            })?),
            None => None,
        };
        let mut registration = Self::build(
            client_id,
            client_name,
            redirect_uris,
            post_logout_redirect_uris,
            TokenEndpointAuthMethod::PrivateKeyJwt,
            None,
        )?;
        if matches!(
            auth_method,
            TokenEndpointAuthMethod::ClientSecretBasic | TokenEndpointAuthMethod::ClientSecretPost
        ) && digest.is_none()
        {
            return Err(RegistrationError {
                client_id: registration.client_id,
                problem: format!("{} needs client_secret_sha256", auth_method.as_str()),
            });
        }
        registration.auth_method = auth_method;
        registration.secret_sha256 = digest;
        Ok(registration)
    }

    /// Whether `uri` is one of the registered redirect URIs, compared exactly (RFC 9700 §4.1.3).
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }

    /// Whether `uri` is a registered post-logout redirect URI, compared exactly.
    pub fn has_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|r| r == uri)
    }

    /// Checks a presented secret in constant time.
    pub fn secret_matches(&self, presented: &str) -> bool {
        match &self.secret_sha256 {
            Some(expected) => bool::from(sha256(presented.as_bytes()).ct_eq(expected)),
            None => false,
        }
    }
}

/// The hex SHA-256 of a client secret, as registries store it.
pub fn secret_digest_hex(secret: &str) -> String {
    sha256(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parse_hex32(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Checks that a redirect URI may be registered.
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let url = url::Url::parse(uri).map_err(|e| format!("not an absolute URL ({e})"))?;
    if url.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("must be https (http only on localhost)".into()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn client() -> ClientRegistration {
        ClientRegistration::new(
            "rp",
            "RP",
            vec!["https://rp.example/cb".into()],
            vec![],
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some("a-long-enough-secret"),
        )
        .unwrap()
    }

    #[test]
    fn redirect_uri_matches_exactly_only() {
        let c = client();
        assert!(c.has_redirect_uri("https://rp.example/cb"));
        for near in [
            "https://rp.example/cb/",
            "https://rp.example/cb?x=1",
            "https://rp.example/cbx",
            "https://rp.example/c",
            "https://RP.example/cb",
            "http://rp.example/cb",
        ] {
            assert!(!c.has_redirect_uri(near), "{near}");
        }
    }

    #[test]
    fn a_stored_digest_checks_the_same_secret() {
        let c = ClientRegistration::with_secret_digest(
            "rp",
            "RP",
            vec!["https://rp.example/cb".into()],
            vec![],
            TokenEndpointAuthMethod::ClientSecretPost,
            Some(&secret_digest_hex("a-long-enough-secret")),
        )
        .unwrap();
        assert!(c.secret_matches("a-long-enough-secret"));
        assert!(!c.secret_matches("another-long-secret"));
        assert!(
            ClientRegistration::with_secret_digest(
                "rp",
                "RP",
                vec!["https://rp/cb".into()],
                vec![],
                TokenEndpointAuthMethod::ClientSecretPost,
                Some("zz")
            )
            .is_err()
        );
    }

    #[test]
    fn secret_is_checked() {
        let c = client();
        assert!(c.secret_matches("a-long-enough-secret"));
        assert!(!c.secret_matches("a-long-enough-secreT"));
        assert!(!c.secret_matches(""));
    }

    #[test]
    fn bad_registrations_are_refused() {
        let reg = |uris: Vec<String>, secret: Option<&str>| {
            ClientRegistration::new(
                "rp",
                "RP",
                uris,
                vec![],
                TokenEndpointAuthMethod::ClientSecretPost,
                secret,
            )
        };
        assert!(
            reg(
                vec!["http://rp.example/cb".into()],
                Some("0123456789abcdef")
            )
            .is_err()
        );
        assert!(
            reg(
                vec!["https://rp.example/cb#x".into()],
                Some("0123456789abcdef")
            )
            .is_err()
        );
        assert!(reg(vec!["https://rp.example/cb".into()], Some("short")).is_err());
        assert!(reg(vec!["https://rp.example/cb".into()], None).is_err());
        assert!(reg(vec![], Some("0123456789abcdef")).is_err());
        assert!(
            reg(
                vec!["http://localhost:8090/cb".into()],
                Some("0123456789abcdef")
            )
            .is_ok()
        );
    }
}
