//! The broker's configuration and everything its flows draw on.

use eid_core::{
    AuditEvent, AuditOutcome, Clock, EphemeralStore, MandateLookup, ProtocolMessage,
    ProtocolMessageLog, RelyingPartyRepository, SamlServiceProviderRepository, StoreError,
};
use eid_keys::KeyStore;
use eid_store::audit_writer::AuditWriter;
use eid_web::Metrics;
use std::sync::Arc;
use std::time::Duration;

use crate::core::SsoSession;
use crate::core::pairwise::PairwiseKey;
use crate::oidc::logout::send_backchannel_logouts;
use crate::ports::{LogoutNotifier, Upstreams};
use crate::registry::Registry;

/// How long a request waits for the audit log to acknowledge an event (well within the request
/// timeout).
pub const AUDIT_DEADLINE: Duration = Duration::from_secs(10);

/// Typed settings of the broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// The issuer: the public origin, no trailing slash.
    pub issuer: String,
    /// How long an SSO session lasts.
    pub session_ttl: Duration,
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Lifetime of refresh tokens.
    pub refresh_token_ttl: Duration,
    /// Whether cookies get the `Secure` flag (everywhere but loopback).
    pub secure_cookies: bool,
    /// SHA-256 of the admin API token; `None` disables the admin API.
    pub admin_token_sha256: Option<[u8; 32]>,
    /// Reverse proxies whose `X-Forwarded-For` says who the client is
    /// ([`eid_web::client_addr::client_address`]); empty: the socket's peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// What the broker draws on besides its settings: stores, keys, clock, upstreams and the other
/// ports. The binary wires the production ones; tests put a memory store, a fixed clock and fake
/// upstreams in their place.
pub struct BrokerDeps {
    /// Sessions, pending logins, codes, tokens, replay caches.
    pub ephemeral: Arc<dyn EphemeralStore>,
    /// The durable relying-party registry.
    pub relying_parties: Arc<dyn RelyingPartyRepository>,
    /// The durable registry of SAML service providers registered at run time.
    pub saml_service_providers: Arc<dyn SamlServiceProviderRepository>,
    /// Writing the audit log (and the signed protocol messages, with their events).
    pub audit: AuditWriter,
    /// Reading the kept protocol messages (operators).
    pub protocol_messages: Arc<dyn ProtocolMessageLog>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Signing keys.
    pub keys: KeyStore,
    /// Upstream identity providers, in chooser order.
    pub upstreams: Upstreams,
    /// The mandate registry's back-channel.
    pub mandates: Arc<dyn MandateLookup>,
    /// Delivery of back-channel logouts.
    pub logout: Arc<dyn LogoutNotifier>,
    /// Pairwise identifier key.
    pub pairwise: PairwiseKey,
    /// Metrics.
    pub metrics: Metrics,
}

/// The broker's shared state.
pub struct Broker {
    /// Settings.
    pub config: BrokerConfig,
    /// Sessions, pending logins, codes, tokens, replay caches.
    pub ephemeral: Arc<dyn EphemeralStore>,
    /// The durable relying-party registry.
    pub relying_parties: Arc<dyn RelyingPartyRepository>,
    /// The durable registry of SAML service providers registered at run time.
    pub saml_service_providers: Arc<dyn SamlServiceProviderRepository>,
    /// Its in-memory snapshot (of both registries).
    pub registry: Registry,
    /// Upstream identity providers, in chooser order.
    pub upstreams: Upstreams,
    /// The mandate registry's back-channel.
    pub mandates: Arc<dyn MandateLookup>,
    /// Delivery of back-channel logouts.
    pub logout: Arc<dyn LogoutNotifier>,
    /// Pairwise identifier key.
    pub pairwise: PairwiseKey,
    /// Writing the audit log (and the signed protocol messages, with their events).
    pub audit: AuditWriter,
    /// Reading the kept protocol messages (operators).
    pub protocol_messages: Arc<dyn ProtocolMessageLog>,
    /// Signing keys.
    pub keys: KeyStore,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Metrics.
    pub metrics: Metrics,
    /// Certificates of the SAML signing keys.
    pub saml_certificates: crate::saml::idp::CertificateCache,
    /// What the person's own log page reads; without it the page says it is unavailable.
    pub my_log: Option<crate::my::MyLogSources>,
}

