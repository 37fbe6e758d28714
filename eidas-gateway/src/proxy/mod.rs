//! The proxy service: our citizens out (DESIGN.md flow 6). Towards foreign connectors an eIDAS IdP
//! (metadata at `/eidas/proxy/metadata`), towards the broker an OIDC relying party.
//!
//! 1. `POST /eidas/proxy/sso`: a connector's signed AuthnRequest (HTTP-POST). Its `Issuer` must be a
//!    configured connector, its signature by a key of that connector's signed metadata; its ID is
//!    used once. The login waits in the ephemeral store under a random handle held in a cookie
//!    (set in the answer to that POST), and the browser goes to the broker (`acr_values` = the
//!    requested level, `prompt=login`).
//! 2. `GET /eidas/proxy/callback`: the broker's answer, completed into an identity; the level is
//!    checked against the request's comparison.
//! 3. `GET`/`POST /eidas/proxy/consent`: the citizen sees which details go to which country and
//!    service, and sends or declines.
//! 4. The answer: a signed Response (its assertion encrypted to the connector) posted to the
//!    connector's ACS from its metadata, with the RelayState echoed.
//!
//! A request that cannot be verified gets an error page, never an answer; a verified one that breaks
//! a rule, a failed login, a too-low level or a refusal gets a signed failure Response.
//!
//! Attributes: the natural-person minimum data set. `PersonIdentifier` is `DK/<YY>/<pseudonym>`, an
//! HMAC of the broker's pairwise `sub` keyed per country ([`release::pseudonym`]). A requested
//! attribute marked required that we cannot supply (a legal person's, or a value the broker did not
//! release) is answered `Responder`/`InvalidAttrNameOrValue` (`Requester` when the request alone
//! shows it), as the EU node answers a missing mandatory attribute; optional ones are left out.

mod error;
mod flow;
mod http;
pub mod release;
pub mod texts;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use eid_core::{AuditEvent, AuditOutcome};
use eid_saml::dsig::SignatureAlg;
use eid_saml::eidas::{EidasLoa, MetadataOut, NodeRole};
use time::OffsetDateTime;

use crate::Common;
use crate::node::NodeKeys;
use crate::peers::Peers;
use crate::settings::{ProxySettings, valid_country};

pub use error::{PageKind, ProxyError};
pub use flow::{CallbackOutcome, ConsentView, Decision, SsoInput, SsoOutcome};

/// Our metadata (also our entity ID), under the public URL.
pub const METADATA_PATH: &str = "/eidas/proxy/metadata";
/// The single sign-on service (HTTP-POST).
pub const SSO_PATH: &str = "/eidas/proxy/sso";
/// The broker's redirect back to us.
pub const CALLBACK_PATH: &str = "/eidas/proxy/callback";
/// The consent page.
pub const CONSENT_PATH: &str = "/eidas/proxy/consent";
/// The script that submits the auto-posting form (the CSP allows no inline script).
pub const POST_SCRIPT_PATH: &str = "/eidas/proxy/post.js";
/// The cookie that binds a pending login to the browser.
pub const LOGIN_COOKIE: &str = "eidas_proxy_login";
/// How long a login may wait (at the broker and on the consent page).
pub const LOGIN_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a request ID is remembered: longer than the window its `IssueInstant` is accepted in.
pub const REQUEST_ID_TTL: Duration = Duration::from_secs(15 * 60);
/// How long the assertion and its confirmation are valid.
pub const ASSERTION_TTL: time::Duration = time::Duration::minutes(5);
/// How long our metadata says it is valid.
pub const METADATA_VALIDITY: time::Duration = time::Duration::days(7);
/// How long the signed metadata is served before it is signed again.
pub const METADATA_CACHE: time::Duration = time::Duration::hours(1);
/// The audit log's component name.
const COMPONENT: &str = "eidas-gateway";

/// Why the proxy service cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ProxySetupError {
    /// Our country code is not two upper-case letters.
    #[error("country must be two upper-case letters")]
    Country,
    /// The public URL is unusable.
    #[error("public_url must be an http(s) URL without a trailing slash")]
    PublicUrl,
}

/// The proxy service's state.
pub struct ProxyService {
    country: String,
    common: Common,
    node: Arc<NodeKeys>,
    peers: Peers,
    broker: eid_oidc::rp::UpstreamClient,
    pseudonym_secret: [u8; 32],
    metadata: Mutex<Option<(String, OffsetDateTime)>>,
}

