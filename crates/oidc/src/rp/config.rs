//! Configuration of one upstream OpenID provider.

use serde::Deserialize;
use std::fmt;

/// One upstream OpenID provider the broker logs people in with (idp/, the eIDAS connector, …).
#[derive(Clone, Deserialize)]
pub struct UpstreamConfig {
    /// Our name for the upstream (`idp`, `eidas`): kept in [`super::PendingUpstream`] and
    /// [`super::UpstreamIdentity`].
    pub name: String,
    /// The upstream's issuer identifier, exactly as its discovery document and ID tokens spell it.
    pub issuer: String,
    /// The broker's client id at the upstream.
    pub client_id: String,
    /// The broker's client secret at the upstream (sent with `client_secret_basic`).
    pub client_secret: String,
    /// The broker's callback URL registered at the upstream.
    pub redirect_uri: String,
    /// Scopes to ask for besides `openid` (which is always sent).
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl fmt::Debug for UpstreamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamConfig")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let config = UpstreamConfig {
            name: "idp".into(),
            issuer: "https://idp.example".into(),
            client_id: "broker".into(),
            client_secret: "s3cret-value".into(),
            redirect_uri: "https://broker.example/upstream/callback".into(),
            scopes: vec![],
        };
        let text = format!("{config:?}");
        assert!(!text.contains("s3cret-value"));
        assert!(text.contains("redacted"));
    }
}