impl Broker {
    /// The broker with `config` on `deps`, its registry snapshot loaded from the durable registry.
    pub async fn new(config: BrokerConfig, deps: BrokerDeps) -> Result<Broker, StoreError> {
        let broker = Broker {
            config,
            ephemeral: deps.ephemeral,
            relying_parties: deps.relying_parties,
            saml_service_providers: deps.saml_service_providers,
            registry: Registry::default(),
            upstreams: deps.upstreams,
            mandates: deps.mandates,
            logout: deps.logout,
            pairwise: deps.pairwise,
            audit: deps.audit,
            protocol_messages: deps.protocol_messages,
            keys: deps.keys,
            clock: deps.clock,
            metrics: deps.metrics,
            saml_certificates: Default::default(),
            my_log: None,
        };
        broker.refresh_registry().await?;
        Ok(broker)
    }

    /// The broker with the person's own log page reading `sources`.
    pub fn with_my_log(mut self, sources: crate::my::MyLogSources) -> Broker {
        self.my_log = Some(sources);
        self
    }

    /// Re-reads both durable registries into the snapshot: the OIDC relying parties first (a
    /// stored SAML service provider with an OIDC client's id is left out), then the SAML ones.
    pub async fn refresh_registry(&self) -> Result<(), StoreError> {
        self.registry.refresh(self.relying_parties.as_ref()).await?;
        self.registry
            .refresh_saml(self.saml_service_providers.as_ref(), self.clock.now())
            .await?;
        Ok(())
    }

    /// An audit event of the broker at the current time.
    pub fn event(&self, kind: &str, outcome: AuditOutcome) -> AuditEvent {
        AuditEvent::new(self.clock.now(), "broker", kind, outcome)
    }

    /// Records an audit event and waits until it is durable, at most [`AUDIT_DEADLINE`]: past it
    /// the log counts as unavailable, so that the caller's own failure path (restoring a redeemed
    /// code) runs before the request times out.
    pub async fn audit(&self, event: AuditEvent) -> Result<(), StoreError> {
        self.audit_with(event, Vec::new()).await
    }

    /// [`audit`](Self::audit), with the signed protocol `messages` of the same act committed in
    /// the same transaction.
    pub async fn audit_with(
        &self,
        event: AuditEvent,
        messages: Vec<ProtocolMessage>,
    ) -> Result<(), StoreError> {
        tokio::time::timeout(AUDIT_DEADLINE, self.audit.record_with(event, messages))
            .await
            .map_err(|_| {
                StoreError::Unavailable("the audit log did not acknowledge in time".into())
            })?
    }

    /// Keeps `session` for single sign-on under a fresh cookie (returned) in place of the browser's
    /// `previous` one. Another person's session that this replaces ends as at logout (see
    /// [`SsoSession::save_replacing`]): its relying parties get their back-channel logouts and the
    /// end is audited.
    pub async fn start_session(
        &self,
        session: &SsoSession,
        previous: Option<&str>,
    ) -> Result<String, StoreError> {
        let (cookie, replaced) = session
            .save_replacing(self.ephemeral.as_ref(), previous, self.config.session_ttl)
            .await?;
        if let Some(replaced) = replaced {
            send_backchannel_logouts(self, &replaced).await;
            self.audit(
                self.event("logout", AuditOutcome::Success)
                    .detail("relying_parties", replaced.rps.len())
                    .detail("initiated_by", "another_login"),
            )
            .await?;
        }
        Ok(cookie)
    }

    /// The current Unix time.
    pub fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }
}
