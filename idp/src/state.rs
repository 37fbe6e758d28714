//! The authenticator's configuration and everything its flows draw on.

use eid_core::{
    AuditEvent, AuditLog, AuthenticatorRepository, Clock, EphemeralStore, PersonRepository,
};
use eid_keys::KeyStore;
use eid_oidc::ClientRegistration;
use eid_store::audit_writer::AuditWriter;
use eid_store::notifications::NotificationOutbox;
use eid_web::Metrics;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use webauthn_rs::Webauthn;

use crate::levels::LevelTable;
use crate::lockout::LockoutPolicy;
use crate::password::Hasher;

/// Typed settings of the authenticator.
#[derive(Debug, Clone)]
pub struct IdpConfig {
    /// The issuer: the public origin, no trailing slash (`http://localhost:8081`).
    pub issuer: String,
    /// Registered OIDC clients (the broker, the eIDAS proxy service).
    pub clients: Vec<ClientRegistration>,
    /// The clients whose pushed requests may name the service a person logs in to
    /// (`service_name`): brokers only. Another client's name is ignored and the pages show its
    /// registered name, so that no client can present itself as another service.
    pub service_namers: Vec<String>,
    /// Level of each login method.
    pub levels: LevelTable,
    /// Lock-out of failed attempts.
    pub lockout: LockoutPolicy,
    /// How long the authenticator's own session lasts.
    pub session_ttl: Duration,
    /// Whether cookies get the `Secure` flag (everywhere but loopback).
    pub secure_cookies: bool,
    /// How long an app approval request waits for the app.
    pub app_request_ttl: Duration,
    /// Reverse proxies whose `X-Forwarded-For` says who the client is (see
    /// [`eid_web::client_addr`]); empty: the socket's peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// The authenticator's shared state.
pub struct Idp {
    /// Settings.
    pub config: IdpConfig,
    /// Clients by id.
    pub clients: HashMap<String, ClientRegistration>,
    /// Sessions, transactions, codes, challenges, counters.
    pub ephemeral: Arc<dyn EphemeralStore>,
    /// The person register.
    pub persons: Arc<dyn PersonRepository>,
    /// Enrolled authenticators.
    pub authenticators: Arc<dyn AuthenticatorRepository>,
    /// Reading the audit log (a person's last logins).
    pub audit_log: Arc<dyn AuditLog>,
    /// Writing the audit log.
    pub audit: AuditWriter,
    /// Messages to persons about changes to their account.
    pub notifications: Arc<dyn NotificationOutbox>,
    /// Signing keys.
    pub keys: KeyStore,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// WebAuthn relying party.
    pub webauthn: Webauthn,
    /// Metrics.
    pub metrics: Metrics,
    /// Password hashing, off the async workers and bounded to the cores.
    pub hasher: Hasher,
}

/// Everything `Idp::new` needs besides the configuration.
pub struct IdpDeps {
    /// Ephemeral store.
    pub ephemeral: Arc<dyn EphemeralStore>,
    /// Person register.
    pub persons: Arc<dyn PersonRepository>,
    /// Authenticators.
    pub authenticators: Arc<dyn AuthenticatorRepository>,
    /// Audit log reader.
    pub audit_log: Arc<dyn AuditLog>,
    /// Audit writer.
    pub audit: AuditWriter,
    /// Notification outbox.
    pub notifications: Arc<dyn NotificationOutbox>,
    /// Keys.
    pub keys: KeyStore,
    /// Clock.
    pub clock: Arc<dyn Clock>,
    /// Metrics.
    pub metrics: Metrics,
}

/// The authenticator could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("idp: {0}")]
pub struct SetupError(pub String);

impl Idp {
    /// Builds the state. The WebAuthn RP ID is the issuer's host (`localhost` in the demo).
    pub fn new(config: IdpConfig, deps: IdpDeps) -> Result<Idp, SetupError> {
        let origin =
            url::Url::parse(&config.issuer).map_err(|e| SetupError(format!("issuer: {e}")))?;
        let rp_id = origin
            .host_str()
            .ok_or_else(|| SetupError("issuer has no host".into()))?
            .to_owned();
        let webauthn = webauthn_rs::WebauthnBuilder::new(&rp_id, &origin)
            .and_then(|b| b.rp_name("MitID demo").build())
            .map_err(|e| {
                SetupError(format!(
                    "WebAuthn (RP ID {rp_id}; an IP address is not allowed): {e}"
                ))
            })?;
        let clients = config
            .clients
            .iter()
            .map(|c| (c.client_id.clone(), c.clone()))
            .collect();
        Ok(Idp {
            config,
            clients,
            ephemeral: deps.ephemeral,
            persons: deps.persons,
            authenticators: deps.authenticators,
            audit_log: deps.audit_log,
            audit: deps.audit,
            notifications: deps.notifications,
            keys: deps.keys,
            clock: deps.clock,
            webauthn,
            metrics: deps.metrics,
            hasher: Hasher::per_core(),
        })
    }

    /// An audit event of this component at the current time.
    pub fn event(&self, kind: &str, outcome: eid_core::AuditOutcome) -> AuditEvent {
        AuditEvent::new(self.clock.now(), "idp", kind, outcome)
    }

    /// Records an audit event and waits until it is durable.
    pub async fn audit(&self, event: AuditEvent) -> Result<(), eid_core::StoreError> {
        self.audit.record(event).await
    }
}
