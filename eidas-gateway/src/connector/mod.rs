//! The connector: foreign eIDs in (DESIGN.md flow 5). Towards the broker an OIDC provider (issuer
//! `<public_url>/eidas/connector`), towards the chosen country's proxy service an eIDAS SP
//! (metadata at `/eidas/connector/metadata`).
//!
//! * [`login`]: the authorization request (pushed or not), the country chooser and the signed
//!   AuthnRequest to the chosen proxy service;
//! * [`acs`]: the Response, verified against the peer's metadata, turned into claims ([`claims`])
//!   and a code;
//! * [`token`]: the token endpoint, discovery and our SAML metadata;
//! * [`http`]: thin handlers; [`error`]: failures as pages.

pub mod acs;
pub mod claims;
pub mod error;
pub mod http;
pub mod login;
pub mod texts;
pub mod token;

use std::sync::{Arc, Mutex};

use eid_core::{AuditEvent, AuditOutcome, StoreError};
use eid_oidc::ClientRegistration;
use eid_oidc::client::TokenEndpointAuthMethod;
use eid_saml::eidas::SpType;
use time::OffsetDateTime;

use crate::Common;
use crate::node::NodeKeys;
use crate::peers::Peers;
use crate::settings::ConnectorSettings;

pub use http::routes;

/// Where the connector lives, below the gateway's origin.
pub const BASE_PATH: &str = "/eidas/connector";
/// The audit log's name for the connector.
pub const COMPONENT: &str = "eidas-connector";
/// Namespace of the connector's codes and tokens in the ephemeral store.
pub const GRANTS: &str = "eidas-connector";
/// The scope by which the broker asks for the legal-person minimum data set too.
pub const LEGAL_PERSON_SCOPE: &str = "eidas_legal_person";
/// The browser-binding cookie of the connector's logins.
pub const BROWSER_COOKIE: &str = "eidas_connector_browser";

/// A country the chooser offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Country {
    /// ISO 3166-1 alpha-2.
    pub code: String,
    /// Its name as the chooser shows it.
    pub name: String,
}

/// Why the connector cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The broker's registration is unusable.
    #[error("connector client: {0}")]
    Client(#[from] eid_oidc::client::RegistrationError),
    /// The client secret file cannot be read.
    #[error("connector client secret: {0}")]
    Secret(#[from] std::io::Error),
    /// A country has no configured peer.
    #[error("connector country {0}: no peer configured")]
    NoPeer(String),
    /// No active ES256 key for ID tokens.
    #[error("connector: no active ES256 key for ID tokens")]
    NoOidcKey,
}

/// The connector's state.
pub struct Connector {
    /// Our issuer towards the broker: `<public_url>/eidas/connector`.
    pub issuer: String,
    /// Our country (`DK`): the destination of every PersonIdentifier we accept.
    pub country: String,
    /// `eidas:SPType`, in our metadata (so never in a request).
    pub sp_type: SpType,
    /// The one client: the broker.
    pub client: ClientRegistration,
    /// The countries offered, in chooser order.
    pub countries: Vec<Country>,
    /// What every part of the gateway draws on.
    pub common: Common,
    /// Our SAML key and certificate.
    pub node: Arc<NodeKeys>,
    /// The ES256 key of our ID tokens, and the JWKS.
    pub oidc_keys: eid_keys::KeyStore,
    /// The proxy services' metadata.
    pub peers: Peers,
    /// Our signed metadata and when it was signed.
    metadata: Mutex<Option<(Arc<str>, OffsetDateTime)>>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("issuer", &self.issuer)
            .field("countries", &self.countries)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// The connector of `settings` for our `country`, with the broker as its one client.
    pub fn new(
        settings: &ConnectorSettings,
        country: &str,
        common: Common,
        node: Arc<NodeKeys>,
        oidc_keys: eid_keys::KeyStore,
        peers: Peers,
    ) -> Result<Connector, SetupError> {
        let secret =
            crate::settings::secret(&settings.client_secret, &settings.client_secret_file)?;
        let client = ClientRegistration::new(
            settings.client_id.clone(),
            "eIDAS connector client",
            settings.redirect_uris.clone(),
            settings.post_logout_redirect_uris.clone(),
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(&secret),
        )?;
        let countries = settings
            .countries
            .iter()
            .map(|c| {
                if peers.configured().iter().any(|p| p.country == c.code) {
                    Ok(Country {
                        code: c.code.clone(),
                        name: c.name.clone(),
                    })
                } else {
                    Err(SetupError::NoPeer(c.code.clone()))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        if oidc_keys.signing_key(eid_keys::Alg::ES256).is_none() {
            return Err(SetupError::NoOidcKey);
        }
        Ok(Connector {
            issuer: format!("{}{BASE_PATH}", common.public_url),
            country: country.to_owned(),
            sp_type: settings.sp_type,
            client,
            countries,
            common,
            node,
            oidc_keys,
            peers,
            metadata: Mutex::new(None),
        })
    }

    /// Our entity ID: the metadata URL.
    pub fn entity_id(&self) -> String {
        format!("{}/metadata", self.issuer)
    }

    /// Our assertion consumer service (HTTP-POST).
    pub fn acs_url(&self) -> String {
        format!("{}/acs", self.issuer)
    }

    /// The offered country `code`.
    pub fn country(&self, code: &str) -> Option<&Country> {
        self.countries.iter().find(|c| c.code == code)
    }

    /// A new audit event of the connector.
    pub fn event(&self, kind: &str, outcome: AuditOutcome) -> AuditEvent {
        AuditEvent::new(self.common.clock.now(), COMPONENT, kind, outcome)
    }

    /// Records an audit event and waits for it.
    pub async fn audit(&self, event: AuditEvent) -> Result<(), StoreError> {
        self.common.audit.record(event).await
    }
}
