//! The authenticator's settings: the shape of its configuration section ([`RawIdpSettings`], as
//! serde reads it, with the built-in defaults) and its validation into typed [`IdpSettings`].
//!
//! The section's listener (`listen`, `public_url`) is the binary's business, as it is for every
//! component; field names in [`SettingsError`] are relative to the section (`clients[0]`), and the
//! binary prefixes the section's name.

use eid_oidc::{ClientRegistration, TokenEndpointAuthMethod};
use serde::Deserialize;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::{LevelTable, LockoutPolicy};

/// A value of the authenticator's section that is well-typed but not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct SettingsError {
    /// Path of the field within the section (`clients[0].client_id`).
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> SettingsError {
    SettingsError {
        field: field.into(),
        problem: problem.into(),
    }
}

/// The authenticator's section as written, besides its listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdpSettings {
    /// Lifetime of its login session, in seconds.
    #[serde(default = "default_session_ttl")]
    pub session_ttl_secs: u64,
    /// How long an app approval request waits, in seconds.
    #[serde(default = "default_app_request_ttl")]
    pub app_request_ttl_secs: u64,
    /// Level of each login method.
    #[serde(default)]
    pub levels: LevelTable,
    /// Lock-out policy.
    #[serde(default)]
    pub lockout: LockoutPolicy,
    /// Reverse proxies whose `X-Forwarded-For` is believed (addresses).
    #[serde(default)]
    pub trusted_proxies: Vec<IpAddr>,
    /// Registered clients.
    #[serde(default)]
    pub clients: Vec<RawClient>,
}

impl Default for RawIdpSettings {
    fn default() -> Self {
        RawIdpSettings {
            session_ttl_secs: default_session_ttl(),
            app_request_ttl_secs: default_app_request_ttl(),
            levels: LevelTable::default(),
            lockout: LockoutPolicy::default(),
            trusted_proxies: Vec::new(),
            clients: Vec::new(),
        }
    }
}

fn default_session_ttl() -> u64 {
    1800
}

fn default_app_request_ttl() -> u64 {
    120
}

/// An OIDC client registration as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    /// Its client id.
    pub client_id: String,
    /// Its display name.
    pub client_name: String,
    /// Its secret (or `client_secret_file`).
    pub client_secret: Option<String>,
    /// A file holding its secret.
    pub client_secret_file: Option<PathBuf>,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Registered post-logout redirect URIs.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// How it authenticates at the token endpoint.
    #[serde(default = "default_auth_method")]
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// Whether its pushed requests may name the service a person logs in to (`service_name`):
    /// only for a broker, whose relying parties' names it vouches for.
    #[serde(default)]
    pub may_name_services: bool,
}

fn default_auth_method() -> TokenEndpointAuthMethod {
    TokenEndpointAuthMethod::ClientSecretBasic
}

/// The authenticator's validated settings besides its listener.
#[derive(Debug, Clone)]
pub struct IdpSettings {
    /// Lifetime of its login session.
    pub session_ttl: Duration,
    /// How long an app approval request waits.
    pub app_request_ttl: Duration,
    /// Level of each login method.
    pub levels: LevelTable,
    /// Lock-out policy.
    pub lockout: LockoutPolicy,
    /// Reverse proxies whose `X-Forwarded-For` says who the client is.
    pub trusted_proxies: Vec<IpAddr>,
    /// Registered clients.
    pub clients: Vec<ClientRegistration>,
    /// The clients that may name services (see [`RawClient::may_name_services`]).
    pub service_namers: Vec<String>,
}

impl RawIdpSettings {
    /// Validates the section.
    pub fn validate(&self) -> Result<IdpSettings, SettingsError> {
        if self.session_ttl_secs == 0 {
            return Err(invalid("session_ttl_secs", "must be at least 1"));
        }
        if self.app_request_ttl_secs == 0 {
            return Err(invalid("app_request_ttl_secs", "must be at least 1"));
        }
        let l = &self.lockout;
        if l.max_user_failures == 0
            || l.max_ip_failures == 0
            || l.window_secs == 0
            || l.lock_secs == 0
        {
            return Err(invalid(
                "lockout",
                "every limit and duration must be at least 1",
            ));
        }
        let clients = validate_clients(&self.clients, "clients")?;
        Ok(IdpSettings {
            session_ttl: Duration::from_secs(self.session_ttl_secs),
            app_request_ttl: Duration::from_secs(self.app_request_ttl_secs),
            levels: self.levels,
            lockout: self.lockout,
            trusted_proxies: self.trusted_proxies.clone(),
            clients,
            service_namers: self
                .clients
                .iter()
                .filter(|c| c.may_name_services)
                .map(|c| c.client_id.clone())
                .collect(),
        })
    }
}

fn validate_clients(
    raw: &[RawClient],
    section: &str,
) -> Result<Vec<ClientRegistration>, SettingsError> {
    let mut seen = std::collections::HashSet::new();
    let mut clients = Vec::with_capacity(raw.len());
    for (i, c) in raw.iter().enumerate() {
        let field = format!("{section}[{i}]");
        if !seen.insert(c.client_id.clone()) {
            return Err(invalid(
                format!("{field}.client_id"),
                format!("{:?} is registered twice", c.client_id),
            ));
        }
        let secret = match (&c.client_secret, &c.client_secret_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    field,
                    "give client_secret or client_secret_file, not both",
                ));
            }
            (Some(s), None) => Some(s.clone()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| {
                        invalid(
                            format!("{field}.client_secret_file"),
                            format!("{}: {e}", path.display()),
                        )
                    })?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let registration = ClientRegistration::new(
            c.client_id.clone(),
            c.client_name.clone(),
            c.redirect_uris.clone(),
            c.post_logout_redirect_uris.clone(),
            c.token_endpoint_auth_method,
            secret.as_deref(),
        )
        .map_err(|e| invalid(field, e.problem))?;
        clients.push(registration);
    }
    Ok(clients)
}
