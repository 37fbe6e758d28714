//! What every component listener shares: its public origin, metrics, readiness checks and the
//! common layers.

use axum::Router;
use std::sync::Arc;
use url::Url;

use crate::layers::{SecurityHeaders, common_layers};
use crate::metrics::Metrics;
use crate::ops::{ReadinessCheck, ops_router};

/// A component's place in the deployment.
#[derive(Clone)]
pub struct Platform {
    /// The component's name (`broker`, `idp`, …).
    pub component: &'static str,
    /// The public origin the component is known by, e.g. `http://localhost:8080/`.
    pub public_url: Url,
    /// The component's metrics registry.
    pub metrics: Metrics,
    /// What `/readyz` checks.
    pub checks: Vec<Arc<dyn ReadinessCheck>>,
}

impl Platform {
    /// Whether the origin is loopback: no HSTS and no `Secure` cookies there, so the demo works on
    /// `http://localhost`.
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.public_url)
    }

    /// The public origin without a trailing slash, as used in `iss` and endpoint URLs.
    pub fn origin(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }

    /// Adds the operations routes and the common layers to a component's routes.
    pub fn finish(&self, routes: Router) -> Router {
        let router = routes.merge(ops_router(self.checks.clone(), self.metrics.clone()));
        common_layers(
            router,
            self.metrics.clone(),
            SecurityHeaders {
                hsts: !self.is_loopback(),
            },
        )
    }
}

/// Whether `url` points at this machine (`localhost`, `*.localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
