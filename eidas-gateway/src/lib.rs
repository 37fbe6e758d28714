//! The eIDAS gateway (DESIGN.md §2, flows 5 and 6):
//!
//! * the **connector** ([`connector`]): foreign eIDs in. Towards the broker it is an OIDC provider
//!   (the broker's `eu_eid` upstream); towards the chosen country it is an eIDAS SAML SP that sends a
//!   signed AuthnRequest and reads the signed Response with its encrypted assertion.
//! * the **proxy service** ([`proxy`]): our citizens out. Towards foreign connectors it is an eIDAS
//!   SAML IdP; it logs the citizen in through the broker as an OIDC relying party and answers with
//!   `DK/XX/<pseudonym>`.
//! * the demo's fictitious second country **XA** ([`xa`]): its own proxy service (a small register
//!   of foreign demo persons with a login page) and its own connector with a demo service, so that
//!   both directions run end to end on one machine.
//!
//! Both roles publish signed eIDAS metadata; peers' metadata is fetched, verified against a
//! configured trust anchor and cached ([`peers`]). SAML itself is `eid_saml::eidas`.
//!
//! Pages extend `templates/base.html` (each page's texts give `t.lang`, `t.service` and
//! `t.skip_to_content`) and use the stylesheet every component shares (`/static/eid.css`).

use std::sync::Arc;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use eid_core::{Clock, EphemeralStore};
use eid_store::audit_writer::AuditWriter;
use eid_web::Platform;

pub mod connector;
pub mod node;
pub mod peers;
pub mod proxy;
pub mod settings;
pub mod xa;

/// What every part of the gateway draws on.
#[derive(Clone)]
pub struct Common {
    /// The gateway's public origin, without a trailing slash (`http://localhost:8083`).
    pub public_url: String,
    /// Whether cookies get the `Secure` flag (everywhere but loopback).
    pub secure_cookies: bool,
    /// Pending logins, used request and assertion IDs, codes (with TTLs).
    pub ephemeral: Arc<dyn EphemeralStore>,
    /// The audit log.
    pub audit: AuditWriter,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Outgoing HTTP (metadata, the broker): no redirects, short timeouts.
    pub http: reqwest::Client,
}

/// The gateway's parts this node runs.
#[derive(Clone, Default)]
pub struct Gateway {
    /// The connector (foreign eIDs in).
    pub connector: Option<Arc<connector::Connector>>,
    /// The proxy service (our citizens out).
    pub proxy: Option<Arc<proxy::ProxyService>>,
    /// The demo's second country.
    pub demo_country: Option<Arc<xa::DemoCountry>>,
    /// The load balancers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: eid_web::client_addr::TrustedProxies,
}

/// The component's router: a landing page, the parts this node runs, and health, readiness and
/// metrics.
pub fn router(platform: &Platform, gateway: &Gateway) -> Router {
    let mut routes = Router::new()
        .route("/", get(landing))
        .route(
            "/static/eid.css",
            get(|| async { eid_web::assets::stylesheet() }),
        )
        .route(
            "/static/favicon.svg",
            get(|| async { eid_web::assets::favicon() }),
        );
    if let Some(connector) = &gateway.connector {
        routes = routes.merge(connector::routes(connector.clone()));
    }
    if let Some(proxy) = &gateway.proxy {
        routes = routes.merge(proxy::routes(proxy.clone()));
    }
    if let Some(xa) = &gateway.demo_country {
        routes = routes.merge(xa::routes(xa.clone()));
    }
    platform.finish(routes.layer(axum::Extension(gateway.trusted_proxies.clone())))
}

async fn landing() -> Html<&'static str> {
    Html(include_str!("landing.html"))
}
