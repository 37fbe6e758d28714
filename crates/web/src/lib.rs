//! Shared HTTP plumbing for every component listener: `/healthz`, `/readyz`, `/metrics`, request ids,
//! tracing spans and security headers.

pub mod assets;
pub mod browser;
pub mod client_addr;
pub mod display;
pub mod layers;
pub mod metrics;
pub mod ops;
pub mod pages;
pub mod params;
pub mod platform;
pub mod qr;
#[cfg(feature = "testing")]
pub mod testing;
pub mod user_agent;
pub mod wording;

/// The page language lives in `eid_core` (protocol logic uses it without HTTP); re-exported here
/// for the page code.
pub use eid_core::Lang;
pub use layers::{SecurityHeaders, common_layers};
pub use metrics::Metrics;
pub use ops::{DurableReady, EphemeralReady, ReadinessCheck, ops_router};
pub use platform::Platform;