impl std::fmt::Debug for ProxyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyService")
            .field("country", &self.country)
            .field("entity_id", &self.entity_id())
            .field("broker", &self.broker)
            .finish_non_exhaustive()
    }
}

impl ProxyService {
    /// The proxy service of `country`, towards the connectors of `peers`, logging citizens in with
    /// `broker` (whose redirect URI is `<public_url>/eidas/proxy/callback`).
    pub fn new(
        settings: &ProxySettings,
        country: &str,
        common: Common,
        node: Arc<NodeKeys>,
        peers: Peers,
        broker: eid_oidc::rp::UpstreamClient,
        pseudonym_secret: [u8; 32],
    ) -> Result<ProxyService, ProxySetupError> {
        let _ = settings; // The broker client is built from it by the caller.
        if !valid_country(country) {
            return Err(ProxySetupError::Country);
        }
        let url = url::Url::parse(&common.public_url).map_err(|_| ProxySetupError::PublicUrl)?;
        if !matches!(url.scheme(), "http" | "https") || common.public_url.ends_with('/') {
            return Err(ProxySetupError::PublicUrl);
        }
        Ok(ProxyService {
            country: country.to_owned(),
            common,
            node,
            peers,
            broker,
            pseudonym_secret,
            metadata: Mutex::new(None),
        })
    }

    /// Our entity ID: the metadata URL.
    pub fn entity_id(&self) -> String {
        format!("{}{METADATA_PATH}", self.common.public_url)
    }

    /// Our SSO URL: the `Destination` of every AuthnRequest.
    pub fn sso_url(&self) -> String {
        format!("{}{SSO_PATH}", self.common.public_url)
    }

    /// The algorithms we sign with: RSA-PSS always, plus those peers are configured for.
    fn signing_methods(&self) -> Vec<SignatureAlg> {
        let mut algs = vec![SignatureAlg::RsaPssSha256];
        for peer in self.peers.configured() {
            if !algs.contains(&peer.algorithms.sign) {
                algs.push(peer.algorithms.sign);
            }
        }
        algs
    }

    /// Our signed metadata, signed again at most every [`METADATA_CACHE`].
    pub fn metadata_xml(&self) -> Result<String, ProxyError> {
        let now = self.common.clock.now();
        if let Ok(cache) = self.metadata.lock()
            && let Some((xml, at)) = cache.as_ref()
            && now - *at < METADATA_CACHE
            && now >= *at
        {
            return Ok(xml.clone());
        }
        let out = MetadataOut {
            entity_id: self.entity_id(),
            node_country: self.country.clone(),
            role: NodeRole::ProxyService {
                sso_url: self.sso_url(),
                loas: EidasLoa::ALL.to_vec(),
                wants_requester_id: false,
            },
            signing_certificate: self.node.certificate.clone(),
            encryption_certificate: self.node.certificate.clone(),
            valid_until: now + METADATA_VALIDITY,
            signing_methods: self.signing_methods(),
        };
        let xml = out
            .to_signed_xml(
                &self.node.key,
                SignatureAlg::RsaPssSha256,
                &self.node.certificate,
            )
            .map_err(ProxyError::Write)?;
        if let Ok(mut cache) = self.metadata.lock() {
            *cache = Some((xml.clone(), now));
        }
        Ok(xml)
    }

    /// Records an audit event; `Err` when the log did not take it.
    async fn audit(
        &self,
        kind: &str,
        outcome: AuditOutcome,
        connector: Option<&str>,
        ip: Option<&str>,
        details: &[(&str, serde_json::Value)],
    ) -> Result<(), ProxyError> {
        let mut event = AuditEvent::new(self.common.clock.now(), COMPONENT, kind, outcome);
        if let Some(c) = connector {
            event = event.client(c);
        }
        if let Some(ip) = ip {
            event = event.ip(ip);
        }
        for (key, value) in details {
            event = event.detail(key, value.clone());
        }
        self.common.audit.record(event).await.map_err(|e| {
            tracing::error!(error = %e, kind, "audit event not recorded");
            ProxyError::Audit
        })
    }
}

/// The proxy service's routes.
pub fn routes(proxy: Arc<ProxyService>) -> Router {
    http::routes(proxy)
}
