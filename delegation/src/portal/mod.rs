//! The self-service portal (Digital Fuldmagt's citizen pages): an ordinary OpenID Connect relying
//! party of the broker, registered with `subject_type = "public"` so that its `sub` is the
//! broker's person key. A person logs in, sees the powers of attorney they gave and hold, gives
//! one (a form, then the "sign" page after a fresh login at Substantial), asks for one, approves,
//! accepts, declines and revokes, manages the organisations they administer, and reads the
//! messages the registry sent them.
//!
//! - [`session`]: login through the broker (PKCE, state, nonce), the session, logout, back-channel
//!   logout; the ID token becomes an [`Authenticated`](crate::registry::Authenticated).
//! - [`forms`]: form bodies parsed into typed values.
//! - [`ops`]: pending operations and their confirmation (the sign step).
//! - [`handlers`], [`organisations`] and [`views`]: the pages; [`error`]: every failure as a
//!   page.

mod error;
pub mod forms;
mod handlers;
pub mod ops;
mod organisations;
pub mod session;
mod texts;
mod views;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use eid_core::{EphemeralStore, Scope};
use eid_oidc::rp::{UpstreamClient, UpstreamConfig};
use eid_store::notifications::NotificationOutbox;
use std::fmt;
use std::sync::Arc;

pub use error::PortalError;

use crate::registry::Registry;

/// A service or service area a power of attorney can cover, with the name people know it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOption {
    /// The scope (`Scope::Service(client id)` or `Scope::Area(name)`).
    pub scope: Scope,
    /// Its display name.
    pub name: String,
}

/// Where the portal finds the services that accept representation (the broker's relying parties
/// with `accepts_representation`, and their service areas), asked at every page so that a
/// registration changed at run time shows at once.
pub trait ServiceCatalogue: Send + Sync {
    /// The services and areas a person may choose, in the order shown.
    fn services(&self) -> Vec<ServiceOption>;
}

impl ServiceCatalogue for Vec<ServiceOption> {
    fn services(&self) -> Vec<ServiceOption> {
        self.clone()
    }
}

impl<F> ServiceCatalogue for F
where
    F: Fn() -> Vec<ServiceOption> + Send + Sync,
{
    fn services(&self) -> Vec<ServiceOption> {
        self()
    }
}

/// The portal's settings.
#[derive(Clone)]
pub struct PortalSettings {
    /// Its client id at the broker.
    pub client_id: String,
    /// Its client secret at the broker (`client_secret_basic`).
    pub client_secret: String,
    /// The broker's issuer (its public origin, no trailing slash).
    pub broker_issuer: String,
    /// The portal's public origin (no trailing slash): `<origin>/callback` is its redirect URI,
    /// `<origin>/` its post-logout redirect URI, `<origin>/backchannel-logout` its back-channel
    /// logout URI.
    pub public_url: String,
    /// Whether its cookies are `Secure` (everywhere but loopback).
    pub secure_cookies: bool,
}

impl fmt::Debug for PortalSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalSettings")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("broker_issuer", &self.broker_issuer)
            .field("public_url", &self.public_url)
            .field("secure_cookies", &self.secure_cookies)
            .finish()
    }
}

/// What the portal works with.
#[derive(Clone)]
pub struct PortalDeps {
    /// The registry.
    pub registry: Registry,
    /// The notification outbox (the "Messages" page).
    pub outbox: Arc<dyn NotificationOutbox>,
    /// Where sessions, pending logins and operations live (keys `delegation:portal:…`).
    pub store: Arc<dyn EphemeralStore>,
    /// The services a power of attorney can cover.
    pub services: Arc<dyn ServiceCatalogue>,
}

/// The portal: settings, the broker client and its dependencies. Cheap to clone.
#[derive(Clone)]
pub struct Portal {
    inner: Arc<Inner>,
}

struct Inner {
    settings: PortalSettings,
    client: UpstreamClient,
    deps: PortalDeps,
    http: reqwest::Client,
}

impl fmt::Debug for Portal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Portal")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Portal {
    /// A portal with these settings; checks them (makes no network call: the broker is
    /// discovered on the first login).
    pub fn new(settings: PortalSettings, deps: PortalDeps) -> Result<Portal, PortalError> {
        let client = UpstreamClient::new(UpstreamConfig {
            name: "broker".into(),
            issuer: settings.broker_issuer.clone(),
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            redirect_uri: format!("{}/callback", settings.public_url),
            scopes: Vec::new(),
        })
        .map_err(|e| PortalError::Config(e.to_string()))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(eid_oidc::rp::HTTP_TIMEOUT)
            .build()
            .map_err(|e| PortalError::Config(e.to_string()))?;
        Ok(Portal {
            inner: Arc::new(Inner {
                settings,
                client,
                deps,
                http,
            }),
        })
    }

    fn settings(&self) -> &PortalSettings {
        &self.inner.settings
    }

    fn registry(&self) -> &Registry {
        &self.inner.deps.registry
    }

    fn store(&self) -> &dyn EphemeralStore {
        self.inner.deps.store.as_ref()
    }

    fn services(&self) -> Vec<ServiceOption> {
        self.inner.deps.services.services()
    }
}

/// The portal's routes (without the operations endpoints: compose with
/// `Platform::finish`). Form bodies are limited to [`forms::MAX_BODY`].
pub fn router(portal: Portal) -> Router {
    Router::new()
        .route("/", get(handlers::overview))
        .route("/grant", get(handlers::grant_form).post(handlers::grant))
        .route(
            "/request",
            get(handlers::request_form).post(handlers::request),
        )
        .route("/action", post(handlers::action))
        .route(
            "/confirm/{op}",
            get(handlers::confirm_page).post(handlers::confirm),
        )
        .route("/done/{op}", get(handlers::done))
        .route("/organisations", get(organisations::organisations))
        .route("/organisations/{cvr}", get(organisations::organisation))
        .route(
            "/organisations/{cvr}/rights",
            post(organisations::assign_right),
        )
        .route(
            "/organisations/{cvr}/powers",
            post(organisations::grant_power),
        )
        .route("/messages", get(handlers::messages))
        .route("/login", post(session::login))
        .route("/callback", get(session::callback))
        .route("/logout", post(session::logout))
        .route("/backchannel-logout", post(session::backchannel_logout))
        .route(
            "/static/eid.css",
            get(|| async { eid_web::assets::stylesheet() }),
        )
        .route(
            "/static/favicon.svg",
            get(|| async { eid_web::assets::favicon() }),
        )
        .layer(DefaultBodyLimit::max(forms::MAX_BODY))
        .with_state(portal)
}
