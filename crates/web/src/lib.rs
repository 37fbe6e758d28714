//! Shared HTTP plumbing for every component listener: `/healthz`, `/readyz`, `/metrics`, request ids,
//! tracing spans, security headers and locale negotiation.

pub mod assets;
pub mod browser;
pub mod client_addr;
pub mod layers;
pub mod locale;
pub mod metrics;
pub mod ops;
pub mod pages;
pub mod params;
pub mod platform;

pub use layers::{SecurityHeaders, common_layers};
pub use locale::Lang;
pub use metrics::Metrics;
pub use ops::{DurableReady, EphemeralReady, ReadinessCheck, ops_router};
pub use platform::Platform;
