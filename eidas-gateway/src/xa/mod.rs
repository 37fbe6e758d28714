//! The demo's fictitious second country, XA: its proxy service (a register of foreign demo persons
//! with a simple login page) under `/xa/proxy/`, and its connector with a demo service under
//! `/xa/connector/` and `/xa/service/`. XA has its own keys and metadata and talks to the Danish
//! connector and proxy service only through eIDAS SAML, as a real other country would.
//!
//! * [`proxy`]: foreign citizens of XA log in to Danish services (flow 5 seen from abroad).
//! * [`connector`]: Danish citizens log in to XA's demo service (flow 6 seen from abroad).
//!
//! Protocol logic lives in those two modules; `http` only translates, `error` maps failures to
//! pages, and `pages`/`texts` hold the Danish and English pages.

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use eid_core::{AuditEvent, AuditOutcome};
use eid_saml::dsig::SignatureAlg;
use eid_saml::eidas::{EidasLoa, MetadataOut, NodeRole, SpType};
use time::OffsetDateTime;

use crate::Common;
use crate::node::NodeKeys;
use crate::peers::Peers;
use crate::settings::{DemoCountrySettings, valid_country};

pub mod connector;
mod error;
mod form;
mod http;
mod pages;
pub mod proxy;
pub mod register;
mod texts;

pub use error::XaError;
pub use register::{Register, XaPerson};

/// XA's proxy service metadata (and entity ID).
pub const PROXY_METADATA_PATH: &str = "/xa/proxy/metadata";
/// XA's proxy service SSO endpoint (HTTP-POST).
pub const PROXY_SSO_PATH: &str = "/xa/proxy/sso";
/// XA's login page.
pub const PROXY_LOGIN_PATH: &str = "/xa/proxy/login";
/// XA's consent page.
pub const PROXY_CONSENT_PATH: &str = "/xa/proxy/consent";
/// XA's connector metadata (and entity ID).
pub const CONNECTOR_METADATA_PATH: &str = "/xa/connector/metadata";
/// XA's connector assertion consumer service (HTTP-POST).
pub const CONNECTOR_ACS_PATH: &str = "/xa/connector/acs";
/// XA's demo service.
pub const SERVICE_PATH: &str = "/xa/service/";
/// Where the demo service's button posts.
pub const SERVICE_LOGIN_PATH: &str = "/xa/service/login";

/// How long XA's published metadata is valid.
const METADATA_VALIDITY: time::Duration = time::Duration::days(1);
/// The algorithm XA signs its metadata with.
const METADATA_ALG: SignatureAlg = SignatureAlg::RsaPssSha256;

/// The demo country's state.
pub struct DemoCountry {
    pub(crate) code: String,
    pub(crate) common: Common,
    pub(crate) keys: Arc<NodeKeys>,
    pub(crate) register: Register,
    /// The Danish connector (one peer, country DK): whose AuthnRequests XA's proxy service serves.
    pub(crate) dk_connector: Peers,
    /// The Danish proxy service (one peer): where XA's connector sends its AuthnRequests.
    pub(crate) dk_proxy: Peers,
}

impl std::fmt::Debug for DemoCountry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoCountry")
            .field("code", &self.code)
            .finish_non_exhaustive()
    }
}

impl DemoCountry {
    /// The demo country of `settings` (its register is read now), with its `keys`, serving the
    /// Danish connector `dk_connector` and using the Danish proxy service `dk_proxy` (one peer
    /// each).
    pub fn new(
        settings: &DemoCountrySettings,
        common: Common,
        keys: Arc<NodeKeys>,
        dk_connector: Peers,
        dk_proxy: Peers,
    ) -> anyhow::Result<DemoCountry> {
        anyhow::ensure!(
            valid_country(&settings.code),
            "demo_country.code: two upper-case letters"
        );
        let register = Register::load(&settings.persons)
            .with_context(|| format!("reading {}", settings.persons.display()))?;
        anyhow::ensure!(
            dk_connector.configured().len() == 1,
            "the demo country serves exactly one Danish connector"
        );
        anyhow::ensure!(
            dk_proxy.configured().len() == 1,
            "the demo country uses exactly one Danish proxy service"
        );
        Ok(DemoCountry {
            code: settings.code.clone(),
            common,
            keys,
            register,
            dk_connector,
            dk_proxy,
        })
    }

    /// Its country code (`XA`).
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Its certificate (DER): what signs its metadata, the trust anchor `demo` of the Danish side.
    pub fn certificate(&self) -> &[u8] {
        &self.keys.certificate
    }

    /// The absolute URL of one of its paths.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.common.public_url)
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.common.clock.now()
    }

    fn metadata(&self, entity_path: &str, role: NodeRole) -> Result<String, XaError> {
        MetadataOut {
            entity_id: self.url(entity_path),
            node_country: self.code.clone(),
            role,
            signing_certificate: self.keys.certificate.clone(),
            encryption_certificate: self.keys.certificate.clone(),
            valid_until: self.now() + METADATA_VALIDITY,
            signing_methods: vec![SignatureAlg::RsaPssSha256, SignatureAlg::RsaSha256],
        }
        .to_signed_xml(&self.keys.key, METADATA_ALG, &self.keys.certificate)
        .map_err(|e| XaError::Write(e.to_string()))
    }

    /// XA's proxy service metadata, signed: all three levels, SSO by HTTP-POST.
    pub fn proxy_metadata(&self) -> Result<String, XaError> {
        self.metadata(
            PROXY_METADATA_PATH,
            NodeRole::ProxyService {
                sso_url: self.url(PROXY_SSO_PATH),
                loas: EidasLoa::ALL.to_vec(),
                wants_requester_id: false,
            },
        )
    }

    /// XA's connector metadata, signed: its ACS, SPType `public` (so never in a request).
    pub fn connector_metadata(&self) -> Result<String, XaError> {
        self.metadata(
            CONNECTOR_METADATA_PATH,
            NodeRole::Connector {
                acs_url: self.url(CONNECTOR_ACS_PATH),
                sp_type: Some(SpType::Public),
            },
        )
    }

    /// An audit event of XA (component `eidas-gateway`, kinds `xa.…`).
    pub(crate) fn event(
        &self,
        kind: &str,
        outcome: AuditOutcome,
        ip: Option<&str>,
        details: serde_json::Value,
    ) -> AuditEvent {
        let mut event = AuditEvent::new(self.now(), "eidas-gateway", kind, outcome);
        event.ip = ip.map(str::to_owned);
        event.details = details;
        event
    }

    /// Records an event that guards nothing (a refusal, a step); a full queue is only counted.
    pub(crate) fn audit_detached(&self, event: AuditEvent) {
        if self.common.audit.record_detached(event).is_err() {
            tracing::warn!("audit queue full: an XA event was not recorded");
        }
    }
}

/// The demo country's routes.
pub fn routes(xa: Arc<DemoCountry>) -> Router {
    http::routes(xa)
}
